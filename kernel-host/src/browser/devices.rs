//! The virtio device side (`crate::virtio`) on browser objects: the shared register cells,
//! kernel memory, `crypto.getRandomValues`, and raising an interrupt line. Used by the
//! kernel's workers (register accesses), the device worker (console and files input,
//! resize) and the main thread (the timer's interrupt line).

use super::error::js_error_message;
use crate::abi;
use crate::virtio::{Cells, Entropy, Fault, GuestMemory};
use js_sys::{
    Atomics, Int32Array, Reflect, SharedArrayBuffer, Uint16Array, Uint8Array, WebAssembly,
};
use wasm_bindgen::JsCast;

/// The devices' register state, shared by every worker.
#[derive(Clone)]
pub struct SharedCells(Int32Array);

impl SharedCells {
    pub fn new(buffer: &SharedArrayBuffer) -> SharedCells {
        SharedCells(Int32Array::new(buffer))
    }
}

impl Cells for SharedCells {
    fn load(&self, i: usize) -> u32 {
        Atomics::load(&self.0, i as u32).unwrap_or(0) as u32
    }
    fn store(&self, i: usize, v: u32) {
        let _ = Atomics::store(&self.0, i as u32, v as i32);
    }
    fn fetch_or(&self, i: usize, v: u32) -> u32 {
        Atomics::or(&self.0, i as u32, v as i32).unwrap_or(0) as u32
    }
    fn fetch_and(&self, i: usize, v: u32) -> u32 {
        Atomics::and(&self.0, i as u32, v as i32).unwrap_or(0) as u32
    }
    fn fetch_add(&self, i: usize, v: u32) -> u32 {
        Atomics::add(&self.0, i as u32, v as i32).unwrap_or(0) as u32
    }
    fn compare_exchange(&self, i: usize, current: u32, new: u32) -> u32 {
        Atomics::compare_exchange(&self.0, i as u32, current as i32, new as i32).unwrap_or(0) as u32
    }
}

impl SharedCells {
    /// Waits up to `timeout_ms` while cell `i` holds `value` (workers only: the main thread
    /// may not wait).
    pub fn wait(&self, i: usize, value: u32, timeout_ms: f64) {
        let _ = Atomics::wait_with_timeout(&self.0, i as u32, value as i32, timeout_ms);
    }

    /// Wakes every worker waiting on cell `i`.
    pub fn notify(&self, i: usize) {
        let _ = Atomics::notify(&self.0, i as u32);
    }

    /// `Atomics.waitAsync`: a promise settled when cell `i` is notified, or None when it no
    /// longer holds `value`.
    pub fn wait_async(&self, i: usize, value: u32) -> Result<Option<js_sys::Promise>, String> {
        let result = Atomics::wait_async(&self.0, i as u32, value as i32)
            .map_err(|e| format!("Atomics.waitAsync: {}", js_error_message(&e)))?;
        let field = |k: &str| Reflect::get(&result, &k.into()).unwrap_or_default();
        if field("async").as_bool() != Some(true) {
            return Ok(None);
        }
        field("value")
            .dyn_into()
            .map(Some)
            .map_err(|_| "Atomics.waitAsync gave no promise".to_string())
    }
}

/// The shared kernel memory. Views are made per access: the memory may have grown.
pub struct KernelMemory(pub WebAssembly::Memory);

impl KernelMemory {
    fn bytes(&self, addr: u64, len: usize) -> Result<Uint8Array, Fault> {
        let all = Uint8Array::new(&self.0.buffer());
        let end = addr.checked_add(len as u64).ok_or(Fault { addr, len })?;
        if end > u64::from(all.length()) {
            return Err(Fault { addr, len });
        }
        Ok(all.subarray(addr as u32, end as u32))
    }

    fn halfwords(&self, addr: u64) -> Result<(Uint16Array, u32), Fault> {
        self.bytes(addr, 2)?;
        if !addr.is_multiple_of(2) {
            return Err(Fault { addr, len: 2 });
        }
        Ok((Uint16Array::new(&self.0.buffer()), (addr / 2) as u32))
    }
}

impl GuestMemory for KernelMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Fault> {
        self.bytes(addr, buf.len())?.copy_to(buf);
        Ok(())
    }
    fn write(&self, addr: u64, data: &[u8]) -> Result<(), Fault> {
        self.bytes(addr, data.len())?.copy_from(data);
        Ok(())
    }
    fn load_u16(&self, addr: u64) -> Result<u16, Fault> {
        let (view, i) = self.halfwords(addr)?;
        Atomics::load(&view, i)
            .map(|v| v as u16)
            .map_err(|_| Fault { addr, len: 2 })
    }
    fn store_u16(&self, addr: u64, v: u16) -> Result<(), Fault> {
        let (view, i) = self.halfwords(addr)?;
        Atomics::store(&view, i, i32::from(v))
            .map(drop)
            .map_err(|_| Fault { addr, len: 2 })
    }
}

/// `crypto.getRandomValues` of the window or worker.
pub struct BrowserEntropy;

impl Entropy for BrowserEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        let crypto = Reflect::get(&js_sys::global(), &"crypto".into())
            .ok()
            .and_then(|c| c.dyn_into::<web_sys::Crypto>().ok());
        let Some(crypto) = crypto else {
            web_sys::console::error_1(&"virtio-rng: this context has no crypto".into());
            return;
        };
        // getRandomValues takes at most 65536 bytes per call.
        for chunk in buf.chunks_mut(65536) {
            if let Err(e) = crypto.get_random_values_with_u8_array(chunk) {
                web_sys::console::error_1(&format!("virtio-rng: {}", js_error_message(&e)).into());
            }
        }
    }
}

/// Sets interrupt line `line` in the kernel's pending word at `word_addr` and wakes a CPU
/// sleeping on it.
pub fn raise_irq(memory: &WebAssembly::Memory, word_addr: u32, line: u32) -> Result<(), String> {
    let words = Int32Array::new(&memory.buffer());
    if !word_addr.is_multiple_of(4) || word_addr / 4 >= words.length() || line >= abi::IRQ_LINES {
        return Err(format!(
            "cannot raise interrupt line {line}: wasm_irq_pending is {word_addr:#x}"
        ));
    }
    let i = word_addr / 4;
    Atomics::or(&words, i, (1u32 << line) as i32)
        .and_then(|_| Atomics::notify(&words, i))
        .map(drop)
        .map_err(|e| format!("raising interrupt line {line}: {}", js_error_message(&e)))
}

/// Asks the program running on process memory `memory`, if any, to enter the kernel at its
/// next loop header (`crate::preempt`): sets its attention word.
pub fn call_attention(memory: &WebAssembly::Memory) {
    let words = Int32Array::new(&memory.buffer());
    let _ = Atomics::store(&words, crate::preempt::ATTENTION_ADDR / 4, 1);
}

/// The page's wall clock in nanoseconds since the epoch: the real-time clock's time base
/// (`crate::rtc`), the same in every worker and on the main thread.
pub fn wall_clock_ns() -> u64 {
    (js_sys::Date::now() * 1e6) as u64
}
