//! Settings → Disk: how full the disk is, and its tools — download the image, restore one
//! (checked before it is used), erase it (after a confirmation). The work is the
//! controller's (`AppHandle::download_disk` and the others, `disk.rs`).

use crate::app::AppHandle;
use crate::format::human_bytes;
use crate::state::{DiskState, Phase};
use leptos::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// `navigator.storage.estimate()`: the site's storage in use and its quota, as the browser
/// estimates them.
async fn estimate() -> Option<(f64, f64)> {
    let p = web_sys::window()?.navigator().storage().estimate().ok()?;
    let e = JsFuture::from(p).await.ok()?;
    let get = |k: &str| {
        js_sys::Reflect::get(&e, &k.into())
            .ok()
            .and_then(|v| v.as_f64())
    };
    Some((get("usage")?, get("quota")?))
}

fn figures(d: &DiskState) -> String {
    match d {
        DiskState::Open {
            bytes,
            fs: Some(fs),
        } => format!(
            "{} used of {} (a {} disk). The figure is the file system's own count in its \
             superblock, which ext4 writes now and then; df -h /run/disk in the terminal \
             is exact.",
            human_bytes(fs.used as u64),
            human_bytes(fs.bytes as u64),
            human_bytes(*bytes)
        ),
        DiskState::Open { bytes, fs: None } => format!(
            "A {} disk; its file system is being made on this boot.",
            human_bytes(*bytes)
        ),
        DiskState::Opening => "The machine is opening the disk.".into(),
        DiskState::Off => "This visit runs from RAM only (?disk=none in the address).".into(),
        DiskState::Refused(why) => format!("No disk this time: {why}."),
        DiskState::Busy(what) => format!("The machine is stopped: {what} the disk."),
    }
}

#[component]
pub fn DiskTools(app: AppHandle) -> impl IntoView {
    let s = app.s;
    // Fresh figures every time the panel opens.
    app.disk_usage();
    let storage = RwSignal::new(None::<(f64, f64)>);
    leptos::task::spawn_local(async move {
        if let Some(e) = estimate().await {
            let _ = storage.try_set(Some(e));
        }
    });
    let compiled = move || s.phase.with(|p| matches!(p, Phase::Compiled(_)));
    // Tools need the disk's file to be free of other work.
    let busy = move || {
        s.disk
            .with(|d| matches!(d, DiskState::Busy(_) | DiskState::Opening))
    };
    let confirm_erase = RwSignal::new(false);
    let erase = move |_| {
        confirm_erase.set(false);
        s.panel.set(false);
        app.erase_disk();
        app.focus_terminal();
    };
    let picked = move |ev: web_sys::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let file = input.files().and_then(|l| l.get(0));
        // The same file may be picked again after a refusal.
        input.set_value("");
        if let Some(file) = file {
            app.restore_disk(file);
        }
    };
    view! {
        <div class="field disk-tools">
            <span class="label">"Disk"</span>
            <p class="hint">
                "/root, /home, /etc, /usr, /var and /opt are kept on a disk in this "
                "browser's storage for this site, across reloads."
            </p>
            <p class="disk-figures">{move || s.disk.with(figures)}</p>
            {move || storage.get().map(|(usage, quota)| view! {
                <p class="hint disk-storage">
                    {format!(
                        "This site's storage: {} used of {} the browser allows (its estimate).",
                        human_bytes(usage as u64),
                        human_bytes(quota as u64)
                    )}
                </p>
            })}
            <Show when=compiled>
                <div class="disk-buttons">
                    <button
                        type="button"
                        class="download-disk"
                        title="Stops the machine, copies the disk and boots again; the copy downloads as a raw ext4 image"
                        disabled=busy
                        on:click=move |_| app.download_disk()
                    >
                        "Download disk image"
                    </button>
                    <label class="button restore-disk" class:disabled=busy>
                        "Restore from image…"
                        <input
                            type="file"
                            class="restore-disk-file"
                            accept=".img,application/octet-stream"
                            disabled=busy
                            on:change=picked
                        />
                    </label>
                    <Show
                        when=move || confirm_erase.get()
                        fallback=move || view! {
                            <button type="button" class="erase-disk" on:click=move |_| confirm_erase.set(true)>
                                "Erase disk…"
                            </button>
                        }
                    >
                        <p class="field-error" role="alert">
                            "Erase everything on the disk? The machine restarts with an empty one."
                        </p>
                        <button type="button" class="erase-disk-confirm" on:click=erase>"Erase and reboot"</button>
                        " "
                        <button type="button" class="erase-disk-cancel" on:click=move |_| confirm_erase.set(false)>
                            "Cancel"
                        </button>
                    </Show>
                </div>
                <p class="hint">
                    "A restored image replaces the disk after it is checked (an ext4 file "
                    "system, whole, with features this machine mounts); the machine restarts on it."
                </p>
            </Show>
            {move || s.disk_note.get().map(|n| match n {
                Ok(note) => view! { <p class="disk-note" role="status">{note}</p> }.into_any(),
                Err(problem) => view! { <p class="field-error disk-note" role="alert">{problem}</p> }.into_any(),
            })}
        </div>
    }
}
