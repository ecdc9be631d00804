//! The workloads (one `alpenglow-bench` invocation each, the same on both sides) and the
//! lines the program prints.

use crate::browser::page::{strip_escapes, BIG_PROGRAM, WEB_FILES};
use anyhow::{anyhow, bail, Result};
use std::collections::BTreeMap;

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
    /// The site's origin as this side reaches it over HTTP: the guest through its gateway
    /// (`alpenglow.host`, the page's fetch), natively the server's loopback address.
    pub web: String,
    /// A directory on a disk: the guest's /root (an overlay on ext4 on /dev/vda, the OPFS
    /// file), natively a directory on this machine's disk.
    pub disk: String,
    /// Empties the page cache before the disk is read back: the guest drops its own; natively
    /// nothing (`:`), since that would empty the caches of the whole shared machine.
    pub drop_caches: String,
    /// The large program (`build/guest/big.c`, about 5 MB): the guest fetches it from the
    /// served site into /root (its disk) when the files are prepared (it is not in the image);
    /// natively it is the native build.
    pub big: String,
    /// Whether `big` is downloaded from the site first (the guest).
    pub fetch_big: bool,
}

impl Side {
    pub fn guest() -> Side {
        Side {
            tmp: "/tmp".into(),
            true_path: "/bin/true".into(),
            web: "http://alpenglow.host".into(),
            disk: "/root".into(),
            drop_caches: "echo 3 > /proc/sys/vm/drop_caches".into(),
            // On the disk, where installed programs are; the tmpfs keeps the workloads' files.
            big: format!("/root/{BIG_PROGRAM}"),
            fetch_big: true,
        }
    }

