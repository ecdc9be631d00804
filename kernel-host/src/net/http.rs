//! One HTTP/1.1 connection from the guest, as a state machine with no I/O: the guest's TCP
//! connections to port 80 end at the gateway, and the device worker feeds each one's bytes to
//! a [`Connection`], makes the requests it parses with the page's `fetch()` and hands the
//! response back, which the connection frames as HTTP/1.1 for the guest.
//!
//! Message syntax and framing follow RFC 9112 (HTTP/1.1), with the semantics of RFC 9110;
//! heads are parsed by `httparse`. Requests are buffered whole (a browser cannot stream an
//! upload over HTTP/1.1); responses are streamed, chunked for HTTP/1.1 and delimited by
//! closing the connection for HTTP/1.0.
//!
//! Pipelined requests are parsed as they come and queued: [`Connection::next_request`] hands
//! out the next one only once the previous response has ended, so responses go out in the
//! order of the requests as RFC 9112 §9.3.2 requires. Errors in the guest's bytes (400, 413,
//! 431, 501) are answered by the connection itself, in their turn, and then it closes.

use std::collections::VecDeque;

/// The largest request body the connection buffers; a larger one is answered with 413.
pub const MAX_REQUEST_BODY: usize = 64 << 20;
/// The most bytes of a request head (and separately of a chunked body's trailer section);
/// more is answered with 431.
pub const MAX_HEAD: usize = 64 << 10;
/// How many whole requests may wait behind the current one before
/// [`Connection::wants_input`] asks the caller to stop reading.
pub const PIPELINE_DEPTH: usize = 8;

/// Header fields in one head; more is answered with 431.
const MAX_FIELDS: usize = 256;
/// A chunk-size line (with its extensions) longer than this is malformed.
const MAX_CHUNK_LINE: usize = 4096;

/// A whole request from the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// As sent: origin-form (`/path?query`), absolute-form (`http://host/path`), or for
    /// CONNECT and OPTIONS the authority-form and asterisk-form.
    pub target: String,
    /// The Host field; None only in an HTTP/1.0 request without one.
    pub host: Option<String>,
    /// The end-to-end fields in the order sent, names as sent: hop-by-hop fields
    /// (Connection and those it names, Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade,
    /// Proxy-*), and Host, Content-Length and Expect, which this hop consumed, are dropped.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// What the connection keeps of a request to frame its response.
#[derive(Debug, Clone, Copy)]
struct Meta {
    head: bool,
    http10: bool,
    /// The connection closes after this response.
    close: bool,
    /// A `100 Continue` is owed before the body is read.
    expect_continue: bool,
}

enum Item {
    Request(Request, Meta),
    /// An error in the guest's bytes, answered in its turn; the connection then closes.
    Reject(u16, String),
}

/// Where the parser is in the guest's bytes.
enum Parse {
    /// Waiting for a head; no end of head before `scanned`.
    Head { scanned: usize },
    Body {
        request: Request,
        meta: Meta,
        body: BodyIn,
    },
    /// No more requests: after an error, a `Connection: close` request, or the guest's FIN.
    Stopped,
}

#[derive(Clone, Copy)]
enum BodyIn {
    /// Bytes still to read of a Content-Length body.
    Length(usize),
    ChunkSize,
    ChunkData(usize),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// Trailer bytes read so far; they are dropped (RFC 9112 §7.1.2).
    Trailers(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// HEAD, 204 and 304: the head is the whole response.
    Empty,
    Chunked,
    /// HTTP/1.0: the body ends when the connection closes.
    UntilClose,
}

/// The request being answered.
struct Exchange {
    meta: Meta,
    /// None until the head is sent.
    framing: Option<Framing>,
}

/// One guest HTTP/1.1 connection: bytes in with [`Connection::from_guest`], requests out with
/// [`Connection::next_request`], the response in with `respond_*`, bytes for the guest out
/// with [`Connection::take_to_guest`].
pub struct Connection {
    /// Guest bytes not parsed yet.
    inbox: Vec<u8>,
    parse: Parse,
    queue: VecDeque<Item>,
    current: Option<Exchange>,
    out: Vec<u8>,
    closing: bool,
}

impl Default for Connection {
    fn default() -> Connection {
        Connection::new()
    }
}

impl Connection {
    pub fn new() -> Connection {
        Connection {
            inbox: Vec::new(),
            parse: Parse::Head { scanned: 0 },
            queue: VecDeque::new(),
            current: None,
            out: Vec::new(),
            closing: false,
        }
    }

    /// Bytes the guest sent, split anywhere. Ignored once no more requests are parsed.
    pub fn from_guest(&mut self, bytes: &[u8]) {
        if matches!(self.parse, Parse::Stopped) {
            return;
        }
        self.inbox.extend_from_slice(bytes);
        loop {
            let (next, more) = match std::mem::replace(&mut self.parse, Parse::Stopped) {
                Parse::Head { scanned } => self.parse_head(scanned),
                Parse::Body {
                    request,
                    meta,
                    body,
                } => self.parse_body(request, meta, body),
                Parse::Stopped => (Parse::Stopped, false),
            };
            self.parse = next;
            if !more {
                break;
            }
        }
        self.advance();
    }

