//! Tests of the relay client: a guest TCP/IP stack ([`Lan`]) connects through the gateway,
//! and the test plays the relay, packet by packet.

use super::*;
use crate::net::test_lan::Lan;

/// A LAN whose gateway has the relay on.
fn lan() -> Lan {
    let mut lan = Lan::new();
    lan.gw.relay_mut().set_enabled(true);
    lan
}

/// The relay's side: its socket opens, and it says how many packets a stream may send.
fn relay_up(lan: &mut Lan, initial_credit: u32) {
    let relay = lan.gw.relay_mut();
    assert_eq!(relay.link(), Link::Wanted);
    relay.opening();
    relay.up();
    relay.from_relay(
        &Packet::Continue {
            stream: 0,
            remaining: initial_credit,
        }
        .encode(),
    );
    lan.settle();
}

/// What the gateway sent the relay since the last call.
fn sent(lan: &mut Lan) -> Vec<Packet> {
    lan.gw
        .relay_mut()
        .take_outgoing()
        .iter()
        .map(|m| Packet::decode(m).unwrap())
        .collect()
}

/// The relay sends `packet`, and the LAN runs.
fn relay_sends(lan: &mut Lan, packet: Packet) {
    lan.gw.relay_mut().from_relay(&packet.encode());
    lan.settle();
}

fn closed(lan: &Lan, socket: SocketHandle) -> bool {
    lan.state(socket) == tcp::State::Closed
}

#[test]
fn without_a_relay_other_ports_are_refused() {
    let mut lan = Lan::new();
    let addr = lan.gw.names_mut().address_of("example.org").unwrap();
    let socket = lan.connect(addr, 443);
    assert!(closed(&lan, socket));
    assert_eq!(lan.gw.relay().link(), Link::Down);
}

#[test]
fn a_connection_to_a_name_becomes_a_connect_once_the_link_is_up() {
    let mut lan = lan();
    let addr = lan.gw.names_mut().address_of("Example.org.").unwrap();
    let socket = lan.connect(addr, 443);
    assert_eq!(lan.state(socket), tcp::State::Established);
    // Nothing goes before the socket is open.
    assert!(sent(&mut lan).is_empty());
    relay_up(&mut lan, 8);
    assert_eq!(
        sent(&mut lan),
        [Packet::Connect {
            stream: 1,
            kind: wisp::TCP,
            port: 443,
            host: "example.org".into()
        }]
    );
    assert_eq!(lan.gw.relay().counters.streams, 1);
}

#[test]
fn the_gateway_stands_for_the_relays_machine_and_other_addresses_for_themselves() {
    let mut lan = lan();
    lan.connect(GATEWAY, 7777);
    lan.connect(Ipv4Addr::new(93, 184, 215, 14), 22);
    relay_up(&mut lan, 8);
    let hosts: Vec<(String, u16)> = sent(&mut lan)
        .into_iter()
        .map(|p| match p {
            Packet::Connect { host, port, .. } => (host, port),
            other => panic!("not a CONNECT: {other:?}"),
        })
        .collect();
    assert_eq!(
        hosts,
        [("127.0.0.1".into(), 7777), ("93.184.215.14".into(), 22)]
    );
}

#[test]
fn bytes_go_up_only_as_the_credit_allows_and_come_down_in_order() {
    let mut lan = lan();
    let addr = lan.gw.names_mut().address_of("example.org").unwrap();
    let socket = lan.connect(addr, 5000);
    relay_up(&mut lan, 2);
    sent(&mut lan);

    let upload: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    lan.send(socket, &upload);
    let mut packets = sent(&mut lan);
    assert_eq!(packets.len(), 2, "two packets of credit");
    lan.settle();
    assert!(sent(&mut lan).is_empty(), "nothing more without credit");
    for _ in 0..40 {
        relay_sends(
            &mut lan,
            Packet::Continue {
                stream: 1,
                remaining: 4,
            },
        );
        let more = sent(&mut lan);
        assert!(more.len() <= 4, "{} packets on a credit of 4", more.len());
        packets.extend(more);
    }
    let mut got = Vec::new();
    for packet in packets {
        match packet {
            Packet::Data { stream: 1, bytes } => got.extend(bytes),
            other => panic!("not DATA on stream 1: {other:?}"),
        }
    }
    assert!(
        got == upload,
        "{} bytes of {} arrived, or out of order",
        got.len(),
        upload.len()
    );

    relay_sends(
        &mut lan,
        Packet::Data {
            stream: 1,
            bytes: b"first ".to_vec(),
        },
    );
    relay_sends(
        &mut lan,
        Packet::Data {
            stream: 1,
            bytes: b"second".to_vec(),
        },
    );
    assert_eq!(lan.received(socket), b"first second");
}

#[test]
fn a_stream_the_other_end_closes_delivers_everything_then_a_fin() {
    let mut lan = lan();
    let socket = lan.connect(GATEWAY, 7777);
    relay_up(&mut lan, 8);
    let big = vec![0x5a; 300_000];
    lan.gw.relay_mut().from_relay(
        &Packet::Data {
            stream: 1,
            bytes: big.clone(),
        }
        .encode(),
    );
    relay_sends(
        &mut lan,
        Packet::Close {
            stream: 1,
            reason: reason::VOLUNTARY,
        },
    );
    let mut got = lan.received(socket);
    while got.len() < big.len() {
        lan.settle();
        let more = lan.received(socket);
        assert!(!more.is_empty(), "stalled at {} bytes", got.len());
        got.extend(more);
    }
    assert_eq!(got, big);
    lan.settle();
    assert!(!lan.sockets.get::<tcp::Socket>(socket).may_recv(), "no FIN");
    assert_eq!(lan.gw.relay().counters.failed, 0);
}

