//! What the page shows, as signals: `AppState` and the values in it. The owners (`app.rs`,
//! `files.rs`, `embed.rs`) write it; the views (`views/`) read it.

use crate::artifacts::{LoadError, Manifest};
use crate::kernel::KernelSummary;
use crate::offline::Offline;
use crate::packages::PackageList;
use crate::settings::{Field, Settings};
use leptos::prelude::*;

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

/// The disk, as the status bar and Settings → Disk show it (docs/disk.md).
#[derive(Clone, Debug, PartialEq)]
pub enum DiskState {
    /// No machine yet, or the machine waits for its device worker to open the disk.
    Opening,
    /// The machine has the disk: its size, and its file system's figures when it has one.
    Open {
        bytes: u64,
        fs: Option<kernel_host::disk_image::DiskFs>,
    },
    /// `?disk=none`: RAM only, asked for.
    Off,
    /// No disk this time, and why (in use by another tab, a refused file).
    Refused(String),
    /// The page works on the disk with the machine stopped: what it does.
    Busy(String),
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

/// The machine's counters, refreshed while it runs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MachineStats {
    pub workers: usize,
    pub busy: usize,
    pub timer_irqs: u64,
    pub net: kernel_host::net::NetCounters,
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

/// The transfer line over the terminal (`files.rs` writes it).
#[derive(Clone, Debug, PartialEq)]
pub struct Transfer {
    pub text: String,
    /// `busy`, `done` or `failed` (the element's `data-state`).
    pub state: &'static str,
    /// 0..=1 while bytes move.
    pub progress: Option<f64>,
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
    pub offline: RwSignal<Offline>,
    /// The settings the next boot uses (saved ones, overridden by the URL, then as saved
    /// from the panel).
    pub settings: RwSignal<Settings>,
    /// The settings the URL sets for this visit.
    pub url_fields: StoredValue<Vec<Field>>,
    /// Problems with the URL, the saved settings or the embedding config, for the person.
    pub notices: RwSignal<Vec<String>>,
    /// The settings panel is open.
    pub panel: RwSignal<bool>,
    /// The Packages panel is open.
    pub packages_open: RwSignal<bool>,
    /// What the Packages panel shows (`packages.rs`).
    pub packages: RwSignal<PackageList>,
    /// The current (or last) machine's boot, for the status bar.
    pub booted: RwSignal<Option<Booted>>,
    /// `performance.now()`, ticking while a machine runs (drives the uptime).
    pub now: RwSignal<f64>,
    /// `?embed`: the terminal only.
    pub embed: bool,
    /// Messages refused because their origin is not allowed (`embed.rs`).
    pub refused: RwSignal<u32>,
    /// The latest upload or download, for the line over the terminal (`files.rs`).
    pub transfer: RwSignal<Option<Transfer>>,
    pub disk: RwSignal<DiskState>,
    /// What became of the last disk tool (Settings → Disk): a refused image's reason, a
    /// failed copy. Ok: a note; Err: a problem.
    pub disk_note: RwSignal<Option<Result<String, String>>>,
}

impl AppState {
    /// The state before anything is checked or loaded.
    pub fn new(
        settings: Settings,
        url_fields: Vec<Field>,
        notices: Vec<String>,
        embed: bool,
    ) -> AppState {
        AppState {
            phase: RwSignal::new(Phase::Checking),
            step: RwSignal::new(String::new()),
            manifest: RwSignal::new(None),
            rows: RwSignal::new(Vec::new()),
            run: RwSignal::new(RunState::NotStarted),
            stats: RwSignal::new(MachineStats::default()),
            about: RwSignal::new(false),
            offline: RwSignal::new(Offline::Unknown),
            settings: RwSignal::new(settings),
            url_fields: StoredValue::new(url_fields),
            notices: RwSignal::new(notices),
            panel: RwSignal::new(false),
            packages_open: RwSignal::new(false),
            packages: RwSignal::new(PackageList::default()),
            booted: RwSignal::new(None),
            now: RwSignal::new(now_ms()),
            embed,
            refused: RwSignal::new(0),
            transfer: RwSignal::new(None),
            disk: RwSignal::new(DiskState::Opening),
            disk_note: RwSignal::new(None),
        }
    }

    /// The page root's `data-state`: the loading phase, then the machine's state.
    pub fn state_name(&self) -> &'static str {
        match self.phase.with(|p| matches!(p, Phase::Compiled(_))) {
            true => self.run.with(RunState::name),
            false => self.phase.with(Phase::name),
        }
    }

    /// Whether the kernel is compiled (a machine can boot).
    pub fn compiled(&self) -> bool {
        self.phase
            .with_untracked(|p| matches!(p, Phase::Compiled(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_counts_until_the_machine_stops() {
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
