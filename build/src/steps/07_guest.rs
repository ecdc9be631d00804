//! `cargo x guest`: our own small programs for the guest (`build/guest/*.c`), compiled
//! against the musl sysroot like any userland program, and the larger ones made of a
//! directory of sources linked with libraries other steps build (`build/guest/apk/`).

use crate::pipeline::Ctx;
use crate::stamp::{InputHash, Refreshed, Stamp};
use crate::steps::{musl, toolchain};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
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

/// Guest programs: (source under build/guest, output name under out/<name>/<name>, the
/// optimisation level). `alpenglow-big` is the bench's large program; the bench serves it
/// to the guest, it is not in the image.
pub const PROGRAMS: &[(&str, &str, &str)] = &[
    ("init.c", "init", "-O2"),
    ("bench.c", "alpenglow-bench", "-O2"),
    ("ctest.c", "ctest", "-O2"),
    ("files.c", "alpenglow-files", "-O2"),
    ("big.c", "alpenglow-big", "-O0"),
];

/// A guest program made of every `.c`/`.h` file in `build/guest/<dir>/`, linked with
/// static libraries from `prefixes`: each is a directory under `$CACHE/out/` with
/// `include/` and `lib/` (a package's -dev output).
pub struct MultiProgram {
    pub dir: &'static str,
    pub name: &'static str,
    /// The packages whose -dev trees hold its libraries (built first, if stale).
    pub packages: &'static [&'static str],
    pub prefixes: &'static [&'static str],
    pub libs: &'static [&'static str],
    /// Bytes of stack (wasm-ld's default is 64 KiB: too small for a program that keeps
    /// 64 KiB buffers on it, as apk does).
    pub stack: u32,
}

/// The package manager. Its input: the zlib and mbedtls -dev trees that the package
/// recipes build for wasm32 (`$CACHE/out/pkg/<origin>/<name>/root/usr`, with `include/`,
/// `lib/libz.a`, `lib/libmbedcrypto.a`), built first when stale.
pub const MULTI_PROGRAMS: &[MultiProgram] = &[MultiProgram {
    dir: "apk",
    name: "apk",
    packages: &["zlib", "mbedtls"],
    prefixes: &[
        "pkg/zlib/zlib-dev/root/usr",
        "pkg/mbedtls/mbedtls-dev/root/usr",
    ],
    libs: &["mbedcrypto", "z"],
    stack: 1 << 20,
}];

/// The library prefixes of `p`, or the first one missing.
fn prefixes(ctx: &Ctx, p: &MultiProgram) -> std::result::Result<Vec<PathBuf>, PathBuf> {
    let mut out = Vec::new();
    for name in p.prefixes {
        let dir = ctx.paths.out(name);
        if !dir.join("include").is_dir() || !dir.join("lib").is_dir() {
            return Err(dir);
        }
        out.push(dir);
    }
    Ok(out)
}

/// Every source of a multi-file program (and the library archives), sorted, for the key.
fn multi_inputs(src: &Path, prefixes: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "c" || x == "h") {
            files.push(p);
        }
    }
    for pre in prefixes {
        let lib = pre.join("lib");
        for e in std::fs::read_dir(&lib).with_context(|| format!("reading {}", lib.display()))? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "a") {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn build_multi(ctx: &mut Ctx, cc: &str, p: &MultiProgram, built: &mut Vec<&str>) -> Result<()> {
    let names: Vec<String> = p.packages.iter().map(|n| n.to_string()).collect();
    crate::packages::build(ctx, &names)
        .with_context(|| format!("building the libraries {} links", p.name))?;
    let prefixes = prefixes(ctx, p).map_err(|missing| {
        anyhow::anyhow!(
            "{}: {} is missing after its package was built",
            p.name,
            missing.display()
        )
    })?;
    let src = ctx.paths.repo.join("build/guest").join(p.dir);
    let out = output(ctx, p.name);
    let inputs = multi_inputs(&src, &prefixes)?;
    let includes: String = prefixes
        .iter()
        .map(|d| format!(" -I'{}'", d.join("include").display()))
        .collect();
    let libdirs: String = prefixes
        .iter()
        .map(|d| format!(" -L'{}'", d.join("lib").display()))
        .collect();
    let libs: String = p.libs.iter().map(|l| format!(" -l{l}")).collect();
    let sources: String = inputs
        .iter()
        .filter(|f| f.extension().is_some_and(|x| x == "c"))
        .map(|f| format!(" '{}'", f.display()))
        .collect();
    let cmd = format!(
        "{cc} -O2 -Wall -Werror -D_GNU_SOURCE {USER_CFLAGS}{includes} {USER_LDFLAGS} \
         -Wl,-z,stack-size={} -o '{}'{sources}{libdirs}{libs}",
        p.stack,
        out.display()
    );
    let mut key = InputHash::new("guest");
    key.add("version", STEP_VERSION.as_bytes())
        .add("command", cmd.as_bytes());
    for f in &inputs {
        key.add_file(f)?;
    }
    key.add_file(&musl::libc_a(ctx))?;
    let stamp = Stamp::new(format!("guest-{}", p.name), key).output(&out);
    let compiled = ctx.stamps.refresh(&stamp, || {
        let dir = out.parent().context("output has a directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut c = Command::new("sh");
        c.arg("-c").arg(&cmd);
        ctx.ui.run(
            &format!("compiling {}", src.display()),
            &mut c,
            &ctx.log("guest"),
        )
    })?;
    if let Refreshed::Built(()) = compiled {
        built.push(p.name);
    }
    Ok(())
}

pub fn output(ctx: &Ctx, name: &str) -> PathBuf {
    ctx.paths.out(name).join(name)
}

pub fn build(ctx: &mut Ctx) -> Result<()> {
    let step = ctx.ui.step("guest programs");
    let resource_dir = toolchain::resource_dir(&ctx.paths.cache)?;
    let cc = toolchain::userland_cc(&ctx.paths.sysroot(), &resource_dir);
    let mut built = Vec::new();
    for (src, name, opt) in PROGRAMS {
        let src = ctx.paths.repo.join("build/guest").join(src);
        let out = output(ctx, name);
        let mut key = InputHash::new("guest");
        key.add("version", STEP_VERSION.as_bytes())
            .add("cc", cc.as_bytes())
            .add(
                "flags",
                format!("{opt} {USER_CFLAGS} {USER_LDFLAGS}").as_bytes(),
            );
        key.add_file(&src)?.add_file(&musl::libc_a(ctx))?;
        let stamp = Stamp::new(format!("guest-{name}"), key).output(&out);
        let compiled = ctx.stamps.refresh(&stamp, || {
            let dir = out.parent().context("output has a directory")?;
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut c = Command::new("sh");
            c.arg("-c").arg(format!(
                "{cc} {opt} -Wall -Werror {USER_CFLAGS} {USER_LDFLAGS} -o '{}' '{}'",
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
    for p in MULTI_PROGRAMS {
        build_multi(ctx, &cc, p, &mut built)?;
    }
    if built.is_empty() {
        step.skipped("sources and musl unchanged");
    } else {
        ctx.finish_step(step, "guest", &built.join(", "));
    }
    Ok(())
}
