//! virtio-console (device ID 3), one port: the guest's hvc0 and the page's terminal — and,
//! as a second device, hvc1, the channel files travel on (`super::files`).
//!
//! Output: the driver notifies the transmit queue from the worker that is writing, and the
//! bytes go to the page at once. Input: the page's keystrokes wait in a queue on the main
//! thread until the driver has posted receive buffers, then go in with one interrupt.
//! The terminal size is the configuration (VIRTIO_CONSOLE_F_SIZE): a change raises a
//! configuration interrupt and the kernel resizes the tty (SIGWINCH).

use super::mmio::{self, C_CONFIG, C_CONFIG_GENERATION, INT_CONFIG_CHANGE, INT_USED_BUFFER};
use super::queue::drain;
use super::{Cells, Effect, GuestMemory};
use std::collections::VecDeque;

pub const RECEIVE_QUEUE: u32 = 0;
pub const TRANSMIT_QUEUE: u32 = 1;
/// VIRTIO_CONSOLE_F_SIZE: cols and rows are valid.
pub const F_SIZE: u32 = 0;

/// The most one transmit buffer may carry; the driver sends at most a page at a time.
const MAX_OUTPUT: u32 = 1 << 20;

/// The configuration space: cols, rows (u16), max_nr_ports, emerg_wr (u32).
pub fn config<C: Cells + ?Sized>(cells: &C, index: usize) -> Vec<u8> {
    let size = cells.load(mmio::cell(index, C_CONFIG));
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
            bytes: out,
        });
    }
    if notify {
        effects.push(mmio::interrupt(cells, index, INT_USED_BUFFER));
    }
    Ok(effects)
}

/// Moves as much of `input` as the driver has buffers for into the receive queue (main
/// thread). Bytes that do not fit stay in `input` for the next `ReceiveBuffers`.
pub fn receive<M: GuestMemory + ?Sized, C: Cells + ?Sized>(
    mem: &M,
    cells: &C,
    index: usize,
    input: &mut VecDeque<u8>,
) -> Vec<Effect> {
    if input.is_empty() || !mmio::live(cells, index) {
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
        Ok(true) => vec![mmio::interrupt(cells, index, INT_USED_BUFFER)],
        Ok(false) => Vec::new(),
        Err(message) => mmio::broken(cells, index, message),
    }
}

/// The terminal is now `cols` x `rows`: updates the configuration and, once the driver runs
/// and accepted the size feature, tells it.
pub fn resize<C: Cells + ?Sized>(cells: &C, index: usize, cols: u16, rows: u16) -> Vec<Effect> {
    cells.store(
        mmio::cell(index, C_CONFIG),
        u32::from(cols) | u32::from(rows) << 16,
    );
    let generation = mmio::cell(index, C_CONFIG_GENERATION);
    cells.store(generation, cells.load(generation).wrapping_add(1));
    if mmio::live(cells, index) && mmio::negotiated(cells, index, F_SIZE) {
        vec![mmio::interrupt(cells, index, INT_CONFIG_CHANGE)]
    } else {
        Vec::new()
    }
}
