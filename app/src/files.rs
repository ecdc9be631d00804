//! Files in and out of the guest: uploads (dropped on the terminal, picked with Upload, or
//! sent by an embedding page) go to the guest's helper on hvc1 and land in /root; files the
//! guest sends with `download FILE` become browser downloads. The protocol and the session
//! state are `kernel_host::files`; this module does the page's I/O: it reads the picked
//! files a slice at a time, and sends a slice only while little is in flight, so a big
//! upload moves at the guest's pace and never piles up in memory.

use crate::embed::Link;
use crate::format::{human_bytes, progress_text, stored_text};
use crate::machine::Machine;
use crate::state::{AppState, Transfer};
use js_sys::{Array, Function, Promise, Uint8Array};
use kernel_host::files::{Notice, Session, Step};
use leptos::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

/// Bytes sent to the guest and not yet taken by its driver: one window's worth may wait.
const WINDOW: u64 = 1 << 20;

/// The timeout that hides a finished transfer's line, and its callback.
type PendingClear = (i32, Closure<dyn FnMut()>);

/// What an apk run the page asked for ([`Files::apk`]) reports.
pub enum ApkEvent {
    /// Some of what it wrote.
    Output(String),
    /// It ended: its exit status, or why it did not run to the end.
    Done(Result<i32, String>),
}

type ApkHandler = Box<dyn FnMut(ApkEvent)>;

/// One machine's session and the transfers in it.
struct Current {
    session: Session,
    /// The picked files of the uploads not finished, by id.
    blobs: BTreeMap<u32, (String, Blob)>,
    /// A download's name and size while it comes in.
    downloads: BTreeMap<u32, (String, u64)>,
    /// Who hears of each apk run.
    runs: BTreeMap<u32, ApkHandler>,
}

/// Owns the files session of the running machine, its upload pump and the transfer line.
pub struct Files {
    s: AppState,
    machine: &'static Machine,
    /// Where `alpenglow:uploaded`, `…upload-failed` and `…download` go.
    link: &'static Link,
    current: RefCell<Option<Current>>,
    /// Bumped at every boot: a pump of the previous machine stops.
    generation: Cell<u32>,
    pumping: Cell<bool>,
    /// Resolves the pump's wait for the guest to take bytes.
    wake: RefCell<Option<Function>>,
    clear: RefCell<Option<PendingClear>>,
}

impl Files {
    pub fn new(s: AppState, machine: &'static Machine, link: &'static Link) -> Files {
        Files {
            s,
            machine,
            link,
            current: RefCell::new(None),
            generation: Cell::new(0),
            pumping: Cell::new(false),
            wake: RefCell::new(None),
            clear: RefCell::new(None),
        }
    }

    /// A new machine: a new session (the guest's helper will say hello).
    pub fn reset(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        let old = self.current.borrow_mut().replace(Current {
            session: Session::new(),
            blobs: BTreeMap::new(),
            downloads: BTreeMap::new(),
            runs: BTreeMap::new(),
        });
        if let Some(old) = old {
            for (_, (name, _)) in old.blobs {
                self.failed(&name, "the machine restarted");
            }
            for (_, mut handler) in old.runs {
                handler(ApkEvent::Done(Err("the machine restarted".into())));
            }
        }
        self.wake();
    }

    fn wake(&self) {
        if let Some(f) = self.wake.borrow_mut().take() {
            let _ = f.call0(&JsValue::NULL);
        }
    }

    fn show(&self, t: Transfer) {
        let s = self.s;
        let finished = t.state != "busy";
        s.transfer.set(Some(t));
        // A finished transfer's line goes away after a while; a busy one stays.
        let w = web_sys::window();
        let mut c = self.clear.borrow_mut();
        if let (Some((handle, _)), Some(w)) = (c.take(), w.as_ref()) {
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
            *c = Some((handle, cb));
        }
    }

    fn failed(&self, name: &str, message: &str) {
        self.show(Transfer {
            text: format!("could not upload {name}: {message}"),
            state: "failed",
            progress: None,
        });
        self.link.file_event(
            "alpenglow:upload-failed",
            &[("name", name.into()), ("message", message.into())],
        );
    }

