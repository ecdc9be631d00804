//! The virtio-mmio (version 2) register file of each device, kept in shared cells.

use super::{console, Cells, Effect, CELLS_PER_DEVICE, DEVICES};

pub const MAGIC: u32 = 0x7472_6976; // "virt"
pub const VERSION: u32 = 2;
/// "ALPG": any vendor ID will do; the drivers do not look at it.
pub const VENDOR: u32 = 0x4750_4c41;
/// Descriptors per queue.
pub const QUEUE_SIZE: u32 = 64;
/// VIRTIO_F_VERSION_1: a modern device (required by virtio-mmio version 2).
pub const F_VERSION_1: u32 = 32;

// Register offsets (virtio 1.2, 4.2.2).
pub const REG_MAGIC: u32 = 0x000;
pub const REG_VERSION: u32 = 0x004;
pub const REG_DEVICE_ID: u32 = 0x008;
pub const REG_VENDOR_ID: u32 = 0x00c;
pub const REG_DEVICE_FEATURES: u32 = 0x010;
pub const REG_DEVICE_FEATURES_SEL: u32 = 0x014;
pub const REG_DRIVER_FEATURES: u32 = 0x020;
pub const REG_DRIVER_FEATURES_SEL: u32 = 0x024;
pub const REG_QUEUE_SEL: u32 = 0x030;
pub const REG_QUEUE_NUM_MAX: u32 = 0x034;
pub const REG_QUEUE_NUM: u32 = 0x038;
pub const REG_QUEUE_READY: u32 = 0x044;
pub const REG_QUEUE_NOTIFY: u32 = 0x050;
pub const REG_INTERRUPT_STATUS: u32 = 0x060;
pub const REG_INTERRUPT_ACK: u32 = 0x064;
pub const REG_STATUS: u32 = 0x070;
pub const REG_QUEUE_DESC_LOW: u32 = 0x080;
pub const REG_QUEUE_DESC_HIGH: u32 = 0x084;
pub const REG_QUEUE_DRIVER_LOW: u32 = 0x090;
pub const REG_QUEUE_DRIVER_HIGH: u32 = 0x094;
pub const REG_QUEUE_DEVICE_LOW: u32 = 0x0a0;
pub const REG_QUEUE_DEVICE_HIGH: u32 = 0x0a4;
pub const REG_SHM_LEN_LOW: u32 = 0x0b0;
pub const REG_SHM_LEN_HIGH: u32 = 0x0b4;
pub const REG_CONFIG_GENERATION: u32 = 0x0fc;
pub const REG_CONFIG: u32 = 0x100;

// Device status bits.
pub const STATUS_DRIVER_OK: u32 = 4;
pub const STATUS_NEEDS_RESET: u32 = 0x40;

// Interrupt status bits.
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

/// The first cell of device `index`.
pub fn cell(index: usize, c: usize) -> usize {
    index * CELLS_PER_DEVICE + c
}

/// The cell `c` of queue `queue` of device `index`.
pub fn queue_cell(index: usize, queue: u32, c: usize) -> usize {
    cell(index, C_QUEUES + queue as usize * QUEUE_CELLS + c)
}

