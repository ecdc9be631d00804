//! `cargo x musl`: musl with `patches/musl/` (which adds the wasm32 arch), built out of
//! tree and installed into the sysroot the userland links against.

use crate::pipeline::{Ctx, SOURCE_DATE_EPOCH};
use crate::stamp::InputHash;
use crate::{toolchain, tree};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

const STEP_VERSION: &str = "1";

/// Extra flags beyond the shared wasm32 ones: setjmp/longjmp via wasm exception handling.
pub const MUSL_CFLAGS: &[&str] = &["-mexception-handling", "-mllvm", "-wasm-enable-sjlj", "-O2"];

pub fn libc_a(ctx: &Ctx) -> PathBuf {
    ctx.paths.sysroot().join("lib/libc.a")
}

/// The musl tree carries a wasm32 port once `patches/musl/` provides `arch/wasm32`.
pub fn ported(ctx: &Ctx) -> bool {
    ctx.paths.src("musl").join("arch/wasm32").is_dir()
}

pub fn build(ctx: &mut Ctx) -> Result<()> {
    let fetched = ctx.fetched("musl")?;
    let step = ctx.ui.step(&format!("musl {}", fetched.version));
    let src = ctx.paths.src("musl");
    let tree = tree::prepare(
        &ctx.ui,
        "musl",
        &fetched.path(&ctx.paths),
        &fetched.sha256,
        &src,
        &ctx.paths.patches("musl"),
    )?;
    if !ported(ctx) {
        step.skipped("patches/musl has no wasm32 port yet; the userland is not built");
        return Ok(());
    }
    let cflags = toolchain::WASM_CFLAGS
        .iter()
        .chain(MUSL_CFLAGS)
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let mut key = InputHash::new("musl");
    key.add("version", STEP_VERSION.as_bytes())
        .add("head", tree.head.as_bytes())
        .add("local", tree::local_changes(&src)?.as_bytes())
        .add("toolchain", toolchain::identity()?.as_bytes())
        .add("cflags", cflags.as_bytes());
    let key = key.finish();
    let lib = libc_a(ctx);
    if ctx.stamps.is_fresh("musl", &key, &[&lib]) {
        step.skipped("sources, patches and toolchain unchanged");
        return Ok(());
    }
    let out = ctx.paths.out("musl");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let sysroot = ctx.paths.sysroot();
    let log = ctx.log("musl");
    let _ = std::fs::remove_file(&log);
    let env = |c: &mut Command| {
        c.current_dir(&out)
            .env("CC", toolchain::CC)
            .env("AR", toolchain::AR)
            .env("RANLIB", toolchain::RANLIB)
            .env("CFLAGS", &cflags)
            .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH);
    };
    let mut configure = Command::new(src.join("configure"));
    configure.args(["--target=wasm32", "--prefix=/", "--disable-shared"]);
    env(&mut configure);
    ctx.ui.run("musl configure", &mut configure, &log)?;
    let mut make = Command::new("make");
    make.arg(format!("-j{}", ctx.jobs));
    env(&mut make);
    ctx.ui.run("musl build", &mut make, &log)?;
    let mut install = Command::new("make");
    install
        .arg("install")
        .arg(format!("DESTDIR={}", sysroot.display()));
    env(&mut install);
    ctx.ui.run("musl install", &mut install, &log)?;
    ctx.stamps.record("musl", &key)?;
    let elapsed = step.elapsed();
    ctx.record_duration("musl", elapsed);
    step.done(&format!("sysroot {}", sysroot.display()));
    Ok(())
}