    /// The guest sent its FIN: requests already whole are still answered, no new ones parse.
    pub fn guest_closed(&mut self) {
        self.stop_parsing();
        self.advance();
    }

    /// Whether the caller should read more from the guest's socket: false once no more
    /// requests are parsed, or when [`PIPELINE_DEPTH`] requests wait (TCP then pushes back).
    /// Advisory: bytes given anyway are kept.
    pub fn wants_input(&self) -> bool {
        !self.closing && !matches!(self.parse, Parse::Stopped) && self.queue.len() < PIPELINE_DEPTH
    }

    /// The next whole request, once the previous response has ended; None meanwhile.
    pub fn next_request(&mut self) -> Option<Request> {
        if self.closing || self.current.is_some() {
            return None;
        }
        if !matches!(self.queue.front(), Some(Item::Request(..))) {
            return None;
        }
        let Some(Item::Request(request, meta)) = self.queue.pop_front() else {
            return None;
        };
        self.current = Some(Exchange {
            meta,
            framing: None,
        });
        Some(request)
    }

    /// The head of the current request's response. `reason` is fetch's `statusText`; when it
    /// is empty (HTTP/2 has none) or unusable, the standard phrase is sent. Hop-by-hop fields,
    /// Content-Length and Content-Encoding are dropped: fetch has decoded the body, so the
    /// original length and coding no longer describe it. A status outside 200..=999 (fetch
    /// never gives an interim one) is answered as 502. Ignored without a current request or
    /// once a head was sent.
    pub fn respond_head(&mut self, status: u16, reason: &str, headers: &[(String, Vec<u8>)]) {
        let Some(exchange) = self.current.as_mut() else {
            return;
        };
        if exchange.framing.is_some() {
            return;
        }
        if !(200..=999).contains(&status) {
            let why = format!("the response had status {status}, which is not final");
            return self.respond_error(502, &why);
        }
        let meta = exchange.meta;
        let framing = if meta.head || status == 204 || status == 304 {
            Framing::Empty
        } else if meta.http10 {
            Framing::UntilClose
        } else {
            Framing::Chunked
        };
        exchange.framing = Some(framing);

        let usable = !reason.is_empty() && !reason.chars().any(|c| c.is_control() && c != '\t');
        let reason = if usable {
            reason
        } else {
            standard_reason(status)
        };
        let out = &mut self.out;
        out.extend_from_slice(format!("HTTP/1.1 {status} {reason}\r\n").as_bytes());
        for (name, value) in headers {
            let lower = name.to_ascii_lowercase();
            if hop_by_hop(&lower)
                || lower == "content-length"
                || lower == "content-encoding"
                || !is_token(name)
                || value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
            {
                continue;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if framing == Framing::Chunked {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
        if meta.close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Bytes of the current response's body, any number of times after
    /// [`Connection::respond_head`]; dropped for a response that has no body.
    pub fn respond_body(&mut self, chunk: &[u8]) {
        let Some(Exchange {
            framing: Some(framing),
            ..
        }) = self.current
        else {
            return;
        };
        match framing {
            Framing::Empty => {}
            // An empty chunk would be the last one.
            Framing::Chunked if chunk.is_empty() => {}
            Framing::Chunked => {
                self.out
                    .extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                self.out.extend_from_slice(chunk);
                self.out.extend_from_slice(b"\r\n");
            }
            Framing::UntilClose => self.out.extend_from_slice(chunk),
        }
    }

    /// The current response is whole; the next request may be taken.
    pub fn respond_end(&mut self) {
        let Some(exchange) = self.current.take() else {
            return;
        };
        match exchange.framing {
            None => {
                self.current = Some(exchange);
                return self.respond_error(502, "the response ended before its head");
            }
            Some(Framing::Chunked) => self.out.extend_from_slice(b"0\r\n\r\n"),
            Some(Framing::Empty | Framing::UntilClose) => {}
        }
        if exchange.meta.close {
            self.close();
        } else {
            self.advance();
        }
    }

    /// The current request failed (502 when fetch failed, 504, 404...): before the head, a
    /// whole `text/plain` response whose one line is `alpenglow: {why}`; after it, the
    /// response is cut short (no last chunk) and the connection closes, so the guest sees a
    /// failure rather than a short body.
    pub fn respond_error(&mut self, status: u16, why: &str) {
        let Some(exchange) = self.current.take() else {
            return;
        };
        if exchange.framing.is_some() {
            return self.close();
        }
        let meta = exchange.meta;
        self.write_error(status, why, meta.head, meta.close);
        if meta.close {
            self.close();
        } else {
            self.advance();
        }
    }

    /// Takes the bytes for the guest's socket.
    pub fn take_to_guest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// How many bytes wait for the guest: the caller stops reading a fetch body while too
    /// many do.
    pub fn to_guest_len(&self) -> usize {
        self.out.len()
    }

    /// No more responses will be written: close the socket once the bytes for the guest are
    /// written.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    fn stop_parsing(&mut self) {
        self.parse = Parse::Stopped;
        self.inbox = Vec::new();
    }

    fn close(&mut self) {
        self.closing = true;
        self.current = None;
        self.queue.clear();
        self.stop_parsing();
    }

    /// Queues an error response for the guest's bytes; nothing after them is parsed.
    fn reject(&mut self, status: u16, why: impl Into<String>) -> (Parse, bool) {
        self.queue.push_back(Item::Reject(status, why.into()));
        self.inbox = Vec::new();
        (Parse::Stopped, false)
    }

    /// Writes what is due while no response is in progress: a queued rejection, a
    /// `100 Continue` for the body being read, or the end of the connection.
    fn advance(&mut self) {
        if self.closing || self.current.is_some() {
            return;
        }
        match self.queue.front() {
            Some(Item::Request(..)) => {}
            Some(Item::Reject(..)) => {
                if let Some(Item::Reject(status, why)) = self.queue.pop_front() {
                    self.write_error(status, &why, false, true);
                }
                self.close();
            }
            None => match &mut self.parse {
                Parse::Stopped => self.close(),
                // Only now: a 100 must not land inside an earlier response (RFC 9110 §10.1.1).
                Parse::Body { meta, .. } if meta.expect_continue => {
                    meta.expect_continue = false;
                    self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                }
                _ => {}
            },
        }
    }

    fn write_error(&mut self, status: u16, why: &str, head: bool, close: bool) {
        let status = if (200..=999).contains(&status) {
            status
        } else {
            500
        };
        let line: String = why
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let body = format!("alpenglow: {line}\n");
        let out = &mut self.out;
        let reason = standard_reason(status);
        out.extend_from_slice(format!("HTTP/1.1 {status} {reason}\r\n").as_bytes());
        let bodiless = status == 204 || status == 304;
        if !bodiless {
            out.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n");
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !bodiless && !head {
            out.extend_from_slice(body.as_bytes());
        }
    }

    fn parse_head(&mut self, mut scanned: usize) -> (Parse, bool) {
        // Empty lines before a request line are ignored (RFC 9112 §2.2).
        let blank = leading_blank_lines(&self.inbox);
        if blank > 0 {
            self.inbox.drain(..blank);
            scanned = 0;
        }
        let end = match find_head_end(&self.inbox, scanned) {
            Ok(end) => end,
            Err(_) if self.inbox.len() > MAX_HEAD => {
                return self.reject(431, "the request head is too large")
            }
            Err(resume) => return (Parse::Head { scanned: resume }, false),
        };
        if end > MAX_HEAD {
            return self.reject(431, "the request head is too large");
        }
        let parsed = self.inbox.get(..end).map(parse_request_head);
        let (request, meta, body) = match parsed {
            Some(Ok(parsed)) => parsed,
            Some(Err((status, why))) => return self.reject(status, why),
            None => return self.reject(400, "bad request head"),
        };
        self.inbox.drain(..end);
        if let BodyIn::Length(0) = body {
            return self.finish(request, meta);
        }
        (
            Parse::Body {
                request,
                meta,
                body,
            },
            true,
        )
    }

    fn parse_body(&mut self, mut request: Request, meta: Meta, body: BodyIn) -> (Parse, bool) {
        let next = match body {
            BodyIn::Length(left) | BodyIn::ChunkData(left) => {
                let n = left.min(self.inbox.len());
                request.body.extend(self.inbox.drain(..n));
                match body {
                    BodyIn::Length(_) if n == left => return self.finish(request, meta),
                    BodyIn::Length(_) => BodyIn::Length(left - n),
                    _ if n == left => BodyIn::ChunkEnd,
                    _ => BodyIn::ChunkData(left - n),
                }
            }
            BodyIn::ChunkSize => {
                let Some(newline) = self.inbox.iter().position(|&b| b == b'\n') else {
                    if self.inbox.len() > MAX_CHUNK_LINE {
                        return self.reject(400, "a chunk-size line is too long");
                    }
                    return (
                        Parse::Body {
                            request,
                            meta,
                            body,
                        },
                        false,
                    );
                };
                // httparse reads an empty size as 0: that would end the body early.
                let starts_hex = self.inbox.first().is_some_and(u8::is_ascii_hexdigit);
                let line = self.inbox.get(..=newline).unwrap_or_default();
                let size = match httparse::parse_chunk_size(line) {
                    Ok(httparse::Status::Complete((used, size))) if starts_hex => {
                        self.inbox.drain(..used.min(self.inbox.len()));
                        size
                    }
                    _ => return self.reject(400, "bad chunk-size line"),
                };
                let room = MAX_REQUEST_BODY.saturating_sub(request.body.len());
                match usize::try_from(size) {
                    Ok(0) => BodyIn::Trailers(0),
                    Ok(size) if size <= room => BodyIn::ChunkData(size),
                    _ => return self.too_large(),
                }
            }
            BodyIn::ChunkEnd => match self.inbox.get(..2) {
                None if self.inbox.first().is_none_or(|&b| b == b'\r') => {
                    return (
                        Parse::Body {
                            request,
                            meta,
                            body,
                        },
                        false,
                    )
                }
                Some(b"\r\n") => {
                    self.inbox.drain(..2);
                    BodyIn::ChunkSize
                }
                _ => return self.reject(400, "a chunk's data is not followed by CRLF"),
            },
            BodyIn::Trailers(seen) => {
                let Some(newline) = self.inbox.iter().position(|&b| b == b'\n') else {
                    if seen + self.inbox.len() > MAX_HEAD {
                        return self.reject(431, "the request's trailer section is too large");
                    }
                    return (
                        Parse::Body {
                            request,
                            meta,
                            body,
                        },
                        false,
                    );
                };
                let blank = newline == 0 || (newline == 1 && self.inbox.first() == Some(&b'\r'));
                self.inbox.drain(..=newline);
                if blank {
                    return self.finish(request, meta);
                }
                if seen + newline + 1 > MAX_HEAD {
                    return self.reject(431, "the request's trailer section is too large");
                }
                BodyIn::Trailers(seen + newline + 1)
            }
        };
        (
            Parse::Body {
                request,
                meta,
                body: next,
            },
            // Every next step needs bytes.
            !self.inbox.is_empty(),
        )
    }

    fn too_large(&mut self) -> (Parse, bool) {
        let why = format!("the request body is larger than {MAX_REQUEST_BODY} bytes");
        self.reject(413, why)
    }

    /// Queues a whole request; after `Connection: close` nothing more is parsed
    /// (RFC 9112 §9.6).
    fn finish(&mut self, request: Request, meta: Meta) -> (Parse, bool) {
        self.queue.push_back(Item::Request(request, meta));
        if meta.close {
            self.inbox = Vec::new();
            return (Parse::Stopped, false);
        }
        (Parse::Head { scanned: 0 }, true)
    }
}

/// Parses a whole head (up to and with its empty line) into the request without its body.
fn parse_request_head(bytes: &[u8]) -> Result<(Request, Meta, BodyIn), (u16, String)> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut parsed = httparse::Request::new(&mut fields);
    match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err((400, "bad request head".into())),
        Err(httparse::Error::TooManyHeaders) => {
            return Err((431, "the request has too many header fields".into()))
        }
        Err(e) => return Err((400, format!("bad request head: {e}"))),
    }
    let (Some(method), Some(target), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err((400, "bad request line".into()));
    };
    let http10 = version == 0;

    let mut hosts = Vec::new();
    let mut lengths = Vec::new();
    let mut codings = Vec::new();
    let mut connection = Vec::new();
    let mut expect_continue = false;
    let mut headers = Vec::new();
    for field in parsed.headers.iter() {
        let lower = field.name.to_ascii_lowercase();
        match lower.as_str() {
            "host" => hosts.push(field.value),
            "content-length" => lengths.extend(list_or_empty(field.value)),
            "transfer-encoding" => codings.extend(list_or_empty(field.value)),
            "connection" => connection.extend(list(field.value)),
            "expect" => expect_continue |= list(field.value).any(|e| e == "100-continue"),
            _ if hop_by_hop(&lower) => {}
            _ => headers.push((field.name.to_owned(), field.value.to_vec())),
        }
    }
    // Connection names more hop-by-hop fields (RFC 9110 §7.6.1).
    headers.retain(|(name, _)| !connection.iter().any(|c| name.eq_ignore_ascii_case(c)));

    // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one before.
    let host = match hosts[..] {
        [] if http10 => None,
        [] => return Err((400, "the request has no Host".into())),
        [host] => match std::str::from_utf8(host) {
            Ok(host) => Some(host.to_owned()),
            Err(_) => return Err((400, "the request's Host is not text".into())),
        },
        _ => return Err((400, "the request has more than one Host".into())),
    };

    // RFC 9112 §6: which of the framing fields decides where the body ends.
    let body = if !codings.is_empty() {
        if http10 {
            return Err((400, "Transfer-Encoding in an HTTP/1.0 request".into()));
        }
        if !lengths.is_empty() {
            return Err((400, "both Transfer-Encoding and Content-Length".into()));
        }
        match codings.split_last() {
            Some((last, before)) if last == "chunked" && before.is_empty() => BodyIn::ChunkSize,
            Some((last, before)) if last == "chunked" && !before.iter().any(|c| c == "chunked") => {
                let why = format!("transfer coding {} is not supported", before.join(", "));
                return Err((501, why));
            }
            _ => return Err((400, "the request body's framing is not chunked".into())),
        }
    } else if let Some(first) = lengths.first() {
        // A list of equal values is one value (RFC 9112 §6.3).
        if lengths.iter().any(|l| l != first) {
            return Err((400, "conflicting Content-Length values".into()));
        }
        if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
            return Err((400, "bad Content-Length".into()));
        }
        match first.parse::<usize>() {
            Ok(n) if n <= MAX_REQUEST_BODY => BodyIn::Length(n),
            _ => {
                let why = format!("the request body is larger than {MAX_REQUEST_BODY} bytes");
                return Err((413, why));
            }
        }
    } else {
        BodyIn::Length(0)
    };

    let close = http10 || connection.iter().any(|c| c == "close");
    let has_body = !matches!(body, BodyIn::Length(0));
    let meta = Meta {
        head: method == "HEAD",
        http10,
        close,
        // An HTTP/1.0 client never waits for a 100 (RFC 9110 §10.1.1).
        expect_continue: expect_continue && has_body && !http10,
    };
    let request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        host,
        headers,
        body: Vec::new(),
    };
    Ok((request, meta, body))
}

/// The items of a comma-separated field value, trimmed and lowercased.
fn list(value: &[u8]) -> impl Iterator<Item = String> + '_ {
    value
        .split(|&b| b == b',')
        .map(|item| String::from_utf8_lossy(item.trim_ascii()).to_ascii_lowercase())
        .filter(|item| !item.is_empty())
}

