//! The transport: virtio-mmio (version 2). The top layer: it decodes the kernel's register
//! accesses into the devices' register state and, for a queue notification, calls the
//! device ([`Bus`]). Devices and queues never call up into it.

use super::memory::GuestMemory;
use super::rng::{self, Entropy};
use super::state::{
    self, cell, queue_cell, Cells, Effect, Kind, C_CONFIG_GENERATION, C_DEVICE_FEATURES_SEL,
    C_DRIVER_FEATURES, C_DRIVER_FEATURES_SEL, C_INTERRUPT_STATUS, C_QUEUE_SEL, C_STATUS, DEVICES,
    Q_DESC, Q_DEVICE, Q_DRIVER, Q_LAST_AVAIL, Q_NUM, Q_READY,
};
use super::{blk, console, files, net};

/// Where the device register window starts (`WASM_MMIO_BASE` in `arch/wasm`'s `<asm/io.h>`).
pub const MMIO_BASE: u32 = 0xfe00_0000;
/// The register block of one virtio-mmio device.
pub const MMIO_STRIDE: u32 = 0x200;

/// The register base address of device `index`.
pub fn mmio_address(index: usize) -> u32 {
    MMIO_BASE + index as u32 * MMIO_STRIDE
}

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

/// What the driver is told each kind of device is: the device modules' own constants.
impl Kind {
    /// The virtio device ID.
    pub fn device_id(self) -> u32 {
        match self {
            Kind::Console | Kind::Files => console::DEVICE_ID,
            Kind::Rng => rng::DEVICE_ID,
            Kind::Net => net::DEVICE_ID,
            Kind::Blk => blk::DEVICE_ID,
        }
    }

    pub fn queues(self) -> u32 {
        match self {
            Kind::Console | Kind::Files => console::QUEUES,
            Kind::Rng => rng::QUEUES,
            Kind::Net => net::QUEUES,
            Kind::Blk => blk::QUEUES,
        }
    }

    /// Device feature bits offered (VIRTIO_F_VERSION_1 is added for every device).
    pub fn features(self) -> u64 {
        match self {
            Kind::Console => console::FEATURES,
            Kind::Files => files::FEATURES,
            Kind::Rng => rng::FEATURES,
            Kind::Net => net::FEATURES,
            Kind::Blk => blk::FEATURES,
        }
    }
}

fn features(index: usize) -> u64 {
    DEVICES[index].kind.features() | 1 << F_VERSION_1
}

/// A register read.
pub fn read<C: Cells + ?Sized>(cells: &C, index: usize, offset: u32, size: u32) -> u32 {
    let kind = DEVICES[index].kind;
    if offset >= REG_CONFIG {
        let config = match kind {
            Kind::Console | Kind::Files => console::config(cells, index),
            Kind::Rng => Vec::new(),
            Kind::Net => net::config(),
            Kind::Blk => blk::config(cells, index),
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
        REG_STATUS if value == 0 => state::reset(cells, index),
        REG_STATUS => cells.store(cell(index, C_STATUS), value),
        _ => {}
    }
    None
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
            Some((index, offset)) => read(self.cells, index, offset, size),
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
        match write(self.cells, index, offset, size, value) {
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
        (Kind::Console | Kind::Files, console::RECEIVE_QUEUE) | (Kind::Net | Kind::Blk, _) => {
            return vec![Effect::Notify {
                device: index,
                queue,
            }]
        }
        (Kind::Console | Kind::Files, console::TRANSMIT_QUEUE) => {
            console::transmit(memory, cells, index)
        }
        (Kind::Rng, rng::REQUEST_QUEUE) => rng::serve(memory, cells, index, entropy),
        _ => Ok(Vec::new()),
    };
    result.unwrap_or_else(|message| state::broken(cells, index, message))
}
