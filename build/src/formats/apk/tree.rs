//! A package's staged tree as apk sees it: every entry in the order the data member holds
//! it (names sorted, each directory before what it holds). Both the `.apk` writer and the
//! installed-database record of a package the image carries walk it, so they agree.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub struct TreeEntry {
    /// Relative to the root, without a leading slash: `usr/bin/jq`.
    pub rel: String,
    /// Permission bits (0o7777); symbolic links are 0o777.
    pub mode: u32,
    pub kind: EntryKind,
}

pub enum EntryKind {
    Dir,
    /// A regular file, read when needed.
    File(PathBuf),
    Symlink(String),
}

/// The entries under `root` (not `root` itself).
pub fn entries(root: &Path) -> Result<Vec<TreeEntry>> {
    let mut out = Vec::new();
    walk(root, "", &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<TreeEntry>) -> Result<()> {
    let mut children: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let path = child.path();
        let Some(name) = child.file_name().to_str().map(str::to_string) else {
            bail!("{}: the name is not UTF-8", path.display());
        };
        let rel = format!("{prefix}{name}");
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        if meta.is_dir() {
            out.push(TreeEntry {
                rel: rel.clone(),
                mode: permissions(&meta),
                kind: EntryKind::Dir,
            });
            walk(&path, &format!("{rel}/"), out)?;
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)
                .with_context(|| format!("reading the link {}", path.display()))?;
            let Some(target) = target.to_str() else {
                bail!("{}: the link's target is not UTF-8", path.display());
            };
            out.push(TreeEntry {
                rel,
                mode: 0o777,
                kind: EntryKind::Symlink(target.to_string()),
            });
        } else if meta.is_file() {
            out.push(TreeEntry {
                rel,
                mode: permissions(&meta),
                kind: EntryKind::File(path),
            });
        } else {
            bail!(
                "{}: only files, directories and symbolic links go in a package",
                path.display()
            );
        }
    }
    Ok(())
}

#[cfg(unix)]
fn permissions(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn permissions(meta: &std::fs::Metadata) -> u32 {
    if meta.is_dir() {
        0o755
    } else {
        0o644
    }
}
