//! The device role (`Role::Devices`): serves the side of the virtio devices that comes from
//! the page — console input, the terminal size and the bytes for the guest's file helper — on
//! the shared virtqueues, so the main thread never touches kernel memory for a device; and
//! the network: both queues of virtio-net and the host's side of the LAN
//! (`kernel_host::net::Gateway`). This worker runs no kernel code. Console output and RNG
//! requests are served in the kernel's own workers, at the register write that notifies
//! them (`mmio.rs`).
//!
//! Each request returns the effects for `effects::apply`; the message loop carries them out.
//! The relay's WebSocket (`relay.rs`) is kept here too; the message loop opens it.

use crate::disk::OpfsStore;
use crate::outbox::{post, scope};
use crate::relay;
use js_sys::{SharedArrayBuffer, WebAssembly};
use kernel_host::browser::devices::{KernelMemory, SharedCells};
use kernel_host::browser::protocol::FromWorker;
use kernel_host::net::forward;
use kernel_host::net::relay::Link;
use kernel_host::net::web::{Fetch, Web};
use kernel_host::net::{Gateway, NetCounters};
use kernel_host::virtio::{self, blk, console, files, net, Effect};

pub struct Devices {
    pub kmem: WebAssembly::Memory,
    memory: KernelMemory,
    cells: SharedCells,
    pub irq_word: u32,
    /// Typed bytes the console driver has no receive buffer for yet.
    input: console::Inbox<{ virtio::CONSOLE }>,
    /// Bytes for hvc1 (the files channel) waiting for receive buffers.
    files: files::Inbox,
    /// The terminal's size, told again once the console driver runs.
    size: Option<(u16, u16)>,
    /// The driver has posted receive buffers at least once (so it runs).
    live: bool,
    /// The host's end of the guest's LAN, and the frames for the guest that wait for
    /// receive buffers.
    gateway: Gateway,
    net_inbox: net::Inbox,
    pub net_counters: net::Counters,
    /// When the gateway next wants a poll without a frame (`performance.now()` ms).
    pub net_poll_at: Option<f64>,
    /// The timeout set for that poll, and the time it was set for.
    pub net_timer: Option<(i32, f64)>,
    /// The counters the page last heard (`report_network`).
    reported: NetCounters,
    /// The relay's WebSocket URL (`ToWorker::Relay`), its socket, and the last socket shut
    /// (kept until the next one is shut: its handler may be what shut it).
    pub relay_url: Option<String>,
    pub relay_socket: Option<relay::Socket>,
    relay_retired: Option<relay::Socket>,
    /// The disk's backing store, once `OpenDisk` opened it (`crate::disk`).
    disk: Option<OpfsStore>,
    pub disk_counters: blk::Counters,
}

/// How soon a poll comes back while the guest's inbox is full, at the least.
const FULL_INBOX_POLL_MS: u64 = 20;

/// The device worker's monotonic clock in milliseconds.
pub fn now_ms() -> f64 {
    scope().performance().map_or(0.0, |p| p.now())
}

/// The page's origin, which the guest reaches as `alpenglow.host`.
fn site_origin() -> String {
    scope().location().origin()
}

impl Devices {
    pub fn new(kmem: &WebAssembly::Memory, cells: &SharedArrayBuffer, irq_word: u32) -> Devices {
        Devices {
            kmem: kmem.clone(),
            memory: KernelMemory(kmem.clone()),
            cells: SharedCells::new(cells),
            irq_word,
            input: console::Inbox::default(),
            files: files::Inbox::default(),
            size: None,
            live: false,
            gateway: Gateway::new(now_ms() as i64, &site_origin()),
            net_inbox: net::Inbox::default(),
            net_counters: net::Counters::default(),
            net_poll_at: None,
            net_timer: None,
            reported: NetCounters::default(),
            relay_url: None,
            relay_socket: None,
            relay_retired: None,
            disk: None,
            disk_counters: blk::Counters::default(),
        }
    }

    fn receive(&mut self) -> Vec<Effect> {
        self.input.serve(&self.memory, &self.cells).0
    }

    /// Moves waiting files bytes in; the page hears how far the guest has got.
    fn receive_files(&mut self) -> Vec<Effect> {
        let (effects, moved) = self.files.serve(&self.memory, &self.cells);
        if moved {
            post(&FromWorker::FilesTaken {
                total: self.files.taken() as f64,
            });
        }
        effects
    }

