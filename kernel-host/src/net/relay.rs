//! The gateway's relay client: with a relay set (`?relay=`), the guest's TCP connections to
//! any port but the web service's become Wisp streams ([`super::wisp`]) over one WebSocket to
//! the relay, which opens the real connection. TLS and every other protocol pass through
//! end to end; the page only carries bytes.
//!
//! smoltcp listens on a given port only, so a SYN the guest sends to a port nobody listens
//! on gets a listening socket made for it just before the stack sees the frame
//! ([`Relay::syn`]). [`Relay::service`] turns each socket that took a connection into a
//! stream and moves bytes: from the guest only as far as the relay's CONTINUE credit
//! allows, to the guest as far as the socket has room.
//!
//! The device worker owns the WebSocket: it opens one when [`Relay::link`] is
//! [`Link::Wanted`], sends [`Relay::take_outgoing`], and hands back what arrives
//! ([`Relay::from_relay`]) and when the socket opens or closes ([`Relay::up`],
//! [`Relay::down`]).
//!
//! What Wisp v1 cannot say, and what we do instead:
//! - the relay does not confirm a connection: the guest's connect succeeds at once, and a
//!   refused or unreachable destination ends the connection with a reset;
//! - there is no half-close: a guest that shuts down its sending side keeps its stream until
//!   the other end closes;
//! - the server's sending is not flow-controlled: bytes the guest has not taken wait here, up
//!   to [`BACKLOG_LIMIT`] a stream, beyond which the stream is reset.

use super::dns::{Names, POOL, POOL_PREFIX_LEN};
use super::wisp::{self, reason, Packet};
use super::GATEWAY;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};
use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;

/// Streams at once (with the listeners waiting for their handshake); beyond this the guest's
/// SYN gets a reset.
pub const MAX_STREAMS: usize = 64;
/// Each socket's receive and send buffer.
const SOCKET_BUFFER: usize = 128 * 1024;
/// The largest DATA payload sent to the relay.
const PACKET_BYTES: usize = 16 * 1024;
/// Bytes from the relay that may wait for the guest, per stream.
pub const BACKLOG_LIMIT: usize = 32 << 20;
/// The name the relay gets for the gateway's own address: as in QEMU's user network, the
/// gateway stands for the host, here the relay's machine.
pub const GATEWAY_HOST: &str = "127.0.0.1";

/// The WebSocket to the relay, as the device worker should keep it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// No socket; none needed (or the last one failed and no stream waits).
    Down,
    /// A stream waits: open the socket.
    Wanted,
    /// The worker is opening it.
    Opening,
    Up,
}

/// Counters for the machine card.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayCounters {
    /// Streams opened through the relay.
    pub streams: u64,
    /// Streams that ended with a reset: refused, unreachable, the link lost.
    pub failed: u64,
}

struct Stream {
    socket: SocketHandle,
    /// DATA packets the relay lets us send; None until it said (stream 0's CONTINUE).
    credit: Option<u32>,
    /// Bytes from the relay that the guest's socket had no room for yet.
    to_guest: VecDeque<u8>,
    /// The relay ended the stream, with this reason.
    ended: Option<u8>,
    /// The relay heard that the stream is over (or never will: the link is gone).
    told: bool,
}

pub struct Relay {
    enabled: bool,
    link: Link,
    /// Sockets listening for a SYN the guest sent: the port, and the guest's end (so that a
    /// SYN sent again makes no second socket).
    listeners: Vec<(u16, IpEndpoint, SocketHandle)>,
    streams: BTreeMap<u32, Stream>,
    next_id: u32,
    /// DATA packets a stream may send before its first CONTINUE; None until the relay said.
    initial_credit: Option<u32>,
    outbox: Vec<Vec<u8>>,
    pub counters: RelayCounters,
    /// Why the last stream or link failed, for the page.
    pub last_failure: Option<String>,
}

impl Default for Relay {
    fn default() -> Relay {
        Relay {
            enabled: false,
            link: Link::Down,
            listeners: Vec::new(),
            streams: BTreeMap::new(),
            next_id: 1,
            initial_credit: None,
            outbox: Vec::new(),
            counters: RelayCounters::default(),
            last_failure: None,
        }
    }
}

