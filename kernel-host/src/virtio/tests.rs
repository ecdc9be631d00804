//! The device side driven as the kernel's `virtio_mmio` driver drives it: through the
//! [`Bus`], on kernel memory and register cells of the tests' own. Above every layer, so the
//! tests may use them all.

use super::console::{self, Inbox};
use super::memory::{GuestMemory, Ram};
use super::mmio::*;
use super::queue::tests::{post, AVAIL, DESC, USED};
use super::rng::Entropy;
use super::state::*;
use std::collections::VecDeque;
use std::sync::atomic::AtomicU32;

struct NoEntropy;
impl Entropy for NoEntropy {
    fn fill(&mut self, _: &mut [u8]) {}
}

fn cells() -> Vec<AtomicU32> {
    (0..DEVICES.len() * CELLS_PER_DEVICE)
        .map(|_| AtomicU32::new(0))
        .collect()
}

/// What Linux's virtio_mmio does to bring queue `queue` of device `index` up, then
/// DRIVER_OK with `features` accepted.
fn bring_up(bus: &Bus<Ram, [AtomicU32]>, index: usize, queues: &[(u32, u64)], features: u32) {
    let base = mmio_address(index);
    let w = |off, v| assert!(bus.write(base + off, 4, v, &mut NoEntropy).is_empty());
    assert_eq!(bus.read(base + REG_MAGIC, 4), MAGIC);
    assert_eq!(bus.read(base + REG_VERSION, 4), 2);
    w(REG_STATUS, 0);
    w(REG_STATUS, 1 | 2);
    w(REG_DEVICE_FEATURES_SEL, 1);
    assert_eq!(bus.read(base + REG_DEVICE_FEATURES, 4), 1, "VERSION_1");
    w(REG_DRIVER_FEATURES_SEL, 0);
    w(REG_DRIVER_FEATURES, features);
    w(REG_DRIVER_FEATURES_SEL, 1);
    w(REG_DRIVER_FEATURES, 1);
    for &(queue, offset) in queues {
        w(REG_QUEUE_SEL, queue);
        assert_eq!(bus.read(base + REG_QUEUE_NUM_MAX, 4), QUEUE_SIZE);
        w(REG_QUEUE_NUM, 8);
        w(REG_QUEUE_DESC_LOW, (DESC + offset) as u32);
        w(REG_QUEUE_DRIVER_LOW, (AVAIL + offset) as u32);
        w(REG_QUEUE_DEVICE_LOW, (USED + offset) as u32);
        w(REG_QUEUE_READY, 1);
    }
    w(REG_STATUS, 1 | 2 | 8 | STATUS_DRIVER_OK);
}

struct Counter(u8);
impl Entropy for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
    }
}

#[test]
fn registers_identify_each_device_and_nothing_lies_between() {
    let (ram, cells) = (Ram::new(16), cells());
    let bus = Bus::new(&ram, &cells[..]);
    assert_eq!(bus.read(mmio_address(0) + REG_DEVICE_ID, 4), 3);
    assert_eq!(bus.read(mmio_address(1) + REG_DEVICE_ID, 4), 4);
    assert_eq!(bus.read(mmio_address(DEVICES.len()), 4), u32::MAX);
    assert_eq!(bus.read(0x1000, 4), u32::MAX);
}

