//! The BusyBox testsuite tarball the image carries: `testsuite/` and the build's `.config`,
//! packed reproducibly. Written by the busybox step, unpacked in the guest by
//! `busybox-testsuite` and natively by `cargo x bbtest native`.

use crate::pipeline::SOURCE_DATE_EPOCH;
use anyhow::{bail, Context, Result};
use flate2::{Compression, GzBuilder};
use std::path::{Path, PathBuf};

/// The testsuite tarball's name in a BusyBox build directory.
pub const TARBALL: &str = "testsuite.tar.gz";

/// Packs `src/testsuite` and `config` (as `.config`) into a reproducible gzipped tar:
/// sorted, root-owned, mtime SOURCE_DATE_EPOCH, modes 0755/0644.
pub fn pack_testsuite(src: &Path, config: &Path, dest: &Path) -> Result<()> {
    let mtime: u64 = SOURCE_DATE_EPOCH.parse().context("SOURCE_DATE_EPOCH")?;
    let root = src.join("testsuite");
    if !root.is_dir() {
        bail!("{} is not a directory", root.display());
    }
    let tmp = dest.with_extension("tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let gz = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(file, Compression::best());
    let mut ar = tar::Builder::new(gz);
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        h
    };
    let config_bytes =
        std::fs::read(config).with_context(|| format!("reading {}", config.display()))?;
    let mut h = header(tar::EntryType::Regular, 0o644, config_bytes.len() as u64);
    ar.append_data(&mut h, ".config", config_bytes.as_slice())
        .context("adding .config")?;
    let mut stack = vec![PathBuf::from("testsuite")];
    while let Some(rel) = stack.pop() {
        let path = src.join(&rel);
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            ar.append_data(&mut h, &rel, std::io::empty())
                .with_context(|| format!("adding {}", rel.display()))?;
            let mut names: Vec<_> = std::fs::read_dir(&path)
                .with_context(|| format!("listing {}", path.display()))?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<std::io::Result<_>>()
                .with_context(|| format!("listing {}", path.display()))?;
            names.sort();
            // Popped last-first, so push in reverse for sorted output.
            stack.extend(names.into_iter().rev().map(|n| rel.join(n)));
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path)
                .with_context(|| format!("reading link {}", path.display()))?;
            let mut h = header(tar::EntryType::Symlink, 0o777, 0);
            ar.append_link(&mut h, &rel, &target)
                .with_context(|| format!("adding {}", rel.display()))?;
        } else if ft.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let mut h = header(tar::EntryType::Regular, mode, bytes.len() as u64);
            ar.append_data(&mut h, &rel, bytes.as_slice())
                .with_context(|| format!("adding {}", rel.display()))?;
        } else {
            bail!("{}: not a file, directory or symlink", path.display());
        }
    }
    ar.into_inner()
        .and_then(|gz| gz.finish())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, dest).with_context(|| format!("renaming to {}", dest.display()))
}
