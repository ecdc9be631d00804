//! The page's side of the guest's HTTP requests (`kernel_host::net::web`): each complete
//! request becomes a `fetch()` from this worker — through the page's service worker, so the
//! site's cached files answer offline — and its response goes back to the gateway as it
//! arrives: status and headers, then the body piece by piece, read no faster than the guest
//! takes it.

use crate::devices::Devices;
use crate::outbox::scope;
use crate::state;
use js_sys::{Array, Reflect, Uint8Array};
use kernel_host::browser::js_error_message;
use kernel_host::net::web::Fetch;
use kernel_host::virtio::Effect;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, ReadableStreamDefaultReader, RequestInit, Response};

/// One step on the device state, returning the effects to carry out.
pub type Step = Box<dyn FnOnce(&mut Devices) -> Vec<Effect>>;
/// Serves a step and carries out its effects (`messages::device`).
pub type Serve = fn(Step);

/// Bytes of a response the guest has not taken yet above which reading the body pauses.
const BACKLOG_LIMIT: usize = 1 << 20;
/// How often a paused body checks whether the guest has caught up, in milliseconds.
const BACKLOG_WAIT_MS: i32 = 2;

/// Makes the request; the response arrives through `serve`.
pub fn spawn(fetch: Fetch, serve: Serve) {
    wasm_bindgen_futures::spawn_local(async move {
        let id = fetch.id;
        let url = fetch.url.clone();
        if let Err(failure) = run(fetch, serve).await {
            let why = match failure {
                Failure::Request(e) => format!(
                    "fetch {url} failed: {e} (offline, or the site does not let \
                     this page read it: CORS)"
                ),
                Failure::Body(e) => format!("reading {url} failed: {e}"),
            };
            serve(Box::new(move |d| d.web(|w| w.fail(id, 502, &why))));
        }
    });
}

enum Failure {
    Request(String),
    Body(String),
}

async fn run(fetch: Fetch, serve: Serve) -> Result<(), Failure> {
    let id = fetch.id;
    let init = RequestInit::new();
    init.set_method(&fetch.method);
    let headers = Headers::new().map_err(|e| Failure::Request(js_error_message(&e)))?;
    for (name, value) in &fetch.headers {
        // The browser drops the headers a page may not set (Host, Accept-Encoding, …).
        let _ = headers.append(name, &String::from_utf8_lossy(value));
    }
    init.set_headers(&headers);
    if !fetch.body.is_empty() {
        init.set_body(&Uint8Array::from(&fetch.body[..]));
    }
    let response: Response = JsFuture::from(scope().fetch_with_str_and_init(&fetch.url, &init))
        .await
        .and_then(|r| r.dyn_into())
        .map_err(|e| Failure::Request(js_error_message(&e)))?;

    let status = response.status();
    let reason = response.status_text();
    let head = header_list(&response.headers());
    serve(Box::new(move |d| {
        d.web(|w| w.head(id, status, &reason, &head))
    }));

    if let Some(stream) = response.body() {
        let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
        loop {
            let chunk = JsFuture::from(reader.read())
                .await
                .map_err(|e| Failure::Body(js_error_message(&e)))?;
            if Reflect::get(&chunk, &"done".into()).is_ok_and(|d| d.is_truthy()) {
                break;
            }
            let bytes = Reflect::get(&chunk, &"value".into())
                .ok()
                .and_then(|v| v.dyn_into::<Uint8Array>().ok())
                .map(|v| v.to_vec())
                .unwrap_or_default();
            serve(Box::new(move |d| d.web(|w| w.body(id, &bytes))));
            if !wait_for_guest(id).await {
                // The guest closed the connection: the rest is not wanted.
                let _ = reader.cancel();
                return Ok(());
            }
        }
    }
    serve(Box::new(move |d| d.web(|w| w.end(id))));
    Ok(())
}

/// Waits while the guest has more than [`BACKLOG_LIMIT`] of this response to take; false
/// when its connection is gone.
async fn wait_for_guest(id: u64) -> bool {
    loop {
        match state::with(|w| w.devices.as_ref().and_then(|d| d.web_backlog(id))) {
            None => return false,
            Some(n) if n <= BACKLOG_LIMIT => return true,
            Some(_) => sleep(BACKLOG_WAIT_MS).await,
        }
    }
}

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

/// A response's headers as (name, value) pairs.
fn header_list(headers: &Headers) -> Vec<(String, Vec<u8>)> {
    let Ok(Some(entries)) = js_sys::try_iter(headers) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pair: Array = entry.dyn_into().ok()?;
            let name = pair.get(0).as_string()?;
            let value = pair.get(1).as_string()?;
            Some((name, value.into_bytes()))
        })
        .collect()
}
