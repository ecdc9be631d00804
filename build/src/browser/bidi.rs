//! The WebDriver BiDi transport: JSON commands and answers over one WebSocket, matched by
//! id; events that arrive in between are kept (the browser console's `log.entryAdded`).

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::net::TcpStream;
use std::time::{Duration, Instant};
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
        let host = url
            .strip_prefix("ws://")
            .and_then(|r| r.split('/').next())
            .ok_or_else(|| anyhow!("not a local ws:// URL: {url}"))?;
        let stream = TcpStream::connect(host).with_context(|| format!("connecting to {url}"))?;
        stream.set_nodelay(true)?;
        let (ws, _) = tungstenite::client(url, stream)
            .map_err(|e| anyhow!("WebSocket handshake with {url}: {e}"))?;
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
