//! The gateway's web service: the guest's TCP connections to port 80 of any address become
//! HTTP exchanges ([`http::Connection`]) that the page carries out with `fetch()`.
//!
//! [`Web::service`] moves bytes between each smoltcp socket and its connection and queues
//! the complete requests as [`Fetch`]es; the device worker takes them
//! ([`Web::take_fetches`]), calls `fetch()`, and hands the response back piece by piece
//! ([`Web::head`], [`Web::body`], [`Web::end`], [`Web::fail`]). One request per connection
//! is in flight at a time: HTTP/1.1 answers in order, so the next waits in the connection.

use super::dns::Names;
use super::{http, GATEWAY, SITE_NAME};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::{IpAddress, IpListenEndpoint};
use std::collections::{BTreeMap, VecDeque};

/// The port the service listens on, on every address.
pub const PORT: u16 = 80;
/// Sockets kept listening, so that connections opened together all find one.
const LISTENERS: usize = 4;
/// Connections at once; beyond this the guest's SYN gets a reset.
pub const MAX_CONNECTIONS: usize = 64;
/// Each socket's receive buffer (smoltcp scales the window past 64 KiB): requests are small.
const RECEIVE_BUFFER: usize = 128 * 1024;
/// Each socket's send buffer: as much as the guest's window may take (Linux grows it to
/// about 1 MiB here, `tcp_rmem`), so that a response is not held to a small window per
/// round trip, and a round trip is long: every ACK goes through the main thread.
const SEND_BUFFER: usize = 1024 * 1024;

/// One request for the page to make.
#[derive(Debug, PartialEq)]
pub struct Fetch {
    /// The exchange's id, for [`Web::head`] and the rest.
    pub id: u64,
    pub method: String,
    /// An absolute URL: the site's own origin for [`SITE_NAME`] and the gateway's address,
    /// `https://name/…` for other names.
    pub url: String,
    /// The request's end-to-end headers (`http::Request::headers`).
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

struct Exchange {
    socket: SocketHandle,
    http: http::Connection,
    /// Bytes for the guest that its socket had no room for yet.
    out: VecDeque<u8>,
    /// A fetch for this connection is under way (given out and not yet ended).
    fetching: bool,
    /// The current response's head went out: a failure now can only cut it short.
    head_sent: bool,
    /// The fetch failed mid-body: the connection ends with a reset, so that the guest sees a
    /// failure and not a short body (which, close-delimited, would look whole).
    reset: bool,
}

/// Counters for the machine card.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebCounters {
    pub connections: u64,
    pub requests: u64,
    /// Connections ended with a reset (refused, or the fetch failed mid-body).
    pub resets: u64,
}

/// The service's sockets and exchanges.
pub struct Web {
    site_origin: String,
    listeners: Vec<SocketHandle>,
    exchanges: BTreeMap<u64, Exchange>,
    next_id: u64,
    fetches: Vec<Fetch>,
    pub counters: WebCounters,
}

fn new_socket() -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; RECEIVE_BUFFER]),
        tcp::SocketBuffer::new(vec![0; SEND_BUFFER]),
    )
}

/// The URL for `target` (origin-form `/path?q` or absolute-form `http://name/path`) asked
/// of `name` (the Host header, else the DNS name of the address the guest connected to).
/// None when the request names no host at all.
pub fn url_for(site_origin: &str, name: Option<&str>, target: &str) -> Option<String> {
    let (name, path) = match target.strip_prefix("http://") {
        Some(rest) => {
            let cut = rest.find('/').unwrap_or(rest.len());
            (&rest[..cut], &rest[cut..])
        }
        None => (name?, target),
    };
    let path = if path.starts_with('/') { path } else { "/" };
    // A port in the name is the one the guest connected to (this service's); the page
    // fetches the name's default port for its scheme.
    let host = match name.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => name,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    if host == SITE_NAME || host == GATEWAY.to_string() {
        Some(format!("{}{path}", site_origin.trim_end_matches('/')))
    } else {
        Some(format!("https://{host}{path}"))
    }
}

impl Web {
    /// The service, listening on `sockets`; `site_origin` is the page's origin
    /// (`https://example.org`), what [`SITE_NAME`] stands for.
    pub fn new(site_origin: &str, sockets: &mut SocketSet<'static>) -> Web {
        let mut web = Web {
            site_origin: site_origin.to_string(),
            listeners: Vec::new(),
            exchanges: BTreeMap::new(),
            next_id: 1,
            fetches: Vec::new(),
            counters: WebCounters::default(),
        };
        web.listen(sockets);
        web
    }

    /// Tops the listening sockets up to [`LISTENERS`], within [`MAX_CONNECTIONS`].
    fn listen(&mut self, sockets: &mut SocketSet<'static>) {
        while self.listeners.len() < LISTENERS
            && self.listeners.len() + self.exchanges.len() < MAX_CONNECTIONS
        {
            let mut socket = new_socket();
            if socket
                .listen(IpListenEndpoint {
                    addr: None,
                    port: PORT,
                })
                .is_err()
            {
                return;
            }
            self.listeners.push(sockets.add(socket));
        }
    }

