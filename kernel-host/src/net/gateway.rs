//! The gateway: a smoltcp interface on the guest's LAN. Frames from the guest go in with
//! [`Gateway::from_guest`]; [`Gateway::poll`] runs the stack and returns the frames for the
//! guest. smoltcp answers ARP and ICMP echo itself; two UDP sockets serve DHCP (port 67,
//! [`super::dhcp`]) and DNS (port 53, [`super::dns`]).

use super::dns::Names;
use super::forward::{self, Forwards};
use super::relay::Relay;
use super::web::{self, Web};
use super::{dhcp, GATEWAY, GATEWAY_MAC, PREFIX_LEN};
use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet,
};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::socket::udp;
use smoltcp::time::Instant;
use smoltcp::wire::{
    ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, HardwareAddress, IpCidr,
    IpEndpoint, IpProtocol, Ipv4Packet, TcpPacket, DHCP_CLIENT_PORT, DHCP_SERVER_PORT,
};
use std::collections::VecDeque;
use std::net::Ipv4Addr;

const DNS_PORT: u16 = 53;
/// Datagrams each UDP socket holds each way. Every datagram is answered as soon as its frame
/// is taken in, so one would do; a few let replies wait for the guest's ARP answer.
const UDP_PACKETS: usize = 8;
/// A DHCP or DNS message over UDP is at most 576 bytes unless both ends agree otherwise
/// (RFC 2131 2, RFC 1035 4.2.1); frames are at most 1514.
const UDP_BYTES: usize = UDP_PACKETS * 1500;

/// The guest's link as smoltcp sees it: frames in from the guest, frames out to it, and how
/// many more frames the guest has room for (its device's inbox): with none, smoltcp keeps
/// what it would send in its sockets (TCP then waits, as behind a full NIC ring) instead
/// of handing over frames that would be dropped.
pub(super) struct Link {
    pub(super) from_guest: VecDeque<Vec<u8>>,
    pub(super) to_guest: Vec<Vec<u8>>,
    pub(super) room: usize,
}

impl Default for Link {
    fn default() -> Link {
        Link {
            from_guest: VecDeque::new(),
            to_guest: Vec::new(),
            room: usize::MAX,
        }
    }
}

pub(super) struct RxToken(Vec<u8>);
pub(super) struct TxToken<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        self.0.push(frame);
        r
    }
}

impl phy::Device for Link {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxToken, TxToken<'_>)> {
        // A frame taken in may need an answer: only with room for it.
        if self.to_guest.len() >= self.room {
            return None;
        }
        let frame = self.from_guest.pop_front()?;
        Some((RxToken(frame), TxToken(&mut self.to_guest)))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        (self.to_guest.len() < self.room).then_some(TxToken(&mut self.to_guest))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

/// The host's end of the guest's LAN.
pub struct Gateway {
    iface: Interface,
    link: Link,
    sockets: SocketSet<'static>,
    dhcp: SocketHandle,
    dns: SocketHandle,
    names: Names,
    web: Web,
    relay: Relay,
    forwards: Forwards,
    /// The time of the last poll, for the forwarded requests' timeouts.
    now_ms: i64,
}

/// Where a reply goes, from the gateway's address (not the broadcast one a request may have
/// been sent to).
fn from_gateway(to: IpEndpoint) -> udp::UdpMetadata {
    let mut meta = udp::UdpMetadata::from(to);
    meta.local_address = Some(GATEWAY.into());
    meta
}

/// A UDP socket bound to `port` on every address (DHCP's requests go to the broadcast one).
fn udp_socket(port: u16) -> udp::Socket<'static> {
    let buffer = || {
        udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; UDP_PACKETS],
            vec![0; UDP_BYTES],
        )
    };
    let mut socket = udp::Socket::new(buffer(), buffer());
    // Cannot fail: the port is not 0 and the socket is new.
    let _ = socket.bind(port);
    socket
}

