//! The page's side of `sw.js`, the app's service worker: it gives a page served without the
//! cross-origin isolation headers those headers (one reload), and keeps what the page fetched
//! in a cache so a later visit boots offline. See docs/offline.md.

use crate::artifacts::js_error;
use js_sys::{Array, Object, Promise, Reflect};
use leptos::prelude::{RwSignal, Set};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MessageChannel, MessageEvent, ServiceWorker, ServiceWorkerContainer, ServiceWorkerRegistration,
};

/// The service worker script, next to index.html (its scope is the site).
const SCRIPT: &str = "./sw.js";
/// Set in sessionStorage just before the one reload that should make the page isolated.
const RELOADED: &str = "alpenglow-isolation-reload";
/// The kernel worker's files (worker/worker_loader.js and trunk's output): workers
/// may fetch them before the service worker controls the page, so they are always listed.
const WORKER_FILES: [&str; 3] = ["./worker_loader.js", "./worker.js", "./worker_bg.wasm"];

/// Whether the page has a copy of everything it needs to start offline.
#[derive(Clone, Debug, PartialEq)]
pub enum Offline {
    /// Not known yet (still loading).
    Unknown,
    /// The service worker is storing what the page fetched.
    Saving,
    /// Everything is cached: a reload works without the network.
    Ready,
    /// No offline copy, and why.
    Unavailable(String),
}

impl Offline {
    pub fn name(&self) -> &'static str {
        match self {
            Offline::Unknown => "unknown",
            Offline::Saving => "saving",
            Offline::Ready => "ready",
            Offline::Unavailable(_) => "unavailable",
        }
    }
}

/// `navigator.serviceWorker`, if this browser offers it here (not in insecure contexts, nor
/// where service workers are disabled).
pub fn container() -> Option<ServiceWorkerContainer> {
    let navigator = web_sys::window()?.navigator();
    let sw = Reflect::get(&navigator, &"serviceWorker".into()).ok()?;
    if sw.is_undefined() || sw.is_null() {
        return None;
    }
    sw.dyn_into().ok()
}

fn session() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

async fn sleep(ms: i32) {
    let p = Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(p).await;
}

/// Registers the service worker and waits until it is active; returns the active worker.
async fn register(c: &ServiceWorkerContainer) -> Result<Option<ServiceWorker>, String> {
    JsFuture::from(c.register(SCRIPT))
        .await
        .map_err(|e| format!("registering {SCRIPT} failed: {}", js_error(&e)))?;
    let ready = c.ready().map_err(|e| js_error(&e))?;
    let registration: ServiceWorkerRegistration = JsFuture::from(ready)
        .await
        .map_err(|e| js_error(&e))?
        .unchecked_into();
    Ok(registration.active())
}

/// The page is not cross-origin isolated: register the service worker and reload once, so the
/// page comes back through it with the headers. `Ok` means the reload is under way; `Err` says
/// why the service worker cannot help (the page then explains what the host must do).
pub async fn isolate() -> Result<(), String> {
    let c = container().ok_or(
        "this browser offers no service workers here (disabled, a private window, or not a \
         secure context)",
    )?;
    let store = session().ok_or("no sessionStorage to guard the reload with")?;
    if store.get_item(RELOADED).ok().flatten().is_some() {
        // Guard against a reload loop: one try per tab until the page is isolated.
        return Err(
            "the page was reloaded through the service worker and is still not \
                    isolated"
                .into(),
        );
    }
    register(&c).await?;
    store
        .set_item(RELOADED, "1")
        .map_err(|e| format!("sessionStorage: {}", js_error(&e)))?;
    web_sys::window()
        .ok_or("no window")?
        .location()
        .reload()
        .map_err(|e| js_error(&e))
}

/// The page is isolated: forget the reload guard, so a later visit that arrives without the
/// service worker (e.g. a hard reload) may reload once again.
pub fn isolated_now() {
    if let Some(s) = session() {
        let _ = s.remove_item(RELOADED);
    }
}

/// Registers the service worker and waits, at most `wait_ms`, until it controls the page, so
/// the downloads that follow go through it (and are cached). Returns whether it does; the page
/// works the same without it.
pub async fn take_control(wait_ms: i32) -> bool {
    let Some(c) = container() else {
        return false;
    };
    if c.controller().is_some() {
        return true;
    }
    match register(&c).await {
        // sw.js claims open pages when it activates; one that was active already (the page
        // was loaded past it, e.g. by a hard reload) is asked to.
        Ok(Some(active)) => {
            let msg = Object::new();
            let _ = Reflect::set(&msg, &"type".into(), &"claim".into());
            let _ = active.post_message(&msg);
        }
        Ok(None) => {}
        Err(e) => {
            web_sys::console::warn_1(&e.into());
            return false;
        }
    }
    let mut waited = 0;
    while c.controller().is_none() && waited < wait_ms {
        sleep(50).await;
        waited += 50;
    }
    c.controller().is_some()
}

/// Asks the service worker to store whatever the page fetched that it does not have yet (what
/// was loaded before it controlled the page); `status` says `Ready` once it has everything.
pub async fn save(status: RwSignal<Offline>) {
    status.set(Offline::Saving);
    let state = match ask_to_cache().await {
        Ok(missing) if missing.is_empty() => Offline::Ready,
        Ok(missing) => Offline::Unavailable(format!("not cached: {}", missing.join(", "))),
        Err(e) => Offline::Unavailable(e),
    };
    status.set(state);
}

async fn ask_to_cache() -> Result<Vec<String>, String> {
    let c = container().ok_or("no service workers in this browser")?;
    let sw = c
        .controller()
        .ok_or("the service worker does not control this page")?;
    let urls = Array::new();
    urls.push(&"./".into());
    for f in WORKER_FILES {
        urls.push(&f.into());
    }
    let window = web_sys::window().ok_or("no window")?;
    if let Some(perf) = window.performance() {
        for entry in perf.get_entries_by_type("resource").iter() {
            if let Ok(name) = Reflect::get(&entry, &"name".into()) {
                urls.push(&name);
            }
        }
    }
    let channel = MessageChannel::new().map_err(|e| js_error(&e))?;
    let port = channel.port1();
    let reply = Promise::new(&mut |resolve, _| {
        let on_reply = Closure::once_into_js(move |ev: MessageEvent| {
            let _ = resolve.call1(&JsValue::NULL, &ev.data());
        });
        port.set_onmessage(Some(on_reply.unchecked_ref()));
    });
    let msg = Object::new();
    let _ = Reflect::set(&msg, &"type".into(), &"cache".into());
    let _ = Reflect::set(&msg, &"urls".into(), &urls);
    sw.post_message_with_transferable(&msg, &Array::of1(&channel.port2()))
        .map_err(|e| js_error(&e))?;
    let answer = JsFuture::from(reply).await.map_err(|e| js_error(&e))?;
    let missing = Reflect::get(&answer, &"missing".into())
        .ok()
        .map(|m| {
            Array::from(&m)
                .iter()
                .filter_map(|v| v.as_string())
                .collect()
        })
        .unwrap_or_default();
    Ok(missing)
}
