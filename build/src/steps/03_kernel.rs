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

/// The numbers the host and the kernel must agree on but that are not in the module's
/// imports and exports (`kernel_host::abi`): the CPU count its per-CPU pending words are
/// sized by, and how many low bits of a word are interrupt lines. Checked before the long
/// build, so that a change on one side only fails here and names both places.
fn check_host_constants(src: &Path, out: &Path) -> Result<()> {
    use kernel_host::abi;
    let config = out.join(".config");
    let irq_h = src.join("arch/wasm/include/asm/irq.h");
    let read =
        |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    let checks = [
        (
            kconfig_value(&read(&config)?, "CONFIG_NR_CPUS"),
            abi::MAX_CPUS,
            "CONFIG_NR_CPUS",
            &config,
            "abi::MAX_CPUS",
        ),
        (
            c_define(&read(&irq_h)?, "WASM_NR_IRQ_LINES"),
            abi::IRQ_LINES,
            "WASM_NR_IRQ_LINES",
            &irq_h,
            "abi::IRQ_LINES",
        ),
    ];
    for (kernel, host, name, file, host_name) in checks {
        match kernel {
            Some(n) if n == host => {}
            Some(n) => anyhow::bail!(
                "{name} is {n} in {}, but the host's {host_name} (kernel-host/src/abi.rs) is {host}: change both",
                file.display()
            ),
            None => anyhow::bail!("{}: no numeric {name}", file.display()),
        }
    }
    Ok(())
}

/// `NAME=value` of a Kconfig `.config`, as a number.
fn kconfig_value(config: &str, name: &str) -> Option<u32> {
    config
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.trim().parse().ok())
}

/// `#define NAME value` of a C header, as a number.
fn c_define(header: &str, name: &str) -> Option<u32> {
    header.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next()? == "#define" && words.next()? == name)
            .then(|| words.next()?.parse().ok())
            .flatten()
    })
}

pub fn vmlinux_wasm(ctx: &Ctx) -> PathBuf {
    ctx.paths.dist().join("vmlinux.wasm")
}

/// A kernel configuration `cargo x` builds: the product's, or a test build's.
struct Variant {
    /// The step's name: its stamp, its log and its time in the manifest.
    step: &'static str,
    /// Its output directory under the cache (`out/<dir>`).
    dir: &'static str,
    /// Config fragments (`arch/wasm/configs/`) merged over the defconfig.
    fragments: &'static [&'static str],
    /// What the step line says it builds.
    what: &'static str,
}

const PRODUCT: Variant = Variant {
    step: "kernel",
    dir: "linux",
    fragments: &[],
    what: "kernel",
};

/// The kernel with Linux's lock, RCU and sleep checking on (`arch/wasm/configs/lockcheck.config`:
/// lockdep, `DEBUG_ATOMIC_SLEEP`, RCU self tests); `cargo x lockcheck` boots it.
const LOCKCHECK: Variant = Variant {
    step: "kernel-lockcheck",
    dir: "linux-lockcheck",
    fragments: &["lockcheck.config"],
    what: "lock-checking kernel",
};

/// `cargo x kernel`: the product's kernel, published to `dist/vmlinux.wasm`.
pub fn build(ctx: &mut Ctx) -> Result<()> {
    let dest = vmlinux_wasm(ctx);
    build_variant(ctx, &PRODUCT, Some(&dest)).map(drop)
}

/// The lock-checking kernel, post-linked, in the cache (not in `dist/`). Returns its path.
pub fn build_lockcheck(ctx: &mut Ctx) -> Result<PathBuf> {
    build_variant(ctx, &LOCKCHECK, None)
}

fn build_variant(ctx: &mut Ctx, variant: &Variant, publish: Option<&Path>) -> Result<PathBuf> {
    let fetched = ctx.fetched("linux")?;
    let step = ctx
        .ui
        .step(&format!("{}: Linux {}", variant.what, fetched.version));
    let tree = ctx.tree("linux")?;
    let src = tree.dir.clone();
    let out = ctx.paths.out(variant.dir);

    let mut key = InputHash::new(variant.step);
    key.add("version", STEP_VERSION.as_bytes())
        .add("head", tree.head.as_bytes())
        .add("local", tree::local_changes(&src)?.as_bytes())
        .add("toolchain", toolchain::identity()?.as_bytes())
        .add("timestamp", BUILD_TIMESTAMP.as_bytes())
        .add("fragments", variant.fragments.join(" ").as_bytes())
        .add(
            "host-constants",
            format!(
                "{} {}",
                kernel_host::abi::MAX_CPUS,
                kernel_host::abi::IRQ_LINES
            )
            .as_bytes(),
        );
    // The post-linked module stays in the cache; dist/ gets a copy (see stamp::publish).
    let cached = out.join("vmlinux.wasm");
    let stamp = match publish {
        Some(dest) => Stamp::new(variant.step, key).published(&cached, dest),
        None => Stamp::new(variant.step, key).output(&cached),
    };
    ctx.run_step(
        step,
        stamp,
        "sources, patches and toolchain unchanged",
        |ctx| {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let log = ctx.new_log(variant.step);
            ctx.ui.run(
                "kernel defconfig",
                make(ctx, &src, &out)
                    .arg("defconfig")
                    .args(variant.fragments),
                &log,
            )?;
            check_host_constants(&src, &out)?;
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
            let shown = publish.unwrap_or(&cached);
            Ok(format!("{} ({} bytes)", shown.display(), patched.len()))
        },
    )?;
    Ok(cached)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kconfig_values_and_c_defines() {
        let config =
            "# CONFIG_NR_CPUS_RANGE is not set\nCONFIG_NR_CPUS_DEFAULT=2\nCONFIG_NR_CPUS=8\n";
        assert_eq!(kconfig_value(config, "CONFIG_NR_CPUS"), Some(8));
        assert_eq!(kconfig_value(config, "CONFIG_SMP"), None);
        let header =
            "#define WASM_NR_IRQ_LINES_MAX\t99\n#define WASM_NR_IRQ_LINES\t24\n#define X\n";
        assert_eq!(c_define(header, "WASM_NR_IRQ_LINES"), Some(24));
        assert_eq!(c_define(header, "X"), None);
        assert_eq!(c_define(header, "Y"), None);
    }
}
