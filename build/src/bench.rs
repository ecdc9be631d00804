//! `cargo x bench`: Alpenglow against native, side by side, on this machine, in one run.
//!
//! The built site is served and opened in headless Chromium (WebDriver, `webdriver.rs`);
//! every boot is a fresh navigation. A probe injected before the page's own scripts
//! (DevTools `Page.addScriptToEvaluateOnNewDocument`) listens to the kernel workers' console
//! messages, the bytes the terminal is fed, and stamps milestones with the page's clock, so
//! boot times are measured in the page, from navigation start. Workloads are typed into the
//! terminal of a logged-in shell, as a person would, and run `alpenglow-bench`
//! (`build/guest/bench.c`), which times them itself with CLOCK_MONOTONIC and prints
//! `@@<tag> …` lines. The same program, built natively from the same source, runs the same
//! workloads on the host with the native BusyBox (`cargo x bbtest native`) first on PATH,
//! interleaved with the guest's repetitions, so both see the same machine load.

use crate::guest;
pub use crate::page::strip_escapes;
use crate::page::{self, BootMarks, Headless, Page};
use crate::paths::Paths;
use crate::pipeline::Ctx;
use crate::stamp::InputHash;
use crate::ui::Ui;
use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Options {
    /// Repetitions of every timed figure.
    pub reps: usize,
    /// Small workloads (a smoke run: checks that the command works, not how fast).
    pub quick: bool,
    /// A previous result file to compare with.
    pub compare: Option<PathBuf>,
    /// Appended to the kernel command line (the page's `append` URL parameter).
    pub append: Option<String>,
}

/// How long one guest command may print nothing (the longest takes ~20 s on a busy 2-core
/// machine and prints only at its end).
const COMMAND_WAIT: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------- statistics

/// Minimum, median and maximum of a set of samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub samples: Vec<f64>,
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Stats {
    /// `None` for no samples (or any sample that is not a finite number).
    pub fn of(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() || samples.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut s = samples.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        Some(Stats {
            samples: samples.to_vec(),
            min: s[0],
            median,
            max: s[n - 1],
        })
    }

    /// (max − min) / median: how far apart the repetitions are.
    pub fn spread(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.max - self.min) / self.median
        }
    }

    fn to_json(&self) -> Value {
        json!({ "samples": self.samples, "min": self.min, "median": self.median,
                "max": self.max, "spread": self.spread() })
    }
}

/// Guest median / native median (> 1: the guest is slower).
pub fn ratio(guest: &Stats, native: &Stats) -> Option<f64> {
    (native.median > 0.0).then(|| guest.median / native.median)
}

// ---------------------------------------------------------------- the program's output

/// One `@@<tag> <name> key=value …` line of `alpenglow-bench`.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub name: String,
    pub fields: BTreeMap<String, String>,
}

impl Record {
    /// The figure this line measures and its unit: the first of `ms`, `us`, `ns` it has.
    pub fn figure(&self) -> Option<(f64, &'static str)> {
        for unit in ["ms", "us", "ns"] {
            if let Some(v) = self.fields.get(unit) {
                return v.parse().ok().map(|v| (v, unit));
            }
        }
        None
    }

    pub fn num(&self, key: &str) -> Option<f64> {
        self.fields.get(key)?.parse().ok()
    }
}

/// What one run of `alpenglow-bench -t TAG …` printed.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub records: Vec<Record>,
    /// `end` was printed: the program finished normally.
    pub ended: bool,
    /// The shell's `echo @@TAG exit $?` (guest only).
    pub exit: Option<i32>,
}

/// Finds the lines of run `tag` in `text` (a terminal stream or a native stdout). Only
/// lines that *start* with `@@<tag> ` count: the echo of the typed command line starts with
/// the prompt. An `error …` line from the program becomes an error with its message.
pub fn parse_output(text: &str, tag: u32) -> Result<Output> {
    let prefix = format!("@@{tag} ");
    let mut out = Output {
        records: Vec::new(),
        ended: false,
        exit: None,
    };
    for line in strip_escapes(text).lines() {
        let Some(rest) = line.trim_end().strip_prefix(&prefix) else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let Some(name) = words.next() else { continue };
        match name {
            "end" => out.ended = true,
            "error" => bail!("alpenglow-bench failed: {}", rest["error".len()..].trim()),
            "exit" => {
                // A wrapped echo of the command line could end in `exit $?`: numbers only.
                if let Some(Ok(code)) = words.next().map(str::parse) {
                    out.exit = Some(code);
                }
            }
            _ => {
                let mut fields = BTreeMap::new();
                for w in words {
                    let (k, v) = w
                        .split_once('=')
                        .ok_or_else(|| anyhow!("malformed result line {line:?}"))?;
                    fields.insert(k.to_string(), v.to_string());
                }
                out.records.push(Record {
                    name: name.to_string(),
                    fields,
                });
            }
        }
    }
    Ok(out)
}

/// Quotes `arg` for a POSIX shell (single quotes).
pub fn sh_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        return arg.to_string();
    }
    format!("'{}'", arg.replace('\'', r"'\''"))
}

// ---------------------------------------------------------------- workloads

/// Where a workload runs: paths differ, the command is the same.
#[derive(Debug, Clone)]
pub struct Side {
    /// A tmpfs directory for files.
    pub tmp: String,
    /// BusyBox's `true` as a file (run by exec, not the shell's builtin).
    pub true_path: String,
}

impl Side {
    fn guest() -> Side {
        Side {
            tmp: "/tmp".into(),
            true_path: "/bin/true".into(),
        }
    }
}

