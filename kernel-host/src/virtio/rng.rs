//! virtio-rng (device ID 4): fills the driver's buffers with the browser's random bytes
//! (`crypto.getRandomValues`), in the worker that asks.

use super::mmio::{self, INT_USED_BUFFER};
use super::queue::drain;
use super::{Cells, Effect, Entropy, GuestMemory};

/// At most this much per request (the driver asks for small amounts anyway).
const MAX_REQUEST: usize = 4096;

pub fn serve<M: GuestMemory + ?Sized, C: Cells + ?Sized>(
    mem: &M,
    cells: &C,
    index: usize,
    entropy: &mut dyn Entropy,
) -> Result<Vec<Effect>, String> {
    let notify = drain(mem, cells, index, 0, |chain| {
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
        vec![mmio::interrupt(cells, index, INT_USED_BUFFER)]
    } else {
        Vec::new()
    })
}
