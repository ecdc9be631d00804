//! The Alpenglow page. On load it checks that the page is cross-origin isolated, fetches
//! `dist/manifest.json`, downloads and verifies every artifact, compiles `vmlinux.wasm`, creates
//! the shared kernel memory, opens the terminal and boots the kernel (`machine.rs`, over
//! `kernel_host::browser::Machine`), whose console output the terminal shows.

mod artifacts;
mod boot_screen;
mod embed;
mod files;
mod kernel;
mod machine;
mod offline;
mod panel;
mod settings;
mod terminal;
mod wasm_imports;

use artifacts::{LoadError, Manifest, REQUIRED};
use kernel::{CompiledKernel, KernelSummary};
use leptos::prelude::*;
use std::cell::RefCell;

/// Where the page is in its start-up.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    Checking,
    /// The page cannot have shared memory; `why` the service worker could not help.
    NotIsolated {
        isolated: bool,
        shared_memory: bool,
        why: String,
    },
    Loading,
    Failed(LoadError),
    Compiled(KernelSummary),
}

impl Phase {
    /// The `data-state` the page root carries (for styling and tests).
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Checking => "checking",
            Phase::NotIsolated { .. } => "not-isolated",
            Phase::Loading => "loading",
            Phase::Failed(_) => "failed",
            Phase::Compiled(_) => "compiled",
        }
    }
}

/// Where the kernel machine is, once the kernel is compiled.
#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    /// Compiled, not started (only until the machine starts).
    NotStarted,
    /// Workers started, `start_kernel` running.
    Booting,
    /// `start_kernel` is done: the kernel runs its tasks.
    Running,
    /// The kernel halted or powered off (e.g. "powered off").
    Halted(String),
    /// The machine stopped on an error.
    Crashed(Crash),
}

/// The machine's counters, refreshed while it runs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MachineStats {
    pub workers: usize,
    pub busy: usize,
    pub timer_irqs: u64,
}

/// What the running (or last) machine was booted with, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct Booted {
    pub ram_bytes: u64,
    pub bootargs: String,
    pub cpus: u32,
    /// `performance.now()` at boot, in ms.
    pub at_ms: f64,
    /// `performance.now()` when it stopped (halted or crashed).
    pub stopped_ms: Option<f64>,
}

impl Booted {
    /// Whole seconds the machine has been up at `now_ms` (or was, until it stopped).
    pub fn uptime_s(&self, now_ms: f64) -> u64 {
        let end = self.stopped_ms.unwrap_or(now_ms);
        ((end - self.at_ms).max(0.0) / 1000.0) as u64
    }
}

/// `3725` → `1:02:05`, `65` → `1:05`.
pub fn uptime_text(s: u64) -> String {
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// `performance.now()` in ms (0 where there is no clock, as in unit tests).
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// What the page shows about a crash.
#[derive(Clone, Debug, PartialEq)]
pub struct Crash {
    pub message: String,
    pub detail: Option<String>,
    pub last_lines: Vec<String>,
}

impl RunState {
    pub fn name(&self) -> &'static str {
        match self {
            RunState::NotStarted => "compiled",
            RunState::Booting => "booting",
            RunState::Running => "running",
            RunState::Halted(_) => "halted",
            RunState::Crashed(_) => "crashed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RowState {
    Waiting,
    Downloading,
    Verified,
    Failed,
}

/// One artifact's line on the boot card.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub name: String,
    pub size: u64,
    pub received: u64,
    pub state: RowState,
}

/// The page's reactive state; `Copy` so closures can share it.
#[derive(Clone, Copy)]
pub struct AppState {
    pub phase: RwSignal<Phase>,
    pub step: RwSignal<String>,
    pub manifest: RwSignal<Option<Manifest>>,
    pub rows: RwSignal<Vec<Row>>,
    /// The machine, once the kernel is compiled.
    pub run: RwSignal<RunState>,
    pub stats: RwSignal<MachineStats>,
    /// The status bar's "about" panel is open.
    pub about: RwSignal<bool>,
    /// Whether a reload would work offline (`offline.rs`).
    pub offline: RwSignal<offline::Offline>,
    /// The settings the next boot uses (saved ones, overridden by the URL, then as saved
    /// from the panel).
    pub settings: RwSignal<settings::Settings>,
    /// The settings the URL sets for this visit.
    pub url_fields: StoredValue<Vec<settings::Field>>,
    /// Problems with the URL, the saved settings or the embedding config, for the person.
    pub notices: RwSignal<Vec<String>>,
    /// The settings panel is open.
    pub panel: RwSignal<bool>,
    /// The current (or last) machine's boot, for the status bar.
    pub booted: RwSignal<Option<Booted>>,
    /// `performance.now()`, ticking while a machine runs (drives the uptime).
    pub now: RwSignal<f64>,
    /// `?embed`: the terminal only.
    pub embed: bool,
    /// Messages refused because their origin is not allowed (`embed.rs`).
    pub refused: RwSignal<u32>,
    /// The latest upload or download, for the line over the terminal (`files.rs`).
    pub transfer: RwSignal<Option<files::Transfer>>,
}

impl AppState {
    /// The page root's `data-state`: the loading phase, then the machine's state.
    pub fn state_name(&self) -> &'static str {
        match self.phase.with(|p| matches!(p, Phase::Compiled(_))) {
            true => self.run.with(RunState::name),
            false => self.phase.with(Phase::name),
        }
    }
}

