//! The page's side of a files session with the guest's helper: queued uploads, downloads
//! coming in, the hello/sync handshake ([`super::wire`] has the frames). It does no I/O:
//! the page (`app/src/files.rs`) feeds it the guest's bytes and sends what it returns.

use super::wire::{data_frame, Decoder, Frame, CHUNK, MAX_NAME, VERSION};
use std::collections::{BTreeMap, VecDeque};

/// An upload the page has queued.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Upload {
    id: u32,
    name: String,
    size: u64,
    /// The `P` frame went out.
    started: bool,
    /// File bytes sent so far.
    sent: u64,
}

#[derive(Debug)]
struct Incoming {
    name: String,
    size: u64,
    bytes: Vec<u8>,
}

/// What the page should tell the person (and the embedding page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The guest's helper is there (again): queued uploads go now.
    Ready,
    /// Upload `id` is in the guest at `path`.
    Stored {
        id: u32,
        name: String,
        path: String,
        size: u64,
    },
    UploadFailed {
        id: u32,
        name: String,
        message: String,
    },
    DownloadStarted {
        id: u32,
        name: String,
        size: u64,
    },
    DownloadProgress {
        id: u32,
        received: u64,
        size: u64,
    },
    /// A complete download: hand it to the browser.
    Downloaded {
        id: u32,
        name: String,
        bytes: Vec<u8>,
    },
    DownloadFailed {
        id: u32,
        name: String,
        message: String,
    },
    /// What apk run `id` wrote.
    ApkOutput {
        id: u32,
        text: String,
    },
    /// Apk run `id` ended: its exit status, or why it did not run to the end.
    ApkDone {
        id: u32,
        status: Result<i32, String>,
    },
    /// The stream from the guest went wrong (for the developer console).
    Garbled(String),
}

/// An apk run the page asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    id: u32,
    args: Vec<String>,
    /// The `A` frame went out; the run ends with the guest's `Z`.
    started: bool,
}

/// What the page does next for the upload at the head of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes (the `P` frame).
    Send(Vec<u8>),
    /// Read `len` bytes of upload `id`'s file from `offset` and give them to
    /// [`Session::data`].
    Read { id: u32, offset: u64, len: usize },
}

/// The page's side of the protocol: queued uploads, downloads coming in, the hello/sync
/// handshake. It does no I/O: the page feeds it the guest's bytes and sends what it returns.
#[derive(Debug, Default)]
pub struct Session {
    decoder: Decoder,
    ready: bool,
    next_id: u32,
    uploads: VecDeque<Upload>,
    /// Uploads fully sent, waiting for the guest's `S` or `R`.
    sent: BTreeMap<u32, Upload>,
    downloads: BTreeMap<u32, Incoming>,
    /// Apk runs, one at a time in the guest, in order.
    runs: VecDeque<Run>,
}

impl Session {
    pub fn new() -> Session {
        Session {
            next_id: 1,
            ..Session::default()
        }
    }

    /// The guest's helper has said hello.
    pub fn ready(&self) -> bool {
        self.ready
    }

    /// Uploads not finished yet (queued, being sent, or waiting for the guest).
    pub fn pending_uploads(&self) -> usize {
        self.uploads.len() + self.sent.len()
    }

    /// The upload being sent: its id, the bytes sent so far and its size.
    pub fn current(&self) -> Option<(u32, u64, u64)> {
        let u = self.uploads.front().filter(|u| u.started)?;
        Some((u.id, u.sent, u.size))
    }

