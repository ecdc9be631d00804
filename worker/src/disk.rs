//! The disk's backing store (`virtio::blk::Store`): a file in the Origin Private File System,
//! read and written in place through a `FileSystemSyncAccessHandle` (only a dedicated worker
//! may have one, and its calls are synchronous, so a request is done when `blk::serve`
//! returns). No copy of the image is kept in memory. See docs/disk.md.
//!
//! One tab at a time: the file is guarded by a Web Lock held for the device worker's life (the
//! browser releases it when the worker ends), so a second tab of the origin hears that the
//! disk is in use and boots without one instead of sharing the file.

use crate::outbox::scope;
use js_sys::{Array, Object, Promise, Reflect};
use kernel_host::browser::js_error_message;
use kernel_host::disk_image::{self, Image, Use, HEAD_BYTES};
use kernel_host::virtio::blk::Store;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemGetFileOptions,
    FileSystemReadWriteOptions, FileSystemSyncAccessHandle,
};

/// How long to wait for the lock: a reloaded page's old worker may still hold it for a
/// moment; a lock still held after this belongs to another tab.
const LOCK_WAIT_MS: i32 = 3000;
/// `createSyncAccessHandle` fails while the old worker's handle is being closed: tries.
const OPEN_TRIES: u32 = 10;
const OPEN_RETRY_MS: i32 = 200;

pub struct OpfsStore {
    handle: FileSystemSyncAccessHandle,
    size: u64,
}

fn js(what: &str) -> impl Fn(JsValue) -> String + '_ {
    move |e| format!("{what}: {}", js_error_message(&e))
}

fn at(offset: u64) -> FileSystemReadWriteOptions {
    let o = FileSystemReadWriteOptions::new();
    o.set_at(offset as f64);
    o
}

impl Store for OpfsStore {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        let n = self
            .handle
            .read_with_u8_array_and_options(buf, &at(offset))
            .map_err(js("reading the disk"))? as usize;
        // Past the file's end (a file shorter than it claims): zeros, as a sparse file reads.
        let len = buf.len();
        buf[n.min(len)..].fill(0);
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), String> {
        let n = self
            .handle
            .write_with_u8_array_and_options(data, &at(offset))
            .map_err(js("writing the disk"))? as usize;
        if n != data.len() {
            return Err(format!(
                "writing the disk: {n} of {} bytes written",
                data.len()
            ));
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), String> {
        self.handle.flush().map_err(js("flushing the disk"))
    }
}

impl OpfsStore {
    /// What the disk holds, by `disk_image::check` of its start (the superblock as last
    /// written): the figures for the page, or why the disk is not usable.
    pub fn image(&mut self) -> Result<Image, String> {
        let mut head = vec![0; HEAD_BYTES.min(self.size as usize)];
        self.read_at(0, &mut head)?;
        disk_image::check(self.size, &head, Use::Boot)
    }
}

fn sleep(ms: i32) -> JsFuture {
    JsFuture::from(Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    }))
}

/// Takes the Web Lock `name` for the rest of the worker's life. False: another tab holds it.
async fn lock(name: &str) -> Result<bool, String> {
    let (locks, request) = kernel_host::browser::lock_manager(&scope().navigator())?;
    let controller = web_sys::AbortController::new().map_err(js("AbortController"))?;
    let options = Object::new();
    Reflect::set(&options, &"signal".into(), &controller.signal()).map_err(js("lock options"))?;
    let mut request_failed = None;
    let mut requested = JsValue::UNDEFINED;
    let granted = Promise::new(&mut |resolve, _| {
        // The callback's promise never settles: the lock is held until the worker ends.
        let hold = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
            let _ = resolve.call1(&JsValue::NULL, &JsValue::TRUE);
            Promise::new(&mut |_, _| {}).into()
        });
        match request.call3(&locks, &name.into(), &options, &hold) {
            Ok(p) => requested = p,
            Err(e) => request_failed = Some(e),
        }
    });
    if let Some(e) = request_failed {
        return Err(js("navigator.locks.request")(e));
    }
    let timeout = Closure::once_into_js(move || controller.abort());
    let timer = scope()
        .set_timeout_with_callback_and_timeout_and_arguments_0(
            timeout.unchecked_ref(),
            LOCK_WAIT_MS,
        )
        .map_err(js("setTimeout"))?;
    // The request's own promise settles only if it is aborted (the lock was not granted in
    // time); `granted` only when the lock is ours.
    let got = JsFuture::from(Promise::race(&Array::of2(&granted, &requested))).await;
    scope().clear_timeout_with_handle(timer);
    match got {
        Ok(_) => Ok(true),
        Err(e) if js_error_message(&e).starts_with("AbortError") => Ok(false),
        Err(e) => Err(js("navigator.locks.request")(e)),
    }
}