/// What booting needs: the compiled kernel, its memory and the initramfs.
pub struct Loaded {
    pub kernel: CompiledKernel,
    pub initramfs: Vec<u8>,
}

thread_local! {
    pub static MACHINE: RefCell<Option<Loaded>> = const { RefCell::new(None) };
}

fn isolation() -> (bool, bool) {
    let global = js_sys::global();
    let isolated = js_sys::Reflect::get(&global, &"crossOriginIsolated".into())
        .map(|v| v.is_truthy())
        .unwrap_or(false);
    let shared_memory = js_sys::Reflect::has(&global, &"SharedArrayBuffer".into()).unwrap_or(false);
    (isolated, shared_memory)
}

/// Starts (or, after a failure, restarts) loading everything from the manifest on.
pub fn start(s: AppState) {
    s.phase.set(Phase::Loading);
    leptos::task::spawn_local(async move {
        match load(s).await {
            Ok(summary) => {
                s.run.set(RunState::NotStarted);
                s.phase.set(Phase::Compiled(summary));
                offline::save(s).await;
            }
            Err(e) => {
                web_sys::console::error_1(&e.to_string().into());
                s.phase.set(Phase::Failed(e));
            }
        }
    });
}

fn set_row(s: AppState, i: usize, f: impl FnOnce(&mut Row)) {
    s.rows.update(|rows| {
        if let Some(r) = rows.get_mut(i) {
            f(r)
        }
    });
}

async fn load(s: AppState) -> Result<KernelSummary, LoadError> {
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
    let summary = kernel.summary.clone();
    MACHINE.with(|m| *m.borrow_mut() = Some(Loaded { kernel, initramfs }));
    Ok(summary)
}

#[component]
fn App() -> impl IntoView {
    let query = settings::query_pairs();
    let pairs = || query.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let (saved, saved_problem) = settings::load();
    let (overrides, mut notices) = settings::Overrides::from_query(pairs());
    notices.extend(saved_problem);
    let embed_config = embed::config(pairs(), embed::page_origins().as_deref());
    notices.extend(embed_config.errors.iter().cloned());
    for n in &notices {
        web_sys::console::warn_1(&format!("alpenglow: {n}").into());
    }
    let s = AppState {
        phase: RwSignal::new(Phase::Checking),
        step: RwSignal::new(String::new()),
        manifest: RwSignal::new(None),
        rows: RwSignal::new(Vec::new()),
        run: RwSignal::new(RunState::NotStarted),
        stats: RwSignal::new(MachineStats::default()),
        about: RwSignal::new(false),
        offline: RwSignal::new(offline::Offline::Unknown),
        settings: RwSignal::new(overrides.apply(&saved)),
        url_fields: StoredValue::new(overrides.fields()),
        notices: RwSignal::new(notices),
        panel: RwSignal::new(false),
        booted: RwSignal::new(None),
        now: RwSignal::new(now_ms()),
        embed: embed_config.embed,
        refused: RwSignal::new(0),
        transfer: RwSignal::new(None),
    };
    embed::install(s, embed_config);
    let (isolated, shared_memory) = isolation();
    leptos::task::spawn_local(async move {
        if isolated && shared_memory {
            offline::isolated_now();
            // On a first visit, let the service worker take over first so that the downloads
            // go through it and are cached; it never takes long, and the page works without.
            if !offline::take_control(5000).await {
                s.offline.set(offline::Offline::Unavailable(
                    "no service worker controls the page".into(),
                ));
            }
            start(s);
            return;
        }
        let why = match isolated {
            // Isolated but no SharedArrayBuffer: headers cannot help.
            true => "the page is isolated already".to_string(),
            false => match offline::isolate().await {
                Ok(()) => return, // reloading through the service worker
                Err(why) => why,
            },
        };
        s.phase.set(Phase::NotIsolated {
            isolated,
            shared_memory,
            why,
        });
    });
    view! { <boot_screen::Page s=s /> }
}

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_reads_like_a_clock() {
        assert_eq!(uptime_text(0), "0:00");
        assert_eq!(uptime_text(65), "1:05");
        assert_eq!(uptime_text(3725), "1:02:05");
        let b = Booted {
            ram_bytes: 0,
            bootargs: String::new(),
            cpus: 1,
            at_ms: 1000.0,
            stopped_ms: None,
        };
        assert_eq!(b.uptime_s(62_999.0), 61);
        let stopped = Booted {
            stopped_ms: Some(11_000.0),
            ..b
        };
        assert_eq!(stopped.uptime_s(99_999.0), 10);
    }
}
