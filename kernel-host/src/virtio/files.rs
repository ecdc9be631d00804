//! The files channel's device side: the second virtio console (`hvc1`, [`super::FILES`])
//! is served by `console.rs` like the terminal; what is its own is the inbox of bytes the page
//! sends (`crate::files` frames), which the device worker moves into the receive buffers the
//! driver has posted, and the count of bytes the guest has taken, which is what the page's
//! flow control waits on.

use super::{console, Cells, Effect, GuestMemory, FILES};
use std::collections::VecDeque;

/// Bytes for the guest's file helper that wait for receive buffers.
#[derive(Debug, Default)]
pub struct Inbox {
    queue: VecDeque<u8>,
    /// Every byte ever taken by the driver, so the page can tell how much is still in flight
    /// (it counts what it sent; the difference is what waits).
    taken: u64,
}

impl Inbox {
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
    /// byte went in (then the page should hear the new [`Inbox::taken`]).
    pub fn serve<M: GuestMemory + ?Sized, C: Cells + ?Sized>(
        &mut self,
        mem: &M,
        cells: &C,
    ) -> (Vec<Effect>, bool) {
        let before = self.queue.len();
        let effects = console::receive(mem, cells, FILES, &mut self.queue);
        let moved = before - self.queue.len();
        self.taken += moved as u64;
        (effects, moved > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtio::mmio::*;
    use crate::virtio::queue::tests::{post, AVAIL, DESC, USED};
    use crate::virtio::testing::{self, cells, Ram};
    use crate::virtio::{mmio_address, Bus, Entropy, DEVICES};
    use std::sync::atomic::AtomicU32;

    struct NoEntropy;
    impl Entropy for NoEntropy {
        fn fill(&mut self, _: &mut [u8]) {}
    }

    /// The driver's probe: the files device is a console without the size feature; queue 0
    /// (receive) at the test layout, queue 1 (transmit) 0x8000 above it.
    fn bring_up(bus: &Bus<Ram, [AtomicU32]>) {
        let base = mmio_address(FILES);
        assert_eq!(bus.read(base + REG_DEVICE_ID, 4), 3, "a virtio console");
        testing::bring_up(bus, FILES, &[(0, 0), (1, 0x8000)], 0);
        assert!(bus
            .write(base + REG_DEVICE_FEATURES_SEL, 4, 0, &mut NoEntropy)
            .is_empty());
        assert_eq!(
            bus.read(base + REG_DEVICE_FEATURES, 4),
            0,
            "no size, no ports"
        );
    }

    #[test]
    fn files_device_is_its_own_console_with_its_own_line() {
        assert_eq!(DEVICES[FILES].kind, crate::virtio::Kind::Files);
        let lines: Vec<u32> = DEVICES.iter().map(|d| d.irq_line).collect();
        let unique: std::collections::BTreeSet<u32> = lines.iter().copied().collect();
        assert_eq!(lines.len(), unique.len(), "{lines:?}");
        assert!(!lines.contains(&crate::abi::IRQ_BIT_TIMER));
    }

    #[test]
    fn bytes_go_in_only_as_far_as_the_driver_has_room_and_nothing_is_lost() {
        let (ram, cells) = (Ram::new(0x20000), cells());
        let bus = Bus::new(&ram, &cells[..]);
        let mut inbox = Inbox::default();
        // Before the driver runs, everything waits.
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        inbox.push(&data);
        assert_eq!(inbox.serve(&ram, &cells[..]), (Vec::new(), false));
        assert_eq!((inbox.waiting(), inbox.taken()), (10_000, 0));

        bring_up(&bus);
        // Two buffers of 4 KiB (the driver posts pages): 8192 bytes go, the rest waits.
        post(&ram, 8, &[&[(0xa000, 4096, true)], &[(0xc000, 4096, true)]]);
        assert_eq!(
            bus.write(mmio_address(FILES) + REG_QUEUE_NOTIFY, 4, 0, &mut NoEntropy),
            vec![Effect::ReceiveBuffers { device: FILES }]
        );
        let (fx, moved) = inbox.serve(&ram, &cells[..]);
        assert!(moved);
        assert_eq!(fx, vec![Effect::Interrupt { line: 3 }]);
        assert_eq!((inbox.waiting(), inbox.taken()), (10_000 - 8192, 8192));
        let mut got = vec![0; 8192];
        ram.read(0xa000, &mut got[..4096]).unwrap();
        ram.read(0xc000, &mut got[4096..]).unwrap();
        assert_eq!(got, data[..8192]);
        assert_eq!(ram.read_u32(USED + 8).unwrap(), 4096);
        assert_eq!(ram.read_u32(USED + 16).unwrap(), 4096);
        // No room: nothing moves and the count stands.
        assert_eq!(inbox.serve(&ram, &cells[..]), (Vec::new(), false));

        // The driver gives both pages back (descriptors 0 and 1 again): the rest goes in.
        let idx = ram.read_u16(AVAIL + 2).unwrap();
        ram.put_u16(AVAIL + 4 + 2 * u64::from(idx % 8), 0);
        ram.put_u16(AVAIL + 2, idx + 1);
        let (_, moved) = inbox.serve(&ram, &cells[..]);
        assert!(moved);
        assert_eq!((inbox.waiting(), inbox.taken()), (0, 10_000));
        let mut tail = vec![0; 10_000 - 8192];
        ram.read(0xa000, &mut tail).unwrap();
        assert_eq!(tail, data[8192..]);
        assert_eq!(ram.read_u32(USED + 4 + 8 * 2 + 4).unwrap(), 1808);
    }

    #[test]
    fn files_output_is_told_apart_from_the_terminal() {
        let (ram, cells) = (Ram::new(0x20000), cells());
        let bus = Bus::new(&ram, &cells[..]);
        bring_up(&bus);
        ram.write(0xc000, b"AG").unwrap();
        ram.put_u64(DESC + 0x8000, 0xc000);
        ram.put_u32(DESC + 0x8000 + 8, 2);
        ram.put_u16(AVAIL + 0x8000 + 2, 1);
        let fx = bus.write(mmio_address(FILES) + REG_QUEUE_NOTIFY, 4, 1, &mut NoEntropy);
        assert_eq!(
            fx,
            vec![
                Effect::Output {
                    device: FILES,
                    bytes: b"AG".to_vec()
                },
                Effect::Interrupt { line: 3 }
            ]
        );
    }

    #[test]
    fn a_broken_receive_queue_keeps_the_bytes() {
        let (ram, cells) = (Ram::new(0x20000), cells());
        let bus = Bus::new(&ram, &cells[..]);
        bring_up(&bus);
        // A receive buffer outside memory: the device is marked broken, the bytes stay.
        post(&ram, 8, &[&[(0xdead_0000, 4096, true)]]);
        let mut inbox = Inbox::default();
        inbox.push(b"hello");
        let (fx, moved) = inbox.serve(&ram, &cells[..]);
        assert!(!moved);
        assert!(matches!(fx[0], Effect::Broken { device: FILES, .. }));
        assert!(!live(&cells[..], FILES));
        assert_eq!(inbox.waiting(), 5);
    }
}
