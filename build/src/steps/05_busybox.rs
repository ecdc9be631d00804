//! `cargo x busybox`: BusyBox with `patches/busybox/` (whose `configs/alpenglow_defconfig`
//! is the committed configuration: Alpine's applets, static, NOMMU, wasm flags), linked
//! against the sysroot; also the testsuite tarball the image carries (`formats::testsuite_tar`).

use crate::formats::testsuite_tar;
use crate::pipeline::{Ctx, SOURCE_DATE_EPOCH};
use crate::sources::tree;
use crate::stamp::{InputHash, Stamp};
use crate::steps::{musl, toolchain};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

const STEP_VERSION: &str = "3";
pub const DEFCONFIG: &str = "alpenglow_defconfig";

pub fn output_dir(ctx: &Ctx) -> PathBuf {
    ctx.paths.out("busybox")
}

pub fn build(ctx: &mut Ctx) -> Result<()> {
    let fetched = ctx.fetched("busybox")?;
    let step = ctx.ui.step(&format!("busybox {}", fetched.version));
    let tree = ctx.tree("busybox")?;
    let src = tree.dir.clone();
    let out = output_dir(ctx);
    let bin = out.join("busybox");
    let links = out.join("busybox.links");
    let testsuite = out.join(testsuite_tar::TARBALL);
    let resource_dir = toolchain::resource_dir(&ctx.paths.cache)?;
    let cc = toolchain::userland_cc(&ctx.paths.sysroot(), &resource_dir);
    let mut key = InputHash::new("busybox");
    key.add("version", STEP_VERSION.as_bytes())
        .add("head", tree.head.as_bytes())
        .add("local", tree::local_changes(&src)?.as_bytes())
        .add("toolchain", toolchain::identity()?.as_bytes())
        .add("cc", cc.as_bytes());
    key.add_file(&musl::libc_a(ctx))?;
    let stamp = Stamp::new("busybox", key)
        .output(&bin)
        .output(&links)
        .output(&testsuite);
    let unchanged = "sources, patches, musl and toolchain unchanged";
    ctx.run_step(step, stamp, unchanged, |ctx| {
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let log = ctx.new_log("busybox");
        let make = |args: &[&str]| {
            let mut c = Command::new("make");
            c.arg("-C")
                .arg(&src)
                .arg(format!("O={}", out.display()))
                .arg(format!("CC={cc}"))
                .args(["HOSTCC=gcc", &format!("AR={}", toolchain::AR)])
                .arg(format!("STRIP={}", toolchain::STRIP))
                .args(args)
                .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
                .env("KCONFIG_NOTIMESTAMP", "1");
            c
        };
        ctx.ui
            .run("busybox config", &mut make(&[DEFCONFIG]), &log)?;
        let jobs = format!("-j{}", ctx.jobs);
        ctx.ui.run(
            "busybox build",
            &mut make(&[&jobs, "busybox", "busybox.links"]),
            &log,
        )?;
        testsuite_tar::pack_testsuite(&src, &out.join(".config"), &testsuite)?;
        Ok(bin.display().to_string())
    })
}
