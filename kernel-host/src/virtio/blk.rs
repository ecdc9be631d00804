//! virtio-blk (device ID 2): the guest's `/dev/vda`, the disk that survives a reload
//! ([docs/disk.md](../../../docs/disk.md)). Its one queue is served by the device worker,
//! which holds the backing store (a file in the page's private storage, behind [`Store`]):
//! a notify reaches it as [`Effect::Notify`] and every request is done before its buffer is
//! returned, so a `FLUSH` completes only after the store's own flush.
//!
//! Offered: `VIRTIO_BLK_F_SEG_MAX` (so a request may carry many pages) and
//! `VIRTIO_BLK_F_FLUSH` (so the guest's `sync` and ext4's journal commits reach the store).
//! The capacity is in the device's configuration cells, written by the device worker once
//! the store is open ([`set_capacity`]); 0 is a machine without a disk.

use super::memory::GuestMemory;
use super::queue::{drain, Chain};
use super::state::{self, cell, Cells, Effect, C_CONFIG, INT_USED_BUFFER};

pub const DEVICE_ID: u32 = 2;
pub const QUEUES: u32 = 1;
pub const REQUEST_QUEUE: u32 = 0;
/// VIRTIO_BLK_F_SEG_MAX: the configuration says how many data segments a request may have.
pub const F_SEG_MAX: u32 = 2;
/// VIRTIO_BLK_F_FLUSH: the device takes `VIRTIO_BLK_T_FLUSH`.
pub const F_FLUSH: u32 = 9;
pub const FEATURES: u64 = 1 << F_SEG_MAX | 1 << F_FLUSH;

/// Data segments per request: the transport's 64 descriptors per queue less the header and
/// the status (a test checks it against `mmio::QUEUE_SIZE`).
pub const SEG_MAX: u32 = 62;
/// The largest request the device takes (the driver's requests are far smaller: at most
/// `SEG_MAX` pages); a larger one is an I/O error, not an allocation the driver chose.
pub const MAX_REQUEST: usize = 4 << 20;
pub const SECTOR: u64 = 512;

// Request types (virtio 1.2, 5.2.6).
pub const T_IN: u32 = 0;
pub const T_OUT: u32 = 1;
pub const T_FLUSH: u32 = 4;
pub const T_GET_ID: u32 = 8;
// Status values.
pub const S_OK: u8 = 0;
pub const S_IOERR: u8 = 1;
pub const S_UNSUPP: u8 = 2;
/// `struct virtio_blk_outhdr`: type, reserved, sector.
const HDR_LEN: usize = 16;
/// The serial number `GET_ID` answers (at most 20 bytes, NUL-padded).
pub const ID: &[u8] = b"alpenglow-disk";

/// The disk's bytes: a file in the page's private storage, or memory in tests.
pub trait Store {
    /// The size in bytes.
    fn size(&self) -> u64;
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), String>;
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), String>;
    /// Returns once everything written is durable.
    fn flush(&mut self) -> Result<(), String>;
}

/// Tells the driver the disk has `bytes` bytes (whole sectors): two configuration cells.
pub fn set_capacity<C: Cells + ?Sized>(cells: &C, index: usize, bytes: u64) {
    let sectors = bytes / SECTOR;
    cells.store(cell(index, C_CONFIG), sectors as u32);
    cells.store(cell(index, C_CONFIG + 1), (sectors >> 32) as u32);
}

/// The configuration space: capacity (u64, sectors), size_max (u32, not offered), seg_max.
pub fn config<C: Cells + ?Sized>(cells: &C, index: usize) -> Vec<u8> {
    let mut c = Vec::with_capacity(16);
    c.extend_from_slice(&cells.load(cell(index, C_CONFIG)).to_le_bytes());
    c.extend_from_slice(&cells.load(cell(index, C_CONFIG + 1)).to_le_bytes());
    c.extend_from_slice(&0u32.to_le_bytes());
    c.extend_from_slice(&SEG_MAX.to_le_bytes());
    c
}

/// What the device has done, for the page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub reads: u64,
    pub writes: u64,
    pub flushes: u64,
    /// Requests that failed: outside the disk, no disk, or refused by the store.
    pub errors: u64,
    /// Why the store last refused a request (for the developer console).
    pub last_error: Option<String>,
}

