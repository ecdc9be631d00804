//! One client's WebSocket: its Wisp streams (`kernel_host::net::wisp`), each a TCP
//! connection the relay made.
//!
//! The session's thread owns the WebSocket and every stream's state; the connections' own
//! threads (connecting, reading, writing) talk to it only through one channel of
//! [`Event`]s, so that what reaches the client is ordered and a stream the client closed is
//! forgotten in one place. The socket is read with a short timeout so that the thread also
//! forwards the events in between.

use super::policy::Policy;
use kernel_host::net::wisp::{self, reason, Packet};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use tungstenite::{Message, WebSocket};

/// DATA packets a stream may send before the relay says more (Wisp's buffer size).
pub const BUFFER_PACKETS: u32 = 128;

/// Packets a stream keeps beyond the writer's channel before it closes as throttled. A client
/// sets its credit from each CONTINUE without counting the packets it sent meanwhile, and
/// CONTINUEs queued behind each other each add such a margin: a client that follows the
/// protocol can be a few buffers ahead. Closing at the first packet over the channel's room
/// once failed, in CI, a test that sends as fast as its credit allows.
const WAITING_PACKETS: usize = 4 * BUFFER_PACKETS as usize;
/// How long connecting to a destination may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the session waits on the socket before it looks at the events again.
const POLL: Duration = Duration::from_millis(2);
/// Bytes read from a destination at a time (one DATA packet).
const READ_BYTES: usize = 64 * 1024;
/// Events that may wait for the session: a fast destination waits for a slow client.
const EVENTS: usize = 256;

/// From a stream's threads to the session.
enum Event {
    Connected {
        id: u32,
        tcp: TcpStream,
    },
    Failed {
        id: u32,
        reason: u8,
        why: String,
    },
    Data {
        id: u32,
        bytes: Vec<u8>,
    },
    /// The destination closed its side (EOF: VOLUNTARY) or broke.
    Ended {
        id: u32,
        reason: u8,
    },
    /// The writer sent one more packet to the destination.
    Written {
        id: u32,
    },
}

struct Stream {
    /// Packets for the destination; None while connecting.
    writer: Option<SyncSender<Vec<u8>>>,
    /// Packets not yet handed to the writer: those that came while connecting, and those the
    /// writer's channel had no room for (`WAITING_PACKETS` at most).
    waiting: VecDeque<Vec<u8>>,
    tcp: Option<TcpStream>,
    /// Packets received from the client, and written to the destination.
    received: u64,
    written: u64,
    /// The credit the client has left, as we last told it.
    client_credit: u32,
}

