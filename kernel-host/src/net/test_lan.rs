//! The guest's side of the LAN for the gateway's tests: a second smoltcp interface wired
//! to a [`Gateway`] frame by frame.

use crate::net::gateway::{Gateway, Link};
use crate::net::{GATEWAY, GUEST};
use crate::virtio::net::GUEST_MAC;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr};
use std::net::Ipv4Addr;

pub(super) const SITE: &str = "http://site.test:8080";

/// The guest's side: its own TCP/IP stack, wired to a gateway frame by frame. (Its link's
/// `to_guest` holds the frames the guest sends, `from_guest` those it receives.)
pub(super) struct Lan {
    pub(super) gw: Gateway,
    iface: Interface,
    link: Link,
    pub(super) sockets: SocketSet<'static>,
    pub(super) now: i64,
    /// Drop the next frame from the gateway that carries TCP data (a lost segment).
    pub(super) lose_next_segment: bool,
    /// Frames the guest can take per poll of the gateway (its inbox's room), if limited;
    /// and the most one poll gave.
    pub(super) room: Option<usize>,
    pub(super) most_in_one_poll: usize,
}

/// Whether `frame` is a TCP segment with a payload.
fn carries_tcp_data(frame: &[u8]) -> bool {
    use smoltcp::wire::{EthernetFrame, IpProtocol, Ipv4Packet, TcpPacket};
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return false;
    };
    ip.next_header() == IpProtocol::Tcp
        && TcpPacket::new_checked(ip.payload()).is_ok_and(|tcp| !tcp.payload().is_empty())
}

impl Lan {
    pub(super) fn new() -> Lan {
        let mut link = Link::default();
        let config = Config::new(HardwareAddress::Ethernet(EthernetAddress(GUEST_MAC)));
        let mut iface = Interface::new(config, &mut link, Instant::from_millis(0));
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(GUEST.into(), 24));
        });
        iface.routes_mut().add_default_ipv4_route(GATEWAY).unwrap();
        Lan {
            gw: Gateway::new(0, SITE),
            iface,
            link,
            sockets: SocketSet::new(Vec::new()),
            now: 0,
            lose_next_segment: false,
            room: None,
            most_in_one_poll: 0,
        }
    }

    /// Frames from the gateway reach the guest, but for a segment set to be lost.
    pub(super) fn deliver(&mut self, frames: Vec<Vec<u8>>) {
        for frame in frames {
            if self.lose_next_segment && carries_tcp_data(&frame) {
                self.lose_next_segment = false;
                continue;
            }
            self.link.from_guest.push_back(frame);
        }
    }

    /// Runs both stacks until no frame crosses the wire (the gateway first: the page may
    /// have handed it something).
    pub(super) fn settle(&mut self) {
        let answers = self.poll_gateway();
        self.deliver(answers);
        for _ in 0..10_000 {
            self.now += 1;
            let now = Instant::from_millis(self.now);
            self.iface.poll(now, &mut self.link, &mut self.sockets);
            let sent = std::mem::take(&mut self.link.to_guest);
            let quiet = sent.is_empty();
            for frame in sent {
                self.gw.from_guest(frame);
            }
            let answers = self.poll_gateway();
            if quiet && answers.is_empty() {
                return;
            }
            self.deliver(answers);
        }
        panic!("the LAN never settled");
    }

    fn poll_gateway(&mut self) -> Vec<Vec<u8>> {
        if let Some(room) = self.room {
            self.gw.set_room(room);
        }
        let answers = self.gw.poll(self.now);
        self.most_in_one_poll = self.most_in_one_poll.max(answers.len());
        answers
    }

    /// A connected guest socket to `addr`:`port`.
    pub(super) fn connect(&mut self, addr: Ipv4Addr, port: u16) -> SocketHandle {
        self.connect_with_window(addr, port, 64 * 1024)
    }

    /// The same with a receive buffer (the window it offers) of `window` bytes.
    pub(super) fn connect_with_window(
        &mut self,
        addr: Ipv4Addr,
        port: u16,
        window: usize,
    ) -> SocketHandle {
        let handle = self.dial(addr, port, window);
        self.settle();
        handle
    }

    /// A guest socket that starts connecting at the next [`Lan::settle`].
    pub(super) fn dial(&mut self, addr: Ipv4Addr, port: u16, window: usize) -> SocketHandle {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; window]),
            tcp::SocketBuffer::new(vec![0; 64 * 1024]),
        );
        let local = 40_000 + self.sockets.iter().count() as u16;
        socket
            .connect(self.iface.context(), (addr, port), local)
            .unwrap();
        self.sockets.add(socket)
    }

    pub(super) fn send(&mut self, socket: SocketHandle, bytes: &[u8]) {
        let sent = self
            .sockets
            .get_mut::<tcp::Socket>(socket)
            .send_slice(bytes)
            .unwrap();
        assert_eq!(sent, bytes.len());
        self.settle();
    }

    pub(super) fn received(&mut self, socket: SocketHandle) -> Vec<u8> {
        let socket = self.sockets.get_mut::<tcp::Socket>(socket);
        let mut got = Vec::new();
        let mut buf = [0; 4096];
        while let Ok(n @ 1..) = socket.recv_slice(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got
    }

    pub(super) fn state(&self, socket: SocketHandle) -> tcp::State {
        self.sockets.get::<tcp::Socket>(socket).state()
    }
}
