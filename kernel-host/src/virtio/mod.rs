//! The machine's devices: virtio over MMIO (DESIGN decision 6), device side.
//!
//! The kernel's unmodified `virtio_mmio` driver reads and writes device registers in a window
//! above kernel memory; `arch/wasm` turns those accesses into the `mmio_read`/`mmio_write`
//! imports, which land in [`Bus`]. The virtqueues themselves are in kernel memory, shared by
//! every worker, so the device side works on them from wherever it is called:
//!
//! * a register access or a queue notification runs synchronously in the worker of the task
//!   that made it (console and files output, RNG requests);
//! * console and files input and terminal resizes come from the page through the device
//!   worker ([`console::receive`], [`console::resize`]), which never blocks: it fills receive
//!   buffers the driver has posted and raises an interrupt.
//!
//! Each queue has one device-side user — the receive queues the device worker, the others the
//! kernel's own CPU — so the queues need no lock. Register state is in a small shared array of
//! 32-bit cells ([`Cells`]) so that every worker and the main thread see the same device.

pub mod console;
pub mod files;
pub mod mmio;
pub mod queue;
pub mod rng;

use std::sync::atomic::{AtomicU32, Ordering};

/// Where the device register window starts (`WASM_MMIO_BASE` in `arch/wasm`'s `<asm/io.h>`).
pub const MMIO_BASE: u32 = 0xfe00_0000;
/// The register block of one virtio-mmio device.
pub const MMIO_STRIDE: u32 = 0x200;

/// What a device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Console,
    Rng,
    /// A second virtio console (`hvc1`) that carries files between the page and the guest's
    /// helper ([`files`]): the same device to the driver, without a terminal size.
    Files,
}

impl Kind {
    /// The virtio device ID.
    pub fn device_id(self) -> u32 {
        match self {
            Kind::Console | Kind::Files => 3,
            Kind::Rng => 4,
        }
    }

    pub fn queues(self) -> u32 {
        match self {
            Kind::Console | Kind::Files => 2,
            Kind::Rng => 1,
        }
    }

    /// Device feature bits offered (VIRTIO_F_VERSION_1 is added for every device).
    pub fn features(self) -> u64 {
        match self {
            Kind::Console => 1 << console::F_SIZE,
            Kind::Rng | Kind::Files => 0,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Console => "console",
            Kind::Rng => "rng",
            Kind::Files => "files",
        }
    }
}

/// A device on the bus: its kind and its interrupt line (a bit of `wasm_irq_pending`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    pub kind: Kind,
    pub irq_line: u32,
}

/// The machine's devices, in register-window order: device `i` is at
/// `MMIO_BASE + i * MMIO_STRIDE`. Line 0 is the timer's.
pub const DEVICES: &[Device] = &[
    Device {
        kind: Kind::Console,
        irq_line: 1,
    },
    Device {
        kind: Kind::Rng,
        irq_line: 2,
    },
    // After the console, so the driver makes it hvc1 (hvc0 stays the terminal).
    Device {
        kind: Kind::Files,
        irq_line: 3,
    },
];

/// The index of the console in [`DEVICES`].
pub const CONSOLE: usize = 0;
/// The index of the files console in [`DEVICES`].
pub const FILES: usize = 2;

/// 32-bit cells per device in the shared register state.
pub const CELLS_PER_DEVICE: usize = 64;

/// Bytes of shared register state for all devices.
pub fn cells_bytes() -> u32 {
    (DEVICES.len() * CELLS_PER_DEVICE * 4) as u32
}

/// The register base address of device `index`.
pub fn mmio_address(index: usize) -> u32 {
    MMIO_BASE + index as u32 * MMIO_STRIDE
}

/// Shared 32-bit cells with atomic access: a `SharedArrayBuffer` in the browser, atomics in
/// tests.
pub trait Cells {
    fn load(&self, i: usize) -> u32;
    fn store(&self, i: usize, v: u32);
    /// Returns the old value.
    fn fetch_or(&self, i: usize, v: u32) -> u32;
    /// Returns the old value.
    fn fetch_and(&self, i: usize, v: u32) -> u32;
}

