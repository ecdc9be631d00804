//! The device side of a split virtqueue (virtio 1.2, 2.7) in kernel memory. A queue knows
//! where the driver put it (its cells in the register state) and kernel memory; it knows no
//! transport and no device: a device hands [`drain`] what to do with each buffer.

use super::memory::{Fault, GuestMemory};
use super::state::{queue_cell, Cells, Q_DESC, Q_DEVICE, Q_DRIVER, Q_LAST_AVAIL, Q_NUM, Q_READY};

const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;
const DESC_F_INDIRECT: u16 = 4;
const AVAIL_F_NO_INTERRUPT: u16 = 1;

/// One queue of one device, as the driver set it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queue {
    pub size: u16,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
}

/// A buffer: a chain of descriptors, the driver-written part first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain {
    pub head: u16,
    /// (address, length) of each device-readable descriptor.
    pub readable: Vec<(u64, u32)>,
    /// (address, length) of each device-writable descriptor.
    pub writable: Vec<(u64, u32)>,
}

impl Chain {
    pub fn writable_len(&self) -> usize {
        self.writable.iter().map(|(_, l)| *l as usize).sum()
    }
}

impl Queue {
    /// Queue `queue` of device `index`, if the driver has made it ready.
    pub fn get<C: Cells + ?Sized>(cells: &C, index: usize, queue: u32) -> Option<Queue> {
        let c = |k| cells.load(queue_cell(index, queue, k));
        let size = c(Q_NUM) as u16;
        (c(Q_READY) == 1 && size.is_power_of_two()).then(|| Queue {
            size,
            desc: u64::from(c(Q_DESC)),
            avail: u64::from(c(Q_DRIVER)),
            used: u64::from(c(Q_DEVICE)),
        })
    }

    /// The next buffer the driver made available, if any; advances the device's index
    /// (`last_avail`, kept by the caller).
    pub fn pop<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        last_avail: &mut u16,
    ) -> Result<Option<Chain>, String> {
        let avail_idx = mem.load_u16(self.avail + 2).map_err(|e| e.to_string())?;
        if avail_idx == *last_avail {
            return Ok(None);
        }
        if avail_idx.wrapping_sub(*last_avail) > self.size {
            return Err(format!(
                "the available index moved by {} in a queue of {}",
                avail_idx.wrapping_sub(*last_avail),
                self.size
            ));
        }
        let slot = u64::from(*last_avail % self.size);
        let head = mem
            .read_u16(self.avail + 4 + 2 * slot)
            .map_err(|e| e.to_string())?;
        *last_avail = last_avail.wrapping_add(1);
        self.chain(mem, head).map(Some)
    }

    fn chain<M: GuestMemory + ?Sized>(&self, mem: &M, head: u16) -> Result<Chain, String> {
        let mut chain = Chain {
            head,
            ..Chain::default()
        };
        let mut i = head;
        // A chain is at most as long as the table; longer means a loop.
        for _ in 0..self.size {
            if i >= self.size {
                return Err(format!(
                    "descriptor {i} is outside a queue of {}",
                    self.size
                ));
            }
            let at = self.desc + 16 * u64::from(i);
            let e = |f: Fault| f.to_string();
            let addr = mem.read_u64(at).map_err(e)?;
            let len = mem.read_u32(at + 8).map_err(e)?;
            let flags = mem.read_u16(at + 12).map_err(e)?;
            let next = mem.read_u16(at + 14).map_err(e)?;
            if flags & DESC_F_INDIRECT != 0 {
                return Err("an indirect descriptor, a feature not offered".into());
            }
            if flags & DESC_F_WRITE != 0 {
                chain.writable.push((addr, len));
            } else if chain.writable.is_empty() {
                chain.readable.push((addr, len));
            } else {
                return Err("a readable descriptor after a writable one".into());
            }
            if flags & DESC_F_NEXT == 0 {
                return Ok(chain);
            }
            i = next;
        }
        Err(format!("the chain from descriptor {head} loops"))
    }

    /// Returns buffer `head` to the driver with `len` bytes written into it.
    pub fn push_used<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        head: u16,
        len: u32,
    ) -> Result<(), String> {
        let e = |f: Fault| f.to_string();
        let idx = mem.read_u16(self.used + 2).map_err(e)?;
        let at = self.used + 4 + 8 * u64::from(idx % self.size);
        mem.write(at, &u32::from(head).to_le_bytes()).map_err(e)?;
        mem.write(at + 4, &len.to_le_bytes()).map_err(e)?;
        // Publishes the element: the store is what the driver synchronises on.
        mem.store_u16(self.used + 2, idx.wrapping_add(1)).map_err(e)
    }

    /// The driver wants an interrupt when buffers are used.
    pub fn wants_interrupt<M: GuestMemory + ?Sized>(&self, mem: &M) -> bool {
        mem.read_u16(self.avail)
            .map_or(true, |flags| flags & AVAIL_F_NO_INTERRUPT == 0)
    }
}

