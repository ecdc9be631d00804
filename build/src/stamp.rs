//! Incremental builds: each step records a hash of its inputs; an unchanged hash means the
//! step is skipped.
//!
//! A step says what keys it (`InputHash`) and what it leaves behind (`Stamp`); whether it
//! runs is decided in one place, `Stamps::refresh` (and `Ctx::run_step`, which adds the
//! step's console line and timing around it).

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Accumulates a step's inputs into one hash.
#[derive(Default)]
pub struct InputHash(Sha256);

impl InputHash {
    pub fn new(step: &str) -> Self {
        let mut h = Self::default();
        h.add("step", step.as_bytes());
        h
    }
    /// Adds a labelled value; labels keep `("ab","c")` and `("a","bc")` apart.
    pub fn add(&mut self, label: &str, value: &[u8]) -> &mut Self {
        self.0.update((label.len() as u64).to_le_bytes());
        self.0.update(label.as_bytes());
        self.0.update((value.len() as u64).to_le_bytes());
        self.0.update(value);
        self
    }
    pub fn add_file(&mut self, path: &Path) -> Result<&mut Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("reading input {}", path.display()))?;
        // Labelled by name, not full path, so another clone of the repo hits the same stamps.
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        Ok(self.add(&name, &bytes))
    }
    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// The stamp files of one cache.
pub struct Stamps {
    dir: PathBuf,
}

impl Stamps {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
    fn path(&self, step: &str) -> PathBuf {
        self.dir.join(format!("{step}.stamp"))
    }
    /// True if `step` last completed with exactly these inputs and all `outputs` exist.
    pub fn is_fresh(&self, step: &str, key: &str, outputs: &[&Path]) -> bool {
        std::fs::read_to_string(self.path(step)).is_ok_and(|s| s.trim() == key)
            && outputs.iter().all(|p| p.exists())
    }
    pub fn record(&self, step: &str, key: &str) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        std::fs::write(self.path(step), key).with_context(|| format!("writing stamp for {step}"))
    }
    pub fn clear(&self, step: &str) {
        let _ = std::fs::remove_file(self.path(step));
    }
}

/// What decides whether a step is stale: the stamp's name, the key of the step's inputs, and
/// what must hold of its outputs.
pub struct Stamp<'a> {
    name: String,
    key: String,
    outputs: Vec<&'a Path>,
    published: Option<(&'a Path, &'a Path)>,
    valid: bool,
}

