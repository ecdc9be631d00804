//! Ports forwarded into the guest: the page's `/_port/N/…` (its service worker) becomes an
//! HTTP request that the gateway makes to the guest's TCP port N, so that a server in the
//! guest (BusyBox `httpd`) shows in a browser tab of the page's origin.
//!
//! Each request is one connection from the gateway to [`GUEST`]: the request goes out as
//! HTTP/1.0 with `Connection: close`, so the guest's server ends its response by closing
//! (no chunked framing to undo); the response is read whole, parsed with httparse and handed
//! back as a [`Forwarded`].

use super::GUEST;
use smoltcp::iface::{Context, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use std::collections::BTreeMap;

/// The largest response kept; a larger one is cut off with a 502.
pub const MAX_RESPONSE: usize = 64 << 20;
/// How long a request may take, in milliseconds, before it is answered with a 504.
pub const TIMEOUT_MS: i64 = 60_000;
/// The gateway's ports for these connections (the IANA dynamic range).
const LOCAL_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
const SOCKET_BUFFER: usize = 64 * 1024;

/// A request for the guest's port `port`.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub port: u16,
    pub method: String,
    /// The path and query the guest's server is asked for (`/index.html?x`).
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The guest's answer, or the gateway's when there was none.
#[derive(Clone, Debug, PartialEq)]
pub struct Forwarded {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Forwarded {
    /// A response of the gateway's own: `why` in one line of text.
    pub fn error(status: u16, reason: &str, why: &str) -> Forwarded {
        Forwarded {
            status,
            reason: reason.to_string(),
            headers: vec![(
                "Content-Type".to_string(),
                "text/plain; charset=utf-8".to_string(),
            )],
            body: format!("alpenglow: {why}\n").into_bytes(),
        }
    }
}

struct Exchange {
    socket: SocketHandle,
    port: u16,
    request: Vec<u8>,
    sent: usize,
    response: Vec<u8>,
    /// The connection was established at some point (so a close is an answer, not a refusal).
    connected: bool,
    deadline_ms: i64,
}

/// The forwarded requests under way.
#[derive(Default)]
pub struct Forwards {
    exchanges: BTreeMap<u64, Exchange>,
    next_port: u16,
    done: Vec<(u64, Forwarded)>,
    /// Sockets of finished exchanges, kept until their connection has closed.
    closing: Vec<SocketHandle>,
}

/// The bytes of `r` as HTTP/1.0 (see the module comment); Host names the page's side.
fn encode(r: &Request) -> Vec<u8> {
    let mut out = format!("{} {} HTTP/1.0\r\n", r.method, r.path).into_bytes();
    out.extend_from_slice(format!("Host: localhost:{}\r\n", r.port).as_bytes());
    for (name, value) in &r.headers {
        let hop = [
            "host",
            "connection",
            "keep-alive",
            "content-length",
            "transfer-encoding",
        ]
        .contains(&name.to_ascii_lowercase().as_str());
        let clean = |s: &str| !s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
        if !hop && clean(name) && clean(value) && !name.is_empty() {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
    }
    out.extend_from_slice(b"Connection: close\r\n");
    if !r.body.is_empty() {
        out.extend_from_slice(format!("Content-Length: {}\r\n", r.body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&r.body);
    out
}

/// The guest's whole response (the bytes until it closed), parsed.
pub fn parse(port: u16, bytes: &[u8]) -> Forwarded {
    let mut fields = [httparse::EMPTY_HEADER; 128];
    let mut response = httparse::Response::new(&mut fields);
    match response.parse(bytes) {
        Ok(httparse::Status::Complete(head_len)) => Forwarded {
            status: response.code.unwrap_or(502),
            reason: response.reason.unwrap_or_default().to_string(),
            headers: response
                .headers
                .iter()
                .filter(|h| {
                    !["connection", "keep-alive", "transfer-encoding"]
                        .contains(&h.name.to_ascii_lowercase().as_str())
                })
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
            body: bytes[head_len..].to_vec(),
        },
        Ok(httparse::Status::Partial) if bytes.is_empty() => Forwarded::error(
            502,
            "Bad Gateway",
            &format!("the guest's port {port} closed the connection without an answer"),
        ),
        Ok(httparse::Status::Partial) => Forwarded::error(
            502,
            "Bad Gateway",
            &format!("the guest's port {port} sent an incomplete HTTP response head"),
        ),
        Err(e) => Forwarded::error(
            502,
            "Bad Gateway",
            &format!("the guest's port {port} did not answer in HTTP: {e}"),
        ),
    }
}

impl Forwards {
    /// Opens the connection for request `id` (the page's number for it) at `now_ms`.
    pub fn open(
        &mut self,
        sockets: &mut SocketSet<'static>,
        cx: &mut Context,
        id: u64,
        request: &Request,
        now_ms: i64,
    ) {
        if request.port == 0 {
            self.done.push((
                id,
                Forwarded::error(400, "Bad Request", "port 0 is no port"),
            ));
            return;
        }
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER]),
            tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER]),
        );
        if self.next_port < *LOCAL_PORTS.start() {
            self.next_port = *LOCAL_PORTS.start();
        }
        let local = self.next_port;
        self.next_port = if local == *LOCAL_PORTS.end() {
            *LOCAL_PORTS.start()
        } else {
            local + 1
        };
        if let Err(e) = socket.connect(cx, (GUEST, request.port), local) {
            self.done.push((
                id,
                Forwarded::error(502, "Bad Gateway", &format!("cannot connect: {e}")),
            ));
            return;
        }
        self.exchanges.insert(
            id,
            Exchange {
                socket: sockets.add(socket),
                port: request.port,
                request: encode(request),
                sent: 0,
                response: Vec::new(),
                connected: false,
                deadline_ms: now_ms + TIMEOUT_MS,
            },
        );
    }

    /// Moves bytes after the stack ran; finished exchanges become results.
    pub fn service(&mut self, sockets: &mut SocketSet<'static>, now_ms: i64) {
        self.closing.retain(|&handle| {
            let socket = sockets.get::<tcp::Socket>(handle);
            let open = socket.state() != tcp::State::Closed || socket.remote_endpoint().is_some();
            if !open || socket.state() == tcp::State::TimeWait {
                sockets.remove(handle);
                return false;
            }
            true
        });
        let mut finished = Vec::new();
        for (&id, ex) in &mut self.exchanges {
            let socket = sockets.get_mut::<tcp::Socket>(ex.socket);
            if socket.may_send() {
                ex.connected = true;
                if ex.sent < ex.request.len() {
                    if let Ok(n) = socket.send_slice(&ex.request[ex.sent..]) {
                        ex.sent += n;
                    }
                }
            }
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = socket.recv_slice(&mut buf) {
                ex.response.extend_from_slice(&buf[..n]);
            }
            let answer = if ex.response.len() > MAX_RESPONSE {
                socket.abort();
                Some(Forwarded::error(
                    502,
                    "Bad Gateway",
                    &format!("the guest's answer is larger than {MAX_RESPONSE} bytes"),
                ))
            } else if ex.connected && !socket.may_recv() && socket.state() != tcp::State::SynSent {
                // The guest closed its side: the response is whole.
                socket.close();
                Some(parse(ex.port, &ex.response))
            } else if !ex.connected && socket.state() == tcp::State::Closed {
                Some(Forwarded::error(
                    502,
                    "Bad Gateway",
                    &format!("nothing in the guest listens on TCP port {}", ex.port),
                ))
            } else if now_ms > ex.deadline_ms {
                socket.abort();
                Some(Forwarded::error(
                    504,
                    "Gateway Timeout",
                    &format!(
                        "the guest's port {} gave no whole answer in {} s",
                        ex.port,
                        TIMEOUT_MS / 1000
                    ),
                ))
            } else {
                None
            };
            if let Some(answer) = answer {
                finished.push((id, answer));
            }
        }
        for (id, answer) in finished {
            if let Some(ex) = self.exchanges.remove(&id) {
                self.closing.push(ex.socket);
            }
            self.done.push((id, answer));
        }
    }

    /// The requests answered since the last call.
    pub fn take_done(&mut self) -> Vec<(u64, Forwarded)> {
        std::mem::take(&mut self.done)
    }

    /// Whether requests are under way (the gateway then wants polls for their timeouts).
    pub fn busy(&self) -> bool {
        !self.exchanges.is_empty()
    }
}
