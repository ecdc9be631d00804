//! Incremental builds: each step records a hash of its inputs; an unchanged hash means the
//! step is skipped.

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
