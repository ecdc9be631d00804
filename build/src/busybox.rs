//! `cargo x busybox`: BusyBox with `patches/busybox/`, linked against the musl sysroot.

use crate::pipeline::{Ctx, SOURCE_DATE_EPOCH};
use crate::stamp::InputHash;
use crate::{musl, toolchain, tree};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

const STEP_VERSION: &str = "1";
/// The committed configuration, added to BusyBox's `configs/` by the patch series.
pub const DEFCONFIG: &str = "alpenglow_defconfig";

pub fn output_dir(ctx: &Ctx) -> PathBuf {
    ctx.paths.out("busybox")
}

pub fn build(ctx: &mut Ctx) -> Result<()> {
    let fetched = ctx.fetched("busybox")?;
    let step = ctx.ui.step(&format!("busybox {}", fetched.version));
    let src = ctx.paths.src("busybox");
    let tree = tree::prepare(
        &ctx.ui,
        "busybox",
        &fetched.path(&ctx.paths),
        &fetched.sha256,
        &src,
        &ctx.paths.patches("busybox"),
    )?;
    if !src.join("configs").join(DEFCONFIG).is_file() {
        step.skipped(&format!(
            "patches/busybox has no configs/{DEFCONFIG} yet; BusyBox is not built"
        ));
        return Ok(());
    }
    if !musl::libc_a(ctx).is_file() {
        step.skipped("no musl sysroot yet; BusyBox is not built");
        return Ok(());
    }
    let out = output_dir(ctx);
    let bin = out.join("busybox");
    let mut key = InputHash::new("busybox");
    key.add("version", STEP_VERSION.as_bytes())
        .add("head", tree.head.as_bytes())
        .add("local", tree::local_changes(&src)?.as_bytes())
        .add("toolchain", toolchain::identity()?.as_bytes());
    key.add_file(&musl::libc_a(ctx))?;
    let key = key.finish();
    if ctx.stamps.is_fresh("busybox", &key, &[&bin]) {
        step.skipped("sources, patches, musl and toolchain unchanged");
        return Ok(());
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let log = ctx.log("busybox");
    let _ = std::fs::remove_file(&log);
    let make = |args: &[String]| {
        let mut c = Command::new("make");
        c.arg("-C")
            .arg(&src)
            .arg(format!("O={}", out.display()))
            .args(args);
        c.env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
            .env("ALPENGLOW_SYSROOT", ctx.paths.sysroot());
        c
    };
    ctx.ui
        .run("busybox config", &mut make(&[DEFCONFIG.to_string()]), &log)?;
    ctx.ui.run(
        "busybox build",
        &mut make(&[format!("-j{}", ctx.jobs), "busybox".into()]),
        &log,
    )?;
    ctx.stamps.record("busybox", &key)?;
    let elapsed = step.elapsed();
    ctx.record_duration("busybox", elapsed);
    step.done(&bin.display().to_string());
    Ok(())
}
