//! The device imports of a task's worker, `mmio_read`/`mmio_write`: the virtio devices'
//! registers (`kernel_host::virtio`) and the real-time clock's (`kernel_host::rtc`). A write
//! may notify a queue: console output goes to the page and an RNG request is served here, in
//! the worker of the task that wrote. The clock's alarm is kept by the main thread.

use crate::effects;
use crate::outbox::{post, trap};
use crate::state;
use js_sys::WebAssembly;
use kernel_host::browser::devices::{wall_clock_ns, BrowserEntropy, KernelMemory, SharedCells};
use kernel_host::browser::protocol::FromWorker;
use kernel_host::rtc::{self, Alarm};
use kernel_host::virtio::{Bus, Effect};
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsValue;

pub fn add_imports(
    add: &dyn Fn(&str, JsValue) -> Result<(), String>,
    kmem: &WebAssembly::Memory,
    cells: SharedCells,
) -> Result<(), String> {
    let cells = Rc::new(cells);
    let memory = Rc::new(KernelMemory(kmem.clone()));
    let (c, m) = (cells.clone(), memory.clone());
    add(
        "mmio_read",
        Closure::<dyn FnMut(u32, u32) -> u32>::new(move |addr: u32, size: u32| {
            if rtc::contains(addr) {
                return rtc::read(&*c, addr - rtc::BASE, wall_clock_ns());
            }
            Bus::new(&*m, &*c).read(addr, size)
        })
        .into_js_value(),
    )?;
    let kmem = kmem.clone();
    add(
        "mmio_write",
        Closure::<dyn FnMut(u32, u32, u32)>::new(move |addr: u32, size: u32, value: u32| {
            let effects = if rtc::contains(addr) {
                clock_write(&cells, addr - rtc::BASE, value)
            } else {
                Bus::new(&*memory, &*cells).write(addr, size, value, &mut BrowserEntropy)
            };
            for effect in effects {
                let irq_word = state::with(|w| w.kernel.as_ref().map(|k| k.irq_word));
                if let Err(e) = effects::apply(&kmem, irq_word, effect) {
                    trap(e, None);
                }
            }
        })
        .into_js_value(),
    )?;
    Ok(())
}

/// A write to the clock's registers: an alarm set or cancelled goes to the main thread, which
/// keeps it; an interrupt that was pending is raised here.
fn clock_write(cells: &SharedCells, offset: u32, value: u32) -> Vec<Effect> {
    let (alarm, raise) = rtc::write(cells, offset, value, wall_clock_ns());
    if let Some(alarm) = alarm {
        let delay_ns = match alarm {
            Alarm::Set { delay_ns } => Some(delay_ns as f64),
            Alarm::Cancel => None,
        };
        post(&FromWorker::RtcAlarm { delay_ns });
    }
    match raise {
        true => vec![Effect::Interrupt {
            line: rtc::IRQ_LINE,
        }],
        false => Vec::new(),
    }
}