    fn with<R>(&self, f: impl FnOnce(&mut Current) -> R) -> Option<R> {
        self.current.borrow_mut().as_mut().map(f)
    }

    /// Uploads `blob` to /root as `name` (what is after its last `/`).
    pub fn upload(&'static self, name: String, blob: Blob) -> Result<(), String> {
        if name.is_empty() {
            return Err("a file to upload needs a name".into());
        }
        let size = blob.size() as u64;
        let ready = self
            .with(|f| {
                let id = f.session.upload(&name, size);
                f.blobs.insert(id, (name.clone(), blob));
                f.session.ready()
            })
            .ok_or("no machine is running")?;
        if !ready {
            self.show(Transfer {
                text: format!(
                    "{name} waits for the guest's file helper (alpenglow-files) to start"
                ),
                state: "busy",
                progress: None,
            });
        }
        self.pump();
        Ok(())
    }

    /// Runs the guest's own `apk` with `args` through its helper (not in the person's shell);
    /// `on` hears what it writes and how it ends. Runs go one at a time, in order.
    pub fn apk(&'static self, args: Vec<String>, on: impl FnMut(ApkEvent) + 'static) {
        let mut on: Option<ApkHandler> = Some(Box::new(on));
        self.with(|f| {
            let id = f.session.apk(args);
            if let Some(on) = on.take() {
                f.runs.insert(id, on);
            }
        });
        match on {
            Some(mut on) => on(ApkEvent::Done(Err("the machine is not running".into()))),
            None => self.start_runs(),
        }
    }

    fn start_runs(&self) {
        if let Some(Some(frame)) = self.with(|f| f.session.next_run()) {
            let _ = self.machine.files_send(&frame);
        }
    }

    /// Tells run `id`'s handler; it is dropped once the run is done.
    fn tell_run(&self, id: u32, event: ApkEvent) {
        let done = matches!(event, ApkEvent::Done(_));
        // The handler is taken out while it runs: it may start another run.
        let Some(Some(mut handler)) = self.with(|f| f.runs.remove(&id)) else {
            return;
        };
        handler(event);
        if !done {
            self.with(|f| f.runs.insert(id, handler));
        }
    }

    /// Bytes from the guest's helper.
    pub fn receive(&'static self, bytes: &[u8]) {
        let Some((notices, reply)) = self.with(|f| f.session.receive(bytes)) else {
            return;
        };
        if !reply.is_empty() {
            let _ = self.machine.files_send(&reply);
        }
        for n in notices {
            self.notice(n);
        }
    }

    /// The guest took bytes: the pump may send more.
    pub fn taken(&self) {
        self.wake();
        if let Some((id, sent, size)) = self.with(|f| f.session.current()).flatten() {
            let in_flight = self.machine.files_in_flight();
            let name = self
                .with(|f| f.blobs.get(&id).map(|b| b.0.clone()))
                .flatten();
            if let Some(name) = name {
                let (text, progress) =
                    progress_text("uploading", &name, sent.saturating_sub(in_flight), size);
                self.show(Transfer {
                    text,
                    state: "busy",
                    progress,
                });
            }
        }
    }

