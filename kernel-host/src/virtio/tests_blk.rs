//! The disk (`virtio::blk`) driven as Linux's virtio_blk drives it: a header descriptor, data
//! descriptors, a status byte, on a store in memory that records what reached it.

use super::blk::{self, Counters, Store, S_IOERR, S_OK, S_UNSUPP, T_FLUSH, T_GET_ID, T_IN, T_OUT};
use super::memory::{GuestMemory, Ram};
use super::mmio::*;
use super::queue::tests::{post, AVAIL, DESC, USED};
use super::rng::Entropy;
use super::state::*;
use std::sync::atomic::AtomicU32;

struct NoEntropy;
impl Entropy for NoEntropy {
    fn fill(&mut self, _: &mut [u8]) {}
}

/// A disk in memory. `durable` is what a flush has made permanent; `log` the calls in order.
#[derive(Default)]
struct MemStore {
    bytes: Vec<u8>,
    durable: Vec<u8>,
    log: Vec<&'static str>,
    fail_writes: bool,
}

impl Store for MemStore {
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        self.log.push("read");
        let at = offset as usize;
        buf.copy_from_slice(&self.bytes[at..at + buf.len()]);
        Ok(())
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), String> {
        self.log.push("write");
        if self.fail_writes {
            return Err("QuotaExceededError: the origin's storage is full".into());
        }
        let at = offset as usize;
        self.bytes[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), String> {
        self.log.push("flush");
        self.durable = self.bytes.clone();
        Ok(())
    }
}

const HDR: u64 = 0x5000;
const DATA: u64 = 0x6000;
const STATUS: u64 = 0x7000;

fn setup(disk_bytes: usize) -> (Ram, Vec<AtomicU32>, MemStore) {
    let ram = Ram::new(0x20000);
    let cells: Vec<AtomicU32> = (0..DEVICES.len() * CELLS_PER_DEVICE)
        .map(|_| AtomicU32::new(0))
        .collect();
    {
        let bus = Bus::new(&ram, &cells[..]);
        let base = mmio_address(BLK);
        let w = |off, v| assert!(bus.write(base + off, 4, v, &mut NoEntropy).is_empty());
        w(REG_STATUS, 1 | 2);
        w(REG_DRIVER_FEATURES_SEL, 0);
        w(REG_DRIVER_FEATURES, blk::FEATURES as u32);
        w(REG_DRIVER_FEATURES_SEL, 1);
        w(REG_DRIVER_FEATURES, 1);
        w(REG_QUEUE_SEL, 0);
        w(REG_QUEUE_NUM, 8);
        w(REG_QUEUE_DESC_LOW, DESC as u32);
        w(REG_QUEUE_DRIVER_LOW, AVAIL as u32);
        w(REG_QUEUE_DEVICE_LOW, USED as u32);
        w(REG_QUEUE_READY, 1);
        w(REG_STATUS, 1 | 2 | 8 | STATUS_DRIVER_OK);
    }
    let store = MemStore {
        bytes: vec![0; disk_bytes],
        ..MemStore::default()
    };
    blk::set_capacity(&cells[..], BLK, disk_bytes as u64);
    (ram, cells, store)
}

/// Posts one request: header, then `data` bytes (written by the driver for OUT, by the
/// device otherwise), then the status byte.
fn request(ram: &Ram, kind: u32, sector: u64, data: usize, device_writes_data: bool) {
    ram.put_u32(HDR, kind);
    ram.put_u32(HDR + 4, 0);
    ram.put_u64(HDR + 8, sector);
    ram.write(STATUS, &[0xff]).unwrap();
    let mut chain = vec![(HDR, 16, false)];
    if data > 0 {
        chain.push((DATA, data as u32, device_writes_data));
    }
    chain.push((STATUS, 1, true));
    post(ram, 8, &[&chain]);
}

fn serve(ram: &Ram, cells: &[AtomicU32], store: Option<&mut MemStore>) -> Vec<Effect> {
    let mut counters = Counters::default();
    blk::serve(
        ram,
        cells,
        BLK,
        store.map(|s| s as &mut dyn Store),
        &mut counters,
    )
}

fn status(ram: &Ram) -> u8 {
    let mut b = [0u8];
    ram.read(STATUS, &mut b).unwrap();
    b[0]
}

#[test]
fn identifies_itself_as_a_disk_of_its_capacity_with_flush() {
    let (ram, cells, _) = setup(1 << 20);
    let bus = Bus::new(&ram, &cells[..]);
    let base = mmio_address(BLK);
    assert_eq!(bus.read(base + REG_DEVICE_ID, 4), blk::DEVICE_ID);
    assert_eq!(
        bus.read(base + REG_DEVICE_FEATURES, 4),
        blk::FEATURES as u32
    );
    assert_eq!(bus.read(base + REG_CONFIG, 4), 2048, "capacity in sectors");
    assert_eq!(bus.read(base + REG_CONFIG + 4, 4), 0);
    assert_eq!(bus.read(base + REG_CONFIG + 12, 4), blk::SEG_MAX);
    assert_eq!(blk::SEG_MAX, QUEUE_SIZE - 2);
    // A notify goes to the device worker, which holds the store.
    let fx = bus.write(base + REG_QUEUE_NOTIFY, 4, 0, &mut NoEntropy);
    assert_eq!(
        fx,
        vec![Effect::Notify {
            device: BLK,
            queue: 0
        }]
    );
}

