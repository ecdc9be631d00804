//! The build context shared by every step, and `cargo x all`.

use crate::fetch::{Fetched, Fetcher};
use crate::paths::Paths;
use crate::sources::SourcesFile;
use crate::stamp::Stamps;
use crate::tree::{self, Tree};
use crate::ui::Ui;
use crate::{busybox, guest, initramfs, kernel, manifest, musl};
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

    pub fn fetch_all(&mut self) -> Result<Vec<Fetched>> {
        let step = self.ui.step("fetch sources");
        let names: Vec<String> = self.sources.component.keys().cloned().collect();
        let mut out = Vec::new();
        for c in names {
            let f = self.fetched(&c)?;
            self.ui
                .info(&format!("{c} {}: {} ({})", f.version, f.file, f.origin));
            out.push(f);
        }
        step.done("");
        Ok(out)
    }

    pub fn log(&self, step: &str) -> PathBuf {
        crate::ui::log_path(&self.paths.logs(), step)
    }

    pub fn record_duration(&mut self, step: &str, d: Duration) {
        self.durations.insert(step.to_string(), d);
    }
}

/// `cargo x all`: every artifact, each step skipped when its inputs are unchanged.
pub fn all(ctx: &mut Ctx) -> Result<()> {
    let start = std::time::Instant::now();
    ctx.fetch_all()?;
    kernel::build(ctx)?;
    musl::build(ctx)?;
    busybox::build(ctx)?;
    guest::build(ctx)?;
    initramfs::build(ctx)?;
    manifest::write(ctx)?;
    eprintln!(
        "==> all artifacts in {} ({:.1}s)",
        ctx.paths.dist().display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
