//! Writing the assembled tree: the gzipped newc archive (deterministic: mtimes 0, a gzip
//! header with mtime 0 and no file name), or files under a directory for a chroot.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use flate2::{Compression, GzBuilder};

use crate::formats::cpio::{CpioWriter, Metadata};
use crate::rootfs::assemble::{NodeData, Skipped};
use crate::rootfs::description::Rootfs;
use crate::rootfs::inputs::Sources;

/// A built image.
#[derive(Debug, Clone)]
pub struct Image {
    pub cpio_gz: Vec<u8>,
    /// Entries written, implicit parent directories and applet links included.
    pub entries: usize,
    pub skipped: Vec<Skipped>,
    /// Every file read (sources and applet lists), for the build stamp.
    pub inputs: Vec<PathBuf>,
}

impl Rootfs {
    /// Resolves sources and writes the gzipped newc archive.
    pub fn build(&self, sources: &Sources) -> Result<Image> {
        let plan = self.plan(sources)?;
        let gz = GzBuilder::new()
            .mtime(0)
            .operating_system(255) // "unknown": the build host must not show
            .write(Vec::new(), Compression::best());
        let mut cpio = CpioWriter::new(gz);
        for (path, node) in &plan.nodes {
            let name = &path[1..];
            let meta = Metadata::new(node.mode).owner(node.uid, node.gid);
            match &node.data {
                NodeData::Dir => cpio.add_dir(name, meta)?,
                NodeData::File(bytes) => cpio.add_file(name, meta, bytes)?,
                NodeData::Symlink(target) => cpio.add_symlink(name, meta, target)?,
                NodeData::Device { kind, major, minor } => {
                    cpio.add_device(name, meta, *kind, *major, *minor)?
                }
            }
        }
        let cpio_gz = cpio
            .finish()?
            .finish()
            .context("finishing the gzip stream")?;
        Ok(Image {
            cpio_gz,
            entries: plan.nodes.len(),
            skipped: plan.skipped,
            inputs: plan.inputs,
        })
    }

    /// Writes the image's files, directories and symlinks under `dir` (which must not
    /// exist yet), for running the userland natively in a chroot. Device nodes and
    /// ownership are left out (the caller binds the host's /dev); modes are kept.
    /// Returns the optional entries that were skipped.
    pub fn write_tree(&self, sources: &Sources, dir: &Path) -> Result<Vec<Skipped>> {
        use std::os::unix::fs::PermissionsExt;
        let plan = self.plan(sources)?;
        std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut dirs = Vec::new();
        for (path, node) in &plan.nodes {
            let dest = dir.join(&path[1..]);
            let perms = std::fs::Permissions::from_mode(node.mode);
            match &node.data {
                NodeData::Dir => {
                    std::fs::create_dir(&dest)
                        .with_context(|| format!("creating {}", dest.display()))?;
                    // Set after the children exist: a 0555 directory is not writable.
                    dirs.push((dest, perms));
                }
                NodeData::File(bytes) => {
                    std::fs::write(&dest, bytes)
                        .and_then(|_| std::fs::set_permissions(&dest, perms))
                        .with_context(|| format!("writing {}", dest.display()))?;
                }
                NodeData::Symlink(target) => std::os::unix::fs::symlink(target, &dest)
                    .with_context(|| format!("linking {}", dest.display()))?,
                NodeData::Device { .. } => {}
            }
        }
        for (dest, perms) in dirs.into_iter().rev() {
            std::fs::set_permissions(&dest, perms)
                .with_context(|| format!("setting the mode of {}", dest.display()))?;
        }
        Ok(plan.skipped)
    }
}

/// Writes the image to `out` (e.g. dist/initramfs.cpio.gz) via a temporary file,
/// so an interrupted build never leaves a truncated image behind.
pub fn write_image(image: &Image, out: &Path) -> Result<()> {
    let tmp = out.with_extension("tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(&image.cpio_gz)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))
}
