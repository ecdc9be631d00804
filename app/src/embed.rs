//! Embedding: `?embed` shows the terminal only (for an iframe), and a parent page on an allowed
//! origin drives the machine with `postMessage`. The API — allowed origins, the messages in
//! and out, the states — is written once, in `docs/embed-api.md`. This module implements it;
//! what a message asks for is done through `Host`, which the controller (`app.rs`) implements.

use crate::state::{AppState, Phase, RunState};
use js_sys::{Object, Reflect};
use leptos::prelude::*;
use std::cell::RefCell;
use std::collections::BTreeSet;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::MessageEvent;

/// The `<meta name>` a deployment lists its allowed parent origins in.
pub const META_NAME: &str = "alpenglow-embed-origins";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmbedConfig {
    /// `?embed`: the terminal only, no page chrome.
    pub embed: bool,
    /// Normalised origins (`scheme://host[:port]`) whose messages are obeyed.
    pub origins: BTreeSet<String>,
    /// What could not be used, for the person (URL or page config mistakes).
    pub errors: Vec<String>,
}

/// `https://Example.org:8443/` → `https://example.org:8443`. Only an origin: a scheme and a
/// host, an optional port, nothing after them. `*` and `null` are refused: an allow-list
/// that lets every page, or every sandboxed page, type into the machine is not one.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let t = text.trim();
    let bad = |why: &str| {
        Err(format!("{t:?} is not an origin ({why}); write it like https://example.org or http://127.0.0.1:8081"))
    };
    if t == "*" || t.eq_ignore_ascii_case("null") {
        return bad("every origin, or sandboxed ones, cannot be allowed");
    }
    let Some((scheme, rest)) = t.split_once("://") else {
        return bad("no scheme");
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return bad("the scheme must be http or https");
    }
    let host_port = rest.strip_suffix('/').unwrap_or(rest);
    if host_port.is_empty() {
        return bad("no host");
    }
    if host_port.contains(['/', '?', '#', '@', ' ']) {
        return bad("an origin has no path, query, user or spaces");
    }
    let (host, port) = match host_port.rsplit_once(':') {
        // An IPv6 literal's colons are inside brackets.
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (host_port, None),
    };
    if host.is_empty() {
        return bad("no host");
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return bad("the port must be a number from 1 to 65535"),
        },
    };
    // The browser's MessageEvent.origin leaves out the scheme's default port.
    let port = match (scheme.as_str(), port) {
        ("http", Some(80)) | ("https", Some(443)) | (_, None) => String::new(),
        (_, Some(p)) => format!(":{p}"),
    };
    Ok(format!("{scheme}://{}{port}", host.to_ascii_lowercase()))
}

/// Reads `embed` and `origin=` from the query and the allow-list from the page's meta tag.
pub fn config<'a>(
    query: impl IntoIterator<Item = (&'a str, &'a str)>,
    meta: Option<&str>,
) -> EmbedConfig {
    let mut c = EmbedConfig::default();
    let add = |list: &str, from: &str, c: &mut EmbedConfig| {
        for item in list.split([' ', ',', '\n', '\t']).filter(|s| !s.is_empty()) {
            match parse_origin(item) {
                Ok(o) => {
                    c.origins.insert(o);
                }
                Err(e) => c.errors.push(format!("{from}: {e}")),
            }
        }
    };
    if let Some(m) = meta {
        add(m, &format!("<meta name=\"{META_NAME}\">"), &mut c);
    }
    for (k, v) in query {
        match k {
            "embed" => c.embed = !matches!(v, "0" | "false" | "no"),
            "origin" => add(v, "URL parameter origin", &mut c),
            _ => {}
        }
    }
    c
}

/// What a parent page asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Text to type into the terminal.
    Type(String),
    /// A file for the guest's /root; the bytes are the message's `data`.
    Upload {
        name: String,
    },
    Reboot,
    Focus,
    GetState,
}

/// A message's `type` (and its string fields, by name) as a command. `None`: not an Alpenglow
/// message (pages get messages from many sources), so it is not answered; `Err`: an Alpenglow
/// message that is wrong, answered with the reason.
pub fn command(
    kind: Option<&str>,
    field: impl Fn(&str) -> Option<String>,
) -> Option<Result<Command, String>> {
    let kind = kind?.strip_prefix("alpenglow:")?;
    Some(match kind {
        "upload" => match field("name") {
            Some(n) if !n.is_empty() => Ok(Command::Upload { name: n }),
            _ => Err("alpenglow:upload needs a name (a non-empty string) and data".into()),
        },
        "type" => match field("text") {
            Some(t) if !t.is_empty() => Ok(Command::Type(t)),
            Some(_) => Err("alpenglow:type needs a non-empty text".into()),
            None => Err("alpenglow:type needs a text (a string)".into()),
        },
        "reboot" => Ok(Command::Reboot),
        "focus" => Ok(Command::Focus),
        "get-state" => Ok(Command::GetState),
        other => Err(format!(
            "unknown message type alpenglow:{other}; known: alpenglow:type, alpenglow:upload, \
             alpenglow:reboot, alpenglow:focus, alpenglow:get-state"
        )),
    })
}

