//! BusyBox's own testsuite, in the guest and natively, counted the same way.
//!
//! The image carries the testsuite as `/usr/share/busybox/testsuite.tar.gz` (made by the
//! busybox step from its source tree and `.config`) and the runner script
//! `build/rootfs/busybox-testsuite` as `/usr/bin/busybox-testsuite`. `cargo x bbtest native`
//! builds the same source with the same configuration for the build machine (gcc instead of
//! the wasm toolchain, `$CACHE/out/busybox-native`) and runs the same script against it: as
//! root in the image's own files under chroot (the same /etc, applets and /bin/sh = hush as
//! the guest), else on the build machine with BusyBox's hush bound over `/bin/sh` in a
//! mount namespace, else with the host's shell (the results say which).
//! `cargo x bbtest compare LOG` reads what the guest printed and compares it with the
//! native results.

use crate::pipeline::{Ctx, SOURCE_DATE_EPOCH};
use crate::stamp::InputHash;
use crate::tree;
use anyhow::{bail, Context, Result};
use flate2::{Compression, GzBuilder};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const STEP_VERSION: &str = "2";
/// The runner script, relative to the repository (also installed in the image).
pub const SCRIPT: &str = "build/rootfs/busybox-testsuite";
/// The testsuite tarball's name in a BusyBox build directory.
pub const TARBALL: &str = "testsuite.tar.gz";
const RESULTS: &str = "testsuite-results.txt";

/// Counts of one testsuite run. SKIP counts both kinds of tests not run: `SKIPPED`
/// (the test found a missing feature) and `UNTESTED` (the applet or feature is not built).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    /// Names of the failed tests, in run order.
    pub failures: Vec<String>,
}

impl Summary {
    /// Counts the result lines of runtest output (also a terminal capture: `\r` and
    /// leading prompt noise before the keyword are not allowed, so `echo FAIL:` typed at a
    /// prompt does not count).
    pub fn parse(log: &str) -> Summary {
        let mut s = Summary::default();
        for line in log.lines() {
            let line = line.trim_end_matches('\r');
            if line.starts_with("PASS: ") {
                s.pass += 1;
            } else if let Some(name) = line.strip_prefix("FAIL: ") {
                s.fail += 1;
                s.failures.push(name.to_owned());
            } else if line.starts_with("SKIPPED: ") || line.starts_with("UNTESTED: ") {
                s.skip += 1;
            }
        }
        s
    }

    /// `PASS n / FAIL n / SKIP n`, the line both runners print.
    pub fn line(&self) -> String {
        format!(
            "PASS {} / FAIL {} / SKIP {}",
            self.pass, self.fail, self.skip
        )
    }

    /// The summary line, then one `FAIL: name` line per failure (the script's summary.txt).
    pub fn report(&self) -> String {
        let mut s = self.line();
        s.push('\n');
        for f in &self.failures {
            let _ = writeln!(s, "FAIL: {f}");
        }
        s
    }

    /// The counts from the last `PASS n / FAIL n / SKIP n` line in `text`, if any.
    pub fn find_line(text: &str) -> Option<(usize, usize, usize)> {
        text.lines().rev().find_map(counts)
    }

    /// What `busybox-testsuite` printed (or its summary.txt, or a results file): the last
    /// summary line and the `FAIL:` lines right after it. Without a summary line (a bare
    /// runtest log, or a run cut short) the result lines are counted instead.
    pub fn from_output(text: &str) -> Summary {
        let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
        let Some(i) = lines.iter().rposition(|l| counts(l).is_some()) else {
            return Summary::parse(text);
        };
        let (pass, fail, skip) = counts(lines[i]).unwrap_or_default();
        let failures = lines[i + 1..]
            .iter()
            .map_while(|l| l.strip_prefix("FAIL: "))
            .map(str::to_owned)
            .collect();
        Summary {
            pass,
            fail,
            skip,
            failures,
        }
    }
}

/// The numbers of a `PASS n / FAIL n / SKIP n` line.
fn counts(line: &str) -> Option<(usize, usize, usize)> {
    let w: Vec<&str> = line.trim_end_matches('\r').split_whitespace().collect();
    match w.as_slice() {
        ["PASS", p, "/", "FAIL", f, "/", "SKIP", s] => {
            Some((p.parse().ok()?, f.parse().ok()?, s.parse().ok()?))
        }
        _ => None,
    }
}

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