impl Gateway {
    /// A gateway at `now_ms` (any monotonic clock in milliseconds) for the page at
    /// `site_origin`, which the guest reaches as [`super::SITE_NAME`].
    pub fn new(now_ms: i64, site_origin: &str) -> Gateway {
        let mut link = Link::default();
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(GATEWAY_MAC)));
        config.random_seed = now_ms as u64;
        let mut iface = Interface::new(config, &mut link, Instant::from_millis(now_ms));
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(GATEWAY.into(), PREFIX_LEN));
        });
        // Every address beyond the LAN is the gateway's to answer (the names' pool, and
        // whatever address the guest dials): TCP to them ends here.
        let _ = iface.routes_mut().add_default_ipv4_route(GATEWAY);
        iface.set_any_ip(true);
        let mut sockets = SocketSet::new(Vec::new());
        let dhcp = sockets.add(udp_socket(DHCP_SERVER_PORT));
        let dns = sockets.add(udp_socket(DNS_PORT));
        let web = Web::new(site_origin, &mut sockets);
        Gateway {
            iface,
            link,
            sockets,
            dhcp,
            dns,
            names: Names::default(),
            web,
            relay: Relay::default(),
            forwards: Forwards::default(),
            now_ms,
        }
    }

    /// The web service (port 80): the fetches it wants, their backlogs, its counters.
    pub fn web(&self) -> &Web {
        &self.web
    }

    /// The web service, for the fetches' responses.
    pub fn web_mut(&mut self) -> &mut Web {
        &mut self.web
    }

    /// The relay client (TCP to other ports): its link, packets, counters.
    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    /// The relay client, for the WebSocket's events and packets.
    pub fn relay_mut(&mut self) -> &mut Relay {
        &mut self.relay
    }

    /// The page asks the guest's TCP port `request.port` (`forward`); the answer comes from
    /// [`Gateway::take_forwarded`] after a later poll.
    pub fn forward(&mut self, id: u64, request: &forward::Request) {
        let cx = self.iface.context();
        self.forwards
            .open(&mut self.sockets, cx, id, request, self.now_ms);
    }

    /// The forwarded requests answered since the last call.
    pub fn take_forwarded(&mut self) -> Vec<(u64, forward::Forwarded)> {
        self.forwards.take_done()
    }

    /// The names the guest looked up, and their addresses.
    pub fn names(&self) -> &Names {
        &self.names
    }

    #[cfg(test)]
    pub(super) fn names_mut(&mut self) -> &mut Names {
        &mut self.names
    }

    /// An Ethernet frame the guest sent.
    pub fn from_guest(&mut self, frame: Vec<u8>) {
        if !only_for_the_gateway(&frame) {
            return;
        }
        if let Some((port, from)) = tcp_syn(&frame) {
            if port != web::PORT && self.relay.enabled() {
                self.relay.syn(&mut self.sockets, port, from);
            }
        }
        self.link.from_guest.push_back(frame);
    }

    /// How many frames the guest can take now (its device's free inbox slots); the next
    /// [`Gateway::poll`] returns at most that many.
    pub fn set_room(&mut self, frames: usize) {
        self.link.room = frames;
    }

    /// Runs the stack at `now_ms`: takes the guest's frames and returns the frames for it.
    pub fn poll(&mut self, now_ms: i64) -> Vec<Vec<u8>> {
        let now = Instant::from_millis(now_ms);
        self.now_ms = now_ms;
        self.iface.poll_maintenance(now);
        // One frame at a time, its datagram answered and the answer sent before the next
        // frame, so that a burst of queries never fills the sockets' buffers.
        loop {
            let ingress = self
                .iface
                .poll_ingress_single(now, &mut self.link, &mut self.sockets);
            if ingress == PollIngressSingleResult::None {
                break;
            }
            self.serve();
            self.egress(now);
        }
        // Responses from the page may have arrived without a frame.
        self.serve();
        self.egress(now);
        std::mem::take(&mut self.link.to_guest)
    }

    fn egress(&mut self, now: Instant) {
        while self
            .iface
            .poll_egress(now, &mut self.link, &mut self.sockets)
            != PollResult::None
        {}
    }

    /// Answers the datagrams waiting on the DHCP and DNS sockets.
    fn serve(&mut self) {
        let socket = self.sockets.get_mut::<udp::Socket>(self.dhcp);
        while let Ok((request, _)) = socket.recv() {
            if let Some(reply) = dhcp::answer(request) {
                // Broadcast: the client may have no address yet (see `dhcp`). A full
                // buffer drops the reply, and the client asks again.
                let to = IpEndpoint::new(Ipv4Addr::BROADCAST.into(), DHCP_CLIENT_PORT);
                let _ = socket.send_slice(&reply, from_gateway(to));
            }
        }
        let socket = self.sockets.get_mut::<udp::Socket>(self.dns);
        while let Ok((query, meta)) = socket.recv() {
            if let Some(reply) = self.names.answer(query) {
                // Answered from whichever address the guest asked (its resolv.conf may
                // name any server: the gateway is the only one there is).
                let mut to = udp::UdpMetadata::from(meta.endpoint);
                to.local_address = meta.local_address.or(Some(GATEWAY.into()));
                let _ = socket.send_slice(&reply, to);
            }
        }
        self.web.service(&mut self.sockets, &self.names);
        self.relay.service(&mut self.sockets, &self.names);
        self.forwards.service(&mut self.sockets, self.now_ms);
    }

    /// When the stack next wants [`Gateway::poll`] without a new frame (retransmissions,
    /// timeouts), in milliseconds from `now_ms`; None: only when a frame comes.
    pub fn poll_delay_ms(&mut self, now_ms: i64) -> Option<u64> {
        let stack = self
            .iface
            .poll_delay(Instant::from_millis(now_ms), &self.sockets)
            .map(|d| d.total_millis());
        // Forwarded requests time out: look at them at least once a second.
        match (stack, self.forwards.busy()) {
            (Some(ms), true) => Some(ms.min(1000)),
            (None, true) => Some(1000),
            (stack, false) => stack,
        }
    }
}