/// One invocation of `alpenglow-bench`; each of its result lines is a figure.
#[derive(Debug, Clone)]
pub struct Workload {
    pub group: &'static str,
    /// What it measures (for the table), by figure name.
    pub args: Vec<String>,
    /// Needs BusyBox (natively: the native BusyBox build).
    pub busybox: bool,
}

fn w(group: &'static str, busybox: bool, args: &[&str]) -> Workload {
    Workload {
        group,
        args: args.iter().map(|s| s.to_string()).collect(),
        busybox,
    }
}

/// `run NAME sh -c SCRIPT`.
fn shell(name: &str, script: String) -> Workload {
    Workload {
        group: "busybox",
        args: vec!["run".into(), name.into(), "sh".into(), "-c".into(), script],
        busybox: true,
    }
}

/// Files the workloads read, made once per side before the timed runs.
pub fn prepare(side: &Side) -> Workload {
    let t = &side.tmp;
    shell(
        "prepare",
        format!("seq 200000 > {t}/seq.txt && dd if=/dev/zero of={t}/z bs=1M count=16 2>/dev/null"),
    )
}

/// The timed workloads, in the order they run in each repetition.
pub fn workloads(side: &Side, quick: bool) -> Vec<Workload> {
    let n = |full: u32, small: u32| if quick { small } else { full }.to_string();
    let t = &side.tmp;
    vec![
        w("compute", false, &["cpu", "1"]),
        w("system", false, &["syscall", &n(200_000, 20_000)]),
        w("system", false, &["spawn", &n(50, 5), "-"]),
        w("system", true, &["spawn", &n(50, 5), &side.true_path]),
        w("system", false, &["pipe", &n(5_000, 500)]),
        w("system", false, &["file", t, &n(16, 4)]),
        shell(
            "sh-loop",
            format!(
                "i=0; while [ $i -lt {} ]; do i=$((i+1)); done",
                n(200_000, 20_000)
            ),
        ),
        shell(
            "spawn-true",
            format!(
                "i=0; while [ $i -lt {} ]; do {}; i=$((i+1)); done",
                n(200, 10),
                side.true_path
            ),
        ),
        shell(
            "dd-16m",
            format!("dd if=/dev/zero of={t}/z2 bs=1M count=16 2>/dev/null"),
        ),
        shell("md5sum-16m", format!("md5sum {t}/z >/dev/null")),
        shell(
            "pipe-dd-cat",
            format!(
                "dd if=/dev/zero bs=64k count={} 2>/dev/null | cat >/dev/null",
                n(2000, 200)
            ),
        ),
        shell(
            "seq-sort-wc",
            format!(
                "for i in $(seq {}); do echo $i; done | sort -n | wc -l >/dev/null",
                n(2000, 200)
            ),
        ),
        shell("gzip-seq", format!("gzip -c {t}/seq.txt >/dev/null")),
    ]
}

/// What each figure means, for the table.
pub fn describe(name: &str) -> &'static str {
    match name {
        "cpu-hash" => "integer hash loop, 20M steps",
        "cpu-memcpy" => "memcpy 256 MiB (4 MiB blocks)",
        "cpu-qsort" => "qsort 500k ints",
        "cpu-sha256" => "sha256 of 16 MiB",
        "syscall" => "getppid(), per call",
        "vfork-exit" => "vfork, child _exits, wait: each",
        "spawn" => "vfork+exec+wait of true, each",
        "pipe" => "pipe ping-pong, per round trip",
        "file-write" => "write a tmpfs file (64 KiB writes)",
        "file-read" => "read it back",
        "run-sh-loop" => "sh: while loop, $((i+1))",
        "run-spawn-true" => "sh: loop running true",
        "run-dd-16m" => "dd 16 MiB of zeros to tmpfs",
        "run-md5sum-16m" => "md5sum of a 16 MiB file",
        "run-pipe-dd-cat" => "dd bs=64k | cat > /dev/null",
        "run-seq-sort-wc" => "for/echo | sort -n | wc -l",
        "run-gzip-seq" => "gzip -c of seq 200000 (1.3 MB)",
        n if n.starts_with("first-run-") => "the first run in the page (V8 baseline code)",
        "first-visit-nav-to-shell-prompt" => "fresh profile: service worker, downloads",
        "nav-to-kernel-compiled" => "artifacts fetched and verified, kernel compiled",
        "nav-to-kernel-banner" => "\"Linux version\" on the console",
        "banner-to-init" => "to \"Run /sbin/init as init process\"",
        "init-to-login-prompt" => "init's sysinit lines, getty",
        "init-to-shell-prompt" => "init, getty, login, the shell's profile",
        "login-to-shell-prompt" => "typing root to the prompt",
        "nav-to-shell-prompt" => "navigation start to the first prompt",
        "workers-at-prompt" => "Web Workers alive (tasks + spares)",
        "kernel-MemTotal" => "RAM the kernel manages (/proc/meminfo)",
        "used-after-boot" => "MemTotal − MemFree at the prompt",
        "total-minus-available" => "MemTotal − MemAvailable",
        "processes-at-prompt" => "live process memories",
        "process-memory-total" => "their wasm memories, in all",
        "shell-memory" => "a shell: its wasm memory / native VmSize",
        "shell-VmRSS" => "a native shell's resident set",
        _ => "",
    }
}

// ---------------------------------------------------------------- the guest side

/// The page, with `alpenglow-bench` run at its shell prompt.
struct Guest<'a> {
    page: &'a mut Page,
}

