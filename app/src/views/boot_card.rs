//! The boot card before the kernel is compiled: starting, loading (every artifact with its
//! progress and verification), and the screens for a page that cannot run here or a load
//! that failed (with Retry).

use crate::app::AppHandle;
use crate::artifacts::LoadError;
use crate::format::{grouped_bytes, grouped_progress, human_bytes};
use crate::state::{AppState, Row, RowState};
use leptos::prelude::*;

pub fn starting() -> impl IntoView {
    view! {
        <section class="card" aria-live="polite">
            <h1>"Starting"</h1>
            <p class="muted">"Checking what this browser supports…"</p>
        </section>
    }
}

pub fn loading(s: AppState) -> impl IntoView {
    view! {
        <section class="card" aria-live="polite" aria-busy="true">
            <h1>"Loading the kernel"</h1>
            <p class="step">{move || s.step.get()} <span class="dots" aria-hidden="true"></span></p>
            <Artifacts s=s />
        </section>
    }
}

/// Every artifact's line: name, state, progress, size.
#[component]
pub fn Artifacts(s: AppState) -> impl IntoView {
    view! {
        <ul class="artifacts">
            {move || s.rows.get().into_iter().map(artifact_row).collect_view()}
        </ul>
    }
}

fn artifact_row(r: Row) -> impl IntoView {
    let pct = if r.size == 0 {
        100.0
    } else {
        (r.received as f64 / r.size as f64 * 100.0).clamp(0.0, 100.0)
    };
    let (state, badge) = match r.state {
        RowState::Waiting => ("waiting", "waiting"),
        RowState::Downloading => ("downloading", "downloading"),
        RowState::Verified => ("verified", "sha256 verified"),
        RowState::Failed => ("failed", "failed"),
    };
    let detail = match r.state {
        RowState::Verified => grouped_bytes(r.size),
        _ => grouped_progress(r.received, r.size),
    };
    view! {
        <li class="artifact" data-name=r.name.clone() data-state=state data-bytes=r.size.to_string()>
            <div class="artifact-head">
                <span class="artifact-name">{r.name.clone()}</span>
                <span class="badge">{badge}</span>
            </div>
            <div
                class="bar"
                role="progressbar"
                aria-label=format!("{} download", r.name)
                aria-valuemin="0"
                aria-valuemax=r.size.to_string()
                aria-valuenow=r.received.to_string()
            >
                <div class="bar-fill" style:width=format!("{pct:.1}%")></div>
            </div>
            <div class="artifact-detail">
                <span class="bytes">{detail}</span>
                <span class="human">{human_bytes(r.size)}</span>
            </div>
        </li>
    }
}

pub fn not_isolated(isolated: bool, shared_memory: bool, why: String) -> impl IntoView {
    let what = match (isolated, shared_memory) {
        (false, _) => "This page is not cross-origin isolated, so the browser does not allow the shared memory the kernel runs in.",
        (true, _) => "This page is cross-origin isolated, but this browser does not provide SharedArrayBuffer, which the kernel's memory needs.",
    };
    view! {
        <section class="card error" role="alert">
            <h1>"This page cannot run here"</h1>
            <p>{what}</p>
            <p>"To fix it:"</p>
            <ul class="fixes">
                <li>
                    "Serve the site with the headers "
                    <code>"Cross-Origin-Opener-Policy: same-origin"</code> " and "
                    <code>"Cross-Origin-Embedder-Policy: require-corp"</code>
                    " — " <code>"cargo x up"</code> " and " <code>"trunk serve"</code>
                    " both do — or serve "<code>"sw.js"</code>" next to "<code>"index.html"</code>
                    " in a browser with service workers, which adds them."
                </li>
                <li>"Open it over http://localhost or https:// (a secure context), not from a file."</li>
                <li>"Use a current Chrome, Edge, Firefox or Safari."</li>
            </ul>
            <p class="muted small">
                {format!(
                    "crossOriginIsolated: {isolated} · SharedArrayBuffer: {} · service worker: {why}",
                    if shared_memory { "available" } else { "missing" },
                )}
            </p>
        </section>
    }
}

pub fn failed(app: AppHandle, err: LoadError) -> impl IntoView {
    let retry = move |_| app.load();
    let (title, body) = match &err {
        LoadError::Manifest(m) => ("Cannot read the build manifest".to_string(), m.clone()),
        LoadError::Download { file, message } => (
            format!("Cannot download {file}"),
            format!("{message}. Check that the site was built (cargo x all) and is still being served."),
        ),
        LoadError::Size { file, .. } => (
            format!("{file} failed verification"),
            format!("{err}. The file is truncated or comes from a different build."),
        ),
        LoadError::Hash { file, .. } => (
            format!("{file} failed verification"),
            "Its sha256 differs from the one in manifest.json: the download is corrupted, or the site serves files from a different build.".to_string(),
        ),
        LoadError::Kernel(m) => ("The kernel could not be prepared".to_string(), m.clone()),
    };
    let hashes = match &err {
        LoadError::Hash {
            expected, actual, ..
        } => Some(view! {
            <dl class="hashes">
                <dt>"expected (manifest.json)"</dt>
                <dd><code class="hash expected">{expected.clone()}</code></dd>
                <dt>"downloaded"</dt>
                <dd><code class="hash actual">{actual.clone()}</code></dd>
            </dl>
        }),
        LoadError::Size {
            expected, actual, ..
        } => Some(view! {
            <dl class="hashes">
                <dt>"expected (manifest.json)"</dt>
                <dd><code class="hash expected">{grouped_bytes(*expected)}</code></dd>
                <dt>"downloaded"</dt>
                <dd><code class="hash actual">{grouped_bytes(*actual)}</code></dd>
            </dl>
        }),
        _ => None,
    };
    let s = app.s;
    view! {
        <section class="card error" role="alert">
            <h1 class="error-title">{title}</h1>
            <p class="error-body">{body}</p>
            {hashes}
            <Artifacts s=s />
            <div class="actions">
                <button class="retry" on:click=retry autofocus>"Retry"</button>
            </div>
        </section>
    }
}