#[test]
fn console_output_input_and_resize_reach_the_other_side() {
    let (ram, cells) = (Ram::new(0x20000), cells());
    let bus = Bus::new(&ram, &cells[..]);
    let base = mmio_address(CONSOLE);
    // Receive queue at the test layout, transmit queue 0x8000 above it.
    bring_up(&bus, CONSOLE, &[(0, 0), (1, 0x8000)], 1 << console::F_SIZE);

    // The driver posts one receive buffer of 4 bytes and kicks: the page is told.
    post(&ram, 8, &[&[(0xa000, 4, true)]]);
    assert_eq!(
        bus.write(base + REG_QUEUE_NOTIFY, 4, 0, &mut Counter(0)),
        vec![Effect::Notify {
            device: CONSOLE,
            queue: 0
        }]
    );
    // Six typed bytes: four fit now, two wait.
    let mut input: VecDeque<u8> = b"ls -l\r".iter().copied().collect();
    let fx = console::receive(&ram, &cells[..], CONSOLE, &mut input);
    assert_eq!(fx, vec![Effect::Interrupt { line: 1 }]);
    let mut got = [0; 4];
    ram.read(0xa000, &mut got).unwrap();
    assert_eq!(&got, b"ls -");
    assert_eq!(input, b"l\r".to_vec());
    assert_eq!(ram.read_u32(USED + 8).unwrap(), 4);
    assert_eq!(bus.read(base + REG_INTERRUPT_STATUS, 4), INT_USED_BUFFER);
    bus.write(
        base + REG_INTERRUPT_ACK,
        4,
        INT_USED_BUFFER,
        &mut Counter(0),
    );
    assert_eq!(bus.read(base + REG_INTERRUPT_STATUS, 4), 0);
    // No buffer left: nothing moves, nothing is lost.
    assert!(console::receive(&ram, &cells[..], CONSOLE, &mut input).is_empty());
    assert_eq!(input.len(), 2);

    // Output: "hi" in one transmit buffer.
    ram.write(0xc000, b"hi").unwrap();
    let tx_avail = AVAIL + 0x8000;
    ram.put_u64(DESC + 0x8000, 0xc000);
    ram.put_u32(DESC + 0x8000 + 8, 2);
    ram.put_u16(tx_avail + 4, 0);
    ram.put_u16(tx_avail + 2, 1);
    let fx = bus.write(base + REG_QUEUE_NOTIFY, 4, 1, &mut Counter(0));
    assert_eq!(
        fx,
        vec![
            Effect::Output {
                device: CONSOLE,
                seq: 0,
                bytes: b"hi".to_vec()
            },
            Effect::Interrupt { line: 1 }
        ]
    );
    assert_eq!(ram.read_u16(USED + 0x8000 + 2).unwrap(), 1);

    // Resize: the configuration space has the size and the driver is told.
    let fx = console::resize(&cells[..], CONSOLE, 132, 43);
    assert_eq!(fx, vec![Effect::Interrupt { line: 1 }]);
    assert_eq!(bus.read(base + REG_CONFIG, 2), 132);
    assert_eq!(bus.read(base + REG_CONFIG + 2, 2), 43);
    assert_eq!(bus.read(base + REG_CONFIG_GENERATION, 4), 1);
}

#[test]
fn the_terminal_takes_its_input_from_an_inbox_like_the_files_channel() {
    let (ram, cells) = (Ram::new(0x20000), cells());
    let bus = Bus::new(&ram, &cells[..]);
    let mut inbox = Inbox::<CONSOLE>::default();
    inbox.push(b"ls -l\r");
    // Before the driver runs, everything waits.
    assert_eq!(inbox.serve(&ram, &cells[..]), (Vec::new(), false));
    bring_up(&bus, CONSOLE, &[(0, 0), (1, 0x8000)], 1 << console::F_SIZE);
    post(&ram, 8, &[&[(0xa000, 4, true)]]);
    let (fx, moved) = inbox.serve(&ram, &cells[..]);
    assert!(moved);
    assert_eq!(fx, vec![Effect::Interrupt { line: 1 }]);
    assert_eq!((inbox.waiting(), inbox.taken()), (2, 4));
    let mut got = [0; 4];
    ram.read(0xa000, &mut got).unwrap();
    assert_eq!(&got, b"ls -");
}

#[test]
fn before_driver_ok_input_waits_and_a_resize_is_only_recorded() {
    let (ram, cells) = (Ram::new(0x10000), cells());
    let mut input: VecDeque<u8> = b"x".iter().copied().collect();
    assert!(console::receive(&ram, &cells[..], CONSOLE, &mut input).is_empty());
    assert_eq!(input.len(), 1);
    assert!(console::resize(&cells[..], CONSOLE, 80, 24).is_empty());
    // A reset keeps the size.
    reset(&cells[..], CONSOLE);
    assert_eq!(&console::config(&cells[..], CONSOLE)[..4], &[80, 0, 24, 0]);
}

#[test]
fn a_bad_descriptor_marks_the_device_broken_instead_of_panicking() {
    let (ram, cells) = (Ram::new(0x10000), cells());
    let bus = Bus::new(&ram, &cells[..]);
    bring_up(&bus, CONSOLE, &[(0, 0), (1, 0x8000)], 0);
    // A transmit buffer far outside memory.
    ram.put_u64(DESC + 0x8000, 0xdead_0000);
    ram.put_u32(DESC + 0x8000 + 8, 16);
    ram.put_u16(AVAIL + 0x8000 + 2, 1);
    let fx = bus.write(
        mmio_address(CONSOLE) + REG_QUEUE_NOTIFY,
        4,
        1,
        &mut Counter(0),
    );
    assert!(matches!(
        fx[0],
        Effect::Broken {
            device: CONSOLE,
            ..
        }
    ));
    assert_ne!(
        bus.read(mmio_address(CONSOLE) + REG_STATUS, 4) & STATUS_NEEDS_RESET,
        0
    );
    assert!(!live(&cells[..], CONSOLE));
}

