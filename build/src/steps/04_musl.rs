//! `cargo x musl`: musl with `patches/musl/` (which adds the wasm32 arch), built out of
//! tree and installed with the kernel's UAPI headers into the sysroot the userland links
//! against.

use crate::pipeline::{Ctx, SOURCE_DATE_EPOCH};
use crate::sources::tree;
use crate::stamp::{InputHash, Stamp};
use crate::steps::toolchain;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

const STEP_VERSION: &str = "2";

/// musl's configure probes with CC alone, so the target goes there; configure adds the
/// wasm features musl needs (atomics, bulk memory, exception handling for setjmp).
const CFLAGS: &str = "-O2 -mmutable-globals -msign-ext -mnontrapping-fptoint";

pub fn libc_a(ctx: &Ctx) -> PathBuf {
    ctx.paths.sysroot().join("lib/libc.a")
}

pub fn build(ctx: &mut Ctx) -> Result<()> {
    let fetched = ctx.fetched("musl")?;
    let step = ctx
        .ui
        .step(&format!("musl {} + kernel headers", fetched.version));
    let tree = ctx.tree("musl")?;
    let src = tree.dir.clone();
    let linux = ctx.paths.src("linux");
    let cc = format!("{} --target=wasm32-unknown-unknown", toolchain::CC);
    let mut key = InputHash::new("musl");
    key.add("version", STEP_VERSION.as_bytes())
        .add("head", tree.head.as_bytes())
        .add("local", tree::local_changes(&src)?.as_bytes())
        .add("linux-head", tree::head(&linux)?.as_bytes())
        .add("linux-local", tree::local_changes(&linux)?.as_bytes())
        .add("toolchain", toolchain::identity()?.as_bytes())
        .add("cc", cc.as_bytes())
        .add("cflags", CFLAGS.as_bytes());
    let lib = libc_a(ctx);
    let stamp = Stamp::new("musl", key).output(&lib);
    ctx.run_step(
        step,
        stamp,
        "sources, patches and toolchain unchanged",
        |ctx| {
            let out = ctx.paths.out("musl");
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let sysroot = ctx.paths.sysroot();
            if sysroot.exists() {
                // Start clean so nothing stale (an old header, a removed object) survives.
                std::fs::remove_dir_all(&sysroot)
                    .with_context(|| format!("removing {}", sysroot.display()))?;
            }
            let log = ctx.new_log("musl");
            let env = |c: &mut Command| {
                c.current_dir(&out)
                    .env("CC", &cc)
                    .env("AR", toolchain::AR)
                    .env("RANLIB", toolchain::RANLIB)
                    .env("CFLAGS", CFLAGS)
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

            // The kernel's UAPI headers (<linux/…>, <asm/…>) for programs that use them.
            let mut headers = Command::new("make");
            headers
                .arg("-C")
                .arg(&linux)
                .arg(format!("O={}", ctx.paths.out("linux-headers").display()))
                .args(["ARCH=wasm", "LLVM=-19", "headers_install"])
                .arg(format!("INSTALL_HDR_PATH={}", sysroot.display()));
            ctx.ui.run("kernel headers_install", &mut headers, &log)?;

            Ok(format!("sysroot {}", sysroot.display()))
        },
    )
}
