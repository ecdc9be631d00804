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

/// The person's choice about the machine card (open, or folded into the status bar), for one
/// boot and one side of running/stopped: a new boot, or the machine stopping, ends it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CardChoice {
    /// `Booted::at_ms` of the machine it was made for (none before the first boot).
    pub boot_ms: Option<f64>,
    /// Whether that machine was stopped (halted, crashed) then.
    pub stopped: bool,
    pub open: bool,
}

/// Whether the machine card shows: unfolded while the machine is stopped (its crash and how
/// it stopped matter then), folded into the status bar while it starts or runs (the terminal
/// gets the room), unless the person opened or folded it since.
pub fn card_open(choice: Option<CardChoice>, boot_ms: Option<f64>, stopped: bool) -> bool {
    match choice {
        Some(c) if c.boot_ms == boot_ms && c.stopped == stopped => c.open,
        _ => stopped,
    }
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
    /// The person's last Machine toggle (`card_open`).
    pub card: RwSignal<Option<CardChoice>>,
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
            card: RwSignal::new(None),
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

    /// Whether the machine stopped (halted or crashed).
    pub fn stopped(&self) -> bool {
        self.run
            .with(|r| matches!(r, RunState::Halted(_) | RunState::Crashed(_)))
    }

    /// `stopped`, outside any tracking.
    pub fn stopped_untracked(&self) -> bool {
        self.run
            .with_untracked(|r| matches!(r, RunState::Halted(_) | RunState::Crashed(_)))
    }

    /// Whether the machine card shows (folded into the status bar, or open): see `card_open`.
    pub fn card_open(&self) -> bool {
        let boot_ms = self.booted.with(|b| b.as_ref().map(|b| b.at_ms));
        card_open(self.card.get(), boot_ms, self.stopped())
    }

    /// The person opens or folds the machine card (the status bar's Machine button, Escape).
    pub fn set_card_open(&self, open: bool) {
        let boot_ms = self.booted.with_untracked(|b| b.as_ref().map(|b| b.at_ms));
        let stopped = self.stopped_untracked();
        self.card.set(Some(CardChoice {
            boot_ms,
            stopped,
            open,
        }));
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

    #[test]
    fn the_card_folds_while_the_machine_runs_and_unfolds_when_it_stops() {
        // By itself: folded while it starts or runs, open once it stopped.
        assert!(!card_open(None, None, false));
        assert!(!card_open(None, Some(5.0), false));
        assert!(card_open(None, Some(5.0), true));
        // The person opened it while the machine ran: open until that machine stops (and
        // then open anyway), folded again on the next boot.
        let opened = Some(CardChoice {
            boot_ms: Some(5.0),
            stopped: false,
            open: true,
        });
        assert!(card_open(opened, Some(5.0), false));
        assert!(card_open(opened, Some(5.0), true));
        assert!(!card_open(opened, Some(9.0), false));
        // Folded by the person once the machine stopped: folded while it stays stopped; a
        // new boot that stops unfolds it again.
        let folded = Some(CardChoice {
            boot_ms: Some(5.0),
            stopped: true,
            open: false,
        });
        assert!(!card_open(folded, Some(5.0), true));
        assert!(!card_open(folded, Some(9.0), false));
        assert!(card_open(folded, Some(9.0), true));
    }
}
