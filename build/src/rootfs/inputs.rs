//! Where entries' `source`s are found: a path relative to the description's directory, or
//! `key:path` inside a build output the CLI registers.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// Where entries' `source`s are found.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    base: PathBuf,
    outputs: BTreeMap<String, PathBuf>,
}

impl Sources {
    /// Plain relative sources resolve against `base` (normally the directory
    /// holding rootfs.toml).
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Sources {
            base: base.into(),
            outputs: BTreeMap::new(),
        }
    }

    /// Registers build output `key` (a directory, or a single file used as `key:`).
    pub fn with_output(mut self, key: &str, path: impl Into<PathBuf>) -> Self {
        self.outputs.insert(key.to_owned(), path.into());
        self
    }

    /// The file a `source` string names; `Err` holds why it cannot be named
    /// (an output that has not been registered).
    fn resolve(&self, source: &str) -> std::result::Result<PathBuf, String> {
        match split_output(source) {
            Some((key, rest)) => {
                let dir = self
                    .outputs
                    .get(key)
                    .ok_or_else(|| format!("build output `{key}` is not available"))?;
                Ok(if rest.is_empty() {
                    dir.clone()
                } else {
                    dir.join(rest)
                })
            }
            None => Ok(self.base.join(source)),
        }
    }
}

/// `key:rest` when `source` starts with an output key.
fn split_output(source: &str) -> Option<(&str, &str)> {
    let (key, rest) = source.split_once(':')?;
    let is_key = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    is_key.then_some((key, rest))
}

pub(super) fn validate_source(source: &str) -> Result<()> {
    if source.is_empty() {
        bail!("empty source");
    }
    let rel = split_output(source).map_or(source, |(_, rest)| rest);
    if rel.starts_with('/') {
        bail!(
            "source `{source}` must be relative (to the description's directory or a build output)"
        );
    }
    if split_output(source).is_some() && rel.split('/').any(|c| c == "..") {
        bail!("source `{source}` leaves its build output with '..'");
    }
    Ok(())
}

/// `Ok(Ok(..))`: the file; `Ok(Err(why))`: it does not exist (yet), which an
/// optional entry tolerates; `Err`: any other failure.
#[allow(clippy::type_complexity)]
pub(super) fn read_source(
    sources: &Sources,
    source: &str,
) -> Result<std::result::Result<(PathBuf, Vec<u8>), String>> {
    let path = match sources.resolve(source) {
        Ok(p) => p,
        Err(why) => return Ok(Err(why)),
    };
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Ok((path, bytes))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Ok(Err(format!("{} does not exist", path.display())))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
