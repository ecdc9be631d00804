//! The native side: the same program built for this machine, run with the native BusyBox
//! first on PATH.

use super::workload::{parse_output, Output, Side};
use crate::paths::Paths;
use crate::pipeline::Ctx;
use crate::stamp::InputHash;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Native {
    pub bench: PathBuf,
    /// A directory holding the native BusyBox's applet links, first on PATH.
    pub bin: Option<PathBuf>,
    pub side: Side,
    pub tag: u32,
}

impl Native {
    pub fn run(&mut self, args: &[String]) -> Result<Output> {
        self.tag += 1;
        let tag = self.tag;
        let mut c = Command::new(&self.bench);
        c.arg("-t").arg(tag.to_string()).args(args);
        // Only BusyBox's applets on PATH (and the bench), as in the guest.
        let path = match &self.bin {
            Some(bin) => bin.display().to_string(),
            None => self
                .bench
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        };
        c.env_clear()
            .env("PATH", path)
            .env("HOME", &self.side.tmp)
            .env("LC_ALL", "C")
            .current_dir(&self.side.tmp);
        let shown = format!("{c:?}");
        let out = c.output().with_context(|| format!("running {shown}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let parsed = parse_output(&text, tag).with_context(|| format!("natively: {shown}"))?;
        if !out.status.success() || !parsed.ended {
            bail!(
                "natively, {shown} failed ({}):\n{text}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(parsed)
    }
}

/// Builds `build/guest/bench.c` for this machine with the host's clang at -O2.
pub fn build_native_bench(ctx: &mut Ctx) -> Result<PathBuf> {
    build_native(ctx, "bench.c", "alpenglow-bench", "-O2")
}

/// Builds the bench's large program, `build/guest/big.c`, at -O0 as the guest's is.
pub fn build_native_big(ctx: &mut Ctx) -> Result<PathBuf> {
    build_native(ctx, "big.c", "alpenglow-big", "-O0")
}

/// Builds `build/guest/<source>` for this machine with the host's clang.
fn build_native(ctx: &mut Ctx, source: &str, name: &str, opt: &str) -> Result<PathBuf> {
    let src = ctx.paths.repo.join("build/guest").join(source);
    let dir = ctx.paths.out("bench-native");
    let out = dir.join(name);
    let cc = crate::steps::toolchain::CC;
    let stamp = format!("bench-native-{name}");
    let mut key = InputHash::new("bench-native");
    key.add("cc", cc.as_bytes()).add("flags", opt.as_bytes());
    key.add_file(&src)?;
    let key = key.finish();
    if ctx.stamps.is_fresh(&stamp, &key, &[&out]) {
        return Ok(out);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut c = Command::new(cc);
    c.args([opt, "-Wall", "-Werror", "-o"]).arg(&out).arg(&src);
    ctx.ui.run(
        &format!("compiling {source} natively"),
        &mut c,
        &ctx.log("bench"),
    )?;
    ctx.stamps.record(&stamp, &key)?;
    Ok(out)
}

/// A directory of links named after every applet of the native BusyBox (and the bench):
/// the native PATH, so `sh`, `seq`, `sort`… are BusyBox's as in the guest.
pub fn native_bin(paths: &Paths, busybox: &Path, bench: &Path) -> Result<PathBuf> {
    let links = busybox.with_file_name("busybox.links");
    let list =
        std::fs::read_to_string(&links).with_context(|| format!("reading {}", links.display()))?;
    let bin = paths.out("bench-native").join("bin");
    if bin.exists() {
        std::fs::remove_dir_all(&bin).with_context(|| format!("clearing {}", bin.display()))?;
    }
    std::fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
    let link = |target: &Path, name: &str| {
        std::os::unix::fs::symlink(target, bin.join(name))
            .with_context(|| format!("linking {name} in {}", bin.display()))
    };
    link(busybox, "busybox")?;
    for applet in list.lines().filter_map(|l| l.rsplit('/').next()) {
        if !applet.is_empty() && !bin.join(applet).exists() {
            link(busybox, applet)?;
        }
    }
    link(bench, "alpenglow-bench")?;
    Ok(bin)
}

/// `alpenglow-bench procmem` of a native `sh -c` (its `$$`): the shell's memory.
pub fn native_shell_mem(native: &mut Native) -> Result<Output> {
    native.tag += 1;
    let tag = native.tag;
    let bin = native.bin.clone().context("native BusyBox")?;
    let out = Command::new(bin.join("sh"))
        .args(["-c", &format!("alpenglow-bench -t {tag} procmem $$; true")])
        .env_clear()
        .env("PATH", &bin)
        .current_dir(&native.side.tmp)
        .output()
        .context("running the native shell")?;
    parse_output(&String::from_utf8_lossy(&out.stdout), tag)
}