impl Cells for [AtomicU32] {
    fn load(&self, i: usize) -> u32 {
        self[i].load(Ordering::SeqCst)
    }
    fn store(&self, i: usize, v: u32) {
        self[i].store(v, Ordering::SeqCst)
    }
    fn fetch_or(&self, i: usize, v: u32) -> u32 {
        self[i].fetch_or(v, Ordering::SeqCst)
    }
    fn fetch_and(&self, i: usize, v: u32) -> u32 {
        self[i].fetch_and(v, Ordering::SeqCst)
    }
}

/// A driver handed the device an address outside kernel memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub addr: u64,
    pub len: usize,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes at {:#x} are outside kernel memory",
            self.len, self.addr
        )
    }
}

/// Kernel memory as the device side sees it. The 16-bit ring indices are accessed atomically
/// (they are what orders the driver's and the device's view of a ring).
pub trait GuestMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Fault>;
    fn write(&self, addr: u64, data: &[u8]) -> Result<(), Fault>;
    fn load_u16(&self, addr: u64) -> Result<u16, Fault>;
    fn store_u16(&self, addr: u64, v: u16) -> Result<(), Fault>;

    fn read_u16(&self, addr: u64) -> Result<u16, Fault> {
        let mut b = [0; 2];
        self.read(addr, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }
    fn read_u32(&self, addr: u64) -> Result<u32, Fault> {
        let mut b = [0; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn read_u64(&self, addr: u64) -> Result<u64, Fault> {
        let mut b = [0; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}

/// Random bytes for the RNG device.
pub trait Entropy {
    fn fill(&mut self, buf: &mut [u8]);
}

/// What the caller of the device side has to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Bytes the guest wrote to console device `device` (the terminal or the files channel).
    Output { device: usize, bytes: Vec<u8> },
    /// The driver posted receive buffers on device `device`: pending input can go in now.
    ReceiveBuffers { device: usize },
    /// Raise interrupt line `line`.
    Interrupt { line: u32 },
    /// The driver broke the protocol (a bad descriptor, an address outside memory): the
    /// device is marked DEVICE_NEEDS_RESET; the message is for the developer console.
    Broken { device: usize, message: String },
}

/// The devices as the kernel's register accesses see them.
pub struct Bus<'a, M: GuestMemory + ?Sized, C: Cells + ?Sized> {
    pub memory: &'a M,
    pub cells: &'a C,
}

impl<'a, M: GuestMemory + ?Sized, C: Cells + ?Sized> Bus<'a, M, C> {
    pub fn new(memory: &'a M, cells: &'a C) -> Self {
        Bus { memory, cells }
    }

    /// Which device and register offset `addr` is, if any.
    fn decode(addr: u32) -> Option<(usize, u32)> {
        let rel = addr.checked_sub(MMIO_BASE)?;
        let index = (rel / MMIO_STRIDE) as usize;
        (index < DEVICES.len()).then_some((index, rel % MMIO_STRIDE))
    }

    /// `mmio_read(addr, size)`. Reads outside any device return all ones, like a bus with
    /// nothing behind it.
    pub fn read(&self, addr: u32, size: u32) -> u32 {
        match Self::decode(addr) {
            Some((index, offset)) => mmio::read(self.cells, index, offset, size),
            None => u32::MAX,
        }
    }

    /// `mmio_write(addr, size, value)`. Writes outside any device are ignored.
    pub fn write(
        &self,
        addr: u32,
        size: u32,
        value: u32,
        entropy: &mut dyn Entropy,
    ) -> Vec<Effect> {
        let Some((index, offset)) = Self::decode(addr) else {
            return Vec::new();
        };
        match mmio::write(self.cells, index, offset, size, value) {
            Some(queue) => notify(self.memory, self.cells, index, queue, entropy),
            None => Vec::new(),
        }
    }
}

/// The driver notified `queue` of device `index`.
fn notify<M: GuestMemory + ?Sized, C: Cells + ?Sized>(
    memory: &M,
    cells: &C,
    index: usize,
    queue: u32,
    entropy: &mut dyn Entropy,
) -> Vec<Effect> {
    let device = DEVICES[index];
    let result = match (device.kind, queue) {
        (Kind::Console | Kind::Files, console::RECEIVE_QUEUE) => {
            return vec![Effect::ReceiveBuffers { device: index }]
        }
        (Kind::Console | Kind::Files, console::TRANSMIT_QUEUE) => {
            console::transmit(memory, cells, index)
        }
        (Kind::Rng, 0) => rng::serve(memory, cells, index, entropy),
        _ => Ok(Vec::new()),
    };
    result.unwrap_or_else(|message| mmio::broken(cells, index, message))
}

/// Test doubles for kernel memory and the register cells, and the driver's bring-up.
#[cfg(test)]
pub(crate) mod testing {
    use super::mmio::*;
    use super::queue::tests::{AVAIL, DESC, USED};
    use super::{mmio_address, Bus, Entropy, Fault, GuestMemory, CELLS_PER_DEVICE, DEVICES};
    use std::cell::RefCell;
    use std::sync::atomic::AtomicU32;

    struct NoEntropy;
    impl Entropy for NoEntropy {
        fn fill(&mut self, _: &mut [u8]) {}
    }

    pub fn cells() -> Vec<AtomicU32> {
        (0..DEVICES.len() * CELLS_PER_DEVICE)
            .map(|_| AtomicU32::new(0))
            .collect()
    }

    /// What Linux's virtio_mmio does to bring queue `queue` of device `index` up, then
    /// DRIVER_OK with `features` accepted.
    pub fn bring_up(
        bus: &Bus<Ram, [AtomicU32]>,
        index: usize,
        queues: &[(u32, u64)],
        features: u32,
    ) {
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

    pub struct Ram(pub RefCell<Vec<u8>>);

    impl Ram {
        pub fn new(len: usize) -> Ram {
            Ram(RefCell::new(vec![0; len]))
        }
        fn range(&self, addr: u64, len: usize) -> Result<std::ops::Range<usize>, Fault> {
            let end = addr.checked_add(len as u64).ok_or(Fault { addr, len })?;
            if end > self.0.borrow().len() as u64 {
                return Err(Fault { addr, len });
            }
            Ok(addr as usize..end as usize)
        }
        pub fn put_u16(&self, addr: u64, v: u16) {
            self.write(addr, &v.to_le_bytes()).unwrap()
        }
        pub fn put_u32(&self, addr: u64, v: u32) {
            self.write(addr, &v.to_le_bytes()).unwrap()
        }
        pub fn put_u64(&self, addr: u64, v: u64) {
            self.write(addr, &v.to_le_bytes()).unwrap()
        }
    }

    impl GuestMemory for Ram {
        fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Fault> {
            let r = self.range(addr, buf.len())?;
            buf.copy_from_slice(&self.0.borrow()[r]);
            Ok(())
        }
        fn write(&self, addr: u64, data: &[u8]) -> Result<(), Fault> {
            let r = self.range(addr, data.len())?;
            self.0.borrow_mut()[r].copy_from_slice(data);
            Ok(())
        }
        fn load_u16(&self, addr: u64) -> Result<u16, Fault> {
            self.read_u16(addr)
        }
        fn store_u16(&self, addr: u64, v: u16) -> Result<(), Fault> {
            self.write(addr, &v.to_le_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::mmio::*;
    use super::queue::tests::{post, AVAIL, DESC, USED};
    use super::testing::{bring_up, cells, Ram};
    use super::*;
    use std::collections::VecDeque;

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
            vec![Effect::ReceiveBuffers { device: CONSOLE }]
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
}