/// Packs `src/testsuite` and `config` (as `.config`) into a reproducible gzipped tar:
/// sorted, root-owned, mtime SOURCE_DATE_EPOCH, modes 0755/0644.
pub fn pack_testsuite(src: &Path, config: &Path, dest: &Path) -> Result<()> {
    let mtime: u64 = SOURCE_DATE_EPOCH.parse().context("SOURCE_DATE_EPOCH")?;
    let root = src.join("testsuite");
    if !root.is_dir() {
        bail!("{} is not a directory", root.display());
    }
    let tmp = dest.with_extension("tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let gz = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(file, Compression::best());
    let mut ar = tar::Builder::new(gz);
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        h
    };
    let config_bytes =
        std::fs::read(config).with_context(|| format!("reading {}", config.display()))?;
    let mut h = header(tar::EntryType::Regular, 0o644, config_bytes.len() as u64);
    ar.append_data(&mut h, ".config", config_bytes.as_slice())
        .context("adding .config")?;
    let mut stack = vec![PathBuf::from("testsuite")];
    while let Some(rel) = stack.pop() {
        let path = src.join(&rel);
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            ar.append_data(&mut h, &rel, std::io::empty())
                .with_context(|| format!("adding {}", rel.display()))?;
            let mut names: Vec<_> = std::fs::read_dir(&path)
                .with_context(|| format!("listing {}", path.display()))?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<std::io::Result<_>>()
                .with_context(|| format!("listing {}", path.display()))?;
            names.sort();
            // Popped last-first, so push in reverse for sorted output.
            stack.extend(names.into_iter().rev().map(|n| rel.join(n)));
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&path)
                .with_context(|| format!("reading link {}", path.display()))?;
            let mut h = header(tar::EntryType::Symlink, 0o777, 0);
            ar.append_link(&mut h, &rel, &target)
                .with_context(|| format!("adding {}", rel.display()))?;
        } else if ft.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let mut h = header(tar::EntryType::Regular, mode, bytes.len() as u64);
            ar.append_data(&mut h, &rel, bytes.as_slice())
                .with_context(|| format!("adding {}", rel.display()))?;
        } else {
            bail!("{}: not a file, directory or symlink", path.display());
        }
    }
    ar.into_inner()
        .and_then(|gz| gz.finish())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, dest).with_context(|| format!("renaming to {}", dest.display()))
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
    let defconfig_path = src.join("configs").join(crate::busybox::DEFCONFIG);
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

/// What two runs disagree on.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Failed in the guest, not natively.
    pub guest_only: Vec<String>,
    /// Failed natively, not in the guest.
    pub native_only: Vec<String>,
}

pub fn compare(guest: &Summary, native: &Summary) -> Comparison {
    let g: BTreeSet<&String> = guest.failures.iter().collect();
    let n: BTreeSet<&String> = native.failures.iter().collect();
    Comparison {
        guest_only: g.difference(&n).map(|s| (*s).clone()).collect(),
        native_only: n.difference(&g).map(|s| (*s).clone()).collect(),
    }
}

/// `cargo x bbtest compare LOG`: LOG is what `busybox-testsuite` printed in the guest
/// (or its summary.txt / testsuite.log).
pub fn compare_with_native(ctx: &mut Ctx, guest_log: &Path) -> Result<()> {
    let bytes =
        std::fs::read(guest_log).with_context(|| format!("reading {}", guest_log.display()))?;
    let guest = Summary::from_output(&String::from_utf8_lossy(&bytes));
    if guest.pass + guest.fail + guest.skip == 0 {
        bail!(
            "{} holds no testsuite results (PASS:/FAIL:/SKIPPED:/UNTESTED: lines or a summary)",
            guest_log.display()
        );
    }
    let native = native(ctx)?;
    print_comparison(&guest, &native);
    Ok(())
}

fn spinner() -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("    {spinner} {elapsed:>4} {msg}").expect("static template"),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// The counts so far and the last line of a testsuite log, for a progress line.
fn progress(log: &str) -> String {
    let s = Summary::parse(log);
    let last: String = log
        .lines()
        .rev()
        .map(|l| l.trim_end_matches('\r'))
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .chars()
        .take(60)
        .collect();
    format!(
        "{} passed, {} failed, {} skipped — {last}",
        s.pass, s.fail, s.skip
    )
}