    fn notice(&'static self, n: Notice) {
        match n {
            Notice::Ready => {
                self.pump();
                self.start_runs();
            }
            Notice::ApkOutput { id, text } => self.tell_run(id, ApkEvent::Output(text)),
            Notice::ApkDone { id, status } => {
                self.tell_run(id, ApkEvent::Done(status));
                self.start_runs();
            }
            Notice::Stored {
                id,
                name,
                path,
                size,
            } => {
                self.with(|f| f.blobs.remove(&id));
                self.show(Transfer {
                    text: stored_text(&name, &path, size),
                    state: "done",
                    progress: Some(1.0),
                });
                self.link.file_event(
                    "alpenglow:uploaded",
                    &[
                        ("name", name.into()),
                        ("path", path.into()),
                        ("size", (size as f64).into()),
                    ],
                );
            }
            Notice::UploadFailed { id, name, message } => {
                self.with(|f| f.blobs.remove(&id));
                self.failed(&name, &message);
            }
            Notice::DownloadStarted { id, name, size } => {
                self.with(|f| f.downloads.insert(id, (name.clone(), size)));
                let (text, progress) = progress_text("downloading", &name, 0, size);
                self.show(Transfer {
                    text,
                    state: "busy",
                    progress,
                });
            }
            Notice::DownloadProgress { id, received, size } => {
                let name = self
                    .with(|f| f.downloads.get(&id).map(|d| d.0.clone()))
                    .flatten();
                if let Some(name) = name {
                    let (text, progress) = progress_text("downloading", &name, received, size);
                    self.show(Transfer {
                        text,
                        state: "busy",
                        progress,
                    });
                }
            }
            Notice::Downloaded { id, name, bytes } => {
                self.with(|f| f.downloads.remove(&id));
                let size = bytes.len() as u64;
                let data = Uint8Array::from(&bytes[..]);
                drop(bytes);
                match save(&name, &data) {
                    Ok(()) => self.show(Transfer {
                        text: format!("downloaded {name} ({}) from the guest", human_bytes(size)),
                        state: "done",
                        progress: Some(1.0),
                    }),
                    Err(e) => self.show(Transfer {
                        text: format!("could not save {name}: {e}"),
                        state: "failed",
                        progress: None,
                    }),
                }
                self.link.file_event(
                    "alpenglow:download",
                    &[("name", name.into()), ("data", data.buffer().into())],
                );
            }
            Notice::DownloadFailed { id, name, message } => {
                self.with(|f| f.downloads.remove(&id));
                self.show(Transfer {
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

    /// Sends queued uploads while the guest keeps up; one pump at a time.
    fn pump(&'static self) {
        if self.pumping.get() {
            return;
        }
        self.pumping.set(true);
        let generation = self.generation.get();
        leptos::task::spawn_local(async move {
            let result = self.run_pump(generation).await;
            self.pumping.set(false);
            if let Err(e) = result {
                web_sys::console::warn_1(&format!("alpenglow: upload: {e}").into());
            }
        });
    }

    async fn run_pump(&'static self, generation: u32) -> Result<(), String> {
        let machine = self.machine;
        loop {
            if self.generation.get() != generation {
                return Ok(());
            }
            // Wait while a window's worth waits in the guest's queue.
            while machine.files_in_flight() >= WINDOW {
                let waited = Promise::new(&mut |resolve, _| {
                    *self.wake.borrow_mut() = Some(resolve);
                });
                let _ = JsFuture::from(waited).await;
                if self.generation.get() != generation {
                    return Ok(());
                }
            }
            let Some(step) = self.with(|f| f.session.next_step()).flatten() else {
                return Ok(());
            };
            match step {
                Step::Send(bytes) => machine.files_send(&bytes)?,
                Step::Read { id, offset, len } => {
                    let Some((name, blob)) = self.with(|f| f.blobs.get(&id).cloned()).flatten()
                    else {
                        return Err(format!("upload {id} has no file"));
                    };
                    if offset == 0 {
                        let (text, progress) =
                            progress_text("uploading", &name, 0, blob.size() as u64);
                        self.show(Transfer {
                            text,
                            state: "busy",
                            progress,
                        });
                    }
                    match read(&blob, offset, len).await {
                        Ok(bytes) if bytes.len() == len => {
                            if self.generation.get() != generation {
                                return Ok(());
                            }
                            let frame = self
                                .with(|f| f.session.data(id, &bytes))
                                .unwrap_or_default();
                            machine.files_send(&frame)?;
                        }
                        other => {
                            let why = match other {
                                Ok(b) => {
                                    format!("read {} bytes where {len} were expected", b.len())
                                }
                                Err(e) => e,
                            };
                            let why = format!("reading the file: {why}");
                            if let Some((bytes, n)) = self.with(|f| f.session.cancel(id, &why)) {
                                machine.files_send(&bytes)?;
                                if let Some(n) = n {
                                    self.notice(n);
                                }
                            }
                        }
                    }
                }
            }
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
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), 60_000);
    }
    Ok(())
}

async fn read(blob: &Blob, offset: u64, len: usize) -> Result<Vec<u8>, String> {
    let err = |e: JsValue| kernel_host::browser::js_error_message(&e);
    let part = blob
        .slice_with_f64_and_f64(offset as f64, (offset + len as u64) as f64)
        .map_err(err)?;
    let buffer = JsFuture::from(part.array_buffer()).await.map_err(err)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}
