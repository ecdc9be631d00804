//! The devices' register state: which devices the machine has, the shared 32-bit cells that
//! hold each one's registers, their layout, and what a device asks its caller to do
//! ([`Effect`]). The bottom layer: it knows no queue, no device model and no register offset.

use std::sync::atomic::{AtomicU32, Ordering};

/// What a device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Console,
    Rng,
    /// A second virtio console (`hvc1`) that carries files between the page and the guest's
    /// helper (`virtio::files`): the same device to the driver, without a terminal size.
    Files,
    /// virtio-net: the guest's `eth0`, served by the device worker (`virtio::net`).
    Net,
    /// virtio-blk: the guest's `vda`, served by the device worker (`virtio::blk`).
    Blk,
}

// What each kind shows the driver (`device_id`, `queues`, `features`) is said by the device
// modules and put together where the transport asks for it, in `mmio.rs`.
impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Console => "console",
            Kind::Rng => "rng",
            Kind::Files => "files",
            Kind::Net => "net",
            Kind::Blk => "blk",
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
    // Line 4 is the real-time clock's (`crate::rtc`).
    Device {
        kind: Kind::Net,
        irq_line: 5,
    },
    Device {
        kind: Kind::Blk,
        irq_line: 6,
    },
];

/// The index of the console in [`DEVICES`].
pub const CONSOLE: usize = 0;
/// The index of the files console in [`DEVICES`].
pub const FILES: usize = 2;
/// The index of the network device in [`DEVICES`].
pub const NET: usize = 3;
/// The index of the disk in [`DEVICES`].
pub const BLK: usize = 4;

/// 32-bit cells per device in the shared register state.
pub const CELLS_PER_DEVICE: usize = 64;

/// Bytes of shared register state for all devices.
pub fn cells_bytes() -> u32 {
    (DEVICES.len() * CELLS_PER_DEVICE * 4) as u32
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
    /// Returns the old value (wrapping).
    fn fetch_add(&self, i: usize, v: u32) -> u32;
    /// Stores `new` if the cell holds `current`; returns the old value either way.
    fn compare_exchange(&self, i: usize, current: u32, new: u32) -> u32;
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
    fn fetch_add(&self, i: usize, v: u32) -> u32 {
        self[i].fetch_add(v, Ordering::SeqCst)
    }
    fn compare_exchange(&self, i: usize, current: u32, new: u32) -> u32 {
        match self[i].compare_exchange(current, new, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(v) | Err(v) => v,
        }
    }
}

// Device status bits (virtio 1.2, 2.1).
pub const STATUS_DRIVER_OK: u32 = 4;
pub const STATUS_NEEDS_RESET: u32 = 0x40;

// Interrupt status bits (virtio 1.2, 4.2.2).
pub const INT_USED_BUFFER: u32 = 1;
pub const INT_CONFIG_CHANGE: u32 = 2;

// Cells of one device (relative to its first cell).
pub const C_STATUS: usize = 0;
pub const C_DEVICE_FEATURES_SEL: usize = 1;
pub const C_DRIVER_FEATURES_SEL: usize = 2;
pub const C_DRIVER_FEATURES: usize = 3; // two cells: low, high
pub const C_QUEUE_SEL: usize = 5;
pub const C_INTERRUPT_STATUS: usize = 6;
pub const C_CONFIG_GENERATION: usize = 7;
/// Device-specific configuration kept across resets (the console's size).
pub const C_CONFIG: usize = 8;
pub const C_CONFIG_CELLS: usize = 4;
/// The number of a console's next output chunk (`next_output`); kept across resets, since
/// the page counts on.
pub const C_OUTPUT_SEQ: usize = 12;
const C_QUEUES: usize = 16;
const QUEUE_CELLS: usize = 8;
pub const MAX_QUEUES: u32 = ((CELLS_PER_DEVICE - C_QUEUES) / QUEUE_CELLS) as u32;
// Cells of one queue.
pub const Q_NUM: usize = 0;
pub const Q_READY: usize = 1;
pub const Q_DESC: usize = 2;
pub const Q_DRIVER: usize = 3;
pub const Q_DEVICE: usize = 4;
/// The device's next index into the available ring.
pub const Q_LAST_AVAIL: usize = 5;