impl<'a> Stamp<'a> {
    /// The stamp `name` keyed by `key`'s inputs.
    pub fn new(name: impl Into<String>, key: InputHash) -> Self {
        Self {
            name: name.into(),
            key: key.finish(),
            outputs: Vec::new(),
            published: None,
            valid: true,
        }
    }
    /// An output that must exist for the step to be fresh.
    pub fn output(mut self, path: &'a Path) -> Self {
        self.outputs.push(path);
        self
    }
    /// An output the step keeps in the cache and copies to this clone's `dist` (see
    /// `publish`): the copy is refreshed even when the step is fresh.
    pub fn published(mut self, cached: &'a Path, dist: &'a Path) -> Self {
        self.outputs.push(cached);
        self.published = Some((cached, dist));
        self
    }
    /// Fresh only if `holds` too (e.g. this clone's copy of the output is current).
    pub fn only_if(mut self, holds: bool) -> Self {
        self.valid &= holds;
        self
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What `Stamps::refresh` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Refreshed<T> {
    /// Nothing ran: the inputs are those of the last run and the outputs are there.
    /// `copied`: a published output had to be copied to `dist` all the same.
    Fresh { copied: bool },
    /// The build ran and its stamp is recorded.
    Built(T),
}

impl Stamps {
    /// Runs `build` unless `stamp` is fresh, then records the stamp: only a build that
    /// succeeded (and was published) counts.
    pub fn refresh<T>(
        &self,
        stamp: &Stamp<'_>,
        build: impl FnOnce() -> Result<T>,
    ) -> Result<Refreshed<T>> {
        if stamp.valid && self.is_fresh(&stamp.name, &stamp.key, &stamp.outputs) {
            let copied = match stamp.published {
                Some((cached, dist)) => publish(cached, dist)?,
                None => false,
            };
            return Ok(Refreshed::Fresh { copied });
        }
        let built = build()?;
        if let Some((cached, dist)) = stamp.published {
            publish(cached, dist)?;
        }
        self.record(&stamp.name, &stamp.key)?;
        Ok(Refreshed::Built(built))
    }
}

/// Copies `from` (a step's output kept in the cache) to `to` (the repository's `dist/`) unless
/// `to` already has the same bytes. The cache is shared by every clone on the machine, so a
/// step that is fresh in the cache may still have to refresh this clone's copy. Returns
/// whether it copied.
pub fn publish(from: &Path, to: &Path) -> Result<bool> {
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    if std::fs::read(to).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(to, &bytes).with_context(|| format!("writing {}", to.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_refreshes_a_stale_copy_and_leaves_a_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (
            dir.path().join("cache.bin"),
            dir.path().join("dist/out.bin"),
        );
        std::fs::write(&from, b"new").unwrap();
        assert!(publish(&from, &to).unwrap());
        assert_eq!(std::fs::read(&to).unwrap(), b"new");
        assert!(!publish(&from, &to).unwrap());
        std::fs::write(&to, b"old, from another clone's build").unwrap();
        assert!(publish(&from, &to).unwrap());
        assert_eq!(std::fs::read(&to).unwrap(), b"new");
    }

    #[test]
    fn labels_separate_values() {
        let mut a = InputHash::new("s");
        a.add("ab", b"c");
        let mut b = InputHash::new("s");
        b.add("a", b"bc");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn refresh_builds_when_stale_and_records_only_success() {
        let dir = tempfile::tempdir().unwrap();
        let stamps = Stamps::new(dir.path().join("stamps"));
        let out = dir.path().join("out");
        let key = || {
            let mut k = InputHash::new("s");
            k.add("input", b"1");
            k
        };
        let failed = stamps.refresh(&Stamp::new("s", key()).output(&out), || -> Result<()> {
            anyhow::bail!("build failed")
        });
        assert!(failed.is_err());
        assert!(!stamps.path("s").exists());
        let build = || std::fs::write(&out, b"x").map_err(Into::into);
        let stamp = Stamp::new("s", key()).output(&out);
        assert_eq!(stamps.refresh(&stamp, build).unwrap(), Refreshed::Built(()));
        assert_eq!(
            stamps
                .refresh(&stamp, || -> Result<()> { panic!("fresh") })
                .unwrap(),
            Refreshed::Fresh { copied: false }
        );
        // Same inputs, but the caller knows better: built again.
        let stale = Stamp::new("s", key()).output(&out).only_if(false);
        assert_eq!(stamps.refresh(&stale, build).unwrap(), Refreshed::Built(()));
        // Other inputs: built again.
        let mut other = InputHash::new("s");
        other.add("input", b"2");
        let other = Stamp::new("s", other).output(&out);
        assert_eq!(stamps.refresh(&other, build).unwrap(), Refreshed::Built(()));
    }

    #[test]
    fn refresh_publishes_fresh_and_built_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let stamps = Stamps::new(dir.path().join("stamps"));
        let (cached, dist) = (
            dir.path().join("cache.bin"),
            dir.path().join("dist/out.bin"),
        );
        let stamp = Stamp::new("p", InputHash::new("p")).published(&cached, &dist);
        let build = || std::fs::write(&cached, b"new").map_err(Into::into);
        assert_eq!(stamps.refresh(&stamp, build).unwrap(), Refreshed::Built(()));
        assert_eq!(std::fs::read(&dist).unwrap(), b"new");
        let fresh = stamps.refresh(&stamp, || -> Result<()> { panic!("fresh") });
        assert_eq!(fresh.unwrap(), Refreshed::Fresh { copied: false });
        std::fs::write(&dist, b"another clone's").unwrap();
        let fresh = stamps.refresh(&stamp, || -> Result<()> { panic!("fresh") });
        assert_eq!(fresh.unwrap(), Refreshed::Fresh { copied: true });
        assert_eq!(std::fs::read(&dist).unwrap(), b"new");
    }

    #[test]
    fn stamp_roundtrip_requires_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let stamps = Stamps::new(dir.path().join("stamps"));
        let out = dir.path().join("out");
        assert!(!stamps.is_fresh("k", "abc", &[]));
        stamps.record("k", "abc").unwrap();
        assert!(stamps.is_fresh("k", "abc", &[]));
        assert!(!stamps.is_fresh("k", "abd", &[]));
        assert!(!stamps.is_fresh("k", "abc", &[&out]));
        std::fs::write(&out, b"x").unwrap();
        assert!(stamps.is_fresh("k", "abc", &[&out]));
    }
}
