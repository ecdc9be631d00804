//! The files protocol on the wire: frames, their encoding, and a decoder that finds them in
//! the byte stream from the guest. The guest's side is `build/guest/files.c`.
//!
//! The frames, their payloads and the resynchronisation are specified once, in
//! `docs/files-protocol.md` ("Frames"); this file is that table in code.

pub const MAGIC: [u8; 2] = *b"AG";
pub const HEADER_LEN: usize = 8;
/// The largest payload either side accepts.
pub const MAX_PAYLOAD: usize = 1 << 20;
/// File data per `D` frame the page sends.
pub const CHUNK: usize = 64 * 1024;
/// Bytes of a name (a file name, not a path).
pub const MAX_NAME: usize = 255;
/// 2: the `A`, `O` and `Z` frames (the page runs the guest's `apk`).
pub const VERSION: u32 = 2;
/// Bytes of the arguments of one `A` frame (the guest takes control frames of 4 KiB).
pub const MAX_ARGS: usize = 4092;

/// One frame, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Hello {
        nonce: u64,
        version: u32,
    },
    Sync {
        nonce: u64,
    },
    Put {
        id: u32,
        size: u64,
        name: String,
    },
    Data {
        id: u32,
        bytes: Vec<u8>,
    },
    Cancel {
        id: u32,
    },
    Stored {
        id: u32,
        path: String,
    },
    Refused {
        id: u32,
        message: String,
    },
    Begin {
        id: u32,
        size: u64,
        name: String,
    },
    Finish {
        id: u32,
    },
    Abort {
        id: u32,
        message: String,
    },
    Ack {
        id: u32,
        ok: bool,
        message: String,
    },
    /// Run the guest's `apk` with these arguments (the Packages panel).
    Apk {
        id: u32,
        args: Vec<String>,
    },
    /// What run `id` wrote (its standard output and error, in order).
    Output {
        id: u32,
        bytes: Vec<u8>,
    },
    /// Run `id` ended: its exit status, 128 + N for signal N, 127 when apk did not start.
    Exited {
        id: u32,
        status: i32,
    },
}

fn header(kind: u8, len: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN + len);
    h.extend_from_slice(&MAGIC);
    h.push(kind);
    h.push(0);
    h.extend_from_slice(&(len as u32).to_le_bytes());
    h
}

/// A `D` frame for `bytes` of transfer `id`, without building a [`Frame`] first.
pub fn data_frame(id: u32, bytes: &[u8]) -> Vec<u8> {
    let mut f = header(b'D', 4 + bytes.len());
    f.extend_from_slice(&id.to_le_bytes());
    f.extend_from_slice(bytes);
    f
}

