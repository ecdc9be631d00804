//! The page's start-up, up to a compiled kernel: can the page have shared memory (else the
//! service worker's one reload, or the reasons), then `dist/manifest.json`, every artifact
//! downloaded and verified with progress on the boot card, and `vmlinux.wasm` compiled. What
//! it finds goes into `AppState`; `app.rs` runs it and keeps the result.

use crate::artifacts::{self, LoadError, REQUIRED};
use crate::kernel::{self, Loaded};
use crate::offline;
use crate::state::{AppState, Phase, Row, RowState};
use leptos::prelude::*;

/// `(crossOriginIsolated, SharedArrayBuffer exists)`.
pub fn isolation() -> (bool, bool) {
    let global = js_sys::global();
    let isolated = js_sys::Reflect::get(&global, &"crossOriginIsolated".into())
        .map(|v| v.is_truthy())
        .unwrap_or(false);
    let shared_memory = js_sys::Reflect::has(&global, &"SharedArrayBuffer".into()).unwrap_or(false);
    (isolated, shared_memory)
}

/// Whether loading may start, given `isolation()`. If the page cannot have shared memory it
/// reloads through the service worker when that can help, and otherwise says why
/// (`Phase::NotIsolated`); either way, no loading.
pub async fn prepare(s: AppState, (isolated, shared_memory): (bool, bool)) -> bool {
    if isolated && shared_memory {
        offline::isolated_now();
        // On a first visit, let the service worker take over first so that the downloads
        // go through it and are cached; it never takes long, and the page works without.
        if !offline::take_control(5000).await {
            s.offline.set(offline::Offline::Unavailable(
                "no service worker controls the page".into(),
            ));
        }
        return true;
    }
    let why = match isolated {
        // Isolated but no SharedArrayBuffer: headers cannot help.
        true => "the page is isolated already".to_string(),
        false => match offline::isolate().await {
            Ok(()) => return false, // reloading through the service worker
            Err(why) => why,
        },
    };
    s.phase.set(Phase::NotIsolated {
        isolated,
        shared_memory,
        why,
    });
    false
}

fn set_row(s: AppState, i: usize, f: impl FnOnce(&mut Row)) {
    s.rows.update(|rows| {
        if let Some(r) = rows.get_mut(i) {
            f(r)
        }
    });
}

/// Downloads and verifies every artifact and compiles the kernel, showing each step.
pub async fn load(s: AppState) -> Result<Loaded, LoadError> {
    let worker = kernel::start_worker_compile();
    s.step.set("Reading manifest.json".into());
    let manifest = artifacts::fetch_manifest().await?;
    s.manifest.set(Some(manifest.clone()));
    s.rows.set(
        REQUIRED
            .iter()
            .map(|name| Row {
                name: name.to_string(),
                size: manifest.artifacts.get(*name).map_or(0, |a| a.size),
                received: 0,
                state: RowState::Waiting,
            })
            .collect(),
    );

    let mut blobs = Vec::new();
    for (i, name) in REQUIRED.iter().enumerate() {
        let info = manifest
            .artifacts
            .get(*name)
            .ok_or_else(|| LoadError::Manifest(format!("manifest.json does not list {name}")))?;
        s.step.set(format!("Downloading {name}"));
        set_row(s, i, |r| r.state = RowState::Downloading);
        let got = artifacts::download(name, info, |n| {
            set_row(s, i, |r| r.received = n.min(r.size))
        })
        .await;
        match got {
            Ok(bytes) => {
                set_row(s, i, |r| r.state = RowState::Verified);
                blobs.push(bytes);
            }
            Err(e) => {
                set_row(s, i, |r| r.state = RowState::Failed);
                return Err(e);
            }
        }
    }

    s.step.set("Compiling vmlinux.wasm".into());
    let mut blobs = blobs.into_iter();
    let (Some(vmlinux), Some(initramfs)) = (blobs.next(), blobs.next()) else {
        return Err(LoadError::Manifest("an artifact is missing".into()));
    };
    let kernel = kernel::compile(&vmlinux).await.map_err(LoadError::Kernel)?;
    let worker = kernel::worker_module(worker).await;
    Ok(Loaded {
        kernel,
        initramfs,
        worker,
    })
}