/// The cell `c` of device `index`.
pub fn cell(index: usize, c: usize) -> usize {
    index * CELLS_PER_DEVICE + c
}

/// The cell `c` of queue `queue` of device `index`.
pub fn queue_cell(index: usize, queue: u32, c: usize) -> usize {
    cell(index, C_QUEUES + queue as usize * QUEUE_CELLS + c)
}

/// The driver accepted `bit`.
pub fn negotiated<C: Cells + ?Sized>(cells: &C, index: usize, bit: u32) -> bool {
    let word = cells.load(cell(index, C_DRIVER_FEATURES + (bit / 32) as usize));
    word & (1 << (bit % 32)) != 0
}

/// The driver has set the device up (DRIVER_OK) and it has not been marked broken.
pub fn live<C: Cells + ?Sized>(cells: &C, index: usize) -> bool {
    let status = cells.load(cell(index, C_STATUS));
    status & STATUS_DRIVER_OK != 0 && status & STATUS_NEEDS_RESET == 0
}

/// Device reset: everything but the device's own configuration goes back to zero.
pub fn reset<C: Cells + ?Sized>(cells: &C, index: usize) {
    for c in 0..CELLS_PER_DEVICE {
        let kept = (C_CONFIG..C_CONFIG + C_CONFIG_CELLS).contains(&c)
            || c == C_CONFIG_GENERATION
            || c == C_OUTPUT_SEQ;
        if !kept {
            cells.store(cell(index, c), 0);
        }
    }
}

/// What the caller of the device side has to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Bytes the guest wrote to console device `device` (the terminal or the files channel),
    /// chunk number `seq` of that device's output (`next_output`).
    Output {
        device: usize,
        seq: u32,
        bytes: Vec<u8>,
    },
    /// The driver notified queue `queue` of device `device`, which the device worker serves
    /// (a console's receive queue: buffers for waiting input; either queue of the network;
    /// the disk's requests).
    Notify { device: usize, queue: u32 },
    /// Raise interrupt line `line`.
    Interrupt { line: u32 },
    /// The driver broke the protocol (a bad descriptor, an address outside memory): the
    /// device is marked DEVICE_NEEDS_RESET; the message is for the developer console.
    Broken { device: usize, message: String },
}

/// Numbers an output chunk of console `index`. Workers post output on their own channels and
/// the page may get it in another order; it puts the chunks back in this one
/// (`crate::in_order`). The kernel's early console (`console_write`) counts with the terminal.
pub fn next_output<C: Cells + ?Sized>(cells: &C, index: usize) -> u32 {
    cells.fetch_add(cell(index, C_OUTPUT_SEQ), 1)
}

/// Sets `bits` in the interrupt status and says to raise the device's line.
pub fn interrupt<C: Cells + ?Sized>(cells: &C, index: usize, bits: u32) -> Effect {
    cells.fetch_or(cell(index, C_INTERRUPT_STATUS), bits);
    Effect::Interrupt {
        line: DEVICES[index].irq_line,
    }
}

/// The driver broke the protocol: mark the device DEVICE_NEEDS_RESET and tell the driver
/// (a configuration-change interrupt, as the spec asks).
pub fn broken<C: Cells + ?Sized>(cells: &C, index: usize, message: String) -> Vec<Effect> {
    cells.fetch_or(cell(index, C_STATUS), STATUS_NEEDS_RESET);
    vec![
        Effect::Broken {
            device: index,
            message,
        },
        interrupt(cells, index, INT_CONFIG_CHANGE),
    ]
}