/// Serves one client until its socket closes. `log` gets one line per stream.
pub fn run(
    mut ws: WebSocket<TcpStream>,
    policy: Arc<Policy>,
    peer: SocketAddr,
    log: Arc<dyn Fn(String) + Send + Sync>,
) {
    if let Err(e) = ws.get_mut().set_read_timeout(Some(POLL)) {
        log(format!("{peer}: {e}"));
        return;
    }
    let (events_tx, events) = mpsc::sync_channel::<Event>(EVENTS);
    let mut streams: HashMap<u32, Stream> = HashMap::new();
    let hello = Packet::Continue {
        stream: 0,
        remaining: BUFFER_PACKETS,
    };
    if send(&mut ws, &hello).is_err() {
        return;
    }
    loop {
        if forward_events(&mut ws, (&events, &events_tx), &mut streams, &log, peer).is_err() {
            break;
        }
        match ws.read() {
            Ok(Message::Binary(bytes)) => {
                let packet = match Packet::decode(&bytes) {
                    Ok(p) => p,
                    Err(e) => {
                        log(format!("{peer}: {e}; closing the session"));
                        break;
                    }
                };
                if on_packet(
                    &mut ws,
                    packet,
                    &mut streams,
                    &events_tx,
                    &policy,
                    &log,
                    peer,
                )
                .is_err()
                {
                    break;
                }
            }
            Ok(Message::Close(_)) => break,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    for stream in streams.values() {
        if let Some(tcp) = &stream.tcp {
            let _ = tcp.shutdown(Shutdown::Both);
        }
    }
    log(format!("{peer}: session over"));
}

fn send(ws: &mut WebSocket<TcpStream>, packet: &Packet) -> tungstenite::Result<()> {
    ws.send(Message::Binary(packet.encode().into()))
}

fn on_packet(
    ws: &mut WebSocket<TcpStream>,
    packet: Packet,
    streams: &mut HashMap<u32, Stream>,
    events: &SyncSender<Event>,
    policy: &Arc<Policy>,
    log: &Arc<dyn Fn(String) + Send + Sync>,
    peer: SocketAddr,
) -> tungstenite::Result<()> {
    match packet {
        Packet::Connect {
            stream: id,
            kind,
            port,
            host,
        } => {
            if id == 0 || streams.contains_key(&id) {
                return send(
                    ws,
                    &Packet::Close {
                        stream: id,
                        reason: reason::INVALID,
                    },
                );
            }
            if kind != wisp::TCP || host.is_empty() || port == 0 {
                log(format!(
                    "{peer}: stream {id}: refused: only TCP to a named host and port"
                ));
                return send(
                    ws,
                    &Packet::Close {
                        stream: id,
                        reason: reason::INVALID,
                    },
                );
            }
            streams.insert(
                id,
                Stream {
                    writer: None,
                    waiting: VecDeque::new(),
                    tcp: None,
                    received: 0,
                    written: 0,
                    client_credit: BUFFER_PACKETS,
                },
            );
            let (events, policy) = (events.clone(), policy.clone());
            thread::spawn(move || connect(id, &host, port, &policy, &events));
        }
        Packet::Data { stream: id, bytes } => {
            let Some(s) = streams.get_mut(&id) else {
                return Ok(());
            };
            s.received += 1;
            s.client_credit = s.client_credit.saturating_sub(1);
            // Behind any packets already waiting, so the destination gets them in order.
            s.waiting.push_back(bytes);
            hand_on_waiting(s);
            let over = s.waiting.len() > WAITING_PACKETS;
            if over {
                log(format!(
                    "{peer}: stream {id}: the client sent beyond its credit; closed"
                ));
                close(streams, id);
                return send(
                    ws,
                    &Packet::Close {
                        stream: id,
                        reason: reason::THROTTLED,
                    },
                );
            }
        }
        Packet::Close { stream: id, .. } => close(streams, id),
        // CONTINUE is the server's to send.
        Packet::Continue { .. } => {}
    }
    Ok(())
}

/// Forgets stream `id` and ends its connection (its threads see EOF or an error and stop).
fn close(streams: &mut HashMap<u32, Stream>, id: u32) {
    if let Some(s) = streams.remove(&id) {
        if let Some(tcp) = s.tcp {
            let _ = tcp.shutdown(Shutdown::Both);
        }
    }
}

/// Sends the client what the streams' threads produced since the last call.
fn forward_events(
    ws: &mut WebSocket<TcpStream>,
    (events, sender): (&Receiver<Event>, &SyncSender<Event>),
    streams: &mut HashMap<u32, Stream>,
    log: &Arc<dyn Fn(String) + Send + Sync>,
    peer: SocketAddr,
) -> tungstenite::Result<()> {
    while let Ok(event) = events.try_recv() {
        match event {
            Event::Connected { id, tcp } => {
                let Some(s) = streams.get_mut(&id) else {
                    let _ = tcp.shutdown(Shutdown::Both);
                    continue;
                };
                log(format!(
                    "{peer}: stream {id}: connected to {}",
                    tcp.peer_addr().map_or("?".to_string(), |a| a.to_string())
                ));
                match start_io(id, &tcp, sender.clone()) {
                    Some(writer) => {
                        s.writer = Some(writer);
                        hand_on_waiting(s);
                        s.tcp = Some(tcp);
                    }
                    None => {
                        streams.remove(&id);
                        send(
                            ws,
                            &Packet::Close {
                                stream: id,
                                reason: reason::NETWORK,
                            },
                        )?;
                    }
                }
            }
            Event::Failed { id, reason, why } => {
                if streams.remove(&id).is_some() {
                    log(format!("{peer}: stream {id}: {why}"));
                    send(ws, &Packet::Close { stream: id, reason })?;
                }
            }
            Event::Data { id, bytes } => {
                if streams.contains_key(&id) {
                    ws.write(Message::Binary(
                        Packet::Data { stream: id, bytes }.encode().into(),
                    ))?;
                }
            }
            Event::Ended { id, reason } => {
                if let Some(s) = streams.remove(&id) {
                    if let Some(tcp) = s.tcp {
                        let _ = tcp.shutdown(Shutdown::Both);
                    }
                    ws.write(Message::Binary(
                        Packet::Close { stream: id, reason }.encode().into(),
                    ))?;
                }
            }
            Event::Written { id } => {
                if let Some(s) = streams.get_mut(&id) {
                    s.written += 1;
                    hand_on_waiting(s);
                    // The client's credit is running low and the destination has taken
                    // what it sent: say how much room there is now.
                    let in_flight = (s.received - s.written) as u32;
                    let room = BUFFER_PACKETS.saturating_sub(in_flight);
                    if s.client_credit <= BUFFER_PACKETS / 2 && room > s.client_credit {
                        s.client_credit = room;
                        ws.write(Message::Binary(
                            Packet::Continue {
                                stream: id,
                                remaining: room,
                            }
                            .encode()
                            .into(),
                        ))?;
                    }
                }
            }
        }
    }
    ws.flush()
}

/// Resolves `host`, keeps the addresses the policy allows, and connects to the first that
/// answers.
fn connect(id: u32, host: &str, port: u16, policy: &Policy, events: &SyncSender<Event>) {
    let failed = |reason: u8, why: String| Event::Failed { id, reason, why };
    let addrs: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => {
            let _ = events.send(failed(
                reason::UNREACHABLE,
                format!("{host}:{port}: the name did not resolve ({e})"),
            ));
            return;
        }
    };
    let allowed: Vec<SocketAddr> = addrs
        .iter()
        .copied()
        .filter(|a| policy.allows(host, port, a.ip()))
        .collect();
    if allowed.is_empty() {
        let _ = events.send(failed(
            reason::BLOCKED,
            format!("{host}:{port} ({addrs:?}): not allowed (allowed: {policy})"),
        ));
        return;
    }
    let mut last = None;
    for addr in allowed {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                let _ = events.send(Event::Connected { id, tcp });
                return;
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    let (reason, why) = match last {
        Some((addr, e)) => {
            let reason = match e.kind() {
                io::ErrorKind::ConnectionRefused => reason::REFUSED,
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => reason::CONNECT_TIMEOUT,
                _ => reason::UNREACHABLE,
            };
            (reason, format!("{host}:{port} ({addr}): {e}"))
        }
        None => (reason::UNREACHABLE, format!("{host}:{port}: no address")),
    };
    let _ = events.send(failed(reason, why));
}

/// Moves waiting packets into the writer's channel while it has room, oldest first.
fn hand_on_waiting(s: &mut Stream) {
    let Some(w) = &s.writer else { return };
    while let Some(packet) = s.waiting.pop_front() {
        match w.try_send(packet) {
            Ok(()) => {}
            Err(TrySendError::Full(packet)) => {
                s.waiting.push_front(packet);
                return;
            }
            // The writer ended: the stream's end is on its way as an event.
            Err(TrySendError::Disconnected(_)) => {
                s.waiting.clear();
                return;
            }
        }
    }
}

/// Starts the threads that copy between the destination and the session; the writer's
/// channel, or None if the connection cannot be shared between them.
fn start_io(id: u32, tcp: &TcpStream, events: SyncSender<Event>) -> Option<SyncSender<Vec<u8>>> {
    let mut reader = tcp.try_clone().ok()?;
    let mut writer = tcp.try_clone().ok()?;
    // Twice the credit given: a client sets its credit from a CONTINUE without counting the
    // packets it sent meanwhile, so up to half a buffer more may arrive than was granted.
    let (to_writer, packets) = mpsc::sync_channel::<Vec<u8>>(2 * BUFFER_PACKETS as usize);
    let written = events.clone();
    thread::spawn(move || {
        for packet in packets {
            if writer.write_all(&packet).is_err() {
                break;
            }
            if written.send(Event::Written { id }).is_err() {
                break;
            }
        }
    });
    thread::spawn(move || {
        let mut buf = vec![0; READ_BYTES];
        let reason = loop {
            match reader.read(&mut buf) {
                Ok(0) => break reason::VOLUNTARY,
                Ok(n) => {
                    let bytes = buf[..n].to_vec();
                    if events.send(Event::Data { id, bytes }).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break reason::NETWORK,
            }
        };
        let _ = events.send(Event::Ended { id, reason });
    });
    Some(to_writer)
}