/// Takes every available buffer of queue `queue` of device `index` and hands each to `serve`,
/// which returns the number of bytes it wrote into it. Returns whether any buffer was used
/// and the driver wants to hear about it.
pub fn drain<M: GuestMemory + ?Sized, C: Cells + ?Sized>(
    mem: &M,
    cells: &C,
    index: usize,
    queue: u32,
    mut serve: impl FnMut(&Chain) -> Result<Option<u32>, String>,
) -> Result<bool, String> {
    let Some(q) = Queue::get(cells, index, queue) else {
        return Ok(false);
    };
    let last_cell = queue_cell(index, queue, Q_LAST_AVAIL);
    let mut last = cells.load(last_cell) as u16;
    let mut used = false;
    loop {
        let before = last;
        let Some(chain) = q.pop(mem, &mut last)? else {
            break;
        };
        // `None`: the device cannot take this buffer now; leave it for later.
        let Some(len) = serve(&chain)? else {
            last = before;
            break;
        };
        q.push_used(mem, chain.head, len)?;
        used = true;
    }
    cells.store(last_cell, u32::from(last));
    Ok(used && q.wants_interrupt(mem))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::virtio::memory::Ram;

    pub const DESC: u64 = 0x1000;
    pub const AVAIL: u64 = 0x2000;
    pub const USED: u64 = 0x3000;

    /// A driver's side of a queue, for tests: descriptor `i` gets buffer `bufs[i]`.
    pub fn post(ram: &Ram, size: u16, chains: &[&[(u64, u32, bool)]]) {
        let mut d = 0u16;
        let idx = ram.read_u16(AVAIL + 2).unwrap();
        for (n, chain) in chains.iter().enumerate() {
            let head = d;
            for (k, (addr, len, write)) in chain.iter().enumerate() {
                let at = DESC + 16 * u64::from(d);
                ram.put_u64(at, *addr);
                ram.put_u32(at + 8, *len);
                let mut flags = if *write { DESC_F_WRITE } else { 0 };
                if k + 1 < chain.len() {
                    flags |= DESC_F_NEXT;
                }
                ram.put_u16(at + 12, flags);
                ram.put_u16(at + 14, d + 1);
                d += 1;
            }
            let slot = (idx.wrapping_add(n as u16) % size) as u64;
            ram.put_u16(AVAIL + 4 + 2 * slot, head);
        }
        ram.put_u16(AVAIL + 2, idx.wrapping_add(chains.len() as u16));
    }

    fn queue() -> Queue {
        Queue {
            size: 8,
            desc: DESC,
            avail: AVAIL,
            used: USED,
        }
    }

    #[test]
    fn pops_chains_in_order_and_publishes_used_elements() {
        let ram = Ram::new(0x10000);
        post(
            &ram,
            8,
            &[
                &[(0x5000, 3, false)],
                &[(0x6000, 2, false), (0x7000, 100, true)],
            ],
        );
        let q = queue();
        let mut last = 0;
        let a = q.pop(&ram, &mut last).unwrap().unwrap();
        assert_eq!((a.head, a.readable.clone()), (0, vec![(0x5000, 3)]));
        let b = q.pop(&ram, &mut last).unwrap().unwrap();
        assert_eq!(b.readable, vec![(0x6000, 2)]);
        assert_eq!(b.writable, vec![(0x7000, 100)]);
        assert_eq!(q.pop(&ram, &mut last).unwrap(), None);
        q.push_used(&ram, b.head, 42).unwrap();
        assert_eq!(ram.read_u16(USED + 2).unwrap(), 1);
        assert_eq!(ram.read_u32(USED + 4).unwrap(), 1);
        assert_eq!(ram.read_u32(USED + 8).unwrap(), 42);
    }

    #[test]
    fn rejects_loops_and_descriptors_outside_the_table() {
        let ram = Ram::new(0x10000);
        let q = queue();
        // Descriptor 0 chains to itself.
        ram.put_u16(DESC + 12, DESC_F_NEXT);
        ram.put_u16(DESC + 14, 0);
        ram.put_u16(AVAIL + 2, 1);
        let mut last = 0;
        assert!(q.pop(&ram, &mut last).unwrap_err().contains("loops"));
        ram.put_u16(AVAIL + 4 + 2, 9);
        ram.put_u16(AVAIL + 2, 2);
        assert!(q
            .pop(&ram, &mut last)
            .unwrap_err()
            .contains("outside a queue"));
    }

    #[test]
    fn an_address_outside_memory_is_an_error_not_a_panic() {
        let ram = Ram::new(0x4000);
        let q = Queue {
            used: 0x1_0000_0000,
            ..queue()
        };
        assert!(q.push_used(&ram, 0, 1).is_err());
    }
}