#[test]
fn only_offered_features_can_be_accepted() {
    let (ram, cells) = (Ram::new(16), cells());
    let bus = Bus::new(&ram, &cells[..]);
    let base = mmio_address(1);
    bus.write(base + REG_DRIVER_FEATURES, 4, u32::MAX, &mut Counter(0));
    assert!(!negotiated(&cells[..], 1, console::F_SIZE));
}

#[test]
fn rng_fills_what_the_driver_asks_for() {
    let (ram, cells) = (Ram::new(0x10000), cells());
    let bus = Bus::new(&ram, &cells[..]);
    bring_up(&bus, 1, &[(0, 0)], 0);
    post(&ram, 8, &[&[(0x9000, 5, true)]]);
    let fx = bus.write(mmio_address(1) + REG_QUEUE_NOTIFY, 4, 0, &mut Counter(0));
    assert_eq!(fx, vec![Effect::Interrupt { line: 2 }]);
    let mut got = [0; 5];
    ram.read(0x9000, &mut got).unwrap();
    assert_eq!(got, [1, 2, 3, 4, 5]);
    assert_eq!(ram.read_u32(USED + 8).unwrap(), 5);
}

/// The files channel (hvc1).
mod files {
    use super::{cells, NoEntropy};
    use crate::virtio::files::Inbox;
    use crate::virtio::memory::{GuestMemory, Ram};
    use crate::virtio::mmio::*;
    use crate::virtio::queue::tests::{post, AVAIL, DESC, USED};
    use crate::virtio::state::*;
    use std::sync::atomic::AtomicU32;