/// Opens (or creates, as a sparse file of `bytes`) the disk file `name`, checks it
/// (`disk_image::check`, as a restored image is checked) and grows it to `bytes` if it is
/// smaller. `Err` says why the machine has no disk this time; a refused file is left as it
/// is. The note says why a disk that is used all the same could not grow.
pub async fn open(name: &str, bytes: u64) -> Result<(OpfsStore, Image, Option<String>), String> {
    if !lock(&kernel_host::browser::disk_lock_name(name)).await? {
        return Err("the disk is in use by another tab of this site".into());
    }
    let storage = scope().navigator().storage();
    // Best effort: without it the browser may evict the disk under storage pressure.
    if let Ok(p) = storage.persist() {
        let _ = JsFuture::from(p).await;
    }
    let dir: FileSystemDirectoryHandle = JsFuture::from(storage.get_directory())
        .await
        .map_err(js("opening the private file system"))?
        .unchecked_into();
    let options = FileSystemGetFileOptions::new();
    options.set_create(true);
    let file: FileSystemFileHandle =
        JsFuture::from(dir.get_file_handle_with_options(name, &options))
            .await
            .map_err(js("opening the disk file"))?
            .unchecked_into();
    let mut tries = 0;
    let handle: FileSystemSyncAccessHandle = loop {
        match JsFuture::from(file.create_sync_access_handle()).await {
            Ok(h) => break h.unchecked_into(),
            Err(e) if tries + 1 < OPEN_TRIES => {
                tries += 1;
                web_sys::console::warn_1(&e);
                sleep(OPEN_RETRY_MS).await.map_err(js("waiting"))?;
            }
            Err(e) => return Err(js("opening the disk file for access")(e)),
        }
    };
    let mut size = handle.get_size().map_err(js("the disk's size"))? as u64;
    if size == 0 {
        // A new disk: all zeros, which the guest formats on its first boot (docs/disk.md).
        handle
            .truncate_with_f64(bytes as f64)
            .map_err(js("making the disk file"))?;
        handle.flush().map_err(js("flushing the new disk"))?;
        size = bytes;
    }
    let mut store = OpfsStore { handle, size };
    let image = match store.image() {
        Ok(image) => image,
        Err(why) => {
            store.handle.close();
            return Err(format!("the disk file was refused: {why}"));
        }
    };
    // Only a disk that passed the check grows; the guest grows its file system at boot
    // (disk-setup). A disk never shrinks: the file system would not fit.
    let mut note = None;
    if store.size < bytes {
        let grown = store
            .handle
            .truncate_with_f64(bytes as f64)
            .and_then(|_| store.handle.flush());
        match grown {
            Ok(()) => store.size = bytes,
            Err(e) => {
                // The old size is still whole: a failed truncate leaves the file as it was.
                let now = store.handle.get_size().unwrap_or(store.size as f64) as u64;
                store.size = now.max(store.size) / 4096 * 4096;
                note = Some(format!(
                    "it could not grow to {} MiB ({}), and keeps {} MiB",
                    bytes >> 20,
                    js_error_message(&e),
                    store.size >> 20
                ));
            }
        }
    }
    Ok((store, image, note))
}