fn features(index: usize) -> u64 {
    DEVICES[index].kind.features() | 1 << F_VERSION_1
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

/// A register read.
pub fn read<C: Cells + ?Sized>(cells: &C, index: usize, offset: u32, size: u32) -> u32 {
    let kind = DEVICES[index].kind;
    if offset >= REG_CONFIG {
        let config = match kind {
            Kind::Console | Kind::Files => console::config(cells, index),
            Kind::Rng => Vec::new(),
        };
        return config_read(&config, (offset - REG_CONFIG) as usize, size);
    }
    let queue = cells.load(cell(index, C_QUEUE_SEL));
    let q = |c| {
        if queue < kind.queues() {
            cells.load(queue_cell(index, queue, c))
        } else {
            0
        }
    };
    match offset {
        REG_MAGIC => MAGIC,
        REG_VERSION => VERSION,
        REG_DEVICE_ID => kind.device_id(),
        REG_VENDOR_ID => VENDOR,
        REG_DEVICE_FEATURES => match cells.load(cell(index, C_DEVICE_FEATURES_SEL)) {
            0 => features(index) as u32,
            1 => (features(index) >> 32) as u32,
            _ => 0,
        },
        REG_QUEUE_NUM_MAX if queue < kind.queues() => QUEUE_SIZE,
        REG_QUEUE_READY => q(Q_READY),
        REG_INTERRUPT_STATUS => cells.load(cell(index, C_INTERRUPT_STATUS)),
        REG_STATUS => cells.load(cell(index, C_STATUS)),
        REG_CONFIG_GENERATION => cells.load(cell(index, C_CONFIG_GENERATION)),
        // No shared memory regions: a length of all ones says so.
        REG_SHM_LEN_LOW | REG_SHM_LEN_HIGH => u32::MAX,
        _ => 0,
    }
}

use super::Kind;

/// `size` bytes (1, 2, 4) at `offset` of a device's configuration, little-endian.
fn config_read(config: &[u8], offset: usize, size: u32) -> u32 {
    let mut b = [0u8; 4];
    for (i, byte) in b.iter_mut().enumerate().take(size.min(4) as usize) {
        *byte = config.get(offset + i).copied().unwrap_or(0);
    }
    u32::from_le_bytes(b)
}

/// A register write; returns the queue the driver notified, if it did.
pub fn write<C: Cells + ?Sized>(
    cells: &C,
    index: usize,
    offset: u32,
    _size: u32,
    value: u32,
) -> Option<u32> {
    let kind = DEVICES[index].kind;
    let queue = cells.load(cell(index, C_QUEUE_SEL));
    let set_q = |c, v| {
        if queue < kind.queues() {
            cells.store(queue_cell(index, queue, c), v)
        }
    };
    match offset {
        REG_DEVICE_FEATURES_SEL => cells.store(cell(index, C_DEVICE_FEATURES_SEL), value),
        REG_DRIVER_FEATURES_SEL => cells.store(cell(index, C_DRIVER_FEATURES_SEL), value),
        REG_DRIVER_FEATURES => {
            let sel = cells.load(cell(index, C_DRIVER_FEATURES_SEL));
            if sel < 2 {
                // Only what was offered can be accepted.
                let offered = (features(index) >> (32 * sel)) as u32;
                cells.store(
                    cell(index, C_DRIVER_FEATURES + sel as usize),
                    value & offered,
                );
            }
        }
        REG_QUEUE_SEL => cells.store(cell(index, C_QUEUE_SEL), value),
        REG_QUEUE_NUM => set_q(Q_NUM, value.min(QUEUE_SIZE)),
        REG_QUEUE_READY => {
            set_q(Q_LAST_AVAIL, 0);
            set_q(Q_READY, value & 1);
        }
        REG_QUEUE_DESC_LOW => set_q(Q_DESC, value),
        REG_QUEUE_DRIVER_LOW => set_q(Q_DRIVER, value),
        REG_QUEUE_DEVICE_LOW => set_q(Q_DEVICE, value),
        // Kernel memory is below 4 GiB: the high halves are always zero.
        REG_QUEUE_DESC_HIGH | REG_QUEUE_DRIVER_HIGH | REG_QUEUE_DEVICE_HIGH => {}
        REG_QUEUE_NOTIFY if value < kind.queues() => return Some(value),
        REG_INTERRUPT_ACK => {
            cells.fetch_and(cell(index, C_INTERRUPT_STATUS), !value);
        }
        REG_STATUS if value == 0 => reset(cells, index),
        REG_STATUS => cells.store(cell(index, C_STATUS), value),
        _ => {}
    }
    None
}

/// Device reset: everything but the device's own configuration goes back to zero.
pub fn reset<C: Cells + ?Sized>(cells: &C, index: usize) {
    for c in 0..CELLS_PER_DEVICE {
        if !(C_CONFIG..C_CONFIG + C_CONFIG_CELLS).contains(&c) && c != C_CONFIG_GENERATION {
            cells.store(cell(index, c), 0);
        }
    }
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
