//! The pipeline, one file per step in the order `cargo x all` runs them; a file name's
//! number is that order, so the folder listing reads as the pipeline:
//!
//! 1. `fetch`: every pinned source resolved, downloaded and verified (see `sources/`);
//!    a later step fetches what it needs itself if this one has not run.
//! 2. `toolchain`: not a step that runs but what every later step compiles with (LLVM 19,
//!    installed by `cargo x doctor`).
//! 3. `kernel`: Linux for ARCH=wasm, then the post-link (`formats::sectab`).
//! 4. `musl`: the C library and the kernel's headers, into the sysroot.
//! 5. `busybox`: the userland, linked against the sysroot.
//! 6. `packages`: the default set of packages (`packages::DEFAULT_SET`) from their recipes, and the site's
//!    signed repository of them (`packages/`, `repository`).
//! 7. `guest`: our own guest programs.
//! 8. `initramfs`: `build/rootfs.toml` (see `rootfs/`) → `dist/initramfs.cpio.gz`.
//! 9. `manifest`: `dist/manifest.json` (`formats::manifest`).
//! 10. `site`: the web app; `cargo x up` and `cargo x test` build it after `all`.
//!
//! Each step is skipped when its stamp says its inputs are unchanged (`Ctx::run_step`).

use crate::pipeline::Ctx;
use anyhow::Result;

#[path = "05_busybox.rs"]
pub mod busybox;
#[path = "01_fetch.rs"]
pub mod fetch;
#[path = "07_guest.rs"]
pub mod guest;
#[path = "08_initramfs.rs"]
pub mod initramfs;
#[path = "03_kernel.rs"]
pub mod kernel;
#[path = "09_manifest.rs"]
pub mod manifest;
#[path = "04_musl.rs"]
pub mod musl;
#[path = "06_packages.rs"]
pub mod packages;
#[path = "10_site.rs"]
pub mod site;
#[path = "02_toolchain.rs"]
pub mod toolchain;

/// `cargo x all`: every artifact, each step skipped when its inputs are unchanged.
pub fn all(ctx: &mut Ctx) -> Result<()> {
    let start = std::time::Instant::now();
    fetch::run(ctx)?;
    kernel::build(ctx)?;
    musl::build(ctx)?;
    busybox::build(ctx)?;
    packages::build(ctx, &[])?;
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
