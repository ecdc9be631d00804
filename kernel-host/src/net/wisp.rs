//! Wisp, version 1: the protocol between the gateway and a TCP relay, written once for both
//! ends (the gateway's client in [`super::relay`], the relay server of `cargo x relay`).
//!
//! Wisp carries many TCP streams over one WebSocket, each WebSocket message one packet:
//! a type byte, the stream's id (u32, little-endian) and the payload. The client opens a
//! stream with CONNECT (stream type, port, host name), both sides send DATA, either ends it
//! with CLOSE and a reason. The server says with CONTINUE how many more DATA packets the
//! client may send on a stream; on stream 0, once at the start, how many each new stream
//! may send before its first CONTINUE. Nothing limits what the server sends.
//!
//! We speak Wisp rather than a protocol of our own so that the guest can use any Wisp
//! server people already run, and people can put our relay behind any Wisp client.

use std::fmt;

pub const CONNECT: u8 = 0x01;
pub const DATA: u8 = 0x02;
pub const CONTINUE: u8 = 0x03;
pub const CLOSE: u8 = 0x04;

/// Stream types in CONNECT.
pub const TCP: u8 = 0x01;
pub const UDP: u8 = 0x02;

/// Why a stream closed (CLOSE's payload).
pub mod reason {
    /// Either side: no reason given.
    pub const UNKNOWN: u8 = 0x01;
    /// Either side: the stream ended normally (the other end closed it).
    pub const VOLUNTARY: u8 = 0x02;
    /// Either side: the connection broke.
    pub const NETWORK: u8 = 0x03;
    /// Server: the CONNECT was malformed (an unknown stream type, an empty host).
    pub const INVALID: u8 = 0x41;
    /// Server: the host name did not resolve, or no route to it.
    pub const UNREACHABLE: u8 = 0x42;
    /// Server: connecting took too long.
    pub const CONNECT_TIMEOUT: u8 = 0x43;
    /// Server: the destination refused the connection.
    pub const REFUSED: u8 = 0x44;
    /// Server: the TCP connection timed out after it was open.
    pub const TCP_TIMEOUT: u8 = 0x47;
    /// Server: its policy does not allow this destination.
    pub const BLOCKED: u8 = 0x48;
    /// Server: the client sent more than it was allowed to.
    pub const THROTTLED: u8 = 0x49;
    /// Client: something went wrong on the client's side.
    pub const CLIENT_ERROR: u8 = 0x81;

    /// A few words for `reason`, for messages.
    pub fn describe(reason: u8) -> &'static str {
        match reason {
            VOLUNTARY => "closed",
            NETWORK => "the connection broke",
            INVALID => "the relay found the request invalid",
            UNREACHABLE => "the destination is unreachable (or its name did not resolve)",
            CONNECT_TIMEOUT => "connecting timed out",
            REFUSED => "the destination refused the connection",
            TCP_TIMEOUT => "the connection timed out",
            BLOCKED => "the relay does not allow this destination",
            THROTTLED => "the relay throttled the stream",
            CLIENT_ERROR => "the client failed",
            _ => "no reason given",
        }
    }
}

/// One Wisp packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    Connect {
        stream: u32,
        kind: u8,
        port: u16,
        host: String,
    },
    Data {
        stream: u32,
        bytes: Vec<u8>,
    },
    Continue {
        stream: u32,
        remaining: u32,
    },
    Close {
        stream: u32,
        reason: u8,
    },
}

