//! Files in and out of the guest: uploads (dropped on the terminal, picked with Upload, or
//! sent by an embedding page) go to the guest's helper on hvc1 and land in /root; files the
//! guest sends with `download FILE` become browser downloads. The protocol and the session
//! state are `kernel_host::files`; this module does the page's I/O: it reads the picked
//! files a slice at a time, and sends a slice only while little is in flight, so a big
//! upload moves at the guest's pace and never piles up in memory.

use crate::kernel::human_bytes;

/// The transfer line over the terminal.
#[derive(Clone, Debug, PartialEq)]
pub struct Transfer {
    pub text: String,
    /// `busy`, `done` or `failed` (the element's `data-state`).
    pub state: &'static str,
    /// 0..=1 while bytes move.
    pub progress: Option<f64>,
}

/// Bytes sent to the guest and not yet taken by its driver: one window's worth may wait.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
const WINDOW: u64 = 1 << 20;

/// "uploaded notes.txt to /root/notes.txt (12 KiB)"; says so when the guest had to pick
/// another name.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub fn stored_text(name: &str, path: &str, size: u64) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let dir = path.strip_suffix(base).unwrap_or("").trim_end_matches('/');
    if Some(base) == name.rsplit('/').next() {
        format!("uploaded {name} to {dir} ({})", human_bytes(size))
    } else {
        format!(
            "uploaded {name} as {path} ({}): a file named {name} was there already",
            human_bytes(size)
        )
    }
}