/// Like [`list`], but an empty value is one empty item: an empty framing field is an error,
/// not an absent one.
fn list_or_empty(value: &[u8]) -> Vec<String> {
    let items: Vec<String> = list(value).collect();
    if items.is_empty() {
        return vec![String::new()];
    }
    items
}

/// Fields that describe one connection, not the message (RFC 9110 §7.6.1), by lowercase name.
fn hop_by_hop(lower: &str) -> bool {
    matches!(
        lower,
        "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "upgrade"
    ) || lower.starts_with("proxy-")
}

/// A field name as RFC 9110 §5.6.2 allows it.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// How many bytes of empty lines (CRLF or LF) `buf` starts with.
fn leading_blank_lines(buf: &[u8]) -> usize {
    let mut at = 0;
    loop {
        match buf.get(at..) {
            Some([b'\n', ..]) => at += 1,
            Some([b'\r', b'\n', ..]) => at += 2,
            _ => return at,
        }
    }
}

/// The end of a head (just past its empty line, CRLF or bare LF) searching from `from`, or
/// where to search from once more bytes came.
fn find_head_end(buf: &[u8], from: usize) -> Result<usize, usize> {
    let tail = buf.get(from..).unwrap_or_default();
    for (i, &b) in tail.iter().enumerate() {
        if b != b'\n' {
            continue;
        }
        let at = from + i;
        match (buf.get(at + 1), buf.get(at + 2)) {
            (Some(b'\n'), _) => return Ok(at + 2),
            (Some(b'\r'), Some(b'\n')) => return Ok(at + 3),
            (None, _) | (Some(b'\r'), None) => return Err(at),
            _ => {}
        }
    }
    Err(buf.len())
}