impl Guest<'_> {
    fn boot(&mut self) -> Result<BootMarks> {
        self.page.boot()
    }

    /// Types `alpenglow-bench -t TAG ARGS…` at the shell prompt and returns what it printed.
    fn run(&mut self, args: &[String]) -> Result<Output> {
        let cmd: Vec<String> = args.iter().map(|a| sh_quote(a)).collect();
        self.run_line(&cmd.join(" "))
    }

    /// The same with the arguments as shell text (`procmem $$`: the shell expands it).
    fn run_line(&mut self, args: &str) -> Result<Output> {
        let tag = self.page.next_tag();
        let line = format!("alpenglow-bench -t {tag} {args}");
        let (text, _) = self.page.run_tagged(tag, &line, COMMAND_WAIT, |_| {})?;
        let out = parse_output(&text, tag).with_context(|| format!("in the guest: {line}"))?;
        if out.exit != Some(0) || !out.ended {
            bail!(
                "in the guest, `{line}` failed (exit {:?}). The console shows:\n{}",
                out.exit,
                strip_escapes(&text)
            );
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------- native side

struct Native {
    bench: PathBuf,
    /// A directory holding the native BusyBox's applet links, first on PATH.
    bin: Option<PathBuf>,
    side: Side,
    tag: u32,
}

impl Native {
    fn run(&mut self, args: &[String]) -> Result<Output> {
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
fn build_native_bench(ctx: &mut Ctx) -> Result<PathBuf> {
    let src = ctx.paths.repo.join("build/guest/bench.c");
    let dir = ctx.paths.out("bench-native");
    let out = dir.join("alpenglow-bench");
    let cc = crate::toolchain::CC;
    let mut key = InputHash::new("bench-native");
    key.add("cc", cc.as_bytes()).add("flags", b"-O2");
    key.add_file(&src)?;
    let key = key.finish();
    if ctx.stamps.is_fresh("bench-native", &key, &[&out]) {
        return Ok(out);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut c = Command::new(cc);
    c.args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(&out)
        .arg(&src);
    ctx.ui
        .run("compiling bench.c natively", &mut c, &ctx.log("bench"))?;
    ctx.stamps.record("bench-native", &key)?;
    Ok(out)
}

/// A directory of links named after every applet of the native BusyBox (and the bench):
/// the native PATH, so `sh`, `seq`, `sort`… are BusyBox's as in the guest.
fn native_bin(paths: &Paths, busybox: &Path, bench: &Path) -> Result<PathBuf> {
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

// ---------------------------------------------------------------- results

/// A figure measured on both sides.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub group: String,
    pub unit: String,
    pub guest: Option<Stats>,
    pub native: Option<Stats>,
    /// Why there is no native figure, if there is none.
    pub native_note: Option<String>,
}

impl Figure {
    pub fn ratio(&self) -> Option<f64> {
        ratio(self.guest.as_ref()?, self.native.as_ref()?)
    }
}

/// A size in bytes, raw and gzip'd, and the native counterpart where there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Size {
    pub name: String,
    pub raw: u64,
    pub gzip: u64,
    pub native: Option<(u64, u64)>,
}

/// Everything one run measured.
pub struct Report {
    pub meta: Value,
    pub figures: Vec<Figure>,
    pub sizes: Vec<Size>,
}

/// `1234.5` → `1234`, `12.345` → `12.3`, `1.2345` → `1.23`: three significant digits or so.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 || a == 0.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// `median [min–max]`.
fn cell(s: &Option<Stats>) -> String {
    match s {
        Some(s) if s.samples.len() > 1 => {
            format!("{} [{}–{}]", num(s.median), num(s.min), num(s.max))
        }
        Some(s) => num(s.median),
        None => "–".into(),
    }
}

/// Bytes as KiB/MiB with one decimal.
pub fn bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.2} MiB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// Lays out rows as columns: the first row is the header, `right` says which columns are
/// right-aligned. Widths count characters, not bytes.
pub fn columns(rows: &[Vec<String>], right: &[bool]) -> String {
    let ncol = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut width = vec![0; ncol];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (n, r) in rows.iter().enumerate() {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            let pad = width[i] - c.chars().count();
            if i > 0 {
                line.push_str("  ");
            }
            if right.get(i).copied().unwrap_or(false) {
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            } else {
                line.push_str(c);
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if n == 0 {
            let total = width.iter().sum::<usize>() + 2 * ncol.saturating_sub(1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    out
}

fn ratio_cell(r: Option<f64>) -> String {
    match r {
        Some(r) => format!("{}×", num(r)),
        None => "–".into(),
    }
}

impl Report {
    /// The plain-text table printed at the end.
    pub fn table(&self) -> String {
        let mut rows = vec![vec![
            "figure".to_string(),
            "unit".into(),
            "Alpenglow median [min–max]".into(),
            "native median [min–max]".into(),
            "ratio".into(),
            "what".into(),
        ]];
        for f in &self.figures {
            let native = match (&f.native, &f.native_note) {
                (None, Some(note)) => note.clone(),
                _ => cell(&f.native),
            };
            rows.push(vec![
                format!("{}/{}", f.group, f.name),
                f.unit.clone(),
                cell(&f.guest),
                native,
                ratio_cell(f.ratio()),
                describe(&f.name).to_string(),
            ]);
        }
        let mut out = columns(&rows, &[false, false, true, true, true, false]);
        out.push('\n');
        let mut rows = vec![vec![
            "artifact".to_string(),
            "size".into(),
            "gzip".into(),
            "native size".into(),
            "native gzip".into(),
            "ratio (raw)".into(),
        ]];
        for s in &self.sizes {
            let (nr, ng, r) = match s.native {
                Some((r, g)) => (
                    bytes(r),
                    bytes(g),
                    ratio_cell(Some(s.raw as f64 / r as f64)),
                ),
                None => ("–".into(), "–".into(), "–".into()),
            };
            rows.push(vec![s.name.clone(), bytes(s.raw), bytes(s.gzip), nr, ng, r]);
        }
        out.push_str(&columns(&rows, &[false, true, true, true, true, true]));
        out
    }

    /// The same as a Markdown document.
    pub fn markdown(&self) -> String {
        let mut out = String::from("# Alpenglow benchmark\n\n");
        for (k, v) in self.meta.as_object().into_iter().flatten() {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(out, "- {k}: {v}");
        }
        out.push_str(
            "\nTimes: median [min–max] over the repetitions; ratio = Alpenglow / native \
             (above 1: Alpenglow is slower). Boot figures are ms from navigation start.\n\n",
        );
        out.push_str("| figure | unit | Alpenglow | native | ratio | what |\n");
        out.push_str("| --- | --- | ---: | ---: | ---: | --- |\n");
        for f in &self.figures {
            let native = match (&f.native, &f.native_note) {
                (None, Some(note)) => note.clone(),
                _ => cell(&f.native),
            };
            let _ = writeln!(
                out,
                "| {}/{} | {} | {} | {} | {} | {} |",
                f.group,
                f.name,
                f.unit,
                cell(&f.guest),
                native,
                ratio_cell(f.ratio()),
                describe(&f.name)
            );
        }
        out.push_str("\n| artifact | size | gzip | native size | native gzip |\n");
        out.push_str("| --- | ---: | ---: | ---: | ---: |\n");
        for s in &self.sizes {
            let (nr, ng) = match s.native {
                Some((r, g)) => (bytes(r), bytes(g)),
                None => ("–".into(), "–".into()),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {nr} | {ng} |",
                s.name,
                bytes(s.raw),
                bytes(s.gzip)
            );
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let opt = |s: &Option<Stats>| s.as_ref().map_or(Value::Null, Stats::to_json);
        json!({
            "schema": 1,
            "meta": self.meta,
            "figures": self.figures.iter().map(|f| json!({
                "name": f.name, "group": f.group, "unit": f.unit,
                "guest": opt(&f.guest), "native": opt(&f.native),
                "native_note": f.native_note, "ratio": f.ratio(),
            })).collect::<Vec<_>>(),
            "sizes": self.sizes.iter().map(|s| json!({
                "name": s.name, "raw": s.raw, "gzip": s.gzip,
                "native_raw": s.native.map(|n| n.0), "native_gzip": s.native.map(|n| n.1),
            })).collect::<Vec<_>>(),
        })
    }
}

/// The change from an earlier result file: per figure in both, old and new medians.
pub fn compare(old: &Value, new: &Value) -> Result<String> {
    let figures = |v: &Value| -> Result<Vec<(String, Value)>> {
        let list = v["figures"]
            .as_array()
            .ok_or_else(|| anyhow!("not a `cargo x bench` result file (no figures)"))?;
        Ok(list
            .iter()
            .filter_map(|f| {
                Some((
                    format!("{}/{}", f["group"].as_str()?, f["name"].as_str()?),
                    f.clone(),
                ))
            })
            .collect())
    };
    let (old_f, new_f) = (figures(old)?, figures(new)?);
    let old_f: BTreeMap<String, Value> = old_f.into_iter().collect();
    let med = |f: &Value, side: &str| f[side]["median"].as_f64();
    let change = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => format!("{:+.1}%", (b - a) / a * 100.0),
        _ => "–".into(),
    };
    let show = |v: Option<f64>| v.map_or("–".into(), num);
    let mut rows = vec![vec![
        "figure".to_string(),
        "Alpenglow before".into(),
        "after".into(),
        "change".into(),
        "ratio before".into(),
        "after".into(),
    ]];
    for (name, n) in &new_f {
        let Some(o) = old_f.get(name) else { continue };
        let (a, b) = (med(o, "guest"), med(n, "guest"));
        rows.push(vec![
            name.clone(),
            show(a),
            show(b),
            change(a, b),
            o["ratio"]
                .as_f64()
                .map_or("–".into(), |r| format!("{}×", num(r))),
            n["ratio"]
                .as_f64()
                .map_or("–".into(), |r| format!("{}×", num(r))),
        ]);
    }
    let mut out = String::new();
    if old["meta"]["quick"] != new["meta"]["quick"] {
        out.push_str("note: one of the runs is --quick; the workloads differ in size\n");
    }
    out.push_str(&columns(&rows, &[false, true, true, true, true, true]));
    Ok(out)
}

// ---------------------------------------------------------------- sizes and machine

fn gzip_len(data: &[u8]) -> u64 {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = e.write_all(data);
    e.finish().map_or(0, |v| v.len() as u64)
}

fn file_size(path: &Path) -> Result<(u64, u64)> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok((data.len() as u64, gzip_len(&data)))
}

fn sizes(ctx: &Ctx, native_busybox: Option<&Path>, native_bench: &Path) -> Result<Vec<Size>> {
    let dist = ctx.paths.dist();
    let mut out = Vec::new();
    let (raw, gz) = file_size(&dist.join("vmlinux.wasm"))?;
    out.push(Size {
        name: "dist/vmlinux.wasm".into(),
        raw,
        gzip: gz,
        native: None,
    });
    let image = dist.join("initramfs.cpio.gz");
    let gz = std::fs::metadata(&image)
        .with_context(|| format!("reading {}", image.display()))?
        .len();
    let mut cpio = Vec::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(&image).with_context(|| format!("opening {}", image.display()))?,
    )
    .read_to_end(&mut cpio)
    .with_context(|| format!("{} is not gzip", image.display()))?;
    out.push(Size {
        name: "dist/initramfs.cpio.gz".into(),
        raw: cpio.len() as u64,
        gzip: gz,
        native: None,
    });
    let busybox = crate::busybox::output_dir(ctx).join("busybox");
    if busybox.exists() {
        let (raw, gz) = file_size(&busybox)?;
        out.push(Size {
            name: "busybox (wasm)".into(),
            raw,
            gzip: gz,
            native: native_busybox.map(file_size).transpose()?,
        });
    }
    let (raw, gz) = file_size(&guest::output(ctx, "alpenglow-bench"))?;
    out.push(Size {
        name: "alpenglow-bench (wasm)".into(),
        raw,
        gzip: gz,
        native: Some(file_size(native_bench)?),
    });
    // The page's own code: trunk's hashed app module and the kernel worker's module.
    if let Ok(dir) = std::fs::read_dir(ctx.paths.site()) {
        let mut found: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                n.ends_with(".wasm") || (n.ends_with(".js") && n != "sw.js")
            })
            .collect();
        found.sort();
        for p in found {
            let (raw, gz) = file_size(&p)?;
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("?");
            out.push(Size {
                name: format!("site/{name}"),
                raw,
                gzip: gz,
                native: None,
            });
        }
    }
    Ok(out)
}

fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn machine(paths: &Paths, browser: &str, opts: &Options) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let repo = paths.repo.display().to_string();
    let commit = command_line("git", &["-C", &repo, "rev-parse", "--short=12", "HEAD"])
        .unwrap_or_else(|| "?".into());
    let dirty = command_line(
        "git",
        &["-C", &repo, "status", "--porcelain", "--untracked-files=no"],
    )
    .is_some_and(|s| !s.is_empty());
    json!({
        "date": utc_now(),
        "commit": commit,
        "uncommitted_changes": dirty,
        "cpu": cpu,
        "cores": cores,
        "host_kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "load_average_at_start": std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
            .split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        "browser": browser,
        "native_cc": command_line(crate::toolchain::CC, &["--version"]).and_then(|s| s.lines().next().map(str::to_string)),
        "reps": opts.reps,
        "quick": opts.quick,
        "kernel_append": opts.append,
    })
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm (public domain description of the calendar arithmetic).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for `secs` since the epoch.
pub fn utc(secs: u64) -> String {
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

// ---------------------------------------------------------------- the run

fn bar(len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("    [{bar:30}] {pos}/{len} {elapsed:>4} {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    pb.enable_steady_tick(Duration::from_millis(250));
    pb
}

/// Samples of one figure by side, as the repetitions collect them.
#[derive(Default)]
struct Samples {
    order: Vec<(String, String, String)>,
    guest: BTreeMap<String, Vec<f64>>,
    native: BTreeMap<String, Vec<f64>>,
}

impl Samples {
    fn add(&mut self, group: &str, name: &str, unit: &str, guest: bool, v: f64) {
        if !self.order.iter().any(|(_, n, _)| n == name) {
            self.order
                .push((group.to_string(), name.to_string(), unit.to_string()));
        }
        let map = if guest {
            &mut self.guest
        } else {
            &mut self.native
        };
        map.entry(name.to_string()).or_default().push(v);
    }

    fn add_output(&mut self, group: &str, out: &Output, guest: bool) {
        for r in &out.records {
            if let Some((v, unit)) = r.figure() {
                self.add(group, &r.name, unit, guest, v);
            }
        }
    }

    fn figures(&self, native_note: impl Fn(&str, &str) -> Option<String>) -> Vec<Figure> {
        self.order
            .iter()
            .map(|(group, name, unit)| {
                let native = self.native.get(name).and_then(|s| Stats::of(s));
                Figure {
                    name: name.clone(),
                    group: group.clone(),
                    unit: unit.clone(),
                    guest: self.guest.get(name).and_then(|s| Stats::of(s)),
                    native_note: if native.is_none() {
                        native_note(group, name)
                    } else {
                        None
                    },
                    native,
                }
            })
            .collect()
    }
}

pub fn run(ctx: &mut Ctx, opts: &Options) -> Result<()> {
    if opts.reps == 0 {
        bail!("--reps must be at least 1");
    }
    let old = match &opts.compare {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Some(
                serde_json::from_str::<Value>(&text)
                    .with_context(|| format!("{} is not JSON", p.display()))?,
            )
        }
        None => None,
    };
    let ui = ctx.ui;
    let paths = ctx.paths.clone();

    // The image with the bench program in it; the kernel must have been built already.
    page::artifacts_ready(ctx)?;

    let step = ui.step("native side");
    let bench = build_native_bench(ctx)?;
    let native_busybox = paths.out("busybox-native").join("busybox");
    let (bin, bb_note) = if native_busybox.exists() {
        (Some(native_bin(&paths, &native_busybox, &bench)?), None)
    } else {
        ui.warn(&format!(
            "no native BusyBox at {}: the BusyBox workloads run in the guest only \
             (build it with `cargo x bbtest native`)",
            native_busybox.display()
        ));
        (None, Some("no native BusyBox".to_string()))
    };
    let tmp = PathBuf::from(if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    })
    .join(format!("alpenglow-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let native_side = Side {
        tmp: tmp.display().to_string(),
        true_path: bin
            .as_ref()
            .map_or("/bin/true".into(), |b| b.join("true").display().to_string()),
    };
    let mut native = Native {
        bench: bench.clone(),
        bin: bin.clone(),
        side: native_side.clone(),
        tag: 0,
    };
    step.done(&match &bin {
        Some(_) => format!("{} and {}", bench.display(), native_busybox.display()),
        None => bench.display().to_string(),
    });

    let result = measure(&ui, &paths, opts, &mut native);
    let _ = std::fs::remove_dir_all(&tmp);
    let (meta, samples) = result?;
    let stopped = meta["stopped_early"].as_str().map(str::to_string);

    // Without a native BusyBox, its workloads have no native figure: say why in the table.
    let mut figures = samples.figures(|group, name| match group {
        "busybox" => bb_note.clone(),
        _ if name == "spawn" || name == "shell-memory" => bb_note.clone(),
        _ => None,
    });
    // Grouped in reading order (figures of a group came in as the run went).
    figures.sort_by_key(|f| {
        [
            "boot",
            "memory",
            "compute",
            "first-run",
            "system",
            "busybox",
        ]
        .iter()
        .position(|g| *g == f.group)
        .unwrap_or(usize::MAX)
    });
    let report = Report {
        meta,
        figures,
        sizes: sizes(ctx, bin.as_ref().map(|_| native_busybox.as_path()), &bench)?,
    };
    let table = report.table();
    println!("\n{table}");
    let dir = paths.repo.join("target/bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let date = report.meta["date"]
        .as_str()
        .unwrap_or("run")
        .replace(':', "-");
    let json_text = serde_json::to_string_pretty(&report.to_json())? + "\n";
    let md = report.markdown();
    for (name, body) in [
        (format!("{date}.json"), &json_text),
        (format!("{date}.md"), &md),
        ("results.json".to_string(), &json_text),
        ("results.md".to_string(), &md),
    ] {
        let p = dir.join(&name);
        std::fs::write(&p, body).with_context(|| format!("writing {}", p.display()))?;
    }
    eprintln!(
        "    results: {} (also results.json, results.md)",
        dir.join(format!("{date}.json")).display()
    );
    if let Some(e) = stopped {
        bail!("the run is incomplete (the figures above are what was measured): {e}");
    }
    if let Some(old) = old {
        println!(
            "\nchange since {}:\n",
            opts.compare
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string())
        );
        println!("{}", compare(&old, &report.to_json())?);
    }
    Ok(())
}

/// The browser part and the interleaved workloads.
fn measure(
    ui: &Ui,
    paths: &Paths,
    opts: &Options,
    native: &mut Native,
) -> Result<(Value, Samples)> {
    let step = ui.step("serving the site and starting headless Chromium");
    let mut h = Headless::open(paths, opts.append.as_deref())?;
    let meta = machine(paths, &h.browser, opts);
    step.done(&format!("{} at {}", h.browser, h.page.url));
    let mut guest = Guest { page: &mut h.page };
    let mut samples = Samples::default();

    // Boots: one first visit (the service worker installs, artifacts are fetched), then
    // `reps` visits as a returning visitor sees them.
    let step = ui.step(&format!(
        "boot to a shell prompt: 1 first visit + {} timed",
        opts.reps
    ));
    let pb = bar(opts.reps as u64 + 1);
    pb.set_message("first visit");
    let first = guest.boot().context("first boot")?;
    if let Some(v) = first.shell {
        samples.add("boot", "first-visit-nav-to-shell-prompt", "ms", true, v);
    }
    pb.inc(1);
    for i in 0..opts.reps {
        pb.set_message(format!("boot {}/{}", i + 1, opts.reps));
        let marks = guest.boot().with_context(|| format!("boot {}", i + 1))?;
        for (name, v) in marks.intervals() {
            if let Some(v) = v {
                samples.add("boot", name, "ms", true, v);
            }
        }
        if let Some(wk) = marks.workers {
            samples.add("memory", "workers-at-prompt", "count", true, wk);
        }
        if let Some(shell) = marks.users.last() {
            let total: f64 = marks.users.iter().sum();
            samples.add(
                "memory",
                "processes-at-prompt",
                "count",
                true,
                marks.users.len() as f64,
            );
            samples.add(
                "memory",
                "process-memory-total",
                "KiB",
                true,
                total / 1024.0,
            );
            samples.add("memory", "shell-memory", "KiB", true, shell / 1024.0);
        }
        // Kernel memory right after boot, at the prompt.
        let out = guest.run(&["meminfo".into()])?;
        add_meminfo(&mut samples, &out);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let shell = samples
        .guest
        .get("nav-to-shell-prompt")
        .and_then(|s| Stats::of(s))
        .map_or("?".into(), |s| num(s.median));
    step.done(&format!(
        "median {shell} ms from navigation to the shell prompt"
    ));

    // Workloads, each repetition native then guest.
    let guest_side = Side::guest();
    let gw = workloads(&guest_side, opts.quick);
    let nw = workloads(&native.side, opts.quick);
    let step = ui.step(&format!(
        "workloads: {} × {} repetitions, Alpenglow and native interleaved",
        gw.len(),
        opts.reps
    ));
    let pb = bar((gw.len() * opts.reps) as u64 + 3);
    pb.set_message("preparing files");
    guest.run(&prepare(&guest_side).args)?;
    if native.bin.is_some() {
        native.run(&prepare(&native.side).args)?;
    }
    // One untimed-for-the-median run of the compute kernels: V8 runs a module's functions in
    // its baseline tier first and shares the optimized code with later instances of the same
    // module, so the first run in a page is slower. Reported apart as first-run-*.
    pb.set_message("first run of the compute kernels");
    let first: Vec<String> = vec!["cpu".into(), "1".into()];
    for (out, guest_side) in [(native.run(&first)?, false), (guest.run(&first)?, true)] {
        for r in &out.records {
            if let Some((v, unit)) = r.figure() {
                samples.add(
                    "first-run",
                    &format!("first-run-{}", r.name),
                    unit,
                    guest_side,
                    v,
                );
            }
        }
    }
    pb.inc(1);
    // A shell's memory natively (the guest's is its wasm memory, taken at each boot).
    pb.set_message("memory of a shell");
    if native.bin.is_some() {
        let out = native_shell_mem(native)?;
        add_procmem(&mut samples, &out);
    }
    pb.inc(1);
    // A workload that fails or hangs in the guest ends the run, but what was measured so
    // far is still reported (marked incomplete): a hang is a finding too.
    let mut stopped = None;
    'reps: for rep in 0..opts.reps {
        for (g, n) in gw.iter().zip(&nw) {
            let label = g.args[..2.min(g.args.len())].join(" ");
            if !g.busybox || native.bin.is_some() {
                pb.set_message(format!("rep {}/{} native {label}", rep + 1, opts.reps));
                let out = native.run(&n.args)?;
                samples.add_output(g.group, &out, false);
            }
            pb.set_message(format!("rep {}/{} Alpenglow {label}", rep + 1, opts.reps));
            match guest.run(&g.args) {
                Ok(out) => samples.add_output(g.group, &out, true),
                Err(e) => {
                    stopped = Some(format!("repetition {}: {e:#}", rep + 1));
                    break 'reps;
                }
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    match &stopped {
        None => step.done(""),
        Some(e) => ui.warn(&format!("the workloads stopped early, {e}")),
    }
    // The last page's console, for reading what happened (escapes kept, as the terminal got it).
    let log = paths.repo.join("target/bench/console.log");
    std::fs::write(&log, guest.page.text_from(0)?)
        .with_context(|| format!("writing {}", log.display()))?;
    let mut meta = meta;
    if let Some(e) = stopped {
        meta["stopped_early"] = Value::String(e);
    }
    drop(h);
    Ok((meta, samples))
}

/// `alpenglow-bench procmem` of a native `sh -c` (its `$$`): the shell's memory.
fn native_shell_mem(native: &mut Native) -> Result<Output> {
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

fn add_procmem(samples: &mut Samples, out: &Output) {
    let Some(r) = out.records.iter().find(|r| r.name == "procmem") else {
        return;
    };
    // VmSize is what the guest's figure is (a wasm memory is all there from its start).
    if let Some(v) = r.num("VmSize") {
        samples.add("memory", "shell-memory", "KiB", false, v);
    }
    if let Some(v) = r.num("VmRSS") {
        samples.add("memory", "shell-VmRSS", "KiB", false, v);
    }
}

fn add_meminfo(samples: &mut Samples, out: &Output) {
    let Some(r) = out.records.iter().find(|r| r.name == "meminfo") else {
        return;
    };
    let (Some(total), Some(free)) = (r.num("MemTotal"), r.num("MemFree")) else {
        return;
    };
    samples.add("memory", "kernel-MemTotal", "KiB", true, total);
    samples.add("memory", "used-after-boot", "KiB", true, total - free);
    if let Some(avail) = r.num("MemAvailable") {
        samples.add(
            "memory",
            "total-minus-available",
            "KiB",
            true,
            total - avail,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_take_median_min_max() {
        let s = Stats::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 3.0, 5.0));
        let s = Stats::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert_eq!(
            s.samples,
            vec![4.0, 1.0, 3.0, 2.0],
            "samples keep their order"
        );
        assert!((s.spread() - 1.2).abs() < 1e-9);
        assert!(Stats::of(&[]).is_none());
        assert!(Stats::of(&[1.0, f64::NAN]).is_none());
        let one = Stats::of(&[7.0]).unwrap();
        assert_eq!(
            (one.min, one.median, one.max, one.spread()),
            (7.0, 7.0, 7.0, 0.0)
        );
    }

    #[test]
    fn ratio_is_guest_over_native() {
        let g = Stats::of(&[30.0]).unwrap();
        let n = Stats::of(&[10.0]).unwrap();
        assert_eq!(ratio(&g, &n), Some(3.0));
        assert_eq!(ratio(&g, &Stats::of(&[0.0]).unwrap()), None);
    }

    #[test]
    fn output_lines_are_found_in_a_terminal_stream() {
        // What the terminal receives: the echoed command (with the prompt), escapes, CRs.
        let stream = "alpenglow:~# alpenglow-bench -t 7 cpu 1; echo @@\"\"7 exit $?\r\n\
                      \x1b[1m@@7 cpu-hash ms=61.2 work=20M-steps check=00d73830\x1b[0m\r\n\
                      @@7 cpu-qsort ms=119.8 work=500k-ints check=801d634d\r\n\
                      @@70 cpu-hash ms=1\r\n\
                      @@7 end\r\n@@7 exit 0\r\n\x1b]0;title\x07alpenglow:~# ";
        let out = parse_output(stream, 7).unwrap();
        assert!(out.ended);
        assert_eq!(out.exit, Some(0));
        assert_eq!(out.records.len(), 2);
        assert_eq!(out.records[0].name, "cpu-hash");
        assert_eq!(out.records[0].figure(), Some((61.2, "ms")));
        assert_eq!(out.records[1].fields["check"], "801d634d");
    }

    #[test]
    fn a_wrapped_echo_is_not_an_exit_line_and_errors_are_reported() {
        let out = parse_output("@@3 exit $?\n@@3 syscall ns=812.5 n=100\n", 3).unwrap();
        assert_eq!(out.exit, None);
        assert!(!out.ended);
        assert_eq!(out.records[0].figure(), Some((812.5, "ns")));
        let e = parse_output("@@4 error /tmp/x: No space left on device\n", 4).unwrap_err();
        assert!(e.to_string().contains("No space left on device"), "{e}");
        assert!(
            parse_output("@@5 spawn us\n", 5).is_err(),
            "a field without a value"
        );
    }

    #[test]
    fn figures_prefer_ms_then_us_then_ns() {
        let r = Record {
            name: "x".into(),
            fields: [
                ("n".to_string(), "5".to_string()),
                ("us".into(), "2.5".into()),
            ]
            .into(),
        };
        assert_eq!(r.figure(), Some((2.5, "us")));
        assert_eq!(r.num("n"), Some(5.0));
        let none = Record {
            name: "meminfo".into(),
            fields: [("MemTotal".to_string(), "1".to_string())].into(),
        };
        assert_eq!(none.figure(), None);
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(sh_quote("/tmp/z"), "/tmp/z");
        assert_eq!(sh_quote("i=0; done"), "'i=0; done'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn workloads_are_the_same_command_on_both_sides() {
        let native = Side {
            tmp: "/dev/shm/x".into(),
            true_path: "/c/bin/true".into(),
        };
        let g = workloads(&Side::guest(), false);
        let n = workloads(&native, false);
        assert_eq!(g.len(), n.len());
        for (a, b) in g.iter().zip(&n) {
            let norm = |w: &Workload, s: &Side| {
                w.args
                    .iter()
                    .map(|x| x.replace(&s.tmp, "TMP").replace(&s.true_path, "TRUE"))
                    .collect::<Vec<_>>()
            };
            assert_eq!(norm(a, &Side::guest()), norm(b, &native));
        }
        let quick = workloads(&Side::guest(), true);
        assert!(quick.iter().any(|w| w.args.contains(&"20000".to_string())));
        // Only what runs BusyBox (a shell, its `true`) needs the native BusyBox.
        let needs_busybox = |w: &Workload| w.args.iter().any(|a| a == "/bin/true" || a == "sh");
        assert!(g.iter().all(|w| w.busybox == needs_busybox(w)));
    }

    #[test]
    fn table_lines_up_and_shows_ratios() {
        let f = |name: &str, g: &[f64], n: Option<&[f64]>| Figure {
            name: name.into(),
            group: "system".into(),
            unit: "us".into(),
            guest: Stats::of(g),
            native: n.and_then(Stats::of),
            native_note: None,
        };
        let report = Report {
            meta: json!({ "date": "2025-01-01T00:00:00Z", "reps": 3 }),
            figures: vec![
                f(
                    "spawn",
                    &[1500.0, 1400.0, 1600.0],
                    Some(&[500.0, 490.0, 510.0]),
                ),
                f("pipe", &[20.0], None),
            ],
            sizes: vec![Size {
                name: "busybox (wasm)".into(),
                raw: 1 << 20,
                gzip: 512 << 10,
                native: Some((2 << 20, 1 << 20)),
            }],
        };
        let t = report.table();
        assert!(t.contains("1500 [1400–1600]"), "{t}");
        assert!(t.contains("500 [490–510]"), "{t}");
        assert!(t.contains("3.00×"), "{t}");
        assert!(t.contains("0.50×"), "{t}");
        let lines: Vec<&str> = t.lines().collect();
        // Header, rule, then rows whose ratio column ends at the same place.
        assert!(lines[1].chars().all(|c| c == '-'));
        let col = |l: &str, pat: &str| l.find(pat).map(|i| l[..i].chars().count());
        let ratio_end = col(lines[0], "ratio").unwrap() + "ratio".len() - 1;
        assert_eq!(col(lines[2], "×"), Some(ratio_end));
        let last_dash = lines[3].rfind('–').map(|i| lines[3][..i].chars().count());
        assert_eq!(
            last_dash,
            Some(ratio_end),
            "no ratio without a native figure"
        );
        let md = report.markdown();
        assert!(
            md.contains("| system/spawn | us | 1500 [1400–1600] | 500 [490–510] | 3.00× |"),
            "{md}"
        );
        let j = report.to_json();
        assert_eq!(j["figures"][0]["ratio"], json!(3.0));
        assert_eq!(j["figures"][1]["native"], Value::Null);
        assert_eq!(j["sizes"][0]["native_raw"], json!(2 << 20));
    }

    #[test]
    fn compare_shows_the_change_of_each_figure() {
        let mk = |g: f64, r: f64| {
            json!({ "meta": { "quick": false }, "figures": [
                { "group": "system", "name": "pipe", "guest": { "median": g }, "ratio": r },
            ]})
        };
        let c = compare(&mk(20.0, 4.0), &mk(15.0, 3.0)).unwrap();
        assert!(c.contains("system/pipe"), "{c}");
        assert!(c.contains("-25.0%"), "{c}");
        assert!(c.contains("4.00×") && c.contains("3.00×"), "{c}");
        assert!(compare(&json!({}), &mk(1.0, 1.0)).is_err());
    }

    #[test]
    fn numbers_and_dates() {
        assert_eq!(num(1234.56), "1235");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(1.2345), "1.23");
        assert_eq!(num(0.01234), "0.012");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.00 MiB");
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_763_772_663), "2025-11-22T00:51:03Z");
    }
}
