//! The run: the native side prepared, then the browser part with boots and the
//! interleaved workloads, and the report written.

use super::guest::Guest;
use super::machine::{machine, sizes};
use super::native::{build_native_bench, build_native_big, native_bin, native_shell_mem, Native};
use super::report::{compare, num, Figure, Report};
use super::stats::Stats;
use super::workload::{prepare, settle, workloads, Output, Side};
use crate::browser::page::{self, with_param, Headless, WEB_FILES};
use crate::browser::Kind;
use crate::paths::Paths;
use crate::pipeline::Ctx;
use crate::ui::Ui;
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
    /// The browser the page runs in.
    pub browser: Kind,
}

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
        self.add_output_as(group, "", out, guest);
    }

    /// The figures of `out`, each named `prefix` + its record's name.
    fn add_output_as(&mut self, group: &str, prefix: &str, out: &Output, guest: bool) {
        for r in &out.records {
            if let Some((v, unit)) = r.figure() {
                self.add(group, &format!("{prefix}{}", r.name), unit, guest, v);
            }
        }
    }

    /// The big wget's time as MiB/s (issue 11 asks for throughput; the time is kept too).
    fn add_throughput(&mut self, out: &Output, guest: bool, quick: bool) {
        let bytes = WEB_FILES[usize::from(quick)].1 as f64;
        for r in &out.records {
            if let (true, Some((ms, "ms"))) = (r.name == "run-wget-big", r.figure()) {
                if ms > 0.0 {
                    let mib_s = bytes / f64::from(1u32 << 20) / (ms / 1000.0);
                    self.add("network", "wget-big-throughput", "MiB/s", guest, mib_s);
                }
            }
        }
    }

    /// The disk's dd times as MiB/s.
    fn add_disk_throughput(&mut self, out: &Output, guest: bool, quick: bool) {
        let mib = f64::from(super::workload::disk_mib(quick));
        for r in &out.records {
            let name = match r.name.as_str() {
                "run-disk-write" => "disk-write-throughput",
                "run-disk-read" => "disk-read-throughput",
                _ => continue,
            };
            if let Some((ms, "ms")) = r.figure() {
                if ms > 0.0 {
                    self.add("disk", name, "MiB/s", guest, mib / (ms / 1000.0));
                }
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
    let big = build_native_big(ctx)?;
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
    // The disk workloads' native directory: on this machine's disk, not a tmpfs.
    let disk_dir = paths
        .repo
        .join(format!("target/bench/disk-{}", std::process::id()));
    std::fs::create_dir_all(&disk_dir)
        .with_context(|| format!("creating {}", disk_dir.display()))?;
    let native_side = Side {
        tmp: tmp.display().to_string(),
        true_path: bin
            .as_ref()
            .map_or("/bin/true".into(), |b| b.join("true").display().to_string()),
        // The site's server, once it runs (`measure`).
        web: String::new(),
        disk: disk_dir.display().to_string(),
        drop_caches: ":".into(),
        big: big.display().to_string(),
        fetch_big: false,
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
    let _ = std::fs::remove_dir_all(&disk_dir);
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
            "preemption",
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
    let step = ui.step(&format!(
        "serving the site and starting headless {}",
        opts.browser
    ));
    let mut h = Headless::open(paths, opts.append.as_deref(), opts.browser)?;
    let meta = machine(
        paths,
        &h.browser,
        opts.reps,
        opts.quick,
        opts.append.as_deref(),
    );
    step.done(&format!("{} at {}", h.browser, h.page.url));
    // Natively, the network workloads fetch from the same server over loopback.
    native.side.web = h
        .page
        .url
        .split('?')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string();
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
        samples.add_output_as("first-run", "first-run-", &out, guest_side);
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
        if rep > 0 {
            if let Err(e) = guest.run(&settle(&guest_side).args) {
                stopped = Some(format!("repetition {}: {e:#}", rep + 1));
                break 'reps;
            }
        }
        for (g, n) in gw.iter().zip(&nw) {
            let label = g.args[..2.min(g.args.len())].join(" ");
            if !g.busybox || native.bin.is_some() {
                pb.set_message(format!("rep {}/{} native {label}", rep + 1, opts.reps));
                let out = native.run(&n.args)?;
                samples.add_output(g.group, &out, false);
                samples.add_throughput(&out, false, opts.quick);
                samples.add_disk_throughput(&out, false, opts.quick);
            }
            pb.set_message(format!("rep {}/{} Alpenglow {label}", rep + 1, opts.reps));
            match guest.run(&g.args) {
                Ok(out) => {
                    samples.add_output(g.group, &out, true);
                    samples.add_throughput(&out, true, opts.quick);
                    samples.add_disk_throughput(&out, true, opts.quick);
                }
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
    // How many processes can live at once (the browser's worker ceiling, docs/abi.md "How
    // many tasks"): once, at the end, since it takes the machine to its limit.
    if stopped.is_none() {
        let step = ui.step("live processes at once, until a fork fails");
        let most = if opts.quick { "100" } else { "1000" };
        let args = ["ceiling", most, "/bin/sleep"].map(String::from);
        match guest.run(&args) {
            Ok(out) => {
                if let Some(r) = out.records.iter().find(|r| r.name == "ceiling") {
                    if let Some(v) = r.num("count") {
                        samples.add("memory", "live-process-ceiling", "count", true, v);
                    }
                    let stop = r.fields.get("stop").map_or("?", String::as_str);
                    step.done(&format!(
                        "{} of {most}, stopped by {stop}",
                        r.num("count").unwrap_or(0.0)
                    ));
                }
            }
            Err(e) => ui.warn(&format!("the process ceiling was not measured: {e:#}")),
        }
    }
    // SMP: the two hash loops at once, against one, on a page with two CPUs (the usual page
    // has one: docs/abi.md). The ratio of the two is what a second CPU buys: 1 is perfect.
    if stopped.is_none() {
        let step = ui.step("two compute loops at once on a page with two CPUs");
        match two_cpu_runs(&mut guest, opts.reps) {
            Ok(outs) => {
                for out in &outs {
                    let ms = |name: &str| {
                        out.records
                            .iter()
                            .find(|r| r.name == name)
                            .and_then(|r| r.figure())
                            .map(|(v, _)| v)
                    };
                    if let (Some(one), Some(two)) = (ms("parallel-1"), ms("parallel-2")) {
                        samples.add("smp", "cpus2-two-loops", "ms", true, two);
                        samples.add("smp", "cpus2-two-loops", "ms", false, one);
                    }
                }
                step.done("");
            }
            Err(e) => ui.warn(&format!("the two-CPU figure was not measured: {e:#}")),
        }
    }
    // What the preemption points cost: the compute kernels on a page whose programs have
    // them and on one whose programs have none (`?preempt=off`), the two pages taking turns,
    // so that both columns come from the same minutes (a kernel's median moves by ±20 %
    // between runs minutes apart on a shared machine). Last, since that page can be frozen
    // by a loop.
    if stopped.is_none() {
        let step = ui.step("compute with and without preemption points, pages alternating");
        match preemption_pairs(&mut guest, opts.reps) {
            Ok(pairs) => {
                for (with, without) in &pairs {
                    samples.add_output_as("preemption", "preempt-", with, true);
                    samples.add_output_as("preemption", "preempt-", without, false);
                }
                step.done("");
            }
            Err(e) => ui.warn(&format!("the preemption cost was not measured: {e:#}")),
        }
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

/// `reps` pairs of warm compute runs: one on the usual page (preemption points), one on the
/// page booted with `preempt=off`.
fn preemption_pairs(guest: &mut Guest, reps: usize) -> Result<Vec<(Output, Output)>> {
    let url = guest.page.url.clone();
    let plain = with_param(&url, "preempt", "off");
    let compute = ["cpu".to_string(), "1".to_string()];
    (0..reps)
        .map(|_| {
            Ok((
                warm_run_on(guest, &url, &compute)?,
                warm_run_on(guest, &plain, &compute)?,
            ))
        })
        .collect()
}

/// Boots the page at `address`, runs the guest tool with `args` once untimed (a page's first
/// run is V8's baseline code) and returns a second run. The guest's page address is what it
/// was before, whatever happened.
fn warm_run_on(guest: &mut Guest, address: &str, args: &[String]) -> Result<Output> {
    let usual = std::mem::replace(&mut guest.page.url, address.to_string());
    let result = guest
        .boot()
        .with_context(|| format!("booting {address}"))
        .and_then(|_| guest.run(args))
        .and_then(|_| guest.run(args));
    guest.page.url = usual;
    result
}

/// `reps` warm runs of the `parallel` workload (one hash loop, then two at once) on a page
/// booted with `cpus=2`.
fn two_cpu_runs(guest: &mut Guest, reps: usize) -> Result<Vec<Output>> {
    let two = with_param(&guest.page.url, "cpus", "2");
    (0..reps)
        .map(|_| warm_run_on(guest, &two, &["parallel".to_string()]))
        .collect()
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