impl Frame {
    /// The type byte of the frame's header.
    pub(super) fn kind(&self) -> u8 {
        match self {
            Frame::Hello { .. } => b'H',
            Frame::Sync { .. } => b'Y',
            Frame::Put { .. } => b'P',
            Frame::Data { .. } => b'D',
            Frame::Cancel { .. } => b'C',
            Frame::Stored { .. } => b'S',
            Frame::Refused { .. } => b'R',
            Frame::Begin { .. } => b'B',
            Frame::Finish { .. } => b'F',
            Frame::Abort { .. } => b'X',
            Frame::Ack { .. } => b'K',
            Frame::Apk { .. } => b'A',
            Frame::Output { .. } => b'O',
            Frame::Exited { .. } => b'Z',
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut p = Vec::new();
        match self {
            Frame::Hello { nonce, version } => {
                p.extend_from_slice(&nonce.to_le_bytes());
                p.extend_from_slice(&version.to_le_bytes());
            }
            Frame::Sync { nonce } => p.extend_from_slice(&nonce.to_le_bytes()),
            Frame::Put { id, size, name } | Frame::Begin { id, size, name } => {
                p.extend_from_slice(&id.to_le_bytes());
                p.extend_from_slice(&size.to_le_bytes());
                p.extend_from_slice(name.as_bytes());
            }
            Frame::Data { id, bytes } => return data_frame(*id, bytes),
            Frame::Cancel { id } | Frame::Finish { id } => p.extend_from_slice(&id.to_le_bytes()),
            Frame::Stored { id, path: text }
            | Frame::Refused { id, message: text }
            | Frame::Abort { id, message: text } => {
                p.extend_from_slice(&id.to_le_bytes());
                p.extend_from_slice(text.as_bytes());
            }
            Frame::Ack { id, ok, message } => {
                p.extend_from_slice(&id.to_le_bytes());
                p.push(u8::from(!ok));
                p.extend_from_slice(message.as_bytes());
            }
            Frame::Apk { id, args } => {
                p.extend_from_slice(&id.to_le_bytes());
                for arg in args {
                    p.extend_from_slice(arg.as_bytes());
                    p.push(0);
                }
            }
            Frame::Output { id, bytes } => {
                p.extend_from_slice(&id.to_le_bytes());
                p.extend_from_slice(bytes);
            }
            Frame::Exited { id, status } => {
                p.extend_from_slice(&id.to_le_bytes());
                p.extend_from_slice(&status.to_le_bytes());
            }
        }
        let mut f = header(self.kind(), p.len());
        f.extend_from_slice(&p);
        f
    }

    /// The frame of type `kind` with payload `p`.
    pub fn decode(kind: u8, p: &[u8]) -> Result<Frame, String> {
        let short = || {
            format!(
                "a '{}' frame of {} bytes is too short",
                kind as char,
                p.len()
            )
        };
        let u32_at = |at: usize| -> Result<u32, String> {
            let b = p.get(at..at + 4).ok_or_else(short)?;
            Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let u64_at = |at: usize| -> Result<u64, String> {
            let b = p.get(at..at + 8).ok_or_else(short)?;
            let mut a = [0; 8];
            a.copy_from_slice(b);
            Ok(u64::from_le_bytes(a))
        };
        let text =
            |at: usize| String::from_utf8_lossy(p.get(at..).unwrap_or_default()).into_owned();
        let name = |at: usize| -> Result<String, String> {
            let n = p.get(at..).unwrap_or_default();
            if n.is_empty() || n.len() > MAX_NAME {
                return Err(format!("a file name of {} bytes", n.len()));
            }
            Ok(text(at))
        };
        Ok(match kind {
            b'H' => Frame::Hello {
                nonce: u64_at(0)?,
                version: u32_at(8)?,
            },
            b'Y' => Frame::Sync { nonce: u64_at(0)? },
            b'P' => Frame::Put {
                id: u32_at(0)?,
                size: u64_at(4)?,
                name: name(12)?,
            },
            b'D' => Frame::Data {
                id: u32_at(0)?,
                bytes: p[4..].to_vec(),
            },
            b'C' => Frame::Cancel { id: u32_at(0)? },
            b'S' => Frame::Stored {
                id: u32_at(0)?,
                path: text(4),
            },
            b'R' => Frame::Refused {
                id: u32_at(0)?,
                message: text(4),
            },
            b'B' => Frame::Begin {
                id: u32_at(0)?,
                size: u64_at(4)?,
                name: name(12)?,
            },
            b'F' => Frame::Finish { id: u32_at(0)? },
            b'X' => Frame::Abort {
                id: u32_at(0)?,
                message: text(4),
            },
            b'K' => Frame::Ack {
                id: u32_at(0)?,
                ok: *p.get(4).ok_or_else(short)? == 0,
                message: text(5),
            },
            b'A' => {
                let args = p.get(4..).ok_or_else(short)?;
                if args.len() > MAX_ARGS || (!args.is_empty() && args.last() != Some(&0)) {
                    return Err(format!("apk arguments of {} bytes", args.len()));
                }
                Frame::Apk {
                    id: u32_at(0)?,
                    args: args
                        .split(|&b| b == 0)
                        .take(args.iter().filter(|&&b| b == 0).count())
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect(),
                }
            }
            b'O' => Frame::Output {
                id: u32_at(0)?,
                bytes: p[4..].to_vec(),
            },
            b'Z' => Frame::Exited {
                id: u32_at(0)?,
                status: u32_at(4)? as i32,
            },
            other => return Err(format!("an unknown frame type {other:#04x}")),
        })
    }
}

/// Splits a byte stream into frames. After a malformed frame it skips bytes until the next
/// `hello` header: nothing but a restarted helper can put the stream right again.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    lost: bool,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Waiting for the next hello (after garbage).
    pub fn lost(&self) -> bool {
        self.lost
    }

    /// Every complete frame in `bytes` (and what came before); an error for each place
    /// the stream went wrong.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<Frame, String>> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            if self.lost {
                const HELLO: [u8; 8] = [b'A', b'G', b'H', 0, 12, 0, 0, 0];
                match self.buf[at..].windows(HELLO.len()).position(|w| w == HELLO) {
                    Some(i) => {
                        at += i;
                        self.lost = false;
                    }
                    None => {
                        // Keep a tail that may be the start of a hello.
                        at = self.buf.len().saturating_sub(HELLO.len() - 1).max(at);
                        break;
                    }
                }
            }
            let rest = &self.buf[at..];
            if rest.len() < HEADER_LEN {
                break;
            }
            let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
            if rest[..2] != MAGIC || rest[3] != 0 || len > MAX_PAYLOAD {
                out.push(Err(format!(
                    "{} bytes from the guest that are not a frame",
                    rest.len().min(16)
                )));
                self.lost = true;
                at += 1;
                continue;
            }
            if rest.len() < HEADER_LEN + len {
                break;
            }
            let frame = Frame::decode(rest[2], &rest[HEADER_LEN..HEADER_LEN + len]);
            if frame.is_err() {
                self.lost = true;
            }
            out.push(frame);
            at += HEADER_LEN + len;
        }
        self.buf.drain(..at);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_frames() -> Vec<Frame> {
        vec![
            Frame::Hello {
                nonce: 0x0102_0304_0506_0708,
                version: VERSION,
            },
            Frame::Sync { nonce: u64::MAX },
            Frame::Apk {
                id: 3,
                args: vec!["add".into(), "tree".into(), String::new()],
            },
            Frame::Apk {
                id: 4,
                args: vec![],
            },
            Frame::Output {
                id: 3,
                bytes: b"(1/1) Installing tree\n".to_vec(),
            },
            Frame::Exited { id: 3, status: -1 },
            Frame::Put {
                id: 7,
                size: 1 << 33,
                name: "notes.txt".into(),
            },
            Frame::Data {
                id: 7,
                bytes: vec![0, 0xff, b'A', b'G', b'H', 0],
            },
            Frame::Data {
                id: 8,
                bytes: Vec::new(),
            },
            Frame::Cancel { id: 7 },
            Frame::Stored {
                id: 7,
                path: "/root/notes-1.txt".into(),
            },
            Frame::Refused {
                id: 7,
                message: "No space left on device".into(),
            },
            Frame::Begin {
                id: 3,
                size: 300_000,
                name: "r".into(),
            },
            Frame::Finish { id: 3 },
            Frame::Abort {
                id: 3,
                message: "Input/output error".into(),
            },
            Frame::Ack {
                id: 3,
                ok: true,
                message: String::new(),
            },
            Frame::Ack {
                id: 3,
                ok: false,
                message: "no".into(),
            },
        ]
    }

    #[test]
    fn every_frame_round_trips_even_one_byte_at_a_time() {
        let frames = all_frames();
        let stream: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        let mut d = Decoder::new();
        assert_eq!(
            d.push(&stream).into_iter().collect::<Result<Vec<_>, _>>(),
            Ok(frames.clone())
        );
        let mut d = Decoder::new();
        let mut got = Vec::new();
        for b in &stream {
            got.extend(d.push(std::slice::from_ref(b)));
        }
        assert_eq!(got.into_iter().collect::<Result<Vec<_>, _>>(), Ok(frames));
    }

    #[test]
    fn the_header_is_as_documented() {
        let f = Frame::Cancel { id: 0x0403_0201 }.encode();
        assert_eq!(f, [b'A', b'G', b'C', 0, 4, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(
            data_frame(1, b"xy")[..HEADER_LEN],
            [b'A', b'G', b'D', 0, 6, 0, 0, 0]
        );
    }

    #[test]
    fn bad_frames_are_errors_and_the_decoder_waits_for_the_next_hello() {
        let mut d = Decoder::new();
        // What a tty echoes before the helper sets it raw, then a good hello.
        let hello = Frame::Hello {
            nonce: 9,
            version: VERSION,
        };
        let mut stream = b"garbage\r\n".to_vec();
        stream.extend(Frame::Finish { id: 1 }.encode()); // skipped: lost until hello
        stream.extend(hello.encode());
        let out = d.push(&stream);
        assert!(out[0].is_err());
        assert_eq!(out.last(), Some(&Ok(hello.clone())));
        assert_eq!(out.len(), 2);
        assert!(!d.lost());

        // Unknown type, short payloads, empty or long names, an absurd length.
        let mut bad = header(b'Q', 0);
        assert!(d.push(&bad).remove(0).unwrap_err().contains("unknown"));
        d.push(&hello.encode());
        bad = header(b'B', 12);
        bad.extend([0; 12]);
        assert!(d.push(&bad).remove(0).unwrap_err().contains("file name"));
        d.push(&hello.encode());
        bad = header(b'H', 3);
        bad.extend([0; 3]);
        assert!(d.push(&bad).remove(0).unwrap_err().contains("too short"));
        d.push(&hello.encode());
        bad = header(b'D', MAX_PAYLOAD + 1);
        assert!(d.push(&bad)[0].is_err());
        assert!(d.lost());
        // A hello split across two pushes still resynchronises.
        let h = hello.encode();
        assert!(d.push(&h[..5]).is_empty());
        assert_eq!(d.push(&h[5..]), vec![Ok(hello)]);
    }
}
