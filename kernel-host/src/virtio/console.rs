//! virtio-console (device ID 3), one port: the guest's hvc0 and the page's terminal — and,
//! as a second device, hvc1, the channel files travel on (`super::files`).
//!
//! Output: the driver notifies the transmit queue from the worker that is writing, and the
//! bytes go to the page at once. Input: the page's bytes wait in an [`Inbox`] in the device
//! worker until the driver has posted receive buffers, then go in with one interrupt.
//! The terminal size is the configuration (VIRTIO_CONSOLE_F_SIZE): a change raises a
//! configuration interrupt and the kernel resizes the tty (SIGWINCH).

use super::memory::GuestMemory;
use super::queue::drain;
use super::state::{
    self, Cells, Effect, C_CONFIG, C_CONFIG_GENERATION, INT_CONFIG_CHANGE, INT_USED_BUFFER,
};
use std::collections::VecDeque;

pub const DEVICE_ID: u32 = 3;
pub const QUEUES: u32 = 2;
pub const RECEIVE_QUEUE: u32 = 0;
pub const TRANSMIT_QUEUE: u32 = 1;
/// VIRTIO_CONSOLE_F_SIZE: cols and rows are valid.
pub const F_SIZE: u32 = 0;
/// Device feature bits the terminal offers (the files channel offers its own).
pub const FEATURES: u64 = 1 << F_SIZE;

/// The most one transmit buffer may carry; the driver sends at most a page at a time.
const MAX_OUTPUT: u32 = 1 << 20;

/// The configuration space: cols, rows (u16), max_nr_ports, emerg_wr (u32).
pub fn config<C: Cells + ?Sized>(cells: &C, index: usize) -> Vec<u8> {
    let size = cells.load(state::cell(index, C_CONFIG));
    let mut c = Vec::with_capacity(12);
    c.extend_from_slice(&(size as u16).to_le_bytes());
    c.extend_from_slice(&((size >> 16) as u16).to_le_bytes());
    c.extend_from_slice(&1u32.to_le_bytes());
    c.extend_from_slice(&0u32.to_le_bytes());
    c
}

/// The driver notified the transmit queue: everything it queued goes out.
pub fn transmit<M: GuestMemory + ?Sized, C: Cells + ?Sized>(
    mem: &M,
    cells: &C,
    index: usize,
) -> Result<Vec<Effect>, String> {
    let mut out = Vec::new();
    let notify = drain(mem, cells, index, TRANSMIT_QUEUE, |chain| {
        for &(addr, len) in &chain.readable {
            if len > MAX_OUTPUT {
                return Err(format!("a console buffer of {len} bytes"));
            }
            let start = out.len();
            out.resize(start + len as usize, 0);
            mem.read(addr, &mut out[start..])
                .map_err(|e| e.to_string())?;
        }
        Ok(Some(0))
    })?;
    let mut effects = Vec::new();
    if !out.is_empty() {
        effects.push(Effect::Output {
            device: index,
            seq: state::next_output(cells, index),
            bytes: out,
        });
    }
    if notify {
        effects.push(state::interrupt(cells, index, INT_USED_BUFFER));
    }
    Ok(effects)
}

/// Moves as much of `input` as the driver has buffers for into the receive queue of console
/// `index` (in the device worker). Bytes that do not fit stay in `input` for the next
/// `Notify` of the receive queue. [`Inbox::serve`] is this with the count the files channel needs.
pub fn receive<M: GuestMemory + ?Sized, C: Cells + ?Sized>(
    mem: &M,
    cells: &C,
    index: usize,
    input: &mut VecDeque<u8>,
) -> Vec<Effect> {
    if input.is_empty() || !state::live(cells, index) {
        return Vec::new();
    }
    let result = drain(mem, cells, index, RECEIVE_QUEUE, |chain| {
        if input.is_empty() {
            return Ok(None);
        }
        let mut written = 0u32;
        for &(addr, len) in &chain.writable {
            let n = (len as usize).min(input.len());
            if n == 0 {
                break;
            }
            let bytes: Vec<u8> = input.range(..n).copied().collect();
            mem.write(addr, &bytes).map_err(|e| e.to_string())?;
            input.drain(..n);
            written += n as u32;
        }
        Ok(Some(written))
    });
    match result {
        Ok(true) => vec![state::interrupt(cells, index, INT_USED_BUFFER)],
        Ok(false) => Vec::new(),
        Err(message) => state::broken(cells, index, message),
    }
}

/// The terminal is now `cols` x `rows`: updates the configuration and, once the driver runs
/// and accepted the size feature, tells it.
pub fn resize<C: Cells + ?Sized>(cells: &C, index: usize, cols: u16, rows: u16) -> Vec<Effect> {
    cells.store(
        state::cell(index, C_CONFIG),
        u32::from(cols) | u32::from(rows) << 16,
    );
    let generation = state::cell(index, C_CONFIG_GENERATION);
    cells.store(generation, cells.load(generation).wrapping_add(1));
    if state::live(cells, index) && state::negotiated(cells, index, F_SIZE) {
        vec![state::interrupt(cells, index, INT_CONFIG_CHANGE)]
    } else {
        Vec::new()
    }
}

/// The bytes from the page for console `DEVICE` (an index into `DEVICES`) that wait in the
/// device worker for receive buffers: keystrokes for hvc0 (`Inbox<CONSOLE>`), `crate::files`
/// frames for hvc1 (`files::Inbox`).
#[derive(Debug, Default)]
pub struct Inbox<const DEVICE: usize> {
    queue: VecDeque<u8>,
    /// Every byte ever taken by the driver, so the page can tell how much is still in flight
    /// (it counts what it sent; the difference is what waits).
    taken: u64,
}

impl<const DEVICE: usize> Inbox<DEVICE> {
    pub fn push(&mut self, bytes: &[u8]) {
        self.queue.extend(bytes);
    }

    /// Bytes waiting for room in the guest.
    pub fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// Everything the driver has taken so far.
    pub fn taken(&self) -> u64 {
        self.taken
    }

    /// Fills the receive buffers the driver has posted. Returns the effects and whether any
    /// byte went in (then the page may want to hear the new [`Inbox::taken`]).
    pub fn serve<M: GuestMemory + ?Sized, C: Cells + ?Sized>(
        &mut self,
        mem: &M,
        cells: &C,
    ) -> (Vec<Effect>, bool) {
        let before = self.queue.len();
        let effects = receive(mem, cells, DEVICE, &mut self.queue);
        let moved = before - self.queue.len();
        self.taken += moved as u64;
        (effects, moved > 0)
    }
}