    /// Queues an upload of `size` bytes named `name` (a file name: the guest keeps only what
    /// follows the last `/`). Returns its id.
    pub fn upload(&mut self, name: &str, size: u64) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        // The guest takes at most MAX_NAME bytes; cut on a character boundary.
        let mut end = name.len().min(MAX_NAME);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        self.uploads.push_back(Upload {
            id,
            name: name[..end].to_string(),
            size,
            started: false,
            sent: 0,
        });
        id
    }

    /// Queues a run of the guest's `apk` with `args`. Returns its id; its output and end
    /// come as [`Notice::ApkOutput`] and [`Notice::ApkDone`].
    pub fn apk(&mut self, args: Vec<String>) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.runs.push_back(Run {
            id,
            args,
            started: false,
        });
        id
    }

    /// The frame that starts the next apk run, when the helper is there and no run is under
    /// way in the guest.
    pub fn next_run(&mut self) -> Option<Vec<u8>> {
        if !self.ready {
            return None;
        }
        let run = self.runs.front_mut().filter(|r| !r.started)?;
        run.started = true;
        Some(
            Frame::Apk {
                id: run.id,
                args: run.args.clone(),
            }
            .encode(),
        )
    }

    /// What to do next for the first queued upload; `None` while the helper is not there or
    /// nothing is queued.
    pub fn next_step(&mut self) -> Option<Step> {
        if !self.ready {
            return None;
        }
        let u = self.uploads.front_mut()?;
        if !u.started {
            u.started = true;
            let put = Frame::Put {
                id: u.id,
                size: u.size,
                name: u.name.clone(),
            }
            .encode();
            if u.size == 0 {
                // Nothing follows the header.
                if let Some(done) = self.uploads.pop_front() {
                    self.sent.insert(done.id, done);
                }
            }
            return Some(Step::Send(put));
        }
        Some(Step::Read {
            id: u.id,
            offset: u.sent,
            len: (u.size - u.sent).min(CHUNK as u64) as usize,
        })
    }

    /// Bytes read for upload `id`: the frame to send (empty if the upload is no longer the
    /// one being sent, e.g. the helper restarted meanwhile).
    pub fn data(&mut self, id: u32, bytes: &[u8]) -> Vec<u8> {
        let Some(u) = self.uploads.front_mut().filter(|u| u.id == id && u.started) else {
            return Vec::new();
        };
        let n = (bytes.len() as u64).min(u.size - u.sent) as usize;
        u.sent += n as u64;
        let frame = data_frame(id, &bytes[..n]);
        if u.sent == u.size {
            if let Some(done) = self.uploads.pop_front() {
                self.sent.insert(done.id, done);
            }
        }
        frame
    }

    /// The page could not read upload `id`'s file: drop it. Returns what to send (a cancel
    /// if the guest has heard of it) and the notice.
    pub fn cancel(&mut self, id: u32, why: &str) -> (Vec<u8>, Option<Notice>) {
        let Some(i) = self.uploads.iter().position(|u| u.id == id) else {
            return (Vec::new(), None);
        };
        let Some(u) = self.uploads.remove(i) else {
            return (Vec::new(), None);
        };
        let bytes = match u.started {
            true => Frame::Cancel { id }.encode(),
            false => Vec::new(),
        };
        let notice = Notice::UploadFailed {
            id,
            name: u.name,
            message: why.to_string(),
        };
        (bytes, Some(notice))
    }

    /// Bytes from the guest. Returns what to tell the person and what to send back.
    pub fn receive(&mut self, bytes: &[u8]) -> (Vec<Notice>, Vec<u8>) {
        let mut notices = Vec::new();
        let mut reply = Vec::new();
        for frame in self.decoder.push(bytes) {
            match frame {
                Ok(f) => self.frame(f, &mut notices, &mut reply),
                Err(e) => notices.push(Notice::Garbled(e)),
            }
        }
        (notices, reply)
    }

    fn frame(&mut self, f: Frame, notices: &mut Vec<Notice>, reply: &mut Vec<u8>) {
        match f {
            Frame::Hello { version, .. } if version != VERSION => {
                notices.push(Notice::Garbled(format!(
                    "the guest's file helper speaks version {version}, the page {VERSION}"
                )));
                self.ready = false;
            }
            Frame::Hello { nonce, .. } => {
                // A new helper knows nothing of what the old one was doing.
                let restarted = "the guest's file helper restarted";
                for u in std::mem::take(&mut self.sent).into_values() {
                    notices.push(Notice::UploadFailed {
                        id: u.id,
                        name: u.name,
                        message: restarted.into(),
                    });
                }
                if self.uploads.front().is_some_and(|u| u.started) {
                    if let Some(u) = self.uploads.pop_front() {
                        notices.push(Notice::UploadFailed {
                            id: u.id,
                            name: u.name,
                            message: restarted.into(),
                        });
                    }
                }
                if self.runs.front().is_some_and(|r| r.started) {
                    if let Some(r) = self.runs.pop_front() {
                        notices.push(Notice::ApkDone {
                            id: r.id,
                            status: Err(restarted.into()),
                        });
                    }
                }
                for (id, d) in std::mem::take(&mut self.downloads) {
                    notices.push(Notice::DownloadFailed {
                        id,
                        name: d.name,
                        message: restarted.into(),
                    });
                }
                self.ready = true;
                // The helper's own nonce back: it skips everything before this frame.
                reply.extend(Frame::Sync { nonce }.encode());
                notices.push(Notice::Ready);
            }
            Frame::Stored { id, path } => match self.sent.remove(&id) {
                Some(u) => notices.push(Notice::Stored {
                    id,
                    name: u.name,
                    path,
                    size: u.size,
                }),
                None => notices.push(Notice::Garbled(format!("stored: no upload {id}"))),
            },
            Frame::Refused { id, message } => {
                let name = match self.sent.remove(&id) {
                    Some(u) => Some(u.name),
                    None => {
                        let i = self.uploads.iter().position(|u| u.id == id);
                        i.and_then(|i| self.uploads.remove(i)).map(|u| u.name)
                    }
                };
                match name {
                    Some(name) => notices.push(Notice::UploadFailed { id, name, message }),
                    None => notices.push(Notice::Garbled(format!("refused: no upload {id}"))),
                }
            }
            Frame::Begin { id, size, name } => {
                notices.push(Notice::DownloadStarted {
                    id,
                    name: name.clone(),
                    size,
                });
                let capacity = size.min(64 << 20) as usize;
                self.downloads.insert(
                    id,
                    Incoming {
                        name,
                        size,
                        bytes: Vec::with_capacity(capacity),
                    },
                );
            }
            Frame::Data { id, bytes } => match self.downloads.get_mut(&id) {
                Some(d) => {
                    d.bytes.extend_from_slice(&bytes);
                    notices.push(Notice::DownloadProgress {
                        id,
                        received: d.bytes.len() as u64,
                        size: d.size,
                    });
                }
                None => notices.push(Notice::Garbled(format!("data for no download {id}"))),
            },
            Frame::Finish { id } => {
                let Some(d) = self.downloads.remove(&id) else {
                    notices.push(Notice::Garbled(format!("finish: no download {id}")));
                    return;
                };
                let got = d.bytes.len() as u64;
                if got == d.size {
                    reply.extend(
                        Frame::Ack {
                            id,
                            ok: true,
                            message: String::new(),
                        }
                        .encode(),
                    );
                    notices.push(Notice::Downloaded {
                        id,
                        name: d.name,
                        bytes: d.bytes,
                    });
                } else {
                    let message = format!("the page got {got} of {} bytes", d.size);
                    reply.extend(
                        Frame::Ack {
                            id,
                            ok: false,
                            message: message.clone(),
                        }
                        .encode(),
                    );
                    notices.push(Notice::DownloadFailed {
                        id,
                        name: d.name,
                        message,
                    });
                }
            }
            Frame::Abort { id, message } => {
                if let Some(d) = self.downloads.remove(&id) {
                    notices.push(Notice::DownloadFailed {
                        id,
                        name: d.name,
                        message,
                    });
                }
            }
            Frame::Output { id, bytes } => match self.runs.front() {
                Some(r) if r.id == id && r.started => notices.push(Notice::ApkOutput {
                    id,
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                }),
                _ => notices.push(Notice::Garbled(format!("output of no run {id}"))),
            },
            Frame::Exited { id, status } => match self.runs.front() {
                Some(r) if r.id == id && r.started => {
                    self.runs.pop_front();
                    notices.push(Notice::ApkDone {
                        id,
                        status: Ok(status),
                    });
                }
                _ => notices.push(Notice::Garbled(format!("end of no run {id}"))),
            },
            // Frames only the page sends.
            Frame::Sync { .. }
            | Frame::Put { .. }
            | Frame::Cancel { .. }
            | Frame::Ack { .. }
            | Frame::Apk { .. } => notices.push(Notice::Garbled(format!(
                "a '{}' frame from the guest",
                f.kind() as char
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::wire::HEADER_LEN;

    fn hello() -> Vec<u8> {
        Frame::Hello {
            nonce: 0xabcd,
            version: VERSION,
        }
        .encode()
    }

    /// Runs the uploads of `files` to the end, as the page does; returns the bytes sent.
    fn pump(s: &mut Session, files: &BTreeMap<u32, Vec<u8>>) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(step) = s.next_step() {
            match step {
                Step::Send(b) => out.extend(b),
                Step::Read { id, offset, len } => {
                    let f = &files[&id];
                    let o = offset as usize;
                    out.extend(s.data(id, &f[o..o + len]));
                }
            }
        }
        out
    }

    #[test]
    fn uploads_wait_for_the_helper_then_go_in_chunks_and_are_confirmed() {
        let mut s = Session::new();
        let big: Vec<u8> = (0..CHUNK * 2 + 5).map(|i| (i * 7) as u8).collect();
        let a = s.upload("a.bin", big.len() as u64);
        let b = s.upload("empty", 0);
        assert_eq!(s.next_step(), None, "no helper yet");

        let (notices, reply) = s.receive(&hello());
        assert_eq!(notices, vec![Notice::Ready]);
        assert_eq!(reply, Frame::Sync { nonce: 0xabcd }.encode());

        let files = BTreeMap::from([(a, big.clone()), (b, Vec::new())]);
        let sent = pump(&mut s, &files);
        let frames: Vec<Frame> = Decoder::new()
            .push(&sent)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            frames[0],
            Frame::Put {
                id: a,
                size: big.len() as u64,
                name: "a.bin".into()
            }
        );
        let data: Vec<u8> = frames[1..4]
            .iter()
            .flat_map(|f| match f {
                Frame::Data { id, bytes } if *id == a => bytes.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(data, big);
        assert_eq!(
            frames[4..],
            [Frame::Put {
                id: b,
                size: 0,
                name: "empty".into()
            }]
        );
        assert_eq!(s.pending_uploads(), 2);

        let mut back = Frame::Stored {
            id: a,
            path: "/root/a.bin".into(),
        }
        .encode();
        back.extend(
            Frame::Refused {
                id: b,
                message: "empty names".into(),
            }
            .encode(),
        );
        let (notices, _) = s.receive(&back);
        assert_eq!(
            notices,
            vec![
                Notice::Stored {
                    id: a,
                    name: "a.bin".into(),
                    path: "/root/a.bin".into(),
                    size: big.len() as u64
                },
                Notice::UploadFailed {
                    id: b,
                    name: "empty".into(),
                    message: "empty names".into()
                }
            ]
        );
        assert_eq!(s.pending_uploads(), 0);
    }

    #[test]
    fn a_restarted_helper_fails_what_was_under_way_and_the_queue_goes_on() {
        let mut s = Session::new();
        s.receive(&hello());
        let a = s.upload("a", 10);
        let b = s.upload("b", 3);
        assert!(matches!(s.next_step(), Some(Step::Send(_))));
        assert!(matches!(s.next_step(), Some(Step::Read { id, .. }) if id == a));
        s.data(a, b"0123");
        assert_eq!(s.current(), Some((a, 4, 10)));
        let mut down = Frame::Begin {
            id: 1,
            size: 4,
            name: "r".into(),
        }
        .encode();
        down.extend(data_frame(1, b"ab"));
        s.receive(&down);

        let (notices, reply) = s.receive(&hello());
        assert_eq!(reply, Frame::Sync { nonce: 0xabcd }.encode());
        assert!(notices.contains(&Notice::UploadFailed {
            id: a,
            name: "a".into(),
            message: "the guest's file helper restarted".into()
        }));
        assert!(notices
            .iter()
            .any(|n| matches!(n, Notice::DownloadFailed { id: 1, .. })));
        // Data read for the failed upload is not sent; the next upload starts afresh.
        assert!(s.data(a, b"0123456789").is_empty());
        assert_eq!(
            s.next_step(),
            Some(Step::Send(
                Frame::Put {
                    id: b,
                    size: 3,
                    name: "b".into()
                }
                .encode()
            ))
        );
    }

    #[test]
    fn downloads_are_assembled_checked_and_acknowledged() {
        let mut s = Session::new();
        s.receive(&hello());
        let payload: Vec<u8> = (0..=255).collect();
        let mut stream = Frame::Begin {
            id: 4,
            size: 256,
            name: "r".into(),
        }
        .encode();
        stream.extend(data_frame(4, &payload[..100]));
        stream.extend(data_frame(4, &payload[100..]));
        stream.extend(Frame::Finish { id: 4 }.encode());
        // Split at an awkward place: frames straddle the pieces.
        let (mut notices, mut reply) = s.receive(&stream[..50]);
        let (n2, r2) = s.receive(&stream[50..]);
        notices.extend(n2);
        reply.extend(r2);
        assert_eq!(
            notices.first(),
            Some(&Notice::DownloadStarted {
                id: 4,
                name: "r".into(),
                size: 256
            })
        );
        assert!(notices.contains(&Notice::DownloadProgress {
            id: 4,
            received: 100,
            size: 256
        }));
        assert_eq!(
            notices.last(),
            Some(&Notice::Downloaded {
                id: 4,
                name: "r".into(),
                bytes: payload
            })
        );
        assert_eq!(
            reply,
            Frame::Ack {
                id: 4,
                ok: true,
                message: String::new()
            }
            .encode()
        );

        // Short: refused, and the guest hears why.
        let mut short = Frame::Begin {
            id: 5,
            size: 3,
            name: "s".into(),
        }
        .encode();
        short.extend(data_frame(5, b"x"));
        short.extend(Frame::Finish { id: 5 }.encode());
        let (notices, reply) = s.receive(&short);
        assert!(matches!(
            notices.last(),
            Some(Notice::DownloadFailed { id: 5, .. })
        ));
        assert!(matches!(
            Frame::decode(b'K', &reply[HEADER_LEN..]),
            Ok(Frame::Ack {
                id: 5,
                ok: false,
                ..
            })
        ));
    }

    #[test]
    fn the_page_can_give_up_on_an_upload() {
        let mut s = Session::new();
        s.receive(&hello());
        let a = s.upload("a", 100);
        let b = s.upload("b", 1);
        // b has not started: nothing to tell the guest.
        assert_eq!(s.cancel(b, "unreadable").0, Vec::<u8>::new());
        assert!(matches!(s.next_step(), Some(Step::Send(_))));
        let (bytes, notice) = s.cancel(a, "the file changed");
        assert_eq!(bytes, Frame::Cancel { id: a }.encode());
        assert_eq!(
            notice,
            Some(Notice::UploadFailed {
                id: a,
                name: "a".into(),
                message: "the file changed".into()
            })
        );
        assert_eq!(s.next_step(), None);
    }

    #[test]
    fn apk_runs_go_one_at_a_time_and_a_restart_ends_the_one_under_way() {
        let mut s = Session::new();
        let a = s.apk(vec!["update".into()]);
        let b = s.apk(vec!["add".into(), "tree".into()]);
        assert_eq!(s.next_run(), None, "no helper yet");
        s.receive(&hello());
        let first = s.next_run().unwrap();
        assert_eq!(
            Decoder::new().push(&first),
            vec![Ok(Frame::Apk {
                id: a,
                args: vec!["update".into()]
            })]
        );
        assert_eq!(s.next_run(), None, "one run at a time");
        let out = Frame::Output {
            id: a,
            bytes: b"OK: 9 distinct packages available\n".to_vec(),
        };
        let (notices, _) = s.receive(&out.encode());
        assert_eq!(
            notices,
            vec![Notice::ApkOutput {
                id: a,
                text: "OK: 9 distinct packages available\n".into()
            }]
        );
        let (notices, _) = s.receive(&Frame::Exited { id: a, status: 0 }.encode());
        assert_eq!(
            notices,
            vec![Notice::ApkDone {
                id: a,
                status: Ok(0)
            }]
        );
        let (notices, _) = s.receive(&Frame::Exited { id: a, status: 0 }.encode());
        assert!(matches!(notices[..], [Notice::Garbled(_)]), "{notices:?}");

        assert!(s.next_run().is_some());
        let (notices, _) = s.receive(&hello());
        assert_eq!(
            notices[0],
            Notice::ApkDone {
                id: b,
                status: Err("the guest's file helper restarted".into())
            }
        );
        assert_eq!(s.next_run(), None, "nothing left to run");
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        let mut s = Session::new();
        s.receive(&hello());
        let name = "é".repeat(200);
        s.upload(&name, 0);
        let Some(Step::Send(put)) = s.next_step() else {
            panic!()
        };
        let Ok(Frame::Put { name: got, .. }) = Frame::decode(b'P', &put[HEADER_LEN..]) else {
            panic!()
        };
        assert!(got.len() <= MAX_NAME && name.starts_with(&got) && got.len() >= MAX_NAME - 1);
    }
}
