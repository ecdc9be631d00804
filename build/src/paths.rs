//! Where things live: the repository, the cache outside the work tree, and `dist/`.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// All directories the build uses. The cache is outside the work tree so that clean clones
/// (and CI) reuse downloads, source trees and build trees.
#[derive(Debug, Clone)]
pub struct Paths {
    pub repo: PathBuf,
    pub cache: PathBuf,
}

impl Paths {
    /// Locate the repository from this crate's manifest dir and the cache from
    /// `$ALPENGLOW_CACHE`, `$XDG_CACHE_HOME/alpenglow` or `~/.cache/alpenglow`.
    pub fn discover() -> Result<Self> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("build/ has no parent directory")?
            .to_path_buf();
        let cache = if let Some(dir) = std::env::var_os("ALPENGLOW_CACHE") {
            PathBuf::from(dir)
        } else if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            PathBuf::from(dir).join("alpenglow")
        } else {
            let home =
                std::env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set")?;
            PathBuf::from(home).join(".cache").join("alpenglow")
        };
        Ok(Self { repo, cache })
    }

    pub fn downloads(&self) -> PathBuf {
        self.cache.join("downloads")
    }
    pub fn src(&self, component: &str) -> PathBuf {
        self.cache.join("src").join(component)
    }
    pub fn out(&self, component: &str) -> PathBuf {
        self.cache.join("out").join(component)
    }
    pub fn sysroot(&self) -> PathBuf {
        self.cache.join("sysroot")
    }
    pub fn logs(&self) -> PathBuf {
        self.cache.join("logs")
    }
    pub fn stamps(&self) -> PathBuf {
        self.cache.join("stamps")
    }
    pub fn patches(&self, component: &str) -> PathBuf {
        self.repo.join("patches").join(component)
    }
    pub fn dist(&self) -> PathBuf {
        self.repo.join("dist")
    }
    /// The package repository the site serves at `/repo/` (`repository`).
    pub fn package_repo(&self) -> PathBuf {
        self.repo.join("target").join("repo")
    }
    pub fn site(&self) -> PathBuf {
        self.repo.join("target").join("site")
    }
}
