//! `cargo x bbtest native`: the testsuite packed for the image, and the same BusyBox built
//! and tested on the build machine.

use super::summary::{progress, spinner, Summary};
use crate::formats::testsuite_tar::{pack_testsuite, TARBALL};
use crate::pipeline::{Ctx, SOURCE_DATE_EPOCH};
use crate::sources::tree;
use crate::stamp::InputHash;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const STEP_VERSION: &str = "2";
/// The runner script, relative to the repository (also installed in the image).
pub const SCRIPT: &str = "build/rootfs/busybox-testsuite";
pub const RESULTS: &str = "testsuite-results.txt";

/// The build-machine configuration: the image's, with the wasm compiler and linker flags
/// dropped and BusyBox re-executing itself through /proc/self/exe (it is not at
/// /bin/busybox on the build machine). Everything that selects applets stays the same.
pub fn native_config(defconfig: &str) -> Result<String> {
    let mut out = String::with_capacity(defconfig.len());
    let mut replaced = BTreeSet::new();
    for line in defconfig.lines() {
        let key = line.split_once('=').map(|(k, _)| k);
        let new = match key {
            Some("CONFIG_EXTRA_CFLAGS") => Some("CONFIG_EXTRA_CFLAGS=\"\""),
            Some("CONFIG_EXTRA_LDFLAGS") => Some("CONFIG_EXTRA_LDFLAGS=\"\""),
            Some("CONFIG_BUSYBOX_EXEC_PATH") => Some("CONFIG_BUSYBOX_EXEC_PATH=\"/proc/self/exe\""),
            _ => None,
        };
        match new {
            Some(n) => {
                replaced.insert(key.unwrap_or_default());
                out.push_str(n);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    for want in [
        "CONFIG_EXTRA_CFLAGS",
        "CONFIG_EXTRA_LDFLAGS",
        "CONFIG_BUSYBOX_EXEC_PATH",
    ] {
        if !replaced.contains(want) {
            bail!("the BusyBox configuration has no {want}= line to adapt for the native build");
        }
    }
    for want in ["CONFIG_NOMMU=y", "CONFIG_STATIC=y"] {
        if !defconfig.lines().any(|l| l == want) {
            bail!("the BusyBox configuration lacks {want}; the native build mirrors it");
        }
    }
    Ok(out)
}

pub fn native_dir(ctx: &Ctx) -> PathBuf {
    ctx.paths.out("busybox-native")
}

fn gcc_identity() -> Result<String> {
    let out = Command::new("gcc")
        .arg("--version")
        .output()
        .context("running gcc --version (the native BusyBox is built with the host's gcc)")?;
    if !out.status.success() {
        bail!("gcc --version failed");
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// Where the native run happens.
enum Isolation {
    /// In the image's own root filesystem (`build/rootfs.toml`, with the native BusyBox)
    /// under chroot, in a private mount namespace with the host's /dev and a /proc: the
    /// same files, applets and /bin/sh (hush) as the guest. Needs root.
    Chroot,
    /// On the build machine, with BusyBox bound over the file behind /bin/sh in a private
    /// mount namespace (`unshare` with these flags), so `#!/bin/sh` scripts run under hush.
    Namespace(&'static [&'static str]),
    /// On the build machine, `#!/bin/sh` scripts under the host's shell.
    HostShell,
}

impl Isolation {
    fn probe() -> Isolation {
        let works = |args: &[&str]| {
            Command::new("unshare")
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if works(&["--mount", "--propagation", "private", "chroot", "/", "true"]) {
            return Isolation::Chroot;
        }
        for flags in [
            &["--mount", "--propagation", "private"][..],
            &["--map-root-user", "--mount", "--propagation", "private"][..],
        ] {
            if works(&[flags, &["true"]].concat()) {
                return Isolation::Namespace(flags);
            }
        }
        Isolation::HostShell
    }

    fn describe(&self) -> &'static str {
        match self {
            Isolation::Chroot => {
                "in the image's root filesystem (chroot), #!/bin/sh = BusyBox hush as in the guest"
            }
            Isolation::Namespace(_) => {
                "on the build machine, #!/bin/sh = BusyBox hush (bound over /bin/sh)"
            }
            Isolation::HostShell => "on the build machine, #!/bin/sh = the host's shell",
        }
    }
}

/// `cargo x bbtest native`.
pub fn native(ctx: &mut Ctx) -> Result<Summary> {
    let fetched = ctx.fetched("busybox")?;
    let step = ctx.ui.step(&format!(
        "busybox {} testsuite, native build",
        fetched.version
    ));
    let tree = ctx.tree("busybox")?;
    let src = tree.dir.clone();
    let out = native_dir(ctx);
    let defconfig_path = src.join("configs").join(crate::steps::busybox::DEFCONFIG);
    let defconfig = std::fs::read_to_string(&defconfig_path)
        .with_context(|| format!("reading {}", defconfig_path.display()))?;
    let config = native_config(&defconfig)
        .with_context(|| format!("adapting {}", defconfig_path.display()))?;
    let script = ctx.paths.repo.join(SCRIPT);
    let gcc = gcc_identity()?;
    let mut key = InputHash::new("bbtest-native");
    key.add("version", STEP_VERSION.as_bytes())
        .add("head", tree.head.as_bytes())
        .add("local", tree::local_changes(&src)?.as_bytes())
        .add("config", config.as_bytes())
        .add("gcc", gcc.as_bytes());
    // The image's files matter too: the run happens in them when it can (chroot).
    key.add_file(&script)?
        .add_file(&ctx.paths.repo.join("build/rootfs.toml"))?;
    let key = key.finish();
    let results = out.join(RESULTS);
    if ctx.stamps.is_fresh("bbtest-native", &key, &[&results]) {
        let text = std::fs::read_to_string(&results)
            .with_context(|| format!("reading {}", results.display()))?;
        let summary = Summary::from_output(&text);
        step.skipped("source, configuration and script unchanged; results from the last run");
        print_results(&summary, &results);
        return Ok(summary);
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let dot_config = out.join(".config");
    // Rewrite .config only when it changes, so make rebuilds only what it must.
    if std::fs::read_to_string(&dot_config).ok().as_deref() != Some(config.as_str()) {
        std::fs::write(&dot_config, &config)
            .with_context(|| format!("writing {}", dot_config.display()))?;
    }
    let log = ctx.log("bbtest-native");
    let _ = std::fs::remove_file(&log);
    let make = |args: &[&str]| {
        let mut c = Command::new("make");
        c.arg("-C")
            .arg(&src)
            .arg(format!("O={}", out.display()))
            .args(["CC=gcc", "HOSTCC=gcc"])
            .args(args)
            .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
            .env("KCONFIG_NOTIMESTAMP", "1");
        c
    };
    ctx.ui.run(
        "busybox native config",
        &mut make(&["silentoldconfig"]),
        &log,
    )?;
    let jobs = format!("-j{}", ctx.jobs);
    ctx.ui.run(
        "busybox native build",
        &mut make(&[&jobs, "busybox", "busybox.links"]),
        &log,
    )?;
    let bb = out.join("busybox");
    let tarball = out.join(TARBALL);
    pack_testsuite(&src, &dot_config, &tarball)?;

    let isolation = Isolation::probe();
    let run_log = out.join("testsuite.log");
    // Where the script leaves runtest's log, as the build machine sees it.
    let work;
    let mut cmd = match isolation {
        Isolation::Chroot => {
            let root = out.join("rootfs");
            if root.exists() {
                std::fs::remove_dir_all(&root)
                    .with_context(|| format!("removing {}", root.display()))?;
            }
            let desc = ctx.paths.repo.join("build/rootfs.toml");
            let sources = crate::rootfs::Sources::new(ctx.paths.repo.join("build"))
                .with_output("busybox", &out);
            crate::rootfs::Rootfs::load(&desc)?
                .write_tree(&sources, &root)
                .with_context(|| format!("writing the image's files to {}", root.display()))?;
            work = root.join("tmp/busybox-testsuite");
            // The command a person types at the guest's login shell, with the login's
            // environment; BusyBox itself mounts and enters the tree.
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "--"])
                .arg(&bb)
                .args([
                    "sh",
                    "-c",
                    r#"bb=$1 r=$2
"$bb" mount -o rbind /dev "$r/dev" && "$bb" mount -t proc proc "$r/proc" &&
exec "$bb" chroot "$r" /usr/bin/env -i HOME=/root TERM=dumb /bin/sh -l -c 'exec busybox-testsuite'"#,
                    "sh",
                ])
                .arg(&bb)
                .arg(&root)
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
            c
        }
        Isolation::Namespace(flags) => {
            // Inside the namespace BusyBox's own mount and readlink do the binding.
            let mut c = Command::new("unshare");
            c.args(flags).arg("--").arg(&bb).args([
                "sh",
                "-c",
                r#"bb=$1; shift; "$bb" mount --bind "$bb" "$("$bb" readlink -f /bin/sh)" && exec "$bb" sh "$@""#,
                "sh",
            ]);
            c.arg(&bb);
            work = out.join("work");
            host_args(&mut c, &script, &bb, &dot_config, &tarball, &work);
            c
        }
        Isolation::HostShell => {
            ctx.ui.warn(
                "neither chroot nor a mount namespace (unshare failed): #!/bin/sh scripts \
                 run with the host's /bin/sh, not BusyBox hush as in the guest",
            );
            let mut c = Command::new(&bb);
            c.arg("sh");
            work = out.join("work");
            host_args(&mut c, &script, &bb, &dot_config, &tarball, &work);
            c
        }
    };
    cmd.current_dir(&out);
    let summary = run_with_progress(&mut cmd, &run_log, &work.join("testsuite.log"))?;
    let text = format!(
        "# BusyBox {} testsuite, native build ({}; {gcc}); run {}\n{}",
        fetched.version,
        std::env::consts::ARCH,
        isolation.describe(),
        summary.report()
    );
    std::fs::write(&results, text).with_context(|| format!("writing {}", results.display()))?;
    ctx.stamps.record("bbtest-native", &key)?;
    let elapsed = step.elapsed();
    ctx.record_duration("bbtest-native", elapsed);
    step.done(&summary.line());
    print_results(&summary, &results);
    Ok(summary)
}

/// The script's arguments and environment for a run on the build machine.
fn host_args(
    c: &mut Command,
    script: &Path,
    bb: &Path,
    config: &Path,
    tarball: &Path,
    work: &Path,
) {
    c.arg(script)
        .arg("-b")
        .arg(bb)
        .arg("-c")
        .arg(config)
        .arg("-t")
        .arg(tarball)
        .arg("-w")
        .arg(work)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env(
            "HOME",
            std::env::var_os("HOME").unwrap_or_else(|| "/".into()),
        );
}

/// Runs the script with its output in `log`, showing the counts so far and the last
/// line; the summary is recounted from runtest's own log (`runtest_log`, which the
/// script writes) and checked against the script's.
fn run_with_progress(cmd: &mut Command, log: &Path, runtest_log: &Path) -> Result<Summary> {
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone().context("duplicating log handle")?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let pb = spinner();
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for the testsuite")? {
            break status;
        }
        if let Ok(bytes) = std::fs::read(log) {
            pb.set_message(progress(&String::from_utf8_lossy(&bytes)));
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    pb.finish_and_clear();
    let bytes = std::fs::read(log).with_context(|| format!("reading {}", log.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let summary = match std::fs::read(runtest_log) {
        Ok(b) => Summary::parse(&String::from_utf8_lossy(&b)),
        Err(_) => Summary::default(),
    };
    match Summary::find_line(&text) {
        Some(counts) if counts == (summary.pass, summary.fail, summary.skip) => Ok(summary),
        Some((p, f, s)) => bail!(
            "the testsuite script counted PASS {p} / FAIL {f} / SKIP {s} but its log has {} \
             (log: {})",
            summary.line(),
            log.display()
        ),
        None => {
            for line in crate::ui::tail(log, 20) {
                eprintln!("    | {line}");
            }
            bail!(
                "the testsuite did not finish ({status}); log: {}",
                log.display()
            )
        }
    }
}

fn print_results(summary: &Summary, results: &Path) {
    eprintln!("    {}", summary.line());
    for f in &summary.failures {
        eprintln!("      FAIL: {f}");
    }
    eprintln!("    results: {}", results.display());
}
