//! The device worker's WebSocket to the relay (`kernel_host::net::relay`): one socket
//! carries every stream. `messages.rs` opens it when the gateway has a stream for it and
//! hands its events to the gateway; this file only wraps the browser's socket.

use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

/// What the socket tells its owner.
pub struct Handlers {
    pub open: Box<dyn Fn()>,
    /// A binary message (text messages are not Wisp, and are ignored).
    pub message: Box<dyn Fn(Vec<u8>)>,
    /// The socket closed, or never opened: why, in words.
    pub close: Box<dyn Fn(String)>,
}

/// The open (or opening) socket and the handlers that must live as long as it does.
pub struct Socket {
    socket: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    /// Starts connecting to `url`; Err when the browser refuses the URL itself.
    pub fn open(url: &str, handlers: Handlers) -> Result<Socket, String> {
        let socket = WebSocket::new(url).map_err(|e| {
            format!(
                "cannot open {url}: {}",
                kernel_host::browser::js_error_message(&e)
            )
        })?;
        socket.set_binary_type(BinaryType::Arraybuffer);
        let Handlers {
            open,
            message,
            close,
        } = handlers;
        let on_open = Closure::<dyn FnMut()>::new(open);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            if let Ok(buffer) = ev.data().dyn_into::<ArrayBuffer>() {
                message(Uint8Array::new(&buffer).to_vec());
            }
        });
        let url = url.to_string();
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
            close(match (ev.code(), ev.reason()) {
                // 1006: no closing handshake: refused, unreachable, or dropped.
                (1006, _) => format!("{url} could not be reached, or dropped the connection"),
                (code, r) if r.is_empty() => format!("{url} closed the connection ({code})"),
                (code, r) => format!("{url} closed the connection ({code}: {r})"),
            })
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket {
            socket,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    /// Sends one Wisp packet; false when the socket is not open.
    pub fn send(&self, packet: &[u8]) -> bool {
        self.socket.send_with_u8_array(packet).is_ok()
    }

    /// Closes the socket and silences it. Its handlers stay alive: this may run inside one
    /// of them (the socket closing), and a closure must not be dropped while it runs.
    pub fn shut(&self) {
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        let _ = self.socket.close();
    }
}