/// "uploading notes.txt: 45% (9.0 of 20 MiB)".
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub fn progress_text(verb: &str, name: &str, done: u64, size: u64) -> (String, Option<f64>) {
    if size == 0 {
        return (format!("{verb} {name}…"), None);
    }
    let f = (done as f64 / size as f64).clamp(0.0, 1.0);
    (
        format!(
            "{verb} {name}: {:.0}% ({} of {})",
            f * 100.0,
            human_bytes(done),
            human_bytes(size)
        ),
        Some(f),
    )
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;
    use crate::{embed, machine, AppState};
    use js_sys::{Array, Function, Promise, Uint8Array};
    use kernel_host::files::{Notice, Session, Step};
    use leptos::prelude::*;
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::Blob;

    /// The timeout that hides a finished transfer's line, and its callback.
    type PendingClear = (i32, Closure<dyn FnMut()>);

    struct Files {
        session: Session,
        /// The picked files of the uploads not finished, by id.
        blobs: BTreeMap<u32, (String, Blob)>,
        /// A download's name and size while it comes in.
        downloads: BTreeMap<u32, (String, u64)>,
    }

    thread_local! {
        static FILES: RefCell<Option<Files>> = const { RefCell::new(None) };
        static STATE: Cell<Option<AppState>> = const { Cell::new(None) };
        /// Bumped at every boot: a pump of the previous machine stops.
        static GENERATION: Cell<u32> = const { Cell::new(0) };
        static PUMPING: Cell<bool> = const { Cell::new(false) };
        /// Resolves the pump's wait for the guest to take bytes.
        static WAKE: RefCell<Option<Function>> = const { RefCell::new(None) };
        static CLEAR: RefCell<Option<PendingClear>> = const { RefCell::new(None) };
    }

    /// A new machine: a new session (the guest's helper will say hello).
    pub fn reset(s: AppState) {
        STATE.set(Some(s));
        GENERATION.set(GENERATION.get().wrapping_add(1));
        let old = FILES.with(|f| {
            f.borrow_mut().replace(Files {
                session: Session::new(),
                blobs: BTreeMap::new(),
                downloads: BTreeMap::new(),
            })
        });
        for (_, (name, _)) in old.map(|o| o.blobs).unwrap_or_default() {
            failed(&name, "the machine restarted");
        }
        wake();
    }

    fn wake() {
        if let Some(f) = WAKE.with(|w| w.borrow_mut().take()) {
            let _ = f.call0(&JsValue::NULL);
        }
    }

    fn show(t: Transfer) {
        let Some(s) = STATE.get() else { return };
        let finished = t.state != "busy";
        s.transfer.set(Some(t));
        // A finished transfer's line goes away after a while; a busy one stays.
        CLEAR.with(|c| {
            let w = web_sys::window();
            if let (Some((handle, _)), Some(w)) = (c.borrow_mut().take(), w.as_ref()) {
                w.clear_timeout_with_handle(handle);
            }
            if !finished {
                return;
            }
            let cb = Closure::<dyn FnMut()>::new(move || s.transfer.set(None));
            if let Some(Ok(handle)) = w.map(|w| {
                w.set_timeout_with_callback_and_timeout_and_arguments_0(
                    cb.as_ref().unchecked_ref(),
                    8000,
                )
            }) {
                *c.borrow_mut() = Some((handle, cb));
            }
        });
    }

    fn failed(name: &str, message: &str) {
        show(Transfer {
            text: format!("could not upload {name}: {message}"),
            state: "failed",
            progress: None,
        });
        embed::file_event(
            "alpenglow:upload-failed",
            &[("name", name.into()), ("message", message.into())],
        );
    }

    fn with<R>(f: impl FnOnce(&mut Files) -> R) -> Option<R> {
        FILES.with(|files| files.borrow_mut().as_mut().map(f))
    }

    /// Uploads `blob` to /root as `name` (what is after its last `/`).
    pub fn upload(name: String, blob: Blob) -> Result<(), String> {
        if name.is_empty() {
            return Err("a file to upload needs a name".into());
        }
        let size = blob.size() as u64;
        let ready = with(|f| {
            let id = f.session.upload(&name, size);
            f.blobs.insert(id, (name.clone(), blob));
            f.session.ready()
        })
        .ok_or("no machine is running")?;
        if !ready {
            show(Transfer {
                text: format!(
                    "{name} waits for the guest's file helper (alpenglow-files) to start"
                ),
                state: "busy",
                progress: None,
            });
        }
        pump();
        Ok(())
    }

    /// Bytes from the guest's helper.
    pub fn from_guest(bytes: &[u8]) {
        let Some((notices, reply)) = with(|f| f.session.receive(bytes)) else {
            return;
        };
        if !reply.is_empty() {
            let _ = machine::files_send(&reply);
        }
        for n in notices {
            notice(n);
        }
    }

    /// The guest took bytes: the pump may send more.
    pub fn taken() {
        wake();
        if let Some((id, sent, size)) = with(|f| f.session.current()).flatten() {
            let in_flight = machine::files_in_flight();
            let name = with(|f| f.blobs.get(&id).map(|b| b.0.clone())).flatten();
            if let Some(name) = name {
                let (text, progress) =
                    progress_text("uploading", &name, sent.saturating_sub(in_flight), size);
                show(Transfer {
                    text,
                    state: "busy",
                    progress,
                });
            }
        }
    }

    fn notice(n: Notice) {
        match n {
            Notice::Ready => pump(),
            Notice::Stored {
                id,
                name,
                path,
                size,
            } => {
                with(|f| f.blobs.remove(&id));
                show(Transfer {
                    text: stored_text(&name, &path, size),
                    state: "done",
                    progress: Some(1.0),
                });
                embed::file_event(
                    "alpenglow:uploaded",
                    &[
                        ("name", name.into()),
                        ("path", path.into()),
                        ("size", (size as f64).into()),
                    ],
                );
            }
            Notice::UploadFailed { id, name, message } => {
                with(|f| f.blobs.remove(&id));
                failed(&name, &message);
            }
            Notice::DownloadStarted { id, name, size } => {
                with(|f| f.downloads.insert(id, (name.clone(), size)));
                let (text, progress) = progress_text("downloading", &name, 0, size);
                show(Transfer {
                    text,
                    state: "busy",
                    progress,
                });
            }
            Notice::DownloadProgress { id, received, size } => {
                if let Some(name) = with(|f| f.downloads.get(&id).map(|d| d.0.clone())).flatten() {
                    let (text, progress) = progress_text("downloading", &name, received, size);
                    show(Transfer {
                        text,
                        state: "busy",
                        progress,
                    });
                }
            }
            Notice::Downloaded { id, name, bytes } => {
                with(|f| f.downloads.remove(&id));
                let size = bytes.len() as u64;
                let data = Uint8Array::from(&bytes[..]);
                drop(bytes);
                match save(&name, &data) {
                    Ok(()) => show(Transfer {
                        text: format!("downloaded {name} ({}) from the guest", human_bytes(size)),
                        state: "done",
                        progress: Some(1.0),
                    }),
                    Err(e) => show(Transfer {
                        text: format!("could not save {name}: {e}"),
                        state: "failed",
                        progress: None,
                    }),
                }
                embed::file_event(
                    "alpenglow:download",
                    &[("name", name.into()), ("data", data.buffer().into())],
                );
            }
            Notice::DownloadFailed { id, name, message } => {
                with(|f| f.downloads.remove(&id));
                show(Transfer {
                    text: format!("could not download {name}: {message}"),
                    state: "failed",
                    progress: None,
                });
            }
            Notice::Garbled(why) => {
                web_sys::console::warn_1(&format!("alpenglow: files channel: {why}").into())
            }
        }
    }

    /// Hands `data` to the browser as a download named `name`.
    fn save(name: &str, data: &Uint8Array) -> Result<(), String> {
        let err = |e: JsValue| kernel_host::browser::js_error_message(&e);
        let parts = Array::of1(data);
        // Untyped, the browser would sniff text and add ".txt" to a name without extension.
        let kind = web_sys::BlobPropertyBag::new();
        kind.set_type("application/octet-stream");
        let blob = Blob::new_with_u8_array_sequence_and_options(&parts, &kind).map_err(err)?;
        let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(err)?;
        let doc = web_sys::window()
            .and_then(|w| w.document())
            .ok_or("no document")?;
        let a: web_sys::HtmlAnchorElement = doc.create_element("a").map_err(err)?.unchecked_into();
        a.set_href(&url);
        a.set_download(name);
        a.click();
        // The browser has taken the URL once the click is handled; free it a little later.
        let cb = Closure::once_into_js(move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        });
        if let Some(w) = web_sys::window() {
            let _ =
                w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), 60_000);
        }
        Ok(())
    }

    /// Sends queued uploads while the guest keeps up; one pump at a time.
    fn pump() {
        if PUMPING.get() {
            return;
        }
        PUMPING.set(true);
        let generation = GENERATION.get();
        leptos::task::spawn_local(async move {
            let result = run_pump(generation).await;
            PUMPING.set(false);
            if let Err(e) = result {
                web_sys::console::warn_1(&format!("alpenglow: upload: {e}").into());
            }
        });
    }

    async fn run_pump(generation: u32) -> Result<(), String> {
        loop {
            if GENERATION.get() != generation {
                return Ok(());
            }
            // Wait while a window's worth waits in the guest's queue.
            while machine::files_in_flight() >= WINDOW {
                let waited = Promise::new(&mut |resolve, _| {
                    WAKE.with(|w| *w.borrow_mut() = Some(resolve));
                });
                let _ = JsFuture::from(waited).await;
                if GENERATION.get() != generation {
                    return Ok(());
                }
            }
            let Some(step) = with(|f| f.session.next_step()).flatten() else {
                return Ok(());
            };
            match step {
                Step::Send(bytes) => machine::files_send(&bytes)?,
                Step::Read { id, offset, len } => {
                    let Some((name, blob)) = with(|f| f.blobs.get(&id).cloned()).flatten() else {
                        return Err(format!("upload {id} has no file"));
                    };
                    if offset == 0 {
                        let (text, progress) =
                            progress_text("uploading", &name, 0, blob.size() as u64);
                        show(Transfer {
                            text,
                            state: "busy",
                            progress,
                        });
                    }
                    match read(&blob, offset, len).await {
                        Ok(bytes) if bytes.len() == len => {
                            if GENERATION.get() != generation {
                                return Ok(());
                            }
                            let frame = with(|f| f.session.data(id, &bytes)).unwrap_or_default();
                            machine::files_send(&frame)?;
                        }
                        other => {
                            let why = match other {
                                Ok(b) => {
                                    format!("read {} bytes where {len} were expected", b.len())
                                }
                                Err(e) => e,
                            };
                            let why = format!("reading the file: {why}");
                            if let Some((bytes, n)) = with(|f| f.session.cancel(id, &why)) {
                                machine::files_send(&bytes)?;
                                if let Some(n) = n {
                                    notice(n);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    async fn read(blob: &Blob, offset: u64, len: usize) -> Result<Vec<u8>, String> {
        let err = |e: JsValue| kernel_host::browser::js_error_message(&e);
        let part = blob
            .slice_with_f64_and_f64(offset as f64, (offset + len as u64) as f64)
            .map_err(err)?;
        let buffer = JsFuture::from(part.array_buffer()).await.map_err(err)?;
        Ok(Uint8Array::new(&buffer).to_vec())
    }
}

#[cfg(target_arch = "wasm32")]
pub use imp::{from_guest, reset, taken, upload};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_says_where_the_file_went() {
        assert_eq!(
            stored_text("notes.txt", "/root/notes.txt", 12 * 1024),
            "uploaded notes.txt to /root (12 KiB)"
        );
        assert_eq!(
            stored_text("notes.txt", "/root/notes-1.txt", 5),
            "uploaded notes.txt as /root/notes-1.txt (5 bytes): a file named notes.txt was there already"
        );
        let (t, p) = progress_text("uploading", "big.bin", 9 << 20, 20 << 20);
        assert_eq!(t, "uploading big.bin: 45% (9 MiB of 20 MiB)");
        assert_eq!(p, Some(0.45));
        assert_eq!(progress_text("uploading", "e", 0, 0).1, None);
    }
}
