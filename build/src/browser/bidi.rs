//! The WebDriver BiDi transport: JSON commands and answers over one WebSocket, matched by
//! id; events that arrive in between are kept (the browser console's `log.entryAdded`).

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

/// How long a command may take before the browser is taken to be stuck.
pub const COMMAND_WAIT: Duration = Duration::from_secs(120);

pub struct Connection {
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// `log.entryAdded` events not yet read, oldest first.
    pub log: Vec<Value>,
}

impl Connection {
    /// Connects to a BiDi endpoint (`ws://127.0.0.1:PORT/...`).
    pub fn connect(url: &str) -> Result<Connection> {
        let (host, path) = url
            .strip_prefix("ws://")
            .and_then(|r| r.split_once('/'))
            .ok_or_else(|| anyhow!("not a local ws:// URL: {url}"))?;
        let mut stream =
            TcpStream::connect(host).with_context(|| format!("connecting to {url}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        upgrade(&mut stream, host, path)
            .with_context(|| format!("opening a WebSocket to {url}"))?;
        let ws = WebSocket::from_raw_socket(stream, Role::Client, None);
        Ok(Connection {
            ws,
            next_id: 0,
            log: Vec::new(),
        })
    }

    /// Sends `method` with `params` and waits for its answer's `result`; an error answer
    /// becomes an error with its message.
    pub fn command(&mut self, method: &str, params: Value) -> Result<Value> {
        self.command_within(method, params, COMMAND_WAIT)
    }

    pub fn command_within(&mut self, method: &str, params: Value, wait: Duration) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let text = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws
            .send(Message::text(text))
            .with_context(|| format!("sending {method}"))?;
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("{method}: no answer within {} s", wait.as_secs());
            }
            self.ws.get_ref().set_read_timeout(Some(left))?;
            let msg = match self.ws.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    bail!("{method}: no answer within {} s", wait.as_secs())
                }
                Err(e) => return Err(anyhow!("{method}: reading the answer: {e}")),
            };
            let Message::Text(text) = msg else { continue };
            let v: Value = serde_json::from_str(text.as_str())
                .with_context(|| format!("{method}: the answer is not JSON"))?;
            if v["type"] == "event" {
                if v["method"] == "log.entryAdded" {
                    self.log.push(v["params"].clone());
                }
                continue;
            }
            if v["id"].as_u64() != Some(id) {
                continue;
            }
            if v["type"] == "error" {
                bail!("{method}: {}", error_message(&v));
            }
            return Ok(v["result"].clone());
        }
    }

    /// Closes the WebSocket, best effort.
    pub fn close(&mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}

/// The client's opening handshake (RFC 6455 §4.1) on a local socket: the answer must switch
/// protocols. (Its `Sec-WebSocket-Accept` guards against caches and servers that are not
/// WebSocket servers; the peer here is a browser this process started.)
fn upgrade(stream: &mut TcpStream, host: &str, path: &str) -> Result<()> {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        ^ u128::from(std::process::id());
    let key = base64::engine::general_purpose::STANDARD.encode(nonce.to_le_bytes());
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )?;
    // Byte by byte up to the blank line: what follows is the first frame.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            bail!("the connection closed during the handshake");
        }
        head.push(byte[0]);
        if head.len() > 16 * 1024 {
            bail!("the handshake answer is too long");
        }
    }
    let head = String::from_utf8_lossy(&head);
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("101") {
        bail!("the server answered {status:?}");
    }
    Ok(())
}

/// `error: message` of a BiDi error answer (its first line).
pub fn error_message(v: &Value) -> String {
    let msg = v["message"].as_str().unwrap_or("");
    let msg = msg.lines().next().unwrap_or(msg);
    format!("{}: {msg}", v["error"].as_str().unwrap_or("error"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_are_summarised() {
        let v = json!({"type": "error", "id": 3, "error": "no such frame",
                       "message": "Browsing context x not found\n  at ...", "stacktrace": ""});
        assert_eq!(
            error_message(&v),
            "no such frame: Browsing context x not found"
        );
    }
}