    /// `ToWorker::Input`: typed or pasted bytes for the console.
    pub fn input(&mut self, bytes: Vec<u8>) -> Vec<Effect> {
        self.input.push(&bytes);
        self.receive()
    }

    /// `ToWorker::FilesInput`: bytes for the guest's file helper.
    pub fn files_input(&mut self, bytes: Vec<u8>) -> Vec<Effect> {
        self.files.push(&bytes);
        self.receive_files()
    }

    /// `ToWorker::Resize`: the terminal is now `cols` x `rows`.
    pub fn resize(&mut self, cols: u16, rows: u16) -> Vec<Effect> {
        self.size = Some((cols, rows));
        virtio::console::resize(&self.cells, virtio::CONSOLE, cols, rows)
    }

    /// The driver notified queue `queue` of `device`, one this worker serves.
    pub fn notify(&mut self, device: u32, queue: u32) -> Vec<Effect> {
        match (device as usize, queue) {
            (virtio::NET, net::TRANSMIT_QUEUE) => self.transmit(),
            // New receive buffers: waiting frames go in, and the gateway sends what it held.
            (virtio::NET, _) => self.poll_network(),
            (virtio::BLK, blk::REQUEST_QUEUE) => self.disk_requests(),
            (virtio::CONSOLE | virtio::FILES, console::RECEIVE_QUEUE) => {
                self.receive_buffers(device)
            }
            _ => Vec::new(),
        }
    }

    /// `OpenDisk` succeeded: the driver will find the disk's size in its configuration.
    pub fn attach_disk(&mut self, store: OpfsStore) -> u64 {
        let bytes = blk::Store::size(&store);
        blk::set_capacity(&self.cells, virtio::BLK, bytes);
        self.disk = Some(store);
        bytes
    }

    /// What the disk holds now, by its superblock (None: no disk, or it cannot be read).
    pub fn disk_image(&mut self) -> Option<kernel_host::disk_image::Image> {
        self.disk.as_mut()?.image().ok()
    }

    /// The disk driver queued requests: each is done on the store before it is returned.
    fn disk_requests(&mut self) -> Vec<Effect> {
        let store = self.disk.as_mut().map(|s| s as &mut dyn blk::Store);
        let effects = blk::serve(
            &self.memory,
            &self.cells,
            virtio::BLK,
            store,
            &mut self.disk_counters,
        );
        if let Some(e) = self.disk_counters.last_error.take() {
            web_sys::console::error_1(&format!("alpenglow: disk: {e}").into());
        }
        effects
    }

    /// The guest sent frames: the gateway takes them and its answers go to the guest.
    fn transmit(&mut self) -> Vec<Effect> {
        let (frames, mut effects) = net::transmit(
            &self.memory,
            &self.cells,
            virtio::NET,
            &mut self.net_counters,
        );
        for frame in frames {
            self.gateway.from_guest(frame);
        }
        effects.extend(self.poll_network());
        effects
    }

    /// Runs the gateway now: its frames go to the guest, as many as its inbox has room for
    /// (the rest stay in the gateway's sockets), and the next poll is planned.
    pub fn poll_network(&mut self) -> Vec<Effect> {
        let mut effects = self.serve_network_inbox();
        let now = now_ms();
        self.gateway
            .set_room(net::INBOX_FRAMES.saturating_sub(self.net_inbox.waiting()));
        for frame in self.gateway.poll(now as i64) {
            self.net_inbox.push(frame, &mut self.net_counters);
        }
        self.net_poll_at = self.gateway.poll_delay_ms(now as i64).map(|d| {
            // A full inbox: the guest's next receive buffers poll again (`notify`); until
            // then the stack's timers need not spin.
            let d = if self.net_inbox.waiting() >= net::INBOX_FRAMES {
                d.max(FULL_INBOX_POLL_MS)
            } else {
                d
            };
            now + d as f64
        });
        effects.extend(self.serve_network_inbox());
        effects
    }

    fn serve_network_inbox(&mut self) -> Vec<Effect> {
        self.net_inbox.serve(
            &self.memory,
            &self.cells,
            virtio::NET,
            &mut self.net_counters,
        )
    }

