//! The disk's tools on the page: erase it, copy it out for a download, restore it from an
//! image. While a machine runs, its device worker holds the disk file and its Web Lock
//! (`worker/src/disk.rs`, docs/disk.md); the page stops the machine, takes the same lock —
//! granted once that worker has ended — and works on the file under it. An image to restore
//! is checked (`kernel_host::disk_image::check`, as the worker checks the file at boot)
//! before the machine is stopped, and written through a writable stream, which the browser
//! puts in place only when it is complete: a failed restore leaves the old disk.

use js_sys::{Promise, Reflect, Uint8Array};
use kernel_host::browser::DiskOptions;
use kernel_host::disk_image::{self, Image, Use, HEAD_BYTES};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemWritableFileStream};

fn js(what: &'static str) -> impl Fn(JsValue) -> String {
    move |e| format!("{what}: {}", kernel_host::browser::js_error_message(&e))
}

/// How long the page waits for the disk's lock: the stopped machine's worker lets go at
/// once; a lock still held after this belongs to another tab.
const LOCK_WAIT_MS: i32 = 5000;

/// The copy of the disk that a download reads: the machine writes the disk again as soon as
/// it is back, and a download is read by the browser long after the click. Replaced by the
/// next download, removed by an erase.
pub const DOWNLOAD_FILE: &str = "disk-download.img";

/// Runs `work` with the private file system's root while this page holds the disk's lock.
async fn under_lock<F, Fut>(disk: &DiskOptions, what: &'static str, work: F) -> Result<(), String>
where
    F: FnOnce(FileSystemDirectoryHandle) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<(), JsValue>> + 'static,
{
    let window = web_sys::window().ok_or("no window")?;
    let navigator = window.navigator();
    let (locks, request) = kernel_host::browser::lock_manager(&navigator)?;
    let storage = navigator.storage();
    let held = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        future_to_promise(async move {
            let root: FileSystemDirectoryHandle =
                JsFuture::from(storage.get_directory()).await?.dyn_into()?;
            work(root).await?;
            Ok(JsValue::UNDEFINED)
        })
        .into()
    });
    // Given up after LOCK_WAIT_MS: the request is aborted and its promise rejects. Once
    // granted, the abort does nothing.
    let controller = web_sys::AbortController::new().map_err(js("AbortController"))?;
    let options = js_sys::Object::new();
    Reflect::set(&options, &"signal".into(), &controller.signal()).map_err(js("lock options"))?;
    let abort = Closure::once_into_js(move || controller.abort());
    window
        .set_timeout_with_callback_and_timeout_and_arguments_0(abort.unchecked_ref(), LOCK_WAIT_MS)
        .map_err(js("setTimeout"))?;
    let done: Promise = request
        .call3(&locks, &disk.lock_name().into(), &options, &held)
        .map_err(js("navigator.locks.request"))?
        .dyn_into()
        .map_err(|_| "navigator.locks.request returned no promise")?;
    match JsFuture::from(done).await {
        Ok(_) => Ok(()),
        Err(e) if error_name(&e) == "AbortError" => {
            Err("the disk is in use by another tab of this site".into())
        }
        Err(e) => Err(js(what)(e)),
    }
}

async fn remove(root: &FileSystemDirectoryHandle, name: &str) -> Result<(), JsValue> {
    match JsFuture::from(root.remove_entry(name)).await {
        Ok(_) => Ok(()),
        Err(e) if error_name(&e) == "NotFoundError" => Ok(()),
        Err(e) => Err(e),
    }
}

async fn file_handle(
    root: &FileSystemDirectoryHandle,
    name: &str,
    create: bool,
) -> Result<FileSystemFileHandle, JsValue> {
    let options = web_sys::FileSystemGetFileOptions::new();
    options.set_create(create);
    JsFuture::from(root.get_file_handle_with_options(name, &options))
        .await?
        .dyn_into()
}

/// Writes `from` whole into the file `name`: the browser swaps the new content in when the
/// stream closes, and drops it if the copy fails.
async fn write_whole(
    root: &FileSystemDirectoryHandle,
    name: &str,
    from: &web_sys::Blob,
) -> Result<(), JsValue> {
    let to = file_handle(root, name, true).await?;
    let options = web_sys::FileSystemCreateWritableOptions::new();
    options.set_keep_existing_data(false);
    let w: FileSystemWritableFileStream = JsFuture::from(to.create_writable_with_options(&options))
        .await?
        .dyn_into()?;
    // pipeTo closes the stream at the end (the swap) and aborts it on an error.
    JsFuture::from(from.stream().pipe_to(&w)).await?;
    Ok(())
}

/// Removes the disk file `disk.file` of this origin, and a download's copy. A file that is
/// not there is already erased.
pub async fn erase(disk: &DiskOptions) -> Result<(), String> {
    let file = disk.file.clone();
    under_lock(disk, "removing the disk file", move |root| async move {
        remove(&root, &file).await?;
        remove(&root, DOWNLOAD_FILE).await
    })
    .await
}

/// Copies the disk file into [`DOWNLOAD_FILE`] and returns that copy, for a download.
pub async fn copy_for_download(disk: &DiskOptions) -> Result<web_sys::File, String> {
    let file = disk.file.clone();
    under_lock(disk, "copying the disk", move |root| async move {
        let from = match file_handle(&root, &file, false).await {
            Ok(f) => f,
            Err(e) if error_name(&e) == "NotFoundError" => {
                return Err(JsValue::from_str("there is no disk yet"))
            }
            Err(e) => return Err(e),
        };
        let from: web_sys::File = JsFuture::from(from.get_file()).await?.dyn_into()?;
        write_whole(&root, DOWNLOAD_FILE, &from).await
    })
    .await?;
    let root: FileSystemDirectoryHandle = JsFuture::from(
        web_sys::window()
            .ok_or("no window")?
            .navigator()
            .storage()
            .get_directory(),
    )
    .await
    .map_err(js("opening the private file system"))?
    .unchecked_into();
    let copy = file_handle(&root, DOWNLOAD_FILE, false)
        .await
        .map_err(js("opening the disk's copy"))?;
    JsFuture::from(copy.get_file())
        .await
        .map_err(js("reading the disk's copy"))?
        .dyn_into()
        .map_err(|_| "the disk's copy is not a file".to_string())
}

/// Checks `image` as a disk (`disk_image::check`, for a restore); reads only its start.
pub async fn check(image: &web_sys::File) -> Result<Image, String> {
    let size = image.size() as u64;
    let head = image
        .slice_with_f64_and_f64(0.0, HEAD_BYTES as f64)
        .map_err(js("reading the image"))?;
    let head = JsFuture::from(head.array_buffer())
        .await
        .map_err(js("reading the image"))?;
    let head = Uint8Array::new(&head).to_vec();
    disk_image::check(size, &head, Use::Restore)
}

/// Makes `image` (checked with [`check`]) the disk file.
pub async fn restore(disk: &DiskOptions, image: web_sys::File) -> Result<(), String> {
    let file = disk.file.clone();
    under_lock(disk, "writing the disk file", move |root| async move {
        write_whole(&root, &file, &image).await
    })
    .await
}

fn error_name(e: &JsValue) -> String {
    Reflect::get(e, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default()
}