    /// Moves bytes between the sockets and the exchanges after the stack ran; true when
    /// something changed that the stack should send.
    pub fn service(&mut self, sockets: &mut SocketSet<'static>, names: &Names) -> bool {
        let mut changed = false;
        // Listeners that took a connection become exchanges.
        let mut i = 0;
        while i < self.listeners.len() {
            let handle = self.listeners[i];
            if sockets.get::<tcp::Socket>(handle).is_listening() {
                i += 1;
                continue;
            }
            self.listeners.swap_remove(i);
            let id = self.next_id;
            self.next_id += 1;
            self.counters.connections += 1;
            self.exchanges.insert(
                id,
                Exchange {
                    socket: handle,
                    http: http::Connection::new(),
                    out: VecDeque::new(),
                    fetching: false,
                    head_sent: false,
                    reset: false,
                },
            );
        }
        self.listen(sockets);

        let mut gone = Vec::new();
        for (&id, ex) in &mut self.exchanges {
            let socket = sockets.get_mut::<tcp::Socket>(ex.socket);
            let mut buf = [0u8; 4096];
            while ex.http.wants_input() {
                let Ok(n @ 1..) = socket.recv_slice(&mut buf) else {
                    break;
                };
                ex.http.from_guest(&buf[..n]);
                changed = true;
            }
            if !socket.may_recv() && socket.state() != tcp::State::SynReceived {
                ex.http.guest_closed();
            }
            if !ex.fetching {
                if let Some(request) = ex.http.next_request() {
                    self.counters.requests += 1;
                    // Without a Host header (HTTP/1.0), the address the guest dialled.
                    let dest_name = match socket.local_endpoint().map(|e| e.addr) {
                        Some(IpAddress::Ipv4(addr)) if addr == GATEWAY => Some(addr.to_string()),
                        Some(IpAddress::Ipv4(addr)) => names.name_of(addr).map(str::to_string),
                        _ => None,
                    };
                    let name = request.host.as_deref().or(dest_name.as_deref());
                    match url_for(&self.site_origin, name, &request.target) {
                        Some(url) => {
                            ex.fetching = true;
                            self.fetches.push(Fetch {
                                id,
                                method: request.method,
                                url,
                                headers: request.headers,
                                body: request.body,
                            });
                        }
                        None => ex.http.respond_error(400, "the request names no host"),
                    }
                }
            }
            changed |= flush(ex, socket);
            // A socket just aborted is Closed but still has its peer until its reset went.
            let closed = socket.state() == tcp::State::Closed && socket.remote_endpoint().is_none();
            if closed || socket.state() == tcp::State::TimeWait {
                gone.push(id);
            }
        }
        for id in gone {
            if let Some(ex) = self.exchanges.remove(&id) {
                sockets.remove(ex.socket);
            }
        }
        self.listen(sockets);
        changed
    }

    /// The requests that became complete since the last call.
    pub fn take_fetches(&mut self) -> Vec<Fetch> {
        std::mem::take(&mut self.fetches)
    }

    /// Bytes of exchange `id` not yet taken by the guest; None when the connection is gone
    /// (the fetch's body is no longer wanted).
    pub fn backlog(&self, id: u64) -> Option<usize> {
        let ex = self.exchanges.get(&id)?;
        Some(ex.out.len() + ex.http.to_guest_len())
    }

    /// The response's status and headers arrived.
    pub fn head(&mut self, id: u64, status: u16, reason: &str, headers: &[(String, Vec<u8>)]) {
        if let Some(ex) = self.exchanges.get_mut(&id) {
            ex.http.respond_head(status, reason, headers);
            ex.head_sent = true;
        }
    }

    /// A piece of the response's body arrived.
    pub fn body(&mut self, id: u64, chunk: &[u8]) {
        if let Some(ex) = self.exchanges.get_mut(&id) {
            ex.http.respond_body(chunk);
        }
    }

    /// The response ended; the connection's next request may go.
    pub fn end(&mut self, id: u64) {
        if let Some(ex) = self.exchanges.get_mut(&id) {
            ex.http.respond_end();
            ex.fetching = false;
            ex.head_sent = false;
        }
    }

    /// The fetch failed: an HTTP error for the guest (or, mid-body, a broken connection).
    pub fn fail(&mut self, id: u64, status: u16, why: &str) {
        if let Some(ex) = self.exchanges.get_mut(&id) {
            ex.http.respond_error(status, why);
            ex.fetching = false;
            if ex.head_sent {
                ex.reset = true;
                self.counters.resets += 1;
            }
        }
    }
}

/// Writes what the exchange has for the guest into its socket, as far as it has room, and
/// closes the socket once a closing connection has said everything (or resets it).
fn flush(ex: &mut Exchange, socket: &mut tcp::Socket) -> bool {
    ex.out.extend(ex.http.take_to_guest());
    if ex.reset {
        let open = socket.is_open();
        if open {
            socket.abort();
        }
        return open;
    }
    let mut changed = super::send_queued(socket, &mut ex.out);
    if ex.out.is_empty() && ex.http.is_closing() && !ex.fetching && socket.may_send() {
        socket.close();
        changed = true;
    }
    changed
}

#[cfg(test)]
#[path = "web_tests.rs"]
mod tests;
