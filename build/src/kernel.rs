//! `cargo x kernel`: Linux with `patches/linux/` built by Kbuild for ARCH=wasm, then the
//! post-link step that fills the kernel's section table → `dist/vmlinux.wasm`.

use crate::pipeline::{Ctx, BUILD_HOST, BUILD_TIMESTAMP, BUILD_USER};
use crate::stamp::InputHash;
use crate::{postlink, toolchain, tree};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Bumped when this step's own logic changes in a way that changes its output.
const STEP_VERSION: &str = "1";

fn make(ctx: &Ctx, src: &Path, out: &Path) -> Command {
    let mut c = Command::new("make");
    c.arg("-C")
        .arg(src)
        .arg(format!("O={}", out.display()))
        .args(["ARCH=wasm", "LLVM=-19"])
        .env("KBUILD_BUILD_TIMESTAMP", BUILD_TIMESTAMP)
        .env("KBUILD_BUILD_USER", BUILD_USER)
        .env("KBUILD_BUILD_HOST", BUILD_HOST)
        .env("KBUILD_BUILD_VERSION", "1");
    if ctx.ui.verbose {
        c.arg("V=1");
    }
    c
}

pub fn vmlinux_wasm(ctx: &Ctx) -> PathBuf {
    ctx.paths.dist().join("vmlinux.wasm")
}

pub fn build(ctx: &mut Ctx) -> Result<()> {
    let fetched = ctx.fetched("linux")?;
    let step = ctx.ui.step(&format!("kernel: Linux {}", fetched.version));
    let tree = ctx.tree("linux")?;
    let src = tree.dir.clone();
    let out = ctx.paths.out("linux");
    let dest = vmlinux_wasm(ctx);

    let mut key = InputHash::new("kernel");
    key.add("version", STEP_VERSION.as_bytes())
        .add("head", tree.head.as_bytes())
        .add("local", tree::local_changes(&src)?.as_bytes())
        .add("toolchain", toolchain::identity()?.as_bytes())
        .add("timestamp", BUILD_TIMESTAMP.as_bytes());
    let key = key.finish();
    // The post-linked module stays in the cache; dist/ gets a copy (see stamp::publish).
    let cached = out.join("vmlinux.wasm");
    if ctx.stamps.is_fresh("kernel", &key, &[&cached]) {
        let copied = crate::stamp::publish(&cached, &dest)?;
        step.skipped(if copied {
            "sources, patches and toolchain unchanged; copied to dist/"
        } else {
            "sources, patches and toolchain unchanged"
        });
        return Ok(());
    }

    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let log = ctx.log("kernel");
    let _ = std::fs::remove_file(&log);
    ctx.ui.run(
        "kernel defconfig",
        make(ctx, &src, &out).arg("defconfig"),
        &log,
    )?;
    ctx.ui.run(
        "kernel build",
        make(ctx, &src, &out)
            .arg(format!("-j{}", ctx.jobs))
            .arg("vmlinux"),
        &log,
    )?;

    let vmlinux = out.join("vmlinux");
    let linked =
        std::fs::read(&vmlinux).with_context(|| format!("reading {}", vmlinux.display()))?;
    let (patched, report) = postlink::patch_sectab(&linked)
        .with_context(|| format!("post-link of {}", vmlinux.display()))?;
    std::fs::write(out.join("sectab.txt"), report.to_log()).context("writing sectab.txt")?;
    std::fs::write(&cached, &patched).with_context(|| format!("writing {}", cached.display()))?;
    crate::stamp::publish(&cached, &dest)?;
    ctx.stamps.record("kernel", &key)?;
    let elapsed = step.elapsed();
    ctx.record_duration("kernel", elapsed);
    step.done(&format!("{} ({} bytes)", dest.display(), patched.len()));
    Ok(())
}
