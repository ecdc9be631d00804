//! Messages to the main thread (`kernel_host::browser::protocol::FromWorker`), from either
//! role. Posting never calls back into the worker, so it is safe anywhere.

use js_sys::Array;
use kernel_host::browser::js_error_message;
use kernel_host::browser::protocol::{self, FromWorker};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::DedicatedWorkerGlobalScope;

pub fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

pub fn post(msg: &FromWorker) {
    post_with(msg, None);
}

/// Posts `msg`, transferring `transfer` (a buffer the worker gives up) if given.
pub fn post_with(msg: &FromWorker, transfer: Option<&JsValue>) {
    let sent = protocol::encode(msg).and_then(|v| {
        match transfer {
            Some(t) => scope().post_message_with_transfer(&v, &Array::of1(t)),
            None => scope().post_message(&v),
        }
        .map_err(|e| js_error_message(&e))
    });
    if let Err(e) = sent {
        web_sys::console::error_1(&format!("kernel worker: cannot post a message: {e}").into());
    }
}

/// Tells the main thread this worker cannot go on: `Init` failed or the kernel call threw.
pub fn trap(message: String, stack: Option<String>) {
    post(&FromWorker::Trap { message, stack });
}
