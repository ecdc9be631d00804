//! The relay end to end on this machine: a Wisp client over a real WebSocket, real TCP
//! destinations on loopback.

use super::*;
use kernel_host::net::wisp::{self, reason, Packet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;
use tungstenite::{Message, WebSocket};

type Client = WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

/// A server on loopback that answers each line with it upper-cased, then closes.
fn upper_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut line = String::new();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                if reader.read_line(&mut line).is_ok() {
                    let _ = (&conn).write_all(line.to_uppercase().as_bytes());
                }
            });
        }
    });
    port
}

fn relay(allow: &[String]) -> Client {
    let relay = start("127.0.0.1:0", Policy::new(allow).unwrap(), Arc::new(|_| {})).unwrap();
    let (mut ws, _) = tungstenite::connect(&relay.url).unwrap();
    assert_eq!(
        next(&mut ws),
        Packet::Continue {
            stream: 0,
            remaining: BUFFER_PACKETS
        },
        "the relay says its buffer first"
    );
    ws
}

fn send(ws: &mut Client, packet: Packet) {
    ws.send(Message::Binary(packet.encode().into())).unwrap();
}

fn next(ws: &mut Client) -> Packet {
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = ws.get_ref() {
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    loop {
        match ws.read().expect("the relay answers") {
            Message::Binary(bytes) => return Packet::decode(&bytes).unwrap(),
            Message::Close(_) => panic!("the relay closed the socket"),
            _ => {}
        }
    }
}

fn connect(ws: &mut Client, stream: u32, host: &str, port: u16) {
    send(
        ws,
        Packet::Connect {
            stream,
            kind: wisp::TCP,
            port,
            host: host.into(),
        },
    );
}

#[test]
fn a_stream_reaches_an_allowed_server_and_ends_when_it_closes() {
    let port = upper_server();
    let mut ws = relay(&[format!("127.0.0.1:{port}")]);
    connect(&mut ws, 7, "127.0.0.1", port);
    // DATA may follow CONNECT at once, before the connection is made.
    send(
        &mut ws,
        Packet::Data {
            stream: 7,
            bytes: b"hello ".to_vec(),
        },
    );
    send(
        &mut ws,
        Packet::Data {
            stream: 7,
            bytes: b"relay\n".to_vec(),
        },
    );
    let mut got = Vec::new();
    loop {
        match next(&mut ws) {
            Packet::Data { stream: 7, bytes } => got.extend(bytes),
            Packet::Close {
                stream: 7,
                reason: r,
            } => {
                assert_eq!(r, reason::VOLUNTARY);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, b"HELLO RELAY\n");
}

#[test]
fn destinations_outside_the_policy_are_blocked() {
    let port = upper_server();
    // Loopback is not public: without rules it is not reached.
    let mut ws = relay(&[]);
    connect(&mut ws, 1, "127.0.0.1", port);
    assert_eq!(
        next(&mut ws),
        Packet::Close {
            stream: 1,
            reason: reason::BLOCKED
        }
    );
    let mut ws = relay(&[format!("127.0.0.1:{}", port.wrapping_add(1).max(1))]);
    connect(&mut ws, 2, "localhost", port);
    assert_eq!(
        next(&mut ws),
        Packet::Close {
            stream: 2,
            reason: reason::BLOCKED
        }
    );
}

#[test]
fn a_closed_port_is_refused_and_a_bad_name_unreachable() {
    let closed_port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut ws = relay(&["127.0.0.1:*".into(), "*.invalid:*".into()]);
    connect(&mut ws, 3, "127.0.0.1", closed_port);
    assert_eq!(
        next(&mut ws),
        Packet::Close {
            stream: 3,
            reason: reason::REFUSED
        }
    );
    connect(&mut ws, 4, "no-such-host.invalid", 80);
    assert_eq!(
        next(&mut ws),
        Packet::Close {
            stream: 4,
            reason: reason::UNREACHABLE
        }
    );
}

#[test]
fn the_relay_grants_more_credit_as_the_destination_takes_data() {
    // A sink that reads everything and answers with the byte count at EOF... which Wisp
    // cannot send: it answers when it has read enough.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let total = 3 * BUFFER_PACKETS as usize * 100;
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut seen = 0;
        let mut buf = [0; 4096];
        while seen < total {
            match std::io::Read::read(&mut conn, &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => seen += n,
            }
        }
        let _ = conn.write_all(format!("{seen}").as_bytes());
    });
    let mut ws = relay(&[format!("127.0.0.1:{port}")]);
    connect(&mut ws, 5, "127.0.0.1", port);
    let mut credit = BUFFER_PACKETS;
    let mut sent = 0;
    let mut answer = Vec::new();
    while answer.is_empty() {
        if sent < total && credit > 0 {
            send(
                &mut ws,
                Packet::Data {
                    stream: 5,
                    bytes: vec![b'x'; 100],
                },
            );
            sent += 100;
            credit -= 1;
            continue;
        }
        match next(&mut ws) {
            Packet::Continue {
                stream: 5,
                remaining,
            } => credit = remaining,
            Packet::Data { stream: 5, bytes } => answer = bytes,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(answer, total.to_string().as_bytes());
}

#[test]
fn garbage_and_invalid_connects_get_clear_answers() {
    let mut ws = relay(&["*:*".into()]);
    send(
        &mut ws,
        Packet::Connect {
            stream: 9,
            kind: wisp::UDP,
            port: 53,
            host: "example.org".into(),
        },
    );
    assert_eq!(
        next(&mut ws),
        Packet::Close {
            stream: 9,
            reason: reason::INVALID
        }
    );
    connect(&mut ws, 0, "example.org", 80);
    assert_eq!(
        next(&mut ws),
        Packet::Close {
            stream: 0,
            reason: reason::INVALID
        }
    );
    // Not Wisp: the relay ends the session.
    ws.send(Message::Binary(vec![0x7f].into())).unwrap();
    let ended = loop {
        match ws.read() {
            Ok(Message::Close(_)) | Err(_) => break true,
            Ok(_) => {}
        }
    };
    assert!(ended);
}

#[test]
fn a_client_far_beyond_its_credit_is_closed_as_throttled() {
    // A destination that accepts and never reads: what the relay cannot hand on piles up.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        thread::sleep(Duration::from_secs(60));
        drop(conn);
    });
    let mut ws = relay(&[format!("127.0.0.1:{port}")]);
    connect(&mut ws, 6, "127.0.0.1", port);
    // Ignoring every CONTINUE: far more than the channel, the waiting packets and the
    // loopback socket's buffers hold together.
    for _ in 0..2000 {
        send(
            &mut ws,
            Packet::Data {
                stream: 6,
                bytes: vec![b'x'; 32 * 1024],
            },
        );
    }
    loop {
        match next(&mut ws) {
            Packet::Continue { stream: 6, .. } => {}
            other => {
                assert_eq!(
                    other,
                    Packet::Close {
                        stream: 6,
                        reason: reason::THROTTLED
                    }
                );
                break;
            }
        }
    }
}
