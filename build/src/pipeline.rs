//! The build context shared by every step (the steps themselves, in order, are in `steps/`),
//! and the one way a step runs under its stamp.

use crate::paths::Paths;
use crate::sources::fetch::{Fetched, Fetcher};
use crate::sources::pins::SourcesFile;
use crate::sources::tree::{self, Tree};
use crate::stamp::{Refreshed, Stamp, Stamps};
use crate::ui::{Step, Ui};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Fixed identity for reproducible builds (Kbuild embeds user, host and time in the banner).
pub const BUILD_TIMESTAMP: &str = "Sun Nov 17 00:00:00 UTC 2024";
pub const BUILD_USER: &str = "alpenglow";
pub const BUILD_HOST: &str = "alpenglow";
/// SOURCE_DATE_EPOCH matching BUILD_TIMESTAMP.
pub const SOURCE_DATE_EPOCH: &str = "1731801600";

pub struct Ctx {
    pub paths: Paths,
    pub ui: Ui,
    pub sources: SourcesFile,
    pub stamps: Stamps,
    pub jobs: usize,
    fetched: BTreeMap<String, Fetched>,
    /// How long each step took in this run (for manifest.json).
    pub durations: BTreeMap<String, Duration>,
}

impl Ctx {
    pub fn new(ui: Ui) -> Result<Self> {
        let paths = Paths::discover()?;
        let sources = SourcesFile::load(&paths.repo.join("build/sources.toml"))?;
        let stamps = Stamps::new(paths.stamps());
        let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            paths,
            ui,
            sources,
            stamps,
            jobs,
            fetched: BTreeMap::new(),
            durations: BTreeMap::new(),
        })
    }

    /// The verified tarball of a component, fetched on first use.
    pub fn fetched(&mut self, component: &str) -> Result<Fetched> {
        if !self.fetched.contains_key(component) {
            // One fetcher for every component, so the mirror's indices are read once.
            let mut fetcher = Fetcher::new(&self.paths, self.ui, &self.sources);
            for name in self.sources.component.keys() {
                let f = fetcher
                    .fetch(name)
                    .with_context(|| format!("fetching {name}"))?;
                self.fetched.insert(name.clone(), f);
            }
        }
        self.fetched
            .get(component)
            .cloned()
            .with_context(|| format!("no component `{component}` in sources.toml"))
    }

    /// The component's source tree with its patch series applied (fetched first if needed).
    pub fn tree(&mut self, component: &str) -> Result<Tree> {
        let f = self.fetched(component)?;
        tree::prepare(
            &self.ui,
            component,
            &f.path(&self.paths),
            &f.sha256,
            &self.paths.src(component),
            &self.paths.patches(component),
        )
    }

    pub fn log(&self, step: &str) -> PathBuf {
        crate::ui::log_path(&self.paths.logs(), step)
    }

    /// The step's log, emptied: each run of a step starts a new one.
    pub fn new_log(&self, step: &str) -> PathBuf {
        let log = self.log(step);
        let _ = std::fs::remove_file(&log);
        log
    }

    pub fn record_duration(&mut self, step: &str, d: Duration) {
        self.durations.insert(step.to_string(), d);
    }

    /// Runs a step under its stamp (see `Stamps::refresh`) and reports it. Fresh: "up to
    /// date: … (`unchanged`)". Otherwise `build` runs; the detail it returns ends the step's
    /// line and the time it took is kept for manifest.json under the stamp's name.
    pub fn run_step(
        &mut self,
        step: Step,
        stamp: Stamp<'_>,
        unchanged: &str,
        build: impl FnOnce(&Ctx) -> Result<String>,
    ) -> Result<()> {
        let ctx: &Ctx = self;
        match self.stamps.refresh(&stamp, || build(ctx))? {
            Refreshed::Fresh { copied: false } => step.skipped(unchanged),
            Refreshed::Fresh { copied: true } => {
                step.skipped(&format!("{unchanged}; copied to dist/"))
            }
            Refreshed::Built(detail) => self.finish_step(step, stamp.name(), &detail),
        }
        Ok(())
    }

    /// Ends a step that did work: its line with `detail`, and its time for manifest.json.
    pub fn finish_step(&mut self, step: Step, name: &str, detail: &str) {
        let elapsed = step.elapsed();
        self.record_duration(name, elapsed);
        step.done(detail);
    }
}
