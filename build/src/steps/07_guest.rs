//! `cargo x guest`: our own small programs for the guest (`build/guest/*.c`), compiled
//! against the musl sysroot like any userland program.

use crate::pipeline::Ctx;
use crate::stamp::{InputHash, Refreshed, Stamp};
use crate::steps::{musl, toolchain};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

const STEP_VERSION: &str = "2";

/// Link flags every user program needs: its own shared memory (threads share it), the
/// stack first so an overflow traps, the TLS entry points the loader calls, and the function
/// table, through which the kernel calls signal handlers. Function pointers start at 4096, so
/// none of them is SIG_DFL (0), SIG_IGN (1) or SIG_HOLD (2).
pub const USER_LDFLAGS: &str =
    "-Wl,--import-memory,--shared-memory,--max-memory=4294967296,--stack-first,\
--export=__wasm_init_tls,--export=__tls_size,--export=__tls_align,--export=__stack_pointer,\
--export-table,--table-base=4096";

/// Code generation flags: setjmp/longjmp through wasm exceptions, and the atomics and
/// bulk-memory features a shared memory needs (wasm-ld refuses `--shared-memory` for an
/// object with static data built without them, as musl and BusyBox are built with).
pub const USER_CFLAGS: &str =
    "-matomics -mbulk-memory -mexception-handling -mllvm -wasm-enable-sjlj";

/// Guest programs: (source under build/guest, output name under out/<name>/<name>).
pub const PROGRAMS: &[(&str, &str)] = &[
    ("init.c", "init"),
    ("bench.c", "alpenglow-bench"),
    ("ctest.c", "ctest"),
    ("files.c", "alpenglow-files"),
];

pub fn output(ctx: &Ctx, name: &str) -> PathBuf {
    ctx.paths.out(name).join(name)
}

pub fn build(ctx: &mut Ctx) -> Result<()> {
    let step = ctx.ui.step("guest programs");
    let resource_dir = toolchain::resource_dir(&ctx.paths.cache)?;
    let cc = toolchain::userland_cc(&ctx.paths.sysroot(), &resource_dir);
    let mut built = Vec::new();
    for (src, name) in PROGRAMS {
        let src = ctx.paths.repo.join("build/guest").join(src);
        let out = output(ctx, name);
        let mut key = InputHash::new("guest");
        key.add("version", STEP_VERSION.as_bytes())
            .add("cc", cc.as_bytes())
            .add("flags", format!("{USER_CFLAGS} {USER_LDFLAGS}").as_bytes());
        key.add_file(&src)?.add_file(&musl::libc_a(ctx))?;
        let stamp = Stamp::new(format!("guest-{name}"), key).output(&out);
        let compiled = ctx.stamps.refresh(&stamp, || {
            let dir = out.parent().context("output has a directory")?;
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut c = Command::new("sh");
            c.arg("-c").arg(format!(
                "{cc} -O2 -Wall -Werror {USER_CFLAGS} {USER_LDFLAGS} -o '{}' '{}'",
                out.display(),
                src.display()
            ));
            ctx.ui.run(
                &format!("compiling {}", src.display()),
                &mut c,
                &ctx.log("guest"),
            )
        })?;
        if let Refreshed::Built(()) = compiled {
            built.push(*name);
        }
    }
    if built.is_empty() {
        step.skipped("sources and musl unchanged");
    } else {
        ctx.finish_step(step, "guest", &built.join(", "));
    }
    Ok(())
}