/// `cargo x bbtest guest [APPLET]...`: boots the built app in headless Chromium, types
/// `busybox-testsuite [APPLET]...` at its shell prompt, and keeps what the terminal printed
/// in `$CACHE/out/busybox-guest/testsuite.log` (the summary in testsuite-results.txt).
/// A full run is compared with the native one.
pub fn guest(
    ctx: &mut Ctx,
    applets: &[String],
    append: Option<&str>,
    quiet: Duration,
) -> Result<Summary> {
    use crate::page::{self, Headless};

    let dir = ctx.paths.out("busybox-guest");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = dir.join("testsuite.log");

    let mut h = Headless::boot(ctx, append)?;
    let page = &mut h.page;

    let mut line = "busybox-testsuite".to_string();
    for a in applets {
        line.push(' ');
        line.push_str(&crate::bench::sh_quote(a));
    }
    let step = ctx.ui.step(&format!("`{line}` in the guest"));
    let pb = spinner();
    let mut so_far = String::new();
    // The log grows as the run goes (`tail -f` it); rewritten whole at the end.
    let mut growing =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let tag = page.next_tag();
    let ran = page.run_tagged(tag, &line, quiet, |chunk| {
        let chunk = page::strip_escapes(chunk);
        let _ = std::io::Write::write_all(&mut growing, chunk.as_bytes());
        so_far.push_str(&chunk);
        pb.set_message(progress(&so_far));
    });
    drop(growing);
    pb.finish_and_clear();
    let text = match &ran {
        Ok((text, _)) => page::strip_escapes(text),
        Err(_) => {
            format!("{so_far}\n{}", page.stuck_report())
        }
    };
    std::fs::write(&log, &text).with_context(|| format!("writing {}", log.display()))?;
    let (_, exit) = ran.with_context(|| {
        format!(
            "the testsuite in the guest did not finish; what it printed is in {}",
            log.display()
        )
    })?;
    let summary = Summary::from_output(&text);
    if Summary::find_line(&text).is_none() {
        bail!(
            "`{line}` exited with {exit} without a summary line; its output is in {}",
            log.display()
        );
    }
    let results = dir.join(RESULTS);
    std::fs::write(&results, summary.report())
        .with_context(|| format!("writing {}", results.display()))?;
    step.done(&format!("{} (log: {})", summary.line(), log.display()));
    drop(h);

    if applets.is_empty() {
        let native = native(ctx)?;
        print_comparison(&summary, &native);
    }
    Ok(summary)
}