    /// The command that puts the large program at `big`: a download in the guest.
    fn get_big(&self) -> String {
        if self.fetch_big {
            format!(
                " && wget -q -O {big} {}/bench-data/{BIG_PROGRAM} && chmod +x {big}",
                self.web,
                big = self.big
            )
        } else {
            String::new()
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

/// `run NAME sh -c SCRIPT` in the network group.
fn network(name: &str, script: String) -> Workload {
    Workload {
        group: "network",
        ..shell(name, script)
    }
}

/// `run NAME sh -c SCRIPT` in the disk group.
fn disk(name: &str, script: String) -> Workload {
    Workload {
        group: "disk",
        ..shell(name, script)
    }
}

/// MiB written and read back by the disk workloads (`--quick`: 4).
pub fn disk_mib(quick: bool) -> u32 {
    if quick {
        4
    } else {
        64
    }
}

/// Files the workloads read, made once per side before the timed runs.
pub fn prepare(side: &Side) -> Workload {
    let t = &side.tmp;
    shell(
        "prepare",
        format!(
            "seq 200000 > {t}/seq.txt && dd if=/dev/zero of={t}/z bs=1M count=16 2>/dev/null{}",
            side.get_big()
        ),
    )
}

/// Run (untimed) before each repetition after the first: the page cache the disk workloads
/// filled is dropped, so every repetition starts with the memory the first one had. Without
/// it the guest's tmpfs writes of the next repetition ran with almost no free memory and
/// took 20 times as long (the kernel reclaims clean page cache slowly: docs/benchmarks.md).
pub fn settle(side: &Side) -> Workload {
    shell("settle", format!("sync; {}", side.drop_caches))
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
        w(
            "system",
            false,
            &["spawn", &n(20, 3), &side.big, "exec-5mb"],
        ),
        w("system", false, &["pipe", &n(5_000, 500)]),
        w("system", false, &["slice", &n(200, 20)]),
        w("system", false, &["parallel"]),
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
        shell("make-like", make_like(t, if quick { 25 } else { 250 })),
        disk(
            "disk-write",
            format!(
                "dd if=/dev/zero of={d}/bench-disk bs=1M count={} conv=fsync 2>/dev/null",
                disk_mib(quick),
                d = side.disk
            ),
        ),
        disk(
            "disk-read",
            format!(
                "sync; {}; dd if={}/bench-disk of=/dev/null bs=1M 2>/dev/null",
                side.drop_caches, side.disk
            ),
        ),
        disk(
            "disk-sync",
            format!("echo $$ > {}/bench-sync; sync", side.disk),
        ),
        network(
            "wget-big",
            format!(
                "wget -q -O /dev/null {}/{}",
                side.web,
                WEB_FILES[usize::from(quick)].0
            ),
        ),
        network(
            "wget-small",
            format!(
                "i=0; while [ $i -lt {} ]; do wget -q -O /dev/null {}/dist/manifest.json; \
                 i=$((i+1)); done",
                n(20, 3),
                side.web
            ),
        ),
    ]
}

/// A build-like shell script: for each of `targets` "sources", four short commands (`sed`
/// makes the "object", `cmp` checks it, `cat` appends it to the "archive", `rm` cleans up),
/// so 1,000 programs for 250 targets, as `make` runs a compiler and tools per file.
fn make_like(tmp: &str, targets: u32) -> String {
    format!(
        "rm -rf {tmp}/mk && mkdir {tmp}/mk && cd {tmp}/mk && i=0; \
         while [ $i -lt {targets} ]; do echo \"int v$i = $i;\" > s$i.c; \
         sed s/int/long/ s$i.c > o$i.o; cmp -s s$i.c o$i.o; cat o$i.o >> lib.a; rm s$i.c; \
         i=$((i+1)); done; test -s lib.a"
    )
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
        "exec-5mb" => "vfork+exec+wait of a 5 MB program (native: 3.5 MB), each after the first",
        "exec-5mb-first" => "the first one in a page (the program is compiled)",
        "pipe" => "pipe ping-pong, per round trip",
        "slice" => "a 1 ms sleep's lateness while a loop computes (time slice)",
        "parallel-1" => "one process running the hash loop (20M steps)",
        "parallel-2" => "two such processes at once (on one CPU: twice parallel-1)",
        "file-write" => "write a tmpfs file (64 KiB writes)",
        "file-read" => "read it back",
        "run-sh-loop" => "sh: while loop, $((i+1))",
        "run-spawn-true" => "sh: loop running true",
        "run-dd-16m" => "dd 16 MiB of zeros to tmpfs",
        "run-md5sum-16m" => "md5sum of a 16 MiB file",
        "run-pipe-dd-cat" => "dd bs=64k | cat > /dev/null",
        "run-seq-sort-wc" => "for/echo | sort -n | wc -l",
        "run-gzip-seq" => "gzip -c of seq 200000 (1.3 MB)",
        "run-make-like" => "sh: 250 targets × sed, cmp, cat, rm (1,000 programs)",
        "run-disk-write" => "dd 64 MiB to the disk, conv=fsync (4 MiB --quick)",
        "disk-write-throughput" => "its throughput (higher is better)",
        "run-disk-read" => "read it back (guest: page cache dropped first)",
        "disk-read-throughput" => "its throughput (natively from the page cache)",
        "run-disk-sync" => "write a line to a file on the disk, sync",
        "run-wget-big" => "wget of 20 MiB from the site (1 MiB --quick)",
        "run-wget-small" => "20 wget of a small file, one connection each",
        "wget-big-throughput" => "that wget's throughput (higher is better)",
        "cpus2-two-loops" => {
            "?cpus=2: two hash loops at once; native column: one loop, same page (ratio 1 = perfect)"
        }
        n if n.starts_with("preempt-") => {
            "with preemption points; native column: ?preempt=off, the pages alternating"
        }
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
        "live-process-ceiling" => "sleeping processes at once, until a fork fails",
        "process-memory-total" => "their wasm memories, in all",
        "shell-memory" => "a shell: its wasm memory / native VmSize",
        "shell-VmRSS" => "a native shell's resident set",
        _ => "",
    }
}