/// The reason phrase RFC 9110 §15 (and RFC 6585) gives a status; empty when none does.
fn standard_reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_bytewise(c: &mut Connection, bytes: &[u8]) {
        for b in bytes {
            c.from_guest(std::slice::from_ref(b));
        }
    }

    fn out(c: &mut Connection) -> String {
        String::from_utf8_lossy(&c.take_to_guest()).into_owned()
    }

    fn hdr(name: &str, value: &str) -> (String, Vec<u8>) {
        (name.to_owned(), value.as_bytes().to_vec())
    }

    /// Answers the current request with `200 OK` and `body`.
    fn answer(c: &mut Connection, body: &[u8]) {
        c.respond_head(200, "OK", &[]);
        c.respond_body(body);
        c.respond_end();
    }

    #[test]
    fn get_split_byte_by_byte() {
        let mut c = Connection::new();
        let bytes = b"GET /a/b?c=d HTTP/1.1\r\nHost: example.org\r\nAccept: */*\r\n\r\n";
        let (most, last) = bytes.split_at(bytes.len() - 1);
        feed_bytewise(&mut c, most);
        assert_eq!(c.next_request(), None);
        c.from_guest(last);
        let request = c.next_request().expect("a whole request");
        assert_eq!(
            request,
            Request {
                method: "GET".into(),
                target: "/a/b?c=d".into(),
                host: Some("example.org".into()),
                headers: vec![hdr("Accept", "*/*")],
                body: Vec::new(),
            }
        );
        assert_eq!(c.to_guest_len(), 0);
        assert!(!c.is_closing());
        assert_eq!(c.next_request(), None);
    }

    #[test]
    fn leading_empty_lines_and_bare_lf() {
        let mut c = Connection::new();
        feed_bytewise(
            &mut c,
            b"\r\n\nGET http://example.org/x HTTP/1.1\nHost: example.org\n\n",
        );
        let request = c.next_request().expect("a whole request");
        assert_eq!(request.target, "http://example.org/x");
        assert_eq!(request.host.as_deref(), Some("example.org"));
    }

    #[test]
    fn end_to_end_fields_kept_hop_by_hop_dropped() {
        let mut c = Connection::new();
        let mut bytes = b"GET / HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\n".to_vec();
        bytes.extend_from_slice(b"Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\n");
        bytes.extend_from_slice(b"Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\n");
        bytes.extend_from_slice(b"Upgrade: h2c\r\nProxy-Connection: keep-alive\r\n");
        bytes.extend_from_slice(b"Proxy-Authorization: Basic eA==\r\nContent-Length: 0\r\n");
        bytes.extend_from_slice(b"x-lower: a\r\nUser-Agent: curl/8\r\nX-Bytes: caf\xe9\r\n\r\n");
        c.from_guest(&bytes);
        let request = c.next_request().expect("a whole request");
        assert_eq!(
            request.headers,
            vec![
                hdr("Accept", "text/html"),
                hdr("x-lower", "a"),
                hdr("User-Agent", "curl/8"),
                ("X-Bytes".to_owned(), b"caf\xe9".to_vec()),
            ]
        );
    }

    #[test]
    fn post_with_content_length() {
        let mut c = Connection::new();
        c.from_guest(b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello");
        assert_eq!(c.next_request(), None);
        c.from_guest(b" world");
        let request = c.next_request().expect("a whole request");
        assert_eq!(request.method, "POST");
        assert_eq!(request.body, b"hello world");
        assert!(request.headers.is_empty());
        // Nothing was owed: no 100 without an Expect.
        assert_eq!(c.to_guest_len(), 0);
    }

    #[test]
    fn chunked_request_body_with_extensions_and_trailers() {
        let head = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
        let body = b"5;name=value\r\nhello\r\n6 ; x=\"y\"\r\n world\r\nA\r\n0123456789\r\n\
                     0;last\r\nX-Trailer: yes\r\n\r\n";
        let next = b"GET /after HTTP/1.1\r\nHost: h\r\n\r\n";
        let whole = [&head[..], body, next].concat();
        for bytewise in [false, true] {
            let mut c = Connection::new();
            if bytewise {
                feed_bytewise(&mut c, &whole);
            } else {
                c.from_guest(&whole);
            }
            let request = c.next_request().expect("a whole request");
            assert_eq!(request.body, b"hello world0123456789");
            assert!(request.headers.is_empty(), "{:?}", request.headers);
            answer(&mut c, b"");
            // The trailer section was consumed exactly: the next request parses.
            assert_eq!(c.next_request().expect("the next request").target, "/after");
        }
    }

    #[test]
    fn bad_chunk_framing_is_400() {
        for body in [
            &b"\r\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhelloXY0\r\n\r\n",
            b"zz\r\n",
            b"5\nhello\r\n0\r\n\r\n",
        ] {
            let mut c = Connection::new();
            c.from_guest(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
            c.from_guest(body);
            assert_eq!(c.next_request(), None);
            assert!(out(&mut c).starts_with("HTTP/1.1 400 Bad Request\r\n"));
            assert!(c.is_closing());
        }
    }

    #[test]
    fn pipelined_requests_answered_in_order() {
        let mut c = Connection::new();
        c.from_guest(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(c.next_request().expect("first").target, "/1");
        // The second waits for the first response to end.
        assert_eq!(c.next_request(), None);
        c.respond_head(200, "OK", &[]);
        assert_eq!(c.next_request(), None);
        c.respond_body(b"one");
        c.respond_end();
        assert_eq!(c.next_request().expect("second").target, "/2");
        answer(&mut c, b"two");
        assert_eq!(
            out(&mut c),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n0\r\n\r\n\
             HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n"
        );
        assert!(!c.is_closing());
    }

    #[test]
    fn head_response_has_no_body() {
        let mut c = Connection::new();
        c.from_guest(b"HEAD /big HTTP/1.1\r\nHost: h\r\n\r\n");
        c.next_request().expect("a whole request");
        let headers = [
            hdr("Content-Type", "text/html"),
            hdr("Content-Length", "1234"),
        ];
        c.respond_head(200, "OK", &headers);
        c.respond_body(b"must not go out");
        c.respond_end();
        assert_eq!(
            out(&mut c),
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
        );
        assert!(!c.is_closing());
        c.from_guest(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(c.next_request().is_some());
    }

    #[test]
    fn no_content_and_not_modified_have_no_body() {
        for (status, reason) in [(204, "No Content"), (304, "Not Modified")] {
            let mut c = Connection::new();
            c.from_guest(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
            c.next_request().expect("a whole request");
            c.respond_head(status, "", &[hdr("ETag", "\"x\"")]);
            c.respond_body(b"nope");
            c.respond_end();
            assert_eq!(
                out(&mut c),
                format!("HTTP/1.1 {status} {reason}\r\nETag: \"x\"\r\n\r\n")
            );
            assert!(!c.is_closing());
        }
    }

    #[test]
    fn chunked_response_framing() {
        let mut c = Connection::new();
        c.from_guest(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        c.next_request().expect("a whole request");
        let headers = [
            hdr("Content-Type", "text/plain"),
            hdr("Content-Length", "25"),
            hdr("Content-Encoding", "gzip"),
            hdr("Transfer-Encoding", "identity"),
            hdr("Connection", "keep-alive"),
            hdr("Keep-Alive", "timeout=5"),
            hdr("Bad Name", "x"),
            hdr("X-Injected", "a\r\nSet-Cookie: b"),
        ];
        c.respond_head(200, "OK", &headers);
        c.respond_body(b"hello");
        c.respond_body(b"");
        assert_eq!(
            out(&mut c),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\nhello\r\n"
        );
        c.respond_body(b"0123456789abcdef");
        c.respond_end();
        assert_eq!(out(&mut c), "10\r\n0123456789abcdef\r\n0\r\n\r\n");
    }

    #[test]
    fn http10_is_close_delimited() {
        let mut c = Connection::new();
        c.from_guest(b"GET / HTTP/1.0\r\n\r\nGET /ignored HTTP/1.0\r\n\r\n");
        let request = c.next_request().expect("a whole request");
        assert_eq!(request.host, None);
        c.respond_head(200, "OK", &[hdr("Content-Length", "3")]);
        c.respond_body(b"abc");
        assert!(!c.is_closing());
        c.respond_end();
        assert!(c.is_closing());
        assert_eq!(
            out(&mut c),
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc"
        );
        assert_eq!(c.next_request(), None);
    }

    #[test]
    fn connection_close_closes_after_the_response() {
        let mut c = Connection::new();
        c.from_guest(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n");
        c.from_guest(b"GET /ignored HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(!c.wants_input());
        c.next_request().expect("a whole request");
        answer(&mut c, b"x");
        assert!(c.is_closing());
        assert_eq!(
            out(&mut c),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             1\r\nx\r\n0\r\n\r\n"
        );
        assert_eq!(c.next_request(), None);
    }

    /// The status line and body of the one response in `text`, checking its Content-Length.
    fn error_response(text: &str) -> (&str, &str) {
        let (head, body) = text.split_once("\r\n\r\n").expect("a whole head");
        let length = format!("\r\nContent-Length: {}\r\n", body.len());
        assert!(head.contains(&length), "{text:?}");
        assert!(head.contains("\r\nContent-Type: text/plain; charset=utf-8"));
        (head.lines().next().unwrap_or_default(), body)
    }

    #[test]
    fn malformed_request_line_is_400_and_closes() {
        let mut c = Connection::new();
        c.from_guest(b"NOT HTTP AT ALL\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(c.next_request(), None);
        assert!(c.is_closing());
        let text = out(&mut c);
        assert!(text.contains("\r\nConnection: close\r\n"));
        let (status, body) = error_response(&text);
        assert_eq!(status, "HTTP/1.1 400 Bad Request");
        assert!(body.starts_with("alpenglow: bad request head"), "{body:?}");
        assert!(body.ends_with('\n') && body.lines().count() == 1);
    }

    #[test]
    fn error_after_a_good_request_waits_its_turn() {
        let mut c = Connection::new();
        c.from_guest(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/9\r\n\r\n");
        assert_eq!(c.to_guest_len(), 0);
        c.next_request().expect("the good request");
        answer(&mut c, b"ok");
        let text = out(&mut c);
        let (first, second) = text.split_once("0\r\n\r\n").expect("the first response");
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(second.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(c.is_closing());
    }

    #[test]
    fn bad_framing_fields_are_rejected() {
        let cases: [(&[u8], &str); 8] = [
            (b"GET / HTTP/1.1\r\n\r\n", "400"),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"),
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "400"),
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", "400"),
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", "400"),
            (
                b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                "400",
            ),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", "400"),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "501"),
        ];
        for (bytes, status) in cases {
            let mut c = Connection::new();
            c.from_guest(bytes);
            assert_eq!(c.next_request(), None, "{}", String::from_utf8_lossy(bytes));
            assert!(out(&mut c).starts_with(&format!("HTTP/1.1 {status} ")));
            assert!(c.is_closing());
        }
        // Equal values in a list are one value.
        let mut c = Connection::new();
        c.from_guest(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\n\r\nok");
        assert_eq!(c.next_request().expect("a whole request").body, b"ok");
    }

    #[test]
    fn oversized_body_is_413() {
        let mut c = Connection::new();
        let head = format!(
            "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
            MAX_REQUEST_BODY + 1
        );
        c.from_guest(head.as_bytes());
        assert!(c.is_closing());
        assert_eq!(
            error_response(&out(&mut c)).0,
            "HTTP/1.1 413 Content Too Large"
        );

        let mut c = Connection::new();
        c.from_guest(
            b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        );
        assert!(out(&mut c).starts_with("HTTP/1.1 413 "));

        // Chunked: the total counts, not one chunk.
        let mut c = Connection::new();
        c.from_guest(b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
        c.from_guest(b"4\r\nabcd\r\n");
        let size = format!("{:x}\r\n", MAX_REQUEST_BODY - 3);
        c.from_guest(size.as_bytes());
        assert!(c.is_closing());
        assert!(out(&mut c).starts_with("HTTP/1.1 413 Content Too Large\r\n"));
    }

    #[test]
    fn huge_head_is_431() {
        let mut c = Connection::new();
        c.from_guest(b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
        c.from_guest(&vec![b'a'; MAX_HEAD]);
        assert!(c.is_closing());
        assert_eq!(
            error_response(&out(&mut c)).0,
            "HTTP/1.1 431 Request Header Fields Too Large"
        );

        let mut c = Connection::new();
        let mut bytes = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 0..MAX_FIELDS {
            bytes.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
        }
        bytes.extend_from_slice(b"\r\n");
        c.from_guest(&bytes);
        assert!(out(&mut c).starts_with("HTTP/1.1 431 "));
    }

    #[test]
    fn expect_100_continue() {
        let mut c = Connection::new();
        c.from_guest(
            b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        );
        assert_eq!(out(&mut c), "HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!(c.next_request(), None);
        c.from_guest(b"hello");
        let request = c.next_request().expect("a whole request");
        assert_eq!(request.body, b"hello");
        assert!(request.headers.is_empty());
        assert_eq!(c.to_guest_len(), 0);
    }

    #[test]
    fn continue_waits_for_earlier_responses() {
        let mut c = Connection::new();
        c.from_guest(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n");
        c.from_guest(
            b"PUT /2 HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
        );
        c.next_request().expect("the first request");
        assert_eq!(c.to_guest_len(), 0);
        c.respond_head(200, "OK", &[]);
        c.respond_body(b"a");
        c.respond_end();
        assert!(out(&mut c).ends_with("0\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"));
        // A body that came with its head needs no 100.
        let mut c = Connection::new();
        c.from_guest(
            b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
        );
        assert_eq!(c.to_guest_len(), 0);
        assert!(c.next_request().is_some());
    }

    #[test]
    fn error_before_head_is_a_whole_response() {
        let mut c = Connection::new();
        c.from_guest(b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n");
        c.next_request().expect("a whole request");
        c.respond_error(
            502,
            "fetch http://example.org/ failed: TypeError: Failed to fetch",
        );
        let body = "alpenglow: fetch http://example.org/ failed: TypeError: Failed to fetch\n";
        assert_eq!(
            out(&mut c),
            format!(
                "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
        );
        // The connection goes on.
        assert!(!c.is_closing());
        c.from_guest(b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n");
        assert!(c.next_request().is_some());
        // One line, whatever `why` holds.
        c.respond_error(504, "a\r\nb");
        assert!(out(&mut c).ends_with("\r\n\r\nalpenglow: a  b\n"));
    }

    #[test]
    fn error_after_head_aborts() {
        let mut c = Connection::new();
        c.from_guest(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
        c.next_request().expect("a whole request");
        c.respond_head(200, "OK", &[]);
        c.respond_body(b"hello");
        c.respond_error(502, "the body broke");
        assert!(c.is_closing());
        assert_eq!(
            out(&mut c),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
        );
        assert_eq!(c.next_request(), None);
        c.respond_end();
        assert_eq!(c.to_guest_len(), 0);
    }

    #[test]
    fn reason_phrases() {
        for (status, reason, line) in [
            (404, "", "HTTP/1.1 404 Not Found\r\n"),
            (404, "Nope", "HTTP/1.1 404 Nope\r\n"),
            (200, "OK\r\nX: y", "HTTP/1.1 200 OK\r\n\r\n"),
            (599, "", "HTTP/1.1 599 \r\n"),
        ] {
            let mut c = Connection::new();
            c.from_guest(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
            c.next_request().expect("a whole request");
            c.respond_head(status, reason, &[]);
            assert!(out(&mut c).starts_with(line), "{status} {reason:?}");
        }
        // fetch never gives an interim status: one is a bad gateway.
        let mut c = Connection::new();
        c.from_guest(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        c.next_request().expect("a whole request");
        c.respond_head(101, "Switching Protocols", &[]);
        assert!(out(&mut c).starts_with("HTTP/1.1 502 Bad Gateway\r\n"));
    }

    #[test]
    fn guest_fin() {
        // A whole request is still answered, then the connection closes.
        let mut c = Connection::new();
        c.from_guest(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /partial HTTP/1.1\r\n");
        c.guest_closed();
        assert!(!c.is_closing());
        c.next_request().expect("a whole request");
        answer(&mut c, b"");
        assert!(c.is_closing());
        assert_eq!(c.next_request(), None);
        // Nothing pending: closing at once.
        let mut c = Connection::new();
        c.guest_closed();
        assert!(c.is_closing());
        assert_eq!(c.to_guest_len(), 0);
    }

    #[test]
    fn wants_input_until_the_pipeline_is_deep() {
        let mut c = Connection::new();
        for _ in 0..PIPELINE_DEPTH {
            assert!(c.wants_input());
            c.from_guest(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        }
        assert!(!c.wants_input());
        c.next_request().expect("a whole request");
        assert!(c.wants_input());
    }

    /// Pseudo-random guest bytes, whole garbage and shuffled HTTP pieces, split at random:
    /// nothing panics, and whatever goes out starts as a response.
    #[test]
    fn garbage_never_panics() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize
        };
        let pieces: [&[u8]; 16] = [
            b"GET / HTTP/1.1\r\n",
            b"POST /x HTTP/1.0\r\n",
            b"Host: h\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Content-Length: 3\r\n",
            b"Expect: 100-continue\r\n",
            b"Connection: close\r\n",
            b"\r\n",
            b"\n",
            b"5;x\r\n",
            b"hello",
            b"0\r\n",
            b"ff",
            b":",
            b" ",
            b"\xff\x00",
        ];
        for round in 0..400 {
            let mut bytes = Vec::new();
            for _ in 0..next() % 64 {
                if round % 2 == 0 {
                    bytes.push(next() as u8);
                } else {
                    bytes.extend_from_slice(pieces[next() % pieces.len()]);
                }
            }
            let mut c = Connection::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let (now, later) = rest.split_at(1 + next() % rest.len());
                c.from_guest(now);
                rest = later;
                while let Some(request) = c.next_request() {
                    match next() % 4 {
                        0 => c.respond_error(502, &request.target),
                        1 => {
                            c.respond_head(200, "", &request.headers);
                            c.respond_body(&request.body);
                            c.respond_error(502, "cut");
                        }
                        _ => {
                            c.respond_head(200 + (next() % 400) as u16, "", &[]);
                            c.respond_body(&request.body);
                            c.respond_end();
                        }
                    }
                }
            }
            c.guest_closed();
            let text = c.take_to_guest();
            assert!(text.is_empty() || text.starts_with(b"HTTP/1.1 "));
        }
    }
}
