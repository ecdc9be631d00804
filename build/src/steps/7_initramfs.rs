//! `cargo x initramfs`: `build/rootfs.toml` plus the userland build outputs →
//! `dist/initramfs.cpio.gz`, deterministic.

use crate::pipeline::Ctx;
use crate::rootfs::{write_image, Rootfs, Sources};
use crate::stamp::{InputHash, Stamp};
use crate::steps::{busybox, guest};
use anyhow::{Context, Result};
use std::path::PathBuf;

pub fn image_path(ctx: &Ctx) -> PathBuf {
    ctx.paths.dist().join("initramfs.cpio.gz")
}

pub fn build(ctx: &mut Ctx) -> Result<()> {
    let step = ctx.ui.step("initramfs");
    let desc_path = ctx.paths.repo.join("build/rootfs.toml");
    let rootfs = Rootfs::load(&desc_path)?;
    let mut sources =
        Sources::new(ctx.paths.repo.join("build")).with_output("busybox", busybox::output_dir(ctx));
    // Each guest program is `<name>:`, its output file.
    for (_, name) in guest::PROGRAMS {
        sources = sources.with_output(name, guest::output(ctx, name));
    }
    let image = rootfs
        .build(&sources)
        .with_context(|| format!("building the image from {}", desc_path.display()))?;
    let mut key = InputHash::new("initramfs");
    key.add_file(&desc_path)?;
    for input in &image.inputs {
        key.add_file(input)?;
    }
    let dest = image_path(ctx);
    for s in &image.skipped {
        ctx.ui.info(&format!("left out {}: {}", s.path, s.reason));
    }
    // The stamp is in the shared cache: another clone may have recorded it, so this
    // clone's file must also hold the image.
    let current = std::fs::read(&dest).is_ok_and(|old| old == image.cpio_gz);
    let stamp = Stamp::new("initramfs", key).output(&dest).only_if(current);
    ctx.run_step(step, stamp, "description and inputs unchanged", |ctx| {
        std::fs::create_dir_all(ctx.paths.dist()).context("creating dist/")?;
        write_image(&image, &dest)?;
        Ok(format!(
            "{} entries, {} bytes",
            image.entries,
            image.cpio_gz.len()
        ))
    })
}