/// The driver notified the request queue: every request is carried out on `store` (None:
/// no disk, every request fails) and its status written. A bad descriptor breaks the device
/// (`state::broken`); a request the store refuses is an I/O error in the guest.
pub fn serve<M: GuestMemory + ?Sized, C: Cells + ?Sized>(
    mem: &M,
    cells: &C,
    index: usize,
    mut store: Option<&mut dyn Store>,
    counters: &mut Counters,
) -> Vec<Effect> {
    let result = drain(mem, cells, index, REQUEST_QUEUE, |chain| {
        // A reborrow for this request only (`as_deref_mut` would keep it for the closure).
        let store: Option<&mut dyn Store> = match store.as_mut() {
            Some(s) => Some(&mut **s),
            None => None,
        };
        request(mem, chain, store, counters).map(Some)
    });
    match result {
        Ok(true) => vec![state::interrupt(cells, index, INT_USED_BUFFER)],
        Ok(false) => Vec::new(),
        Err(message) => state::broken(cells, index, message),
    }
}

/// One request; returns the bytes written into the buffer (data and status). `Err` is the
/// driver's fault (a malformed chain or an address outside memory).
fn request<M: GuestMemory + ?Sized>(
    mem: &M,
    chain: &Chain,
    store: Option<&mut dyn Store>,
    counters: &mut Counters,
) -> Result<u32, String> {
    let fault = |e: super::Fault| e.to_string();
    let readable: usize = chain.readable.iter().map(|&(_, l)| l as usize).sum();
    let writable = chain.writable_len();
    if readable < HDR_LEN || writable == 0 {
        return Err(format!(
            "a block request of {readable} readable and {writable} writable bytes"
        ));
    }
    if readable > HDR_LEN + MAX_REQUEST || writable > MAX_REQUEST + 1 {
        return Err(format!("a block request of {} bytes", readable + writable));
    }
    let mut out = vec![0u8; readable];
    gather(mem, &chain.readable, &mut out).map_err(fault)?;
    let kind = u32::from_le_bytes([out[0], out[1], out[2], out[3]]);
    let sector = u64::from_le_bytes(out[8..16].try_into().unwrap_or_default());
    let data_out = &out[HDR_LEN..];
    // The last writable byte is the status; the ones before it take data.
    let data_in_len = writable - 1;
    let (status, data_in) = match kind {
        T_IN => {
            let mut buf = vec![0u8; data_in_len];
            counters.reads += 1;
            let status = in_range(store, sector, data_in_len, counters, |s, at| {
                s.read_at(at, &mut buf)
            });
            (status, buf)
        }
        T_OUT => {
            counters.writes += 1;
            let status = in_range(store, sector, data_out.len(), counters, |s, at| {
                s.write_at(at, data_out)
            });
            (status, Vec::new())
        }
        T_FLUSH => {
            counters.flushes += 1;
            let status = match store {
                Some(s) => ok_or_ioerr(s.flush(), counters),
                None => S_IOERR,
            };
            (status, Vec::new())
        }
        T_GET_ID => {
            let mut id = vec![0u8; data_in_len.min(20)];
            let n = id.len().min(ID.len());
            id[..n].copy_from_slice(&ID[..n]);
            (S_OK, id)
        }
        _ => (S_UNSUPP, Vec::new()),
    };
    if status == S_IOERR {
        counters.errors += 1;
    }
    let mut bytes = data_in;
    bytes.resize(data_in_len, 0);
    bytes.push(status);
    scatter(mem, &chain.writable, &bytes).map_err(fault)?;
    Ok(bytes.len() as u32)
}

/// Runs `op` at the byte offset of `sector` if `len` bytes from there are on the disk.
fn in_range(
    store: Option<&mut dyn Store>,
    sector: u64,
    len: usize,
    counters: &mut Counters,
    op: impl FnOnce(&mut dyn Store, u64) -> Result<(), String>,
) -> u8 {
    let Some(store) = store else {
        return S_IOERR;
    };
    let fits = sector
        .checked_mul(SECTOR)
        .and_then(|at| Some((at, at.checked_add(len as u64)?)))
        .filter(|&(_, end)| end <= store.size() && (len as u64).is_multiple_of(SECTOR));
    match fits {
        Some((at, _)) => ok_or_ioerr(op(store, at), counters),
        None => S_IOERR,
    }
}

fn ok_or_ioerr(r: Result<(), String>, counters: &mut Counters) -> u8 {
    match r {
        Ok(()) => S_OK,
        Err(e) => {
            counters.last_error = Some(e);
            S_IOERR
        }
    }
}

fn gather<M: GuestMemory + ?Sized>(
    mem: &M,
    parts: &[(u64, u32)],
    out: &mut [u8],
) -> Result<(), super::Fault> {
    let mut at = 0;
    for &(addr, len) in parts {
        mem.read(addr, &mut out[at..at + len as usize])?;
        at += len as usize;
    }
    Ok(())
}

fn scatter<M: GuestMemory + ?Sized>(
    mem: &M,
    parts: &[(u64, u32)],
    bytes: &[u8],
) -> Result<(), super::Fault> {
    let mut at = 0;
    for &(addr, len) in parts {
        mem.write(addr, &bytes[at..at + len as usize])?;
        at += len as usize;
    }
    Ok(())
}