/// The port and the sender of `frame` if it opens a TCP connection (SYN without ACK).
fn tcp_syn(frame: &[u8]) -> Option<(u16, IpEndpoint)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.next_header() != IpProtocol::Tcp {
        return None;
    }
    let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
    (tcp.syn() && !tcp.ack()).then(|| {
        (
            tcp.dst_port(),
            IpEndpoint::new(ip.src_addr().into(), tcp.src_port()),
        )
    })
}

/// Whether smoltcp may see `frame`. The gateway accepts TCP and UDP for every address (any
/// IP: the names' pool and whatever the guest dials end here), so that smoltcp would also
/// answer ARP and ping for every address; but the LAN has only the guest and the gateway, and
/// the wider network cannot be pinged from a page. ARP and ping for other addresses go
/// unanswered, as on a real LAN.
fn only_for_the_gateway(frame: &[u8]) -> bool {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    match eth.ethertype() {
        EthernetProtocol::Arp => ArpPacket::new_checked(eth.payload())
            .and_then(|arp| ArpRepr::parse(&arp))
            .is_ok_and(|arp| match arp {
                ArpRepr::EthernetIpv4 {
                    target_protocol_addr,
                    ..
                } => target_protocol_addr == GATEWAY,
                _ => false,
            }),
        EthernetProtocol::Ipv4 => Ipv4Packet::new_checked(eth.payload())
            .is_ok_and(|ip| ip.next_header() != IpProtocol::Icmp || ip.dst_addr() == GATEWAY),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::dhcp::tests::{assert_configuration, request as dhcp_request, XID};
    use crate::net::dns::tests::{parse_reply, query};
    use crate::net::GUEST;
    use crate::virtio::net::GUEST_MAC;

    const SITE: &str = "http://site.test";
    use simple_dns::rdata::RData;
    use simple_dns::{RCODE, TYPE};
    use smoltcp::wire::{
        ArpOperation, ArpPacket, ArpRepr, DhcpMessageType, DhcpPacket, DhcpRepr, EthernetFrame,
        EthernetProtocol, EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpAddress, IpProtocol,
        Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
    };

    const GUEST_ETH: EthernetAddress = EthernetAddress(GUEST_MAC);

    fn ethernet(dst: EthernetAddress, ethertype: EthernetProtocol, payload: &[u8]) -> Vec<u8> {
        let repr = EthernetRepr {
            src_addr: GUEST_ETH,
            dst_addr: dst,
            ethertype,
        };
        let mut buf = vec![0; repr.buffer_len() + payload.len()];
        let mut frame = EthernetFrame::new_unchecked(&mut buf);
        repr.emit(&mut frame);
        frame.payload_mut().copy_from_slice(payload);
        buf
    }

    fn arp_request() -> Vec<u8> {
        arp_request_for(GATEWAY)
    }

    fn arp_request_for(target: Ipv4Addr) -> Vec<u8> {
        let repr = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: GUEST_ETH,
            source_protocol_addr: GUEST,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: target,
        };
        let mut buf = vec![0; repr.buffer_len()];
        repr.emit(&mut ArpPacket::new_unchecked(&mut buf));
        ethernet(EthernetAddress::BROADCAST, EthernetProtocol::Arp, &buf)
    }

    fn ping(seq_no: u16, data: &[u8]) -> Vec<u8> {
        ping_to(GATEWAY, seq_no, data)
    }

    fn ping_to(dst_addr: Ipv4Addr, seq_no: u16, data: &[u8]) -> Vec<u8> {
        let icmp = Icmpv4Repr::EchoRequest {
            ident: 0x4242,
            seq_no,
            data,
        };
        let ip = Ipv4Repr {
            src_addr: GUEST,
            dst_addr,
            next_header: IpProtocol::Icmp,
            payload_len: icmp.buffer_len(),
            hop_limit: 64,
        };
        let mut buf = vec![0; ip.buffer_len() + icmp.buffer_len()];
        let mut packet = Ipv4Packet::new_unchecked(&mut buf);
        ip.emit(&mut packet, &Default::default());
        icmp.emit(
            &mut Icmpv4Packet::new_unchecked(packet.payload_mut()),
            &Default::default(),
        );
        ethernet(EthernetAddress(GATEWAY_MAC), EthernetProtocol::Ipv4, &buf)
    }

    /// A UDP datagram from the guest's MAC.
    fn udp(
        (eth_dst, dst_addr, dst_port): (EthernetAddress, Ipv4Addr, u16),
        (src_addr, src_port): (Ipv4Addr, u16),
        payload: &[u8],
    ) -> Vec<u8> {
        let udp = UdpRepr { src_port, dst_port };
        let ip = Ipv4Repr {
            src_addr,
            dst_addr,
            next_header: IpProtocol::Udp,
            payload_len: udp.header_len() + payload.len(),
            hop_limit: 64,
        };
        let mut buf = vec![0; ip.buffer_len() + ip.payload_len];
        let mut packet = Ipv4Packet::new_unchecked(&mut buf);
        ip.emit(&mut packet, &Default::default());
        udp.emit(
            &mut UdpPacket::new_unchecked(packet.payload_mut()),
            &src_addr.into(),
            &dst_addr.into(),
            payload.len(),
            |buf| buf.copy_from_slice(payload),
            &Default::default(),
        );
        ethernet(eth_dst, EthernetProtocol::Ipv4, &buf)
    }

    /// The one frame in `out`, a UDP datagram: its Ethernet and IP destinations, its source
    /// and ports, and its payload.
    fn udp_reply(out: &[Vec<u8>]) -> (EthernetAddress, Ipv4Addr, Ipv4Addr, (u16, u16), Vec<u8>) {
        assert_eq!(out.len(), 1, "{out:?}");
        let frame = EthernetFrame::new_checked(&out[0][..]).unwrap();
        assert_eq!(frame.src_addr(), EthernetAddress(GATEWAY_MAC));
        assert_eq!(frame.ethertype(), EthernetProtocol::Ipv4);
        let ip = Ipv4Packet::new_checked(frame.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.next_header(), IpProtocol::Udp);
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        let (src, dst) = (
            IpAddress::from(ip.src_addr()),
            IpAddress::from(ip.dst_addr()),
        );
        assert!(udp.verify_checksum(&src, &dst));
        (
            frame.dst_addr(),
            ip.dst_addr(),
            ip.src_addr(),
            (udp.src_port(), udp.dst_port()),
            udp.payload().to_vec(),
        )
    }

    /// A DHCP client's broadcast, from 0.0.0.0 as before it has an address.
    fn dhcp_broadcast(payload: &[u8]) -> Vec<u8> {
        udp(
            (EthernetAddress::BROADCAST, Ipv4Addr::BROADCAST, 67),
            (Ipv4Addr::UNSPECIFIED, 68),
            payload,
        )
    }

    fn dhcp_message_type(payload: &[u8]) -> DhcpMessageType {
        let packet = DhcpPacket::new_checked(payload).unwrap();
        DhcpRepr::parse(&packet).unwrap().message_type
    }

    #[test]
    fn dhcp_discover_and_request_get_offer_and_ack_broadcast() {
        let mut gw = Gateway::new(0, SITE);
        gw.from_guest(dhcp_broadcast(&dhcp_request(
            DhcpMessageType::Discover,
            None,
            None,
        )));
        let (eth_dst, ip_dst, ip_src, ports, payload) = udp_reply(&gw.poll(1));
        assert_eq!(eth_dst, EthernetAddress::BROADCAST);
        assert_eq!(ip_dst, Ipv4Addr::BROADCAST);
        assert_eq!(ip_src, GATEWAY);
        assert_eq!(ports, (67, 68));
        assert_eq!(dhcp_message_type(&payload), DhcpMessageType::Offer);
        assert_configuration(&payload);

        gw.from_guest(dhcp_broadcast(&dhcp_request(
            DhcpMessageType::Request,
            Some(GUEST),
            Some(GATEWAY),
        )));
        let (eth_dst, ip_dst, _, ports, payload) = udp_reply(&gw.poll(2));
        assert_eq!(
            (eth_dst, ip_dst),
            (EthernetAddress::BROADCAST, Ipv4Addr::BROADCAST)
        );
        assert_eq!(ports, (67, 68));
        assert_eq!(dhcp_message_type(&payload), DhcpMessageType::Ack);
        assert_configuration(&payload);
    }

    #[test]
    fn dhcp_request_for_another_address_gets_a_nak() {
        let mut gw = Gateway::new(0, SITE);
        let other = Ipv4Addr::new(192, 168, 1, 7);
        gw.from_guest(dhcp_broadcast(&dhcp_request(
            DhcpMessageType::Request,
            Some(other),
            None,
        )));
        let (_, ip_dst, _, _, payload) = udp_reply(&gw.poll(1));
        assert_eq!(ip_dst, Ipv4Addr::BROADCAST);
        let packet = DhcpPacket::new_checked(&payload[..]).unwrap();
        let repr = DhcpRepr::parse(&packet).unwrap();
        assert_eq!(repr.message_type, DhcpMessageType::Nak);
        assert_eq!(repr.transaction_id, XID);
    }

    #[test]
    fn dns_queries_get_pool_addresses() {
        let mut gw = Gateway::new(0, SITE);
        gw.from_guest(arp_request());
        gw.poll(1);
        let gateway = (EthernetAddress(GATEWAY_MAC), GATEWAY, 53);
        // Both of musl's queries in one batch, as the device worker hands them over.
        gw.from_guest(udp(
            gateway,
            (GUEST, 40000),
            &query(0x0a0a, "alpenglow.host", TYPE::A),
        ));
        gw.from_guest(udp(
            gateway,
            (GUEST, 40000),
            &query(0x0b0b, "ALPENGLOW.host.", TYPE::AAAA),
        ));
        let out = gw.poll(2);
        assert_eq!(out.len(), 2);
        let (eth_dst, ip_dst, ip_src, ports, payload) = udp_reply(&out[..1]);
        assert_eq!((eth_dst, ip_dst, ip_src), (GUEST_ETH, GUEST, GATEWAY));
        assert_eq!(ports, (53, 40000));
        let (rcode, answers) = parse_reply(&payload, 0x0a0a);
        assert_eq!(rcode, RCODE::NoError);
        let addr = match &answers[..] {
            [RData::A(a)] => Ipv4Addr::from(a.clone()),
            other => panic!("not one A record: {other:?}"),
        };
        assert_eq!(addr, Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(gw.names().name_of(addr), Some("alpenglow.host"));
        let (.., payload) = udp_reply(&out[1..]);
        assert_eq!(parse_reply(&payload, 0x0b0b), (RCODE::NoError, vec![]));
    }

    #[test]
    fn udp_garbage_to_dhcp_and_dns_gets_nothing_or_formerr() {
        let mut gw = Gateway::new(0, SITE);
        gw.from_guest(arp_request());
        gw.poll(1);
        let gateway = (EthernetAddress(GATEWAY_MAC), GATEWAY, 53);
        for junk in [&[][..], &[0xff; 5], &[0; 11]] {
            gw.from_guest(dhcp_broadcast(junk));
            gw.from_guest(udp(gateway, (GUEST, 1234), junk));
        }
        gw.from_guest(dhcp_broadcast(&[0x55; 700]));
        assert!(gw.poll(2).is_empty());
        // A DNS header with nonsense after it: FORMERR, with the query's id.
        gw.from_guest(udp(gateway, (GUEST, 1234), &[0x55; 700]));
        let (.., payload) = udp_reply(&gw.poll(3));
        assert_eq!(payload.len(), 12);
        assert_eq!(payload[..2], [0x55, 0x55]);
        assert_eq!(payload[3] & 0x0f, RCODE::FormatError as u8);
    }

    #[test]
    fn answers_arp_for_its_address() {
        let mut gw = Gateway::new(0, SITE);
        gw.from_guest(arp_request());
        let out = gw.poll(1);
        assert_eq!(out.len(), 1);
        let frame = EthernetFrame::new_checked(&out[0][..]).unwrap();
        assert_eq!(frame.dst_addr(), GUEST_ETH);
        let arp = ArpRepr::parse(&ArpPacket::new_checked(frame.payload()).unwrap()).unwrap();
        match arp {
            ArpRepr::EthernetIpv4 {
                operation,
                source_hardware_addr,
                source_protocol_addr,
                ..
            } => {
                assert_eq!(operation, ArpOperation::Reply);
                assert_eq!(source_hardware_addr, EthernetAddress(GATEWAY_MAC));
                assert_eq!(source_protocol_addr, GATEWAY);
            }
            other => panic!("not an Ethernet/IPv4 ARP reply: {other:?}"),
        }
    }

    #[test]
    fn answers_ping_with_the_same_data() {
        let mut gw = Gateway::new(0, SITE);
        gw.from_guest(arp_request());
        gw.poll(1);
        gw.from_guest(ping(7, b"alpenglow"));
        let out = gw.poll(2);
        assert_eq!(out.len(), 1);
        let frame = EthernetFrame::new_checked(&out[0][..]).unwrap();
        let ip = Ipv4Packet::new_checked(frame.payload()).unwrap();
        assert_eq!(ip.dst_addr(), GUEST);
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        let repr = Icmpv4Repr::parse(&icmp, &Default::default()).unwrap();
        assert_eq!(
            repr,
            Icmpv4Repr::EchoReply {
                ident: 0x4242,
                seq_no: 7,
                data: b"alpenglow"
            }
        );
    }

    #[test]
    fn no_one_else_answers_arp_or_ping() {
        let mut gw = Gateway::new(0, SITE);
        gw.from_guest(arp_request());
        assert_eq!(gw.poll(1).len(), 1);
        for other in [
            Ipv4Addr::new(10, 0, 2, 77),
            GUEST,
            Ipv4Addr::new(198, 18, 0, 1),
        ] {
            gw.from_guest(arp_request_for(other));
            gw.from_guest(ping_to(other, 1, b"anyone?"));
            assert!(gw.poll(2).is_empty(), "{other} answered");
        }
    }

    #[test]
    fn garbage_is_ignored() {
        let mut gw = Gateway::new(0, SITE);
        for junk in [vec![], vec![0xff; 3], vec![0; 60], vec![0xab; 1514]] {
            gw.from_guest(junk);
        }
        assert!(gw.poll(1).is_empty());
    }
}