/// What the relay is asked to connect to for a connection the guest made to `addr`: the name
/// the guest looked up for a pool address, the relay's own machine for the gateway, the
/// address itself otherwise. None: a pool address that was never given out.
pub fn host_for(addr: Ipv4Addr, names: &Names) -> Option<String> {
    let pool_mask = u32::MAX << (32 - POOL_PREFIX_LEN);
    if addr == GATEWAY {
        Some(GATEWAY_HOST.to_string())
    } else if u32::from(addr) & pool_mask == u32::from(POOL) {
        names.name_of(addr).map(str::to_string)
    } else {
        Some(addr.to_string())
    }
}

impl Relay {
    /// Turns the relay on or off. Off ends every stream (the guest sees resets) and the
    /// worker closes the socket.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
        if !enabled {
            self.down("the relay was turned off");
            self.link = Link::Down;
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn link(&self) -> Link {
        self.link
    }

    /// The worker started opening the socket.
    pub fn opening(&mut self) {
        if self.link == Link::Wanted {
            self.link = Link::Opening;
        }
    }

    /// The socket is open: the streams' CONNECTs go out.
    pub fn up(&mut self) {
        if self.link == Link::Opening {
            self.link = Link::Up;
        }
    }

    /// The socket closed or failed (`why`): every stream ends with a reset, and the next
    /// connection opens a new socket.
    pub fn down(&mut self, why: &str) {
        self.link = Link::Down;
        self.initial_credit = None;
        self.outbox.clear();
        if !self.streams.is_empty() {
            self.last_failure = Some(format!("relay: {why}"));
        }
        for stream in self.streams.values_mut() {
            stream.ended.get_or_insert(reason::NETWORK);
            stream.to_guest.clear();
            stream.told = true;
        }
    }

    /// The guest sent a SYN from `from` to `port` (not the web service's): makes sure a
    /// socket listens there for it, within [`MAX_STREAMS`]. Each SYN gets its own socket, so
    /// that connections opened together all find one.
    pub fn syn(&mut self, sockets: &mut SocketSet<'static>, port: u16, from: IpEndpoint) {
        let known = self
            .listeners
            .iter()
            .any(|&(p, f, _)| (p, f) == (port, from))
            || self.streams.values().any(|s| {
                let socket = sockets.get::<tcp::Socket>(s.socket);
                socket.remote_endpoint() == Some(from)
                    && socket.local_endpoint().map(|l| l.port) == Some(port)
            });
        if !self.enabled || known || self.listeners.len() + self.streams.len() >= MAX_STREAMS {
            return;
        }
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER]),
            tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER]),
        );
        // Each DATA is a write the far end made: pass it on at once (an interactive
        // session must not wait for the guest's delayed ACK).
        socket.set_nagle_enabled(false);
        if socket.listen(IpListenEndpoint { addr: None, port }).is_ok() {
            self.listeners.push((port, from, sockets.add(socket)));
        }
    }

    /// A message from the relay. A malformed one ends the link: its streams can no longer be
    /// trusted.
    pub fn from_relay(&mut self, message: &[u8]) {
        let packet = match Packet::decode(message) {
            Ok(packet) => packet,
            Err(e) => {
                self.down(&format!("it sent something that is not Wisp ({e})"));
                return;
            }
        };
        match packet {
            Packet::Continue {
                stream: 0,
                remaining,
            } => {
                self.initial_credit = Some(remaining);
                for stream in self.streams.values_mut() {
                    stream.credit.get_or_insert(remaining);
                }
            }
            Packet::Continue { stream, remaining } => {
                if let Some(s) = self.streams.get_mut(&stream) {
                    s.credit = Some(remaining);
                }
            }
            Packet::Data { stream, bytes } => {
                if let Some(s) = self.streams.get_mut(&stream) {
                    if s.ended.is_some() {
                        return;
                    }
                    if s.to_guest.len() + bytes.len() > BACKLOG_LIMIT {
                        self.last_failure = Some(format!(
                            "relay: stream {stream} sent more than {} MiB the guest had not \
                             read; it was reset",
                            BACKLOG_LIMIT >> 20
                        ));
                        s.ended = Some(reason::CLIENT_ERROR);
                        s.to_guest.clear();
                        if !s.told {
                            s.told = true;
                            self.outbox.push(
                                Packet::Close {
                                    stream,
                                    reason: reason::CLIENT_ERROR,
                                }
                                .encode(),
                            );
                        }
                    } else {
                        s.to_guest.extend(bytes);
                    }
                }
            }
            Packet::Close { stream, reason } => {
                if let Some(s) = self.streams.get_mut(&stream) {
                    s.told = true;
                    s.ended.get_or_insert(reason);
                    if reason != reason::VOLUNTARY {
                        self.last_failure = Some(format!(
                            "relay: stream {stream}: {}",
                            reason::describe(reason)
                        ));
                    }
                }
            }
            // A server never sends CONNECT; nothing to do with one.
            Packet::Connect { .. } => {}
        }
    }

    /// The packets for the relay, once the socket is open.
    pub fn take_outgoing(&mut self) -> Vec<Vec<u8>> {
        if self.link == Link::Up {
            std::mem::take(&mut self.outbox)
        } else {
            Vec::new()
        }
    }

    /// Streams open now.
    pub fn streams(&self) -> usize {
        self.streams.len()
    }

    /// After the stack ran: new connections become streams, bytes move both ways, ended
    /// streams close their sockets. True when something changed that the stack should send.
    pub fn service(&mut self, sockets: &mut SocketSet<'static>, names: &Names) -> bool {
        let mut changed = false;
        let mut i = 0;
        while i < self.listeners.len() {
            let (.., handle) = self.listeners[i];
            if sockets.get::<tcp::Socket>(handle).is_listening() {
                i += 1;
                continue;
            }
            self.listeners.swap_remove(i);
            self.open(sockets, handle, names);
            changed = true;
        }

        let up = self.link == Link::Up;
        let mut gone = Vec::new();
        for (&id, s) in &mut self.streams {
            let socket = sockets.get_mut::<tcp::Socket>(s.socket);
            // Guest → relay, packet by packet as the credit allows.
            while up && s.ended.is_none() && s.credit.is_some_and(|c| c > 0) {
                let mut bytes = vec![0; PACKET_BYTES];
                let Ok(n @ 1..) = socket.recv_slice(&mut bytes) else {
                    break;
                };
                bytes.truncate(n);
                self.outbox
                    .push(Packet::Data { stream: id, bytes }.encode());
                s.credit = s.credit.map(|c| c - 1);
                changed = true;
            }
            // Relay → guest, as far as the socket has room.
            changed |= super::send_queued(socket, &mut s.to_guest);
            if let Some(why) = s.ended {
                if why == reason::VOLUNTARY {
                    // Everything the other end sent reaches the guest first.
                    if s.to_guest.is_empty() && socket.may_send() {
                        socket.close();
                        changed = true;
                    }
                } else if socket.is_open() {
                    socket.abort();
                    self.counters.failed += 1;
                    changed = true;
                }
            }
            // A socket just aborted is Closed but still has its peer until its reset went.
            let closed = socket.state() == tcp::State::Closed && socket.remote_endpoint().is_none();
            if closed || socket.state() == tcp::State::TimeWait {
                if !s.told {
                    self.outbox.push(
                        Packet::Close {
                            stream: id,
                            reason: reason::VOLUNTARY,
                        }
                        .encode(),
                    );
                    changed = true;
                }
                gone.push(id);
            }
        }
        for id in gone {
            if let Some(s) = self.streams.remove(&id) {
                sockets.remove(s.socket);
            }
        }
        changed
    }

    /// A listening socket took a connection: a new stream, its CONNECT queued.
    fn open(&mut self, sockets: &mut SocketSet<'static>, handle: SocketHandle, names: &Names) {
        let socket = sockets.get_mut::<tcp::Socket>(handle);
        let host = match socket.local_endpoint() {
            Some(local) => match local.addr {
                IpAddress::Ipv4(addr) => host_for(addr, names).map(|h| (h, local.port)),
            },
            None => None,
        };
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        self.counters.streams += 1;
        let mut stream = Stream {
            socket: handle,
            credit: self.initial_credit,
            to_guest: VecDeque::new(),
            ended: None,
            told: false,
        };
        match host {
            Some((host, port)) => {
                self.outbox.push(
                    Packet::Connect {
                        stream: id,
                        kind: wisp::TCP,
                        port,
                        host,
                    }
                    .encode(),
                );
                if self.link == Link::Down {
                    self.link = Link::Wanted;
                }
            }
            None => {
                // A pool address nobody looked up (an old answer): nowhere to go.
                stream.ended = Some(reason::UNREACHABLE);
                stream.told = true;
            }
        }
        self.streams.insert(id, stream);
    }
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