    /// The driver's probe: the files device is a console without the size feature; queue 0
    /// (receive) at the test layout, queue 1 (transmit) 0x8000 above it.
    fn bring_up(bus: &Bus<Ram, [AtomicU32]>) {
        let base = mmio_address(FILES);
        assert_eq!(bus.read(base + REG_DEVICE_ID, 4), 3, "a virtio console");
        super::bring_up(bus, FILES, &[(0, 0), (1, 0x8000)], 0);
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
        assert_eq!(DEVICES[FILES].kind, Kind::Files);
        let lines: Vec<u32> = DEVICES.iter().map(|d| d.irq_line).collect();
        let unique: std::collections::BTreeSet<u32> = lines.iter().copied().collect();
        assert_eq!(lines.len(), unique.len(), "{lines:?}");
        assert!(!lines.contains(&crate::abi::IRQ_BIT_TIMER));
        assert!(!lines.contains(&crate::rtc::IRQ_LINE));
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
            vec![Effect::Notify {
                device: FILES,
                queue: 0
            }]
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
                    seq: 0,
                    bytes: b"AG".to_vec()
                },
                Effect::Interrupt { line: 3 }
            ]
        );
    }

    #[test]
    fn output_chunks_are_numbered_per_device_and_across_a_reset() {
        let cells = cells();
        assert_eq!(crate::virtio::state::next_output(&cells[..], CONSOLE), 0);
        assert_eq!(crate::virtio::state::next_output(&cells[..], CONSOLE), 1);
        assert_eq!(crate::virtio::state::next_output(&cells[..], FILES), 0);
        // The driver resets the device (the page keeps counting): the numbers go on.
        crate::virtio::state::reset(&cells[..], CONSOLE);
        assert_eq!(crate::virtio::state::next_output(&cells[..], CONSOLE), 2);
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

mod net {
    use super::*;
    use crate::virtio::net::{self, Counters, HDR_LEN, INBOX_FRAMES, MAX_FRAME};

    const FEATURES: u32 = 1 << net::F_MAC | 1 << net::F_STATUS;

    #[test]
    fn identifies_itself_with_a_mac_and_a_link_that_is_up() {
        let (ram, cells) = (Ram::new(16), cells());
        let bus = Bus::new(&ram, &cells[..]);
        let base = mmio_address(NET);
        assert_eq!(bus.read(base + REG_DEVICE_ID, 4), 1);
        assert_eq!(bus.read(base + REG_DEVICE_FEATURES, 4), FEATURES);
        let mac: Vec<u8> = (0..6)
            .map(|i| bus.read(base + REG_CONFIG + i, 1) as u8)
            .collect();
        assert_eq!(mac, net::GUEST_MAC);
        assert_eq!(
            bus.read(base + REG_CONFIG + 6, 2),
            1,
            "VIRTIO_NET_S_LINK_UP"
        );
    }

    #[test]
    fn both_queues_are_the_device_workers() {
        let (ram, cells) = (Ram::new(0x20000), cells());
        let bus = Bus::new(&ram, &cells[..]);
        bring_up(&bus, NET, &[(0, 0x8000), (1, 0)], FEATURES);
        for queue in [0, 1] {
            assert_eq!(
                bus.write(
                    mmio_address(NET) + REG_QUEUE_NOTIFY,
                    4,
                    queue,
                    &mut NoEntropy
                ),
                vec![Effect::Notify { device: NET, queue }]
            );
        }
    }

    #[test]
    fn transmit_strips_the_header_and_drops_malformed_frames() {
        let (ram, cells) = (Ram::new(0x20000), cells());
        let bus = Bus::new(&ram, &cells[..]);
        // Transmit queue at the test layout.
        bring_up(&bus, NET, &[(0, 0x8000), (1, 0)], FEATURES);
        // A frame split over header and data, one too short for a header, one too long.
        ram.write(0xa000, &[0; HDR_LEN]).unwrap();
        ram.write(0xb000, b"frame-one").unwrap();
        post(
            &ram,
            8,
            &[
                &[(0xa000, HDR_LEN as u32, false), (0xb000, 9, false)],
                &[(0xc000, 5, false)],
                &[(0xd000, (HDR_LEN + MAX_FRAME + 1) as u32, false)],
            ],
        );
        let mut counters = Counters::default();
        let (frames, fx) = net::transmit(&ram, &cells[..], NET, &mut counters);
        assert_eq!(frames, vec![b"frame-one".to_vec()]);
        assert_eq!(fx, vec![Effect::Interrupt { line: 5 }]);
        assert_eq!((counters.tx_frames, counters.drops), (1, 2));
        // Every buffer goes back to the driver, even the dropped ones.
        assert_eq!(ram.read_u16(USED + 2).unwrap(), 3);
    }

    #[test]
    fn received_frames_wait_for_buffers_and_get_a_header() {
        let (ram, cells) = (Ram::new(0x20000), cells());
        let bus = Bus::new(&ram, &cells[..]);
        let mut inbox = net::Inbox::default();
        let mut counters = Counters::default();
        inbox.push(b"hello-guest".to_vec(), &mut counters);
        // Before the driver runs, the frame waits.
        assert!(inbox.serve(&ram, &cells[..], NET, &mut counters).is_empty());
        bring_up(&bus, NET, &[(0, 0), (1, 0x8000)], FEATURES);
        assert!(inbox.serve(&ram, &cells[..], NET, &mut counters).is_empty());
        assert_eq!(inbox.waiting(), 1);
        // A buffer in two parts: the header and the frame are split across them.
        post(&ram, 8, &[&[(0xa000, 8, true), (0xb000, 1526, true)]]);
        let fx = inbox.serve(&ram, &cells[..], NET, &mut counters);
        assert_eq!(fx, vec![Effect::Interrupt { line: 5 }]);
        let mut got = [0; HDR_LEN + 11];
        ram.read(0xa000, &mut got[..8]).unwrap();
        ram.read(0xb000, &mut got[8..]).unwrap();
        assert_eq!(got[10], 1, "num_buffers");
        assert_eq!(&got[HDR_LEN..], b"hello-guest");
        assert_eq!(ram.read_u32(USED + 8).unwrap(), (HDR_LEN + 11) as u32);
        assert_eq!((inbox.waiting(), counters.rx_frames), (0, 1));
    }

    #[test]
    fn a_guest_that_never_reads_loses_old_frames_not_memory() {
        let mut inbox = net::Inbox::default();
        let mut counters = Counters::default();
        for i in 0..INBOX_FRAMES + 10 {
            inbox.push(vec![i as u8; 60], &mut counters);
        }
        inbox.push(vec![0; MAX_FRAME + 1], &mut counters);
        assert_eq!(inbox.waiting(), INBOX_FRAMES);
        assert_eq!(counters.drops, 11);
    }
}