#[test]
fn a_refused_destination_resets_the_guests_connection_and_says_why() {
    let mut lan = lan();
    let socket = lan.connect(GATEWAY, 7777);
    relay_up(&mut lan, 8);
    relay_sends(
        &mut lan,
        Packet::Close {
            stream: 1,
            reason: reason::REFUSED,
        },
    );
    assert!(closed(&lan, socket));
    let relay = lan.gw.relay();
    assert_eq!(relay.counters.failed, 1);
    assert_eq!(relay.streams(), 0);
    assert!(
        relay.last_failure.as_deref().unwrap().contains("refused"),
        "{:?}",
        relay.last_failure
    );
    // It told us; we do not tell it back.
    assert!(sent(&mut lan)
        .iter()
        .all(|p| !matches!(p, Packet::Close { .. })));
}

#[test]
fn the_guest_closing_its_connection_closes_the_stream() {
    let mut lan = lan();
    let socket = lan.connect(GATEWAY, 7777);
    relay_up(&mut lan, 8);
    sent(&mut lan);
    lan.sockets.get_mut::<tcp::Socket>(socket).abort();
    lan.settle();
    assert_eq!(
        sent(&mut lan),
        [Packet::Close {
            stream: 1,
            reason: reason::VOLUNTARY
        }]
    );
    assert_eq!(lan.gw.relay().streams(), 0);
}

#[test]
fn losing_the_link_resets_every_stream_and_the_next_connection_asks_again() {
    let mut lan = lan();
    let a = lan.connect(GATEWAY, 7777);
    let b = lan.connect(GATEWAY, 7778);
    relay_up(&mut lan, 8);
    lan.gw.relay_mut().down("the WebSocket closed (1006)");
    lan.settle();
    assert!(closed(&lan, a) && closed(&lan, b));
    assert_eq!(lan.gw.relay().counters.failed, 2);
    assert_eq!(lan.gw.relay().link(), Link::Down);

    let c = lan.connect(GATEWAY, 7779);
    assert_eq!(lan.state(c), tcp::State::Established);
    assert_eq!(lan.gw.relay().link(), Link::Wanted);
    relay_up(&mut lan, 8);
    assert!(matches!(
        &sent(&mut lan)[..],
        [Packet::Connect { port: 7779, .. }]
    ));
}

#[test]
fn a_message_that_is_not_wisp_ends_the_link() {
    let mut lan = lan();
    let socket = lan.connect(GATEWAY, 7777);
    relay_up(&mut lan, 8);
    lan.gw.relay_mut().from_relay(&[0x09, 1, 2]);
    lan.settle();
    assert!(closed(&lan, socket));
    let relay = lan.gw.relay();
    assert_eq!(relay.link(), Link::Down);
    assert!(relay.last_failure.as_deref().unwrap().contains("not Wisp"));
}

#[test]
fn connections_opened_together_each_find_a_socket() {
    let mut lan = lan();
    let addr = lan.gw.names_mut().address_of("example.org").unwrap();
    let sockets: Vec<_> = (0..3).map(|_| lan.dial(addr, 6000, 64 * 1024)).collect();
    lan.settle();
    for &s in &sockets {
        assert_eq!(lan.state(s), tcp::State::Established);
    }
    relay_up(&mut lan, 8);
    assert_eq!(sent(&mut lan).len(), 3);
}

#[test]
fn an_address_nobody_looked_up_is_reset() {
    let mut lan = lan();
    let socket = lan.connect(Ipv4Addr::new(198, 18, 0, 77), 443);
    lan.settle();
    assert!(closed(&lan, socket));
    assert_eq!(lan.gw.relay().link(), Link::Down);
}

#[test]
fn a_stream_flooding_a_guest_that_does_not_read_is_reset() {
    let mut lan = lan();
    let socket = lan.connect(GATEWAY, 7777);
    relay_up(&mut lan, 8);
    sent(&mut lan);
    let mib = vec![1u8; 1 << 20];
    for _ in 0..(BACKLOG_LIMIT >> 20) + 2 {
        lan.gw.relay_mut().from_relay(
            &Packet::Data {
                stream: 1,
                bytes: mib.clone(),
            }
            .encode(),
        );
    }
    lan.settle();
    assert!(closed(&lan, socket));
    assert_eq!(
        sent(&mut lan),
        [Packet::Close {
            stream: 1,
            reason: reason::CLIENT_ERROR
        }]
    );
}

#[test]
fn turning_the_relay_off_resets_its_streams() {
    let mut lan = lan();
    let socket = lan.connect(GATEWAY, 7777);
    relay_up(&mut lan, 8);
    lan.gw.relay_mut().set_enabled(false);
    lan.settle();
    assert!(closed(&lan, socket));
    let refused = lan.connect(GATEWAY, 7777);
    assert!(closed(&lan, refused));
}