/// Turns console bytes into text for `alpenglow:output` without breaking a UTF-8 sequence
/// split across two writes: an incomplete sequence at the end waits for the next bytes.
#[derive(Default)]
pub struct Utf8Stream {
    carry: Vec<u8>,
}

impl Utf8Stream {
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.carry.extend_from_slice(bytes);
        let keep = incomplete_tail(&self.carry);
        let cut = self.carry.len() - keep;
        let text = String::from_utf8_lossy(&self.carry[..cut]).into_owned();
        self.carry.drain(..cut);
        text
    }
}

/// How many bytes at the end of `b` start a UTF-8 sequence that is not complete yet.
fn incomplete_tail(b: &[u8]) -> usize {
    for back in 1..=3.min(b.len()) {
        let byte = b[b.len() - back];
        if byte & 0xc0 == 0x80 {
            continue; // a continuation byte: look further back for the lead
        }
        let need = match byte {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => return 0,
        };
        return if need > back { back } else { 0 };
    }
    0
}

/// What an embedding page may ask of the page: the port `Link` acts through (the `App`
/// controller implements it), so the link needs to know nothing of the machine or the files.
pub trait Host {
    /// Types `text` into the guest's console as a person would.
    fn type_text(&'static self, text: &str) -> Result<(), String>;
    /// Puts a file into the guest's /root.
    fn upload(&'static self, name: String, blob: web_sys::Blob) -> Result<(), String>;
    /// Boots a fresh machine (only asked once the kernel is compiled).
    fn reboot(&'static self);
    /// Gives the terminal the keyboard.
    fn focus(&'static self);
}

/// Where events go once the link listens.
struct Route {
    /// The embedding page (`window.parent`); none when the page is not framed.
    parent: Option<web_sys::Window>,
    /// Allowed origins events may be sent to: the parent's own origin when the browser tells
    /// it (`location.ancestorOrigins`) and it is allowed, else every allowed origin (the
    /// browser delivers only to the one that matches).
    targets: Vec<String>,
}

/// The page's side of the API: owns the listener for commands and sends the events.
pub struct Link {
    s: AppState,
    route: RefCell<Option<Route>>,
    text: RefCell<Utf8Stream>,
    /// Origins already logged as refused.
    warned: RefCell<BTreeSet<String>>,
    listener: RefCell<Option<Listener>>,
}

/// The `message` listener, kept as long as the link.
type Listener = Closure<dyn FnMut(MessageEvent)>;

/// The allow-list in the page itself: `<meta name="alpenglow-embed-origins" content="…">`.
pub fn page_origins() -> Option<String> {
    let doc = web_sys::window()?.document()?;
    let meta = doc
        .query_selector(&format!("meta[name=\"{META_NAME}\"]"))
        .ok()??;
    meta.get_attribute("content")
}

fn message(kind: &str, fields: &[(&str, JsValue)]) -> JsValue {
    let m = Object::new();
    let _ = Reflect::set(&m, &"type".into(), &kind.into());
    for (k, v) in fields {
        let _ = Reflect::set(&m, &(*k).into(), v);
    }
    m.into()
}

/// The `data` of an `alpenglow:upload` as a Blob.
fn upload_blob(data: &JsValue) -> Result<web_sys::Blob, String> {
    if let Some(b) = data.dyn_ref::<web_sys::Blob>() {
        return Ok(b.clone());
    }
    let is_bytes = data.is_instance_of::<js_sys::ArrayBuffer>()
        || js_sys::ArrayBuffer::is_view(data)
        || data.is_instance_of::<js_sys::SharedArrayBuffer>();
    if !is_bytes {
        return Err(
            "alpenglow:upload needs data: a Blob, a File, an ArrayBuffer or a typed array".into(),
        );
    }
    web_sys::Blob::new_with_buffer_source_sequence(&js_sys::Array::of1(data))
        .map_err(|e| kernel_host_message(&e))
}

#[cfg(target_arch = "wasm32")]
fn kernel_host_message(e: &JsValue) -> String {
    kernel_host::browser::js_error_message(e)
}

#[cfg(not(target_arch = "wasm32"))]
fn kernel_host_message(e: &JsValue) -> String {
    format!("{e:?}")
}

fn state_message(s: AppState) -> JsValue {
    message(
        "alpenglow:state",
        &[
            ("state", s.state_name().into()),
            (
                "detail",
                state_detail(s).map_or(JsValue::NULL, JsValue::from),
            ),
        ],
    )
}

/// What goes with the state: how the machine halted, why it crashed or loading failed.
fn state_detail(s: AppState) -> Option<String> {
    match s.state_name() {
        "halted" => s.run.with_untracked(|r| match r {
            RunState::Halted(how) => Some(how.clone()),
            _ => None,
        }),
        "crashed" => s.run.with_untracked(|r| match r {
            RunState::Crashed(c) => Some(c.message.clone()),
            _ => None,
        }),
        "failed" => s.phase.with_untracked(|p| match p {
            Phase::Failed(e) => Some(e.to_string()),
            _ => None,
        }),
        "not-isolated" => s.phase.with_untracked(|p| match p {
            Phase::NotIsolated { why, .. } => Some(why.clone()),
            _ => None,
        }),
        _ => None,
    }
}

impl Link {
    /// A link that sends nothing until it `listen`s.
    pub fn new(s: AppState) -> Link {
        Link {
            s,
            route: RefCell::new(None),
            text: RefCell::new(Utf8Stream::default()),
            warned: RefCell::new(BTreeSet::new()),
            listener: RefCell::new(None),
        }
    }

    /// Sends an event to the embedding page.
    fn broadcast(&self, value: &JsValue) {
        let route = self.route.borrow();
        let Some((parent, targets)) = route
            .as_ref()
            .and_then(|r| Some((r.parent.as_ref()?, &r.targets)))
        else {
            return;
        };
        for origin in targets {
            let _ = parent.post_message(value, origin);
        }
    }

    /// A file event (`alpenglow:uploaded`, `alpenglow:upload-failed`, `alpenglow:download`)
    /// for the embedding page.
    pub fn file_event(&self, kind: &str, fields: &[(&str, JsValue)]) {
        self.broadcast(&message(kind, fields));
    }

    /// Console output for the embedding page.
    pub fn output(&self, bytes: &[u8]) {
        let framed = self
            .route
            .borrow()
            .as_ref()
            .is_some_and(|r| r.parent.is_some());
        if !framed {
            return;
        }
        let text = self.text.borrow_mut().push(bytes);
        if !text.is_empty() {
            self.broadcast(&message("alpenglow:output", &[("text", text.into())]));
        }
    }

    /// A message from an origin that is not allowed: not acted on, counted, logged once.
    fn refuse(&self, origin: &str) {
        self.s.refused.update(|n| *n += 1);
        let first = self.warned.borrow_mut().insert(origin.to_string());
        if first {
            web_sys::console::warn_1(
                &format!(
                    "alpenglow: refused a message from {origin}, which is not an allowed origin \
                     (allow it with <meta name=\"{META_NAME}\"> or the origin= URL parameter)"
                )
                .into(),
            );
        }
    }

    fn act(
        &self,
        host: &'static dyn Host,
        cmd: Command,
        data: &JsValue,
    ) -> Result<Option<JsValue>, String> {
        let s = self.s;
        match cmd {
            Command::Type(text) => host.type_text(&text).map(|()| None),
            Command::Upload { name } => {
                let blob = upload_blob(&Reflect::get(data, &"data".into()).unwrap_or_default())?;
                host.upload(name, blob).map(|()| None)
            }
            Command::Reboot if s.compiled() => {
                host.reboot();
                Ok(None)
            }
            Command::Reboot => Err(format!(
                "the kernel is not loaded yet (the page is {}), so it cannot reboot",
                s.state_name()
            )),
            Command::Focus => {
                host.focus();
                Ok(None)
            }
            Command::GetState => Ok(Some(state_message(s))),
        }
    }

    /// Starts obeying commands from the `config`'s allowed origins, through `host`, and
    /// sending events to the embedding page; the page's state goes out on every change.
    pub fn listen(&'static self, config: EmbedConfig, host: &'static dyn Host) {
        let s = self.s;
        let Some(window) = web_sys::window() else {
            return;
        };
        let framed = window
            .parent()
            .ok()
            .flatten()
            .filter(|p| !Object::is(p, &window));
        // Chromium and Safari say who embeds the page; Firefox does not.
        let ancestor = Reflect::get(&window.location(), &"ancestorOrigins".into())
            .ok()
            .and_then(|list| list.dyn_into::<web_sys::DomStringList>().ok())
            .and_then(|list| list.item(0));
        let targets: Vec<String> = match ancestor {
            Some(parent) => config
                .origins
                .iter()
                .filter(|o| **o == parent)
                .cloned()
                .collect(),
            None => config.origins.iter().cloned().collect(),
        };
        let allowed = config.origins;
        let listener = Listener::new(move |ev: MessageEvent| {
            let data = ev.data();
            let field = |k: &str| {
                Reflect::get(&data, &k.into())
                    .ok()
                    .and_then(|v| v.as_string())
            };
            let Some(cmd) = command(field("type").as_deref(), field) else {
                return;
            };
            let origin = ev.origin();
            if !allowed.contains(&origin) {
                self.refuse(&origin);
                return;
            }
            let reply = match cmd {
                Ok(cmd) => self.act(host, cmd, &data).unwrap_or_else(|e| {
                    Some(message(
                        "alpenglow:error",
                        &[("message", e.into()), ("request", data.clone())],
                    ))
                }),
                Err(e) => Some(message(
                    "alpenglow:error",
                    &[("message", e.into()), ("request", data.clone())],
                )),
            };
            if let (Some(reply), Some(source)) = (reply, ev.source()) {
                // A window proxy, possibly cross-origin: only postMessage is used on it.
                let _ = source
                    .unchecked_into::<web_sys::Window>()
                    .post_message(&reply, &origin);
            }
        });
        if window
            .add_event_listener_with_callback("message", listener.as_ref().unchecked_ref())
            .is_err()
        {
            return;
        }
        *self.listener.borrow_mut() = Some(listener);
        *self.route.borrow_mut() = Some(Route {
            parent: framed,
            targets,
        });
        // Once per change of state (the signals behind it also change within a state).
        Effect::new(move |last: Option<(&'static str, Option<String>)>| {
            let now = (s.state_name(), state_detail(s));
            if last.as_ref() != Some(&now) {
                self.broadcast(&state_message(s));
            }
            now
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_bad_ones_named() {
        assert_eq!(
            parse_origin("HTTP://LocalHost:8081/"),
            Ok("http://localhost:8081".into())
        );
        assert_eq!(
            parse_origin("https://example.org:443"),
            Ok("https://example.org".into())
        );
        assert_eq!(
            parse_origin("http://[::1]:9000"),
            Ok("http://[::1]:9000".into())
        );
        assert_eq!(parse_origin("http://[::1]"), Ok("http://[::1]".into()));
        for bad in [
            "*",
            "null",
            "example.org",
            "ftp://x",
            "http://x/path",
            "http://x:0",
            "http://",
        ] {
            let e = parse_origin(bad).unwrap_err();
            assert!(e.contains("is not an origin"), "{bad}: {e}");
        }
    }

    #[test]
    fn config_reads_the_url_and_the_page() {
        let c = config(
            [
                ("embed", ""),
                ("origin", "http://127.0.0.1:9000, https://a.example"),
                ("origin", "nope"),
            ],
            Some("https://b.example"),
        );
        assert!(c.embed);
        let want: Vec<&str> = vec![
            "http://127.0.0.1:9000",
            "https://a.example",
            "https://b.example",
        ];
        assert_eq!(
            c.origins.iter().map(String::as_str).collect::<Vec<_>>(),
            want
        );
        assert_eq!(c.errors.len(), 1);
        assert!(
            c.errors[0].starts_with("URL parameter origin"),
            "{:?}",
            c.errors
        );
        assert!(!config([("embed", "0")], None).embed);
        assert!(!config([], None).embed);
    }

    #[test]
    fn commands_are_parsed_and_strangers_ignored() {
        let none = |_: &str| None;
        let text = |k: &str| (k == "text").then(|| "ls\n".to_string());
        assert_eq!(
            command(Some("alpenglow:type"), text),
            Some(Ok(Command::Type("ls\n".into())))
        );
        assert!(command(Some("alpenglow:type"), none).unwrap().is_err());
        assert_eq!(
            command(Some("alpenglow:reboot"), none),
            Some(Ok(Command::Reboot))
        );
        let name = |k: &str| (k == "name").then(|| "notes.txt".to_string());
        assert_eq!(
            command(Some("alpenglow:upload"), name),
            Some(Ok(Command::Upload {
                name: "notes.txt".into()
            }))
        );
        assert!(command(Some("alpenglow:upload"), none)
            .unwrap()
            .unwrap_err()
            .contains("needs a name"));
        assert!(command(Some("alpenglow:fly"), none)
            .unwrap()
            .unwrap_err()
            .contains("unknown"));
        assert_eq!(command(Some("webpackOk"), none), None);
        assert_eq!(command(None, none), None);
    }

    #[test]
    fn output_text_never_splits_a_character() {
        let mut s = Utf8Stream::default();
        let bytes = "a€b😀".as_bytes();
        let mut out = String::new();
        for b in bytes {
            out.push_str(&s.push(std::slice::from_ref(b)));
        }
        assert_eq!(out, "a€b😀");
        assert_eq!(s.push(&[0xff, b'x']), "\u{fffd}x");
    }
}