#[test]
fn writes_then_reads_back_sectors() {
    let (ram, cells, mut store) = setup(1 << 20);
    let data: Vec<u8> = (0..1024u32).map(|i| (i * 7) as u8).collect();
    ram.write(DATA, &data).unwrap();
    request(&ram, T_OUT, 3, 1024, false);
    let fx = serve(&ram, &cells, Some(&mut store));
    assert!(matches!(fx[..], [Effect::Interrupt { line: 6 }]));
    assert_eq!(status(&ram), S_OK);
    assert_eq!(&store.bytes[3 * 512..5 * 512], &data[..]);

    ram.write(DATA, &[0u8; 1024]).unwrap();
    request(&ram, T_IN, 3, 1024, true);
    serve(&ram, &cells, Some(&mut store));
    assert_eq!(status(&ram), S_OK);
    let mut back = vec![0u8; 1024];
    ram.read(DATA, &mut back).unwrap();
    assert_eq!(back, data);
    // The used element says how much the device wrote: data and status.
    assert_eq!(ram.read_u32(USED + 8 + 8).unwrap(), 1025);
}

#[test]
fn a_flush_completes_only_after_the_stores_flush() {
    let (ram, cells, mut store) = setup(4096);
    ram.write(DATA, &[9u8; 512]).unwrap();
    request(&ram, T_OUT, 0, 512, false);
    serve(&ram, &cells, Some(&mut store));
    assert!(store.durable.is_empty(), "a write alone is not durable");
    request(&ram, T_FLUSH, 0, 0, false);
    serve(&ram, &cells, Some(&mut store));
    assert_eq!(status(&ram), S_OK);
    assert_eq!(store.log, ["write", "flush"]);
    assert_eq!(&store.durable[..512], &[9u8; 512][..]);
}

#[test]
fn requests_outside_the_disk_are_io_errors() {
    let (ram, cells, mut store) = setup(4096);
    // The last sector is fine, one past it is not, nor is a sector that overflows.
    request(&ram, T_IN, 7, 512, true);
    serve(&ram, &cells, Some(&mut store));
    assert_eq!(status(&ram), S_OK);
    for sector in [8, 7 + 1, u64::MAX / 256] {
        request(&ram, T_IN, sector, 512, true);
        serve(&ram, &cells, Some(&mut store));
        assert_eq!(status(&ram), S_IOERR, "sector {sector}");
    }
    request(&ram, T_OUT, 7, 1024, false);
    serve(&ram, &cells, Some(&mut store));
    assert_eq!(status(&ram), S_IOERR);
    // A length that is not whole sectors.
    request(&ram, T_OUT, 0, 100, false);
    serve(&ram, &cells, Some(&mut store));
    assert_eq!(status(&ram), S_IOERR);
    assert_eq!(
        store.log,
        ["read"],
        "nothing outside the disk reached the store"
    );
}

#[test]
fn a_store_that_refuses_is_an_io_error_and_no_disk_fails_every_request() {
    let (ram, cells, mut store) = setup(4096);
    store.fail_writes = true;
    request(&ram, T_OUT, 0, 512, false);
    let mut counters = Counters::default();
    blk::serve(&ram, &cells[..], BLK, Some(&mut store), &mut counters);
    assert_eq!(status(&ram), S_IOERR);
    assert_eq!(counters.errors, 1);
    assert!(counters.last_error.unwrap().contains("Quota"));
    assert!(live(&cells[..], BLK), "the device keeps working");
    for kind in [T_IN, T_FLUSH] {
        request(&ram, kind, 0, if kind == T_IN { 512 } else { 0 }, true);
        serve(&ram, &cells, None);
        assert_eq!(status(&ram), S_IOERR);
    }
}

#[test]
fn get_id_answers_the_serial_and_other_types_are_unsupported() {
    let (ram, cells, mut store) = setup(4096);
    request(&ram, T_GET_ID, 0, 20, true);
    serve(&ram, &cells, Some(&mut store));
    assert_eq!(status(&ram), S_OK);
    let mut id = [0u8; 20];
    ram.read(DATA, &mut id).unwrap();
    assert_eq!(&id[..blk::ID.len()], blk::ID);
    assert!(id[blk::ID.len()..].iter().all(|&b| b == 0));
    // DISCARD (11) was not offered.
    request(&ram, 11, 0, 0, false);
    serve(&ram, &cells, Some(&mut store));
    assert_eq!(status(&ram), S_UNSUPP);
}

#[test]
fn bad_descriptors_mark_the_device_broken_without_panicking() {
    // A header too short for a request.
    let (ram, cells, mut store) = setup(4096);
    post(&ram, 8, &[&[(HDR, 8, false), (STATUS, 1, true)]]);
    let fx = serve(&ram, &cells, Some(&mut store));
    assert!(matches!(fx[0], Effect::Broken { device: BLK, .. }));
    assert_ne!(
        cells[cell(BLK, C_STATUS)].load(std::sync::atomic::Ordering::SeqCst) & STATUS_NEEDS_RESET,
        0
    );

    // No status byte.
    let (ram, cells, mut store) = setup(4096);
    post(&ram, 8, &[&[(HDR, 16, false)]]);
    assert!(matches!(
        serve(&ram, &cells, Some(&mut store))[0],
        Effect::Broken { .. }
    ));

    // Data outside kernel memory, and a length beyond what the device takes.
    for (addr, len) in [(0x1_0000_0000u64, 512u32), (DATA, u32::MAX)] {
        let (ram, cells, mut store) = setup(4096);
        ram.put_u32(HDR, T_IN);
        post(
            &ram,
            8,
            &[&[(HDR, 16, false), (addr, len, true), (STATUS, 1, true)]],
        );
        assert!(matches!(
            serve(&ram, &cells, Some(&mut store))[0],
            Effect::Broken { .. }
        ));
        assert!(!store.log.contains(&"write"));
        assert!(!live(&cells[..], BLK));
    }
}
