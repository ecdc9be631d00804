//! The Web Locks API (`navigator.locks`), which web-sys does not bind in the version used:
//! the disk's lock is taken by the device worker while it serves the disk and by the page
//! while it changes the file (docs/disk.md), both through this.

use super::js_error_message;
use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// `navigator.locks` of `navigator` (a window's or a worker's) and its `request` method.
pub fn lock_manager(navigator: &JsValue) -> Result<(JsValue, Function), String> {
    let locks = Reflect::get(navigator, &"locks".into())
        .ok()
        .filter(|l| !l.is_undefined())
        .ok_or("this browser has no Web Locks (navigator.locks)")?;
    let request: Function = Reflect::get(&locks, &"request".into())
        .map_err(|e| format!("navigator.locks.request: {}", js_error_message(&e)))?
        .dyn_into()
        .map_err(|_| "navigator.locks.request is not a function")?;
    Ok((locks, request))
}
