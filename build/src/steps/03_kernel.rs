//! `cargo x kernel`: Linux with `patches/linux/` built by Kbuild for ARCH=wasm, then the
//! post-link step that fills the kernel's section table → `dist/vmlinux.wasm`.

use crate::formats::sectab;
use crate::pipeline::{Ctx, BUILD_HOST, BUILD_TIMESTAMP, BUILD_USER};
use crate::sources::tree;
use crate::stamp::{InputHash, Stamp};
use crate::steps::toolchain;
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
    // The post-linked module stays in the cache; dist/ gets a copy (see stamp::publish).
    let cached = out.join("vmlinux.wasm");
    let stamp = Stamp::new("kernel", key).published(&cached, &dest);
    ctx.run_step(
        step,
        stamp,
        "sources, patches and toolchain unchanged",
        |ctx| {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let log = ctx.new_log("kernel");
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
            let linked = std::fs::read(&vmlinux)
                .with_context(|| format!("reading {}", vmlinux.display()))?;
            let (patched, report) = sectab::patch_sectab(&linked)
                .with_context(|| format!("post-link of {}", vmlinux.display()))?;
            std::fs::write(out.join("sectab.txt"), report.to_log())
                .context("writing sectab.txt")?;
            std::fs::write(&cached, &patched)
                .with_context(|| format!("writing {}", cached.display()))?;
            Ok(format!("{} ({} bytes)", dest.display(), patched.len()))
        },
    )
}