    /// The network's counters if they changed since the page last heard them.
    pub fn counters_to_report(&mut self) -> Option<NetCounters> {
        let web = self.gateway.web().counters;
        let relay = self.gateway.relay().counters;
        if let Some(why) = self.gateway.relay_mut().last_failure.take() {
            web_sys::console::warn_1(&why.into());
        }
        let now = NetCounters {
            frames_out: self.net_counters.tx_frames,
            frames_in: self.net_counters.rx_frames,
            drops: self.net_counters.drops,
            requests: web.requests,
            resets: web.resets,
            relayed: relay.streams,
            relay_failed: relay.failed,
        };
        (now != self.reported).then(|| {
            self.reported = now;
            now
        })
    }

    /// `ToWorker::Forward`: the page asks the guest's TCP port.
    pub fn forward(&mut self, id: u32, request: &forward::Request) -> Vec<Effect> {
        self.gateway.forward(u64::from(id), request);
        self.poll_network()
    }

    /// The forwarded requests answered since the last call.
    pub fn take_forwarded(&mut self) -> Vec<(u64, forward::Forwarded)> {
        self.gateway.take_forwarded()
    }

    /// The requests the guest completed since the last call, for `fetches::spawn`.
    pub fn take_fetches(&mut self) -> Vec<Fetch> {
        self.gateway.web_mut().take_fetches()
    }

    /// Bytes of exchange `id`'s response the guest has yet to take; None once it is gone.
    pub fn web_backlog(&self, id: u64) -> Option<usize> {
        self.gateway.web().backlog(id)
    }

    /// A fetch's response arrived in part (status and headers, a piece of body, the end)
    /// or failed: `step` hands it to the web service, and the gateway runs.
    pub fn web(&mut self, step: impl FnOnce(&mut Web)) -> Vec<Effect> {
        step(self.gateway.web_mut());
        self.poll_network()
    }

    /// `ToWorker::Relay`: the relay to use from now on (None: TCP to ports other than 80 is
    /// refused). Streams through the old one end.
    pub fn set_relay(&mut self, url: Option<String>) -> Vec<Effect> {
        let relay = self.gateway.relay_mut();
        relay.set_enabled(false);
        relay.set_enabled(url.is_some());
        self.relay_url = url;
        self.relay_retire();
        self.poll_network()
    }

    pub fn relay_link(&self) -> Link {
        self.gateway.relay().link()
    }

    /// Shuts the relay's socket, if any (`relay::Socket::shut`).
    pub fn relay_retire(&mut self) {
        if let Some(socket) = self.relay_socket.take() {
            socket.shut();
            self.relay_retired = Some(socket);
        }
    }

    /// The relay's socket is being opened.
    pub fn relay_opening(&mut self, socket: relay::Socket) {
        self.relay_retire();
        self.relay_socket = Some(socket);
        self.gateway.relay_mut().opening();
    }

    /// Sends the gateway's packets for the relay.
    pub fn relay_send(&mut self) {
        let packets = self.gateway.relay_mut().take_outgoing();
        if let Some(socket) = &self.relay_socket {
            for packet in packets {
                if !socket.send(&packet) {
                    break;
                }
            }
        }
    }

    /// The relay's socket opened.
    pub fn relay_up(&mut self) -> Vec<Effect> {
        self.gateway.relay_mut().up();
        self.poll_network()
    }

    /// A message from the relay.
    pub fn relay_message(&mut self, message: &[u8]) -> Vec<Effect> {
        self.gateway.relay_mut().from_relay(message);
        self.poll_network()
    }

    /// The relay's socket closed or could not open.
    pub fn relay_down(&mut self, why: &str) -> Vec<Effect> {
        self.gateway.relay_mut().down(why);
        self.poll_network()
    }

    /// The driver of console device `device` posted receive buffers: waiting input goes in.
    /// The first time for the terminal, the driver has just started and may have missed the
    /// size.
    fn receive_buffers(&mut self, device: u32) -> Vec<Effect> {
        match device as usize {
            virtio::FILES => self.receive_files(),
            _ => {
                let mut effects = Vec::new();
                if !self.live {
                    self.live = true;
                    if let Some((cols, rows)) = self.size {
                        effects = virtio::console::resize(&self.cells, virtio::CONSOLE, cols, rows);
                    }
                }
                effects.extend(self.receive());
                effects
            }
        }
    }
}