/// A message that is not a Wisp packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than its type needs (`needed` bytes).
    Short {
        kind: u8,
        needed: usize,
        got: usize,
    },
    UnknownType(u8),
    /// CONNECT's host name is not UTF-8.
    HostNotText,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Short { kind, needed, got } => write!(
                f,
                "a Wisp packet of type {kind:#04x} needs {needed} bytes, this one has {got}"
            ),
            DecodeError::UnknownType(kind) => write!(f, "unknown Wisp packet type {kind:#04x}"),
            DecodeError::HostNotText => write!(f, "a Wisp CONNECT whose host name is not UTF-8"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The type byte and stream id.
const HEADER: usize = 5;

impl Packet {
    pub fn stream(&self) -> u32 {
        match self {
            Packet::Connect { stream, .. }
            | Packet::Data { stream, .. }
            | Packet::Continue { stream, .. }
            | Packet::Close { stream, .. } => *stream,
        }
    }

    /// The packet as one WebSocket message.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, payload_len) = match self {
            Packet::Connect { host, .. } => (CONNECT, 3 + host.len()),
            Packet::Data { bytes, .. } => (DATA, bytes.len()),
            Packet::Continue { .. } => (CONTINUE, 4),
            Packet::Close { .. } => (CLOSE, 1),
        };
        let mut out = Vec::with_capacity(HEADER + payload_len);
        out.push(kind);
        out.extend_from_slice(&self.stream().to_le_bytes());
        match self {
            Packet::Connect {
                kind, port, host, ..
            } => {
                out.push(*kind);
                out.extend_from_slice(&port.to_le_bytes());
                out.extend_from_slice(host.as_bytes());
            }
            Packet::Data { bytes, .. } => out.extend_from_slice(bytes),
            Packet::Continue { remaining, .. } => out.extend_from_slice(&remaining.to_le_bytes()),
            Packet::Close { reason, .. } => out.push(*reason),
        }
        out
    }

    /// Reads one WebSocket message. Bytes after a fixed-size payload are ignored, as the
    /// protocol lets later versions add fields.
    pub fn decode(message: &[u8]) -> Result<Packet, DecodeError> {
        let Some(&kind) = message.first() else {
            return Err(DecodeError::Short {
                kind: 0,
                needed: HEADER,
                got: 0,
            });
        };
        let needed = HEADER
            + match kind {
                CONNECT => 3,
                DATA => 0,
                CONTINUE => 4,
                CLOSE => 1,
                other => return Err(DecodeError::UnknownType(other)),
            };
        if message.len() < needed {
            return Err(DecodeError::Short {
                kind,
                needed,
                got: message.len(),
            });
        }
        let stream = u32::from_le_bytes([message[1], message[2], message[3], message[4]]);
        let payload = &message[HEADER..];
        Ok(match kind {
            CONNECT => Packet::Connect {
                stream,
                kind: payload[0],
                port: u16::from_le_bytes([payload[1], payload[2]]),
                host: String::from_utf8(payload[3..].to_vec())
                    .map_err(|_| DecodeError::HostNotText)?,
            },
            DATA => Packet::Data {
                stream,
                bytes: payload.to_vec(),
            },
            CONTINUE => Packet::Continue {
                stream,
                remaining: u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]),
            },
            _ => Packet::Close {
                stream,
                reason: payload[0],
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_have_the_wire_layout_of_the_protocol() {
        let connect = Packet::Connect {
            stream: 0x0102_0304,
            kind: TCP,
            port: 443,
            host: "example.org".into(),
        };
        let mut expected = vec![0x01, 0x04, 0x03, 0x02, 0x01, 0x01, 0xbb, 0x01];
        expected.extend_from_slice(b"example.org");
        assert_eq!(connect.encode(), expected);
        assert_eq!(
            Packet::Continue {
                stream: 0,
                remaining: 128
            }
            .encode(),
            [0x03, 0, 0, 0, 0, 128, 0, 0, 0]
        );
        assert_eq!(
            Packet::Close {
                stream: 7,
                reason: reason::REFUSED
            }
            .encode(),
            [0x04, 7, 0, 0, 0, 0x44]
        );
        assert_eq!(
            Packet::Data {
                stream: 1,
                bytes: b"hi".to_vec()
            }
            .encode(),
            [0x02, 1, 0, 0, 0, b'h', b'i']
        );
    }

    #[test]
    fn every_packet_decodes_to_itself() {
        for packet in [
            Packet::Connect {
                stream: 9,
                kind: UDP,
                port: 53,
                host: "ns.example".into(),
            },
            Packet::Data {
                stream: u32::MAX,
                bytes: vec![],
            },
            Packet::Data {
                stream: 3,
                bytes: vec![0; 70_000],
            },
            Packet::Continue {
                stream: 3,
                remaining: 64,
            },
            Packet::Close {
                stream: 3,
                reason: reason::VOLUNTARY,
            },
        ] {
            assert_eq!(Packet::decode(&packet.encode()), Ok(packet));
        }
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        assert!(matches!(
            Packet::decode(&[]),
            Err(DecodeError::Short { .. })
        ));
        assert_eq!(
            Packet::decode(&[0x09, 0, 0, 0, 0]),
            Err(DecodeError::UnknownType(0x09))
        );
        for short in [
            &[0x01, 0, 0, 0, 0, 1, 80][..],
            &[0x03, 1, 0, 0, 0, 1],
            &[0x04, 1, 0],
        ] {
            assert!(
                matches!(Packet::decode(short), Err(DecodeError::Short { .. })),
                "{short:?}"
            );
        }
        assert_eq!(
            Packet::decode(&[0x01, 1, 0, 0, 0, 1, 80, 0, 0xff, 0xfe]),
            Err(DecodeError::HostNotText)
        );
        // Later versions may add fields: extra bytes after CONTINUE's are ignored.
        assert_eq!(
            Packet::decode(&[0x03, 0, 0, 0, 0, 10, 0, 0, 0, 0xaa]),
            Ok(Packet::Continue {
                stream: 0,
                remaining: 10
            })
        );
    }
}
