//! The page's side of `/_port/N/…`: the service worker (`app/sw.js`) hands a request for a
//! server in the guest to the pages of the site; the one that runs a machine asks the guest
//! (`Machine::forward`, answered by the gateway in the device worker) and sends the answer
//! back on the request's message port. A page without a machine answers `null` at once, so
//! the service worker asks the next.

use crate::machine::Machine;
use js_sys::{Array, Object, Reflect, Uint8Array};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{MessageEvent, MessagePort};

/// What the service worker sends: `{type: TYPE, port, method, path, headers, body}`.
const TYPE: &str = "guest-http";

/// The requests the machine was asked and has not answered yet, by id.
pub struct Ports {
    next_id: Cell<u32>,
    waiting: RefCell<HashMap<u32, MessagePort>>,
}

fn field(data: &JsValue, name: &str) -> JsValue {
    Reflect::get(data, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// The request in `data`, if it is one: port, method, path, headers, body.
type Request = (u16, String, String, Vec<(String, String)>, Vec<u8>);

fn request(data: &JsValue) -> Option<Request> {
    if field(data, "type").as_string()? != TYPE {
        return None;
    }
    let port = field(data, "port")
        .as_f64()
        .filter(|p| (1.0..=65535.0).contains(p))? as u16;
    let method = field(data, "method").as_string()?;
    let path = field(data, "path").as_string()?;
    let headers = field(data, "headers")
        .dyn_into::<Array>()
        .map(|list| {
            list.iter()
                .filter_map(|pair| {
                    let pair: Array = pair.dyn_into().ok()?;
                    Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
                })
                .collect()
        })
        .unwrap_or_default();
    let body = field(data, "body");
    let body = if body.is_object() {
        Uint8Array::new(&body).to_vec()
    } else {
        Vec::new()
    };
    Some((port, method, path, headers, body))
}

impl Ports {
    pub fn new() -> Ports {
        Ports {
            next_id: Cell::new(1),
            waiting: RefCell::new(HashMap::new()),
        }
    }

    /// Listens to the service worker's messages for as long as the page lives.
    pub fn listen(&'static self, machine: &'static Machine) {
        let Some(container) = crate::offline::container() else {
            return;
        };
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let Some((port, method, path, headers, body)) = request(&ev.data()) else {
                return;
            };
            let Some(reply) = ev.ports().get(0).dyn_into::<MessagePort>().ok() else {
                return;
            };
            let id = self.next_id.get();
            self.next_id.set(id.wrapping_add(1));
            match machine.forward(id, port, &method, &path, headers, &body) {
                Ok(()) => {
                    self.waiting.borrow_mut().insert(id, reply);
                }
                Err(_) => {
                    let _ = reply.post_message(&JsValue::NULL);
                }
            }
        });
        container.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // The listener lives as long as the page.
        on_message.forget();
    }

    /// The machine's answer to request `id`: to the service worker, as
    /// `{status, statusText, headers, body}`.
    pub fn answer(
        &self,
        id: u32,
        status: u16,
        reason: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) {
        let Some(reply) = self.waiting.borrow_mut().remove(&id) else {
            return;
        };
        let answer = Object::new();
        let list: Array = headers
            .iter()
            .map(|(k, v)| Array::of2(&k.into(), &v.into()))
            .collect();
        let _ = Reflect::set(&answer, &"status".into(), &status.into());
        let _ = Reflect::set(&answer, &"statusText".into(), &reason.into());
        let _ = Reflect::set(&answer, &"headers".into(), &list);
        let _ = Reflect::set(&answer, &"body".into(), &Uint8Array::from(body));
        let _ = reply.post_message(&answer);
    }

    /// The machine stopped: requests it will never answer get `null` (the service worker then
    /// says so).
    pub fn abandon_all(&self) {
        for (_, reply) in self.waiting.borrow_mut().drain() {
            let _ = reply.post_message(&JsValue::NULL);
        }
    }
}
