//! The disk's tools on the page: erasing it. While a machine runs, its device worker holds
//! the disk file and its Web Lock (`worker/src/disk.rs`, docs/disk.md); the page stops the
//! machine, takes the same lock — granted once that worker has ended — and removes the file
//! under it. The next boot finds no file and makes a fresh disk.

use js_sys::{Function, Promise, Reflect};
use kernel_host::browser::DiskOptions;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

fn js(what: &'static str) -> impl Fn(JsValue) -> String {
    move |e| format!("{what}: {}", kernel_host::browser::js_error_message(&e))
}

/// How long the page waits for the disk's lock: the stopped machine's worker lets go at
/// once; a lock still held after this belongs to another tab.
const LOCK_WAIT_MS: i32 = 5000;

/// Removes the disk file `disk.file` of this origin. A file that is not there is already
/// erased.
pub async fn erase(disk: &DiskOptions) -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    let navigator = window.navigator();
    let locks = Reflect::get(&navigator, &"locks".into())
        .ok()
        .filter(|l| !l.is_undefined())
        .ok_or("this browser has no Web Locks (navigator.locks)")?;
    let request: Function = Reflect::get(&locks, &"request".into())
        .map_err(js("navigator.locks.request"))?
        .dyn_into()
        .map_err(|_| "navigator.locks.request is not a function")?;
    let file = disk.file.clone();
    let storage = navigator.storage();
    let remove = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        future_to_promise(async move {
            let root: web_sys::FileSystemDirectoryHandle =
                JsFuture::from(storage.get_directory()).await?.dyn_into()?;
            match JsFuture::from(root.remove_entry(&file)).await {
                Ok(_) => Ok(JsValue::UNDEFINED),
                Err(e) if error_name(&e) == "NotFoundError" => Ok(JsValue::UNDEFINED),
                Err(e) => Err(e),
            }
        })
        .into()
    });
    // Given up after LOCK_WAIT_MS: the request is aborted and its promise rejects.
    let controller = web_sys::AbortController::new().map_err(js("AbortController"))?;
    let options = js_sys::Object::new();
    Reflect::set(&options, &"signal".into(), &controller.signal()).map_err(js("lock options"))?;
    let abort = Closure::once_into_js(move || controller.abort());
    window
        .set_timeout_with_callback_and_timeout_and_arguments_0(abort.unchecked_ref(), LOCK_WAIT_MS)
        .map_err(js("setTimeout"))?;
    let granted: Promise = request
        .call3(&locks, &disk.lock_name().into(), &options, &remove)
        .map_err(js("navigator.locks.request"))?
        .dyn_into()
        .map_err(|_| "navigator.locks.request returned no promise")?;
    match JsFuture::from(granted).await {
        Ok(_) => Ok(()),
        Err(e) if error_name(&e) == "AbortError" => {
            Err("the disk is in use by another tab of this site".into())
        }
        Err(e) => Err(js("removing the disk file")(e)),
    }
}

fn error_name(e: &JsValue) -> String {
    Reflect::get(e, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default()
}
