//! virtio-net (device ID 1): the guest's `eth0`. Both queues are served by the device worker,
//! which also runs the host's side of the network (`crate::net`): a notify of either queue
//! reaches it as [`Effect::Notify`]. Frames the guest sends are taken off the transmit queue
//! ([`transmit`]); frames for the guest wait in an [`Inbox`] until the driver has posted
//! receive buffers.
//!
//! The device offers only a MAC address and the link status: no checksum offload, no
//! segmentation, no mergeable buffers, so every frame is one Ethernet frame of at most
//! [`MAX_FRAME`] bytes after the 12-byte `virtio_net_hdr_v1`.

use super::memory::GuestMemory;
use super::queue::drain;
use super::state::{self, Cells, Effect, INT_USED_BUFFER};
use std::collections::VecDeque;

pub const DEVICE_ID: u32 = 1;
pub const QUEUES: u32 = 2;
pub const RECEIVE_QUEUE: u32 = 0;
pub const TRANSMIT_QUEUE: u32 = 1;
/// VIRTIO_NET_F_MAC: the configuration holds the MAC address.
pub const F_MAC: u32 = 5;
/// VIRTIO_NET_F_STATUS: the configuration holds the link status.
pub const F_STATUS: u32 = 16;
pub const FEATURES: u64 = 1 << F_MAC | 1 << F_STATUS;
/// VIRTIO_NET_S_LINK_UP.
const LINK_UP: u16 = 1;

/// `struct virtio_net_hdr_v1`: with VIRTIO_F_VERSION_1 it always has `num_buffers`.
pub const HDR_LEN: usize = 12;
/// The largest Ethernet frame without its FCS at the default MTU (1500 + 14).
pub const MAX_FRAME: usize = 1514;
/// Frames for the guest kept while it posts no receive buffers; older ones are dropped, as a
/// full NIC ring drops them.
pub const INBOX_FRAMES: usize = 256;

/// The guest's MAC address (locally administered, QEMU's usual one).
pub const GUEST_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// The configuration space: `mac[6]`, status (u16).
pub fn config() -> Vec<u8> {
    let mut c = GUEST_MAC.to_vec();
    c.extend_from_slice(&LINK_UP.to_le_bytes());
    c
}

/// What the device side has seen, for the page's machine card.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub tx_frames: u64,
    pub rx_frames: u64,
    /// Frames dropped: malformed or oversized from the guest, or for the guest while it had
    /// no receive buffers.
    pub drops: u64,
}

/// The driver notified the transmit queue: every frame it queued, without its header.
/// A malformed buffer (shorter than the header, or longer than a frame) is dropped and
/// counted; a bad descriptor breaks the device (`state::broken`).
pub fn transmit<M: GuestMemory + ?Sized, C: Cells + ?Sized>(
    mem: &M,
    cells: &C,
    index: usize,
    counters: &mut Counters,
) -> (Vec<Vec<u8>>, Vec<Effect>) {
    let mut frames = Vec::new();
    let result = drain(mem, cells, index, TRANSMIT_QUEUE, |chain| {
        let total: usize = chain.readable.iter().map(|&(_, l)| l as usize).sum();
        if !(HDR_LEN..=HDR_LEN + MAX_FRAME).contains(&total) {
            counters.drops += 1;
            return Ok(Some(0));
        }
        let mut buf = vec![0u8; total];
        let mut at = 0;
        for &(addr, len) in &chain.readable {
            mem.read(addr, &mut buf[at..at + len as usize])
                .map_err(|e| e.to_string())?;
            at += len as usize;
        }
        buf.drain(..HDR_LEN);
        counters.tx_frames += 1;
        frames.push(buf);
        Ok(Some(0))
    });
    let effects = match result {
        Ok(true) => vec![state::interrupt(cells, index, INT_USED_BUFFER)],
        Ok(false) => Vec::new(),
        Err(message) => state::broken(cells, index, message),
    };
    (frames, effects)
}

/// Frames for the guest, waiting in the device worker for receive buffers.
#[derive(Debug, Default)]
pub struct Inbox {
    frames: VecDeque<Vec<u8>>,
}

impl Inbox {
    /// Queues `frame`; the oldest waiting frame is dropped when [`INBOX_FRAMES`] wait.
    pub fn push(&mut self, frame: Vec<u8>, counters: &mut Counters) {
        if frame.len() > MAX_FRAME {
            counters.drops += 1;
            return;
        }
        if self.frames.len() == INBOX_FRAMES {
            self.frames.pop_front();
            counters.drops += 1;
        }
        self.frames.push_back(frame);
    }

    pub fn waiting(&self) -> usize {
        self.frames.len()
    }

    /// Puts waiting frames into the receive buffers the driver has posted, one frame per
    /// buffer behind a zeroed header with `num_buffers` = 1. A buffer too small for its frame
    /// drops the frame (the driver posts buffers for a full frame, so this is its bug).
    pub fn serve<M: GuestMemory + ?Sized, C: Cells + ?Sized>(
        &mut self,
        mem: &M,
        cells: &C,
        index: usize,
        counters: &mut Counters,
    ) -> Vec<Effect> {
        if self.frames.is_empty() || !state::live(cells, index) {
            return Vec::new();
        }
        let frames = &mut self.frames;
        let result = drain(mem, cells, index, RECEIVE_QUEUE, |chain| {
            let Some(frame) = frames.pop_front() else {
                return Ok(None);
            };
            let mut bytes = vec![0u8; HDR_LEN];
            bytes[10] = 1; // num_buffers
            bytes.extend_from_slice(&frame);
            if chain.writable_len() < bytes.len() {
                counters.drops += 1;
                return Ok(Some(0));
            }
            let mut at = 0;
            for &(addr, len) in &chain.writable {
                let n = (len as usize).min(bytes.len() - at);
                if n == 0 {
                    break;
                }
                mem.write(addr, &bytes[at..at + n])
                    .map_err(|e| e.to_string())?;
                at += n;
            }
            counters.rx_frames += 1;
            Ok(Some(bytes.len() as u32))
        });
        match result {
            Ok(true) => vec![state::interrupt(cells, index, INT_USED_BUFFER)],
            Ok(false) => Vec::new(),
            Err(message) => state::broken(cells, index, message),
        }
    }
}