fn print_comparison(guest: &Summary, native: &Summary) {
    let c = compare(guest, native);
    eprintln!("    guest:  {}", guest.line());
    eprintln!("    native: {}", native.line());
    eprintln!("    fail only in the guest ({}):", c.guest_only.len());
    for f in &c.guest_only {
        eprintln!("      {f}");
    }
    eprintln!("    fail only natively ({}):", c.native_only.len());
    for f in &c.native_only {
        eprintln!("      {f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
busybox-testsuite: testing BusyBox v1.37.0 multi-call binary.\r
PASS: awk -F case 0\r
FAIL: awk printf('%c') can output NUL\r
SKIPPED: busybox --help\r
UNTESTED: cpio-extracts-in-existing-dir\r
PASS: cat -e\r
some diff output\r
hostname:/# echo FAIL: typed\r
FAIL: tar-handles-empty-include-and-exclude-lists\r
PASS 2 / FAIL 2 / SKIP 2\r
";

    #[test]
    fn parse_counts_result_lines_only() {
        let s = Summary::parse(LOG);
        assert_eq!((s.pass, s.fail, s.skip), (2, 2, 2));
        assert_eq!(
            s.failures,
            [
                "awk printf('%c') can output NUL",
                "tar-handles-empty-include-and-exclude-lists"
            ]
        );
        assert_eq!(s.line(), "PASS 2 / FAIL 2 / SKIP 2");
        assert_eq!(Summary::find_line(LOG), Some((2, 2, 2)));
    }

    #[test]
    fn report_parses_back() {
        let s = Summary::parse(LOG);
        let r = s.report();
        assert_eq!(
            r,
            "PASS 2 / FAIL 2 / SKIP 2\nFAIL: awk printf('%c') can output NUL\n\
             FAIL: tar-handles-empty-include-and-exclude-lists\n"
        );
        assert_eq!(Summary::from_output(&r), s);
        assert_eq!(Summary::from_output(&format!("# header\n{r}")), s);
    }

    #[test]
    fn script_output_counts_once() {
        // What the guest terminal shows: the streamed results, then the summary, which
        // repeats the failures; the summary is what counts.
        let s = Summary::parse(LOG);
        let shown = format!("{LOG}{}hostname:~# \r\n", s.report().replace('\n', "\r\n"));
        assert_eq!(Summary::from_output(&shown), s);
        assert_eq!(Summary::parse(&shown).fail, 4);
        // Cut short before the summary: count what ran.
        assert_eq!(
            Summary::from_output("PASS: a\nFAIL: b\n").line(),
            "PASS 1 / FAIL 1 / SKIP 0"
        );
    }

    #[test]
    fn find_line_takes_the_last_and_rejects_garbage() {
        assert_eq!(Summary::find_line("PASS x / FAIL 1 / SKIP 2\n"), None);
        assert_eq!(Summary::find_line("PASS 1 / FAIL 1\n"), None);
        assert_eq!(
            Summary::find_line("PASS 1 / FAIL 1 / SKIP 1\nPASS 5 / FAIL 0 / SKIP 3\n"),
            Some((5, 0, 3))
        );
        assert_eq!(Summary::parse(""), Summary::default());
    }

    #[test]
    fn native_config_drops_wasm_flags_only() {
        let cfg = "CONFIG_STATIC=y\nCONFIG_NOMMU=y\n\
                   CONFIG_EXTRA_CFLAGS=\"-matomics\"\nCONFIG_EXTRA_LDFLAGS=\"-Wl,--import-memory\"\n\
                   CONFIG_BUSYBOX_EXEC_PATH=\"/bin/busybox\"\nCONFIG_HUSH=y\n# CONFIG_ASH is not set\n";
        let n = native_config(cfg).unwrap();
        assert_eq!(
            n,
            "CONFIG_STATIC=y\nCONFIG_NOMMU=y\nCONFIG_EXTRA_CFLAGS=\"\"\nCONFIG_EXTRA_LDFLAGS=\"\"\n\
             CONFIG_BUSYBOX_EXEC_PATH=\"/proc/self/exe\"\nCONFIG_HUSH=y\n# CONFIG_ASH is not set\n"
        );
        let err = native_config("CONFIG_STATIC=y\nCONFIG_NOMMU=y\n").unwrap_err();
        assert!(format!("{err}").contains("CONFIG_EXTRA_CFLAGS"), "{err}");
        let mmu = cfg.replace("CONFIG_NOMMU=y\n", "");
        let err = native_config(&mmu).unwrap_err();
        assert!(format!("{err}").contains("CONFIG_NOMMU=y"), "{err}");
    }

    #[test]
    fn shipped_config_adapts() {
        // The committed configuration lives in the BusyBox patch series.
        let patch = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../patches/busybox/0003-configs-add-alpenglow_defconfig.patch"),
        )
        .unwrap();
        let config: String = patch
            .lines()
            .filter_map(|l| l.strip_prefix('+'))
            .filter(|l| !l.starts_with("++"))
            .map(|l| format!("{l}\n"))
            .collect();
        let n = native_config(&config).unwrap();
        assert!(n.contains("\nCONFIG_SH_IS_HUSH=y\n"));
        assert!(n.contains("\nCONFIG_EXTRA_CFLAGS=\"\"\n"));
    }

    #[test]
    fn compare_lists_differences() {
        let g = Summary::parse("FAIL: a\nFAIL: b\nPASS: c\n");
        let n = Summary::parse("FAIL: b\nFAIL: d\n");
        assert_eq!(
            compare(&g, &n),
            Comparison {
                guest_only: vec!["a".into()],
                native_only: vec!["d".into()],
            }
        );
    }

    #[test]
    fn testsuite_tarball_is_reproducible_and_complete() {
        let src = tempfile::tempdir().unwrap();
        let ts = src.path().join("testsuite");
        std::fs::create_dir_all(ts.join("cat")).unwrap();
        std::fs::write(ts.join("runtest"), "#!/bin/sh\n").unwrap();
        std::fs::write(ts.join("cat/cat-prints"), "x\n").unwrap();
        std::os::unix::fs::symlink("runtest", ts.join("link")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(ts.join("runtest"), std::fs::Permissions::from_mode(0o775))
            .unwrap();
        let config = src.path().join("config");
        std::fs::write(&config, "CONFIG_CAT=y\n").unwrap();
        let a = src.path().join("a.tar.gz");
        let b = src.path().join("b.tar.gz");
        pack_testsuite(src.path(), &config, &a).unwrap();
        // Another mtime on the inputs must not change the archive.
        std::fs::write(ts.join("cat/cat-prints"), "x\n").unwrap();
        pack_testsuite(src.path(), &config, &b).unwrap();
        let bytes = std::fs::read(&a).unwrap();
        assert_eq!(bytes, std::fs::read(&b).unwrap());

        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let entries: Vec<(String, u32, u64, u64)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect();
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                ".config",
                "testsuite",
                "testsuite/cat",
                "testsuite/cat/cat-prints",
                "testsuite/link",
                "testsuite/runtest"
            ]
        );
        let mode = |n: &str| entries.iter().find(|e| e.0 == n).unwrap().1;
        assert_eq!(mode("testsuite/runtest"), 0o755);
        assert_eq!(mode("testsuite/cat/cat-prints"), 0o644);
        assert!(entries.iter().all(|e| e.2 == 0 && e.3 == 1731801600));
    }

    #[test]
    fn missing_testsuite_is_an_error() {
        let src = tempfile::tempdir().unwrap();
        let config = src.path().join("config");
        std::fs::write(&config, "").unwrap();
        let err = pack_testsuite(src.path(), &config, &src.path().join("t.tar.gz")).unwrap_err();
        assert!(format!("{err:#}").contains("testsuite"), "{err:#}");
    }
}
