//! virtio-rng (device ID 4): fills the driver's buffers with the browser's random bytes
//! (`crypto.getRandomValues`, behind [`Entropy`]), in the worker that asks.

use super::memory::GuestMemory;
use super::queue::drain;
use super::state::{self, Cells, Effect, INT_USED_BUFFER};

pub const DEVICE_ID: u32 = 4;
pub const QUEUES: u32 = 1;
pub const REQUEST_QUEUE: u32 = 0;
/// Device feature bits offered: none.
pub const FEATURES: u64 = 0;

/// At most this much per request (the driver asks for small amounts anyway).
const MAX_REQUEST: usize = 4096;

/// Random bytes for the RNG device.
pub trait Entropy {
    fn fill(&mut self, buf: &mut [u8]);
}

/// The driver notified the request queue: each buffer is filled with random bytes.
pub fn serve<M: GuestMemory + ?Sized, C: Cells + ?Sized>(
    mem: &M,
    cells: &C,
    index: usize,
    entropy: &mut dyn Entropy,
) -> Result<Vec<Effect>, String> {
    let notify = drain(mem, cells, index, REQUEST_QUEUE, |chain| {
        let mut left = MAX_REQUEST;
        let mut written = 0u32;
        for &(addr, len) in &chain.writable {
            let n = (len as usize).min(left);
            let mut bytes = vec![0u8; n];
            entropy.fill(&mut bytes);
            mem.write(addr, &bytes).map_err(|e| e.to_string())?;
            left -= n;
            written += n as u32;
        }
        Ok(Some(written))
    })?;
    Ok(if notify {
        vec![state::interrupt(cells, index, INT_USED_BUFFER)]
    } else {
        Vec::new()
    })
}
