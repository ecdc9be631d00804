//! Console output: one line per step with its elapsed time, progress bars for downloads and
//! long compiles, and commands run with their output captured in a log file.

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, Default)]
pub struct Ui {
    pub verbose: bool,
}

/// A step in progress; finish it with `done` or `skipped`.
pub struct Step {
    name: String,
    start: Instant,
}

impl Ui {
    pub fn step(&self, name: &str) -> Step {
        eprintln!("==> {name}");
        Step {
            name: name.to_string(),
            start: Instant::now(),
        }
    }

    pub fn info(&self, msg: &str) {
        eprintln!("    {msg}");
    }

    /// Something the user must notice (e.g. a substituted source release).
    pub fn warn(&self, msg: &str) {
        eprintln!("\n    !!! WARNING: {msg}\n");
    }

    /// A byte-counting progress bar (hidden when stderr is not a terminal).
    pub fn bytes_bar(&self, total: Option<u64>, what: &str) -> ProgressBar {
        let pb = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        pb.set_style(
            ProgressStyle::with_template(
                "    {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {elapsed}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        pb.set_message(what.to_string());
        pb
    }

    /// Run `cmd`, appending its output to `log`. While it runs a spinner shows the elapsed
    /// time and the log's last line; on failure the last 30 lines and the log's path are
    /// printed and the error names `what`.
    pub fn run(&self, what: &str, cmd: &mut Command, log: &Path) -> Result<()> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening log {}", log.display()))?;
        let start_len = out.metadata().map(|m| m.len()).unwrap_or(0);
        let shown = format!("{cmd:?}");
        if self.verbose {
            eprintln!("    $ {shown}");
        }
        use std::io::Write;
        writeln!(&out, "\n$ {shown}").ok();
        let err = out.try_clone().context("duplicating log handle")?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("{what}: cannot start {shown}"))?;
        let pb = ProgressBar::new_spinner();
        pb.set_style(
            ProgressStyle::with_template("    {spinner} {elapsed:>4} {msg}")
                .expect("static template"),
        );
        pb.enable_steady_tick(Duration::from_millis(200));
        let status = loop {
            if let Some(status) = child.try_wait().context("waiting for child")? {
                break status;
            }
            if let Some(line) = last_line(log, start_len) {
                pb.set_message(line);
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        pb.finish_and_clear();
        if !status.success() {
            eprintln!("    --- last 30 lines of {} ---", log.display());
            for line in tail(log, 30) {
                eprintln!("    | {line}");
            }
            bail!("{what} failed ({status}); full log: {}", log.display());
        }
        Ok(())
    }
}

impl Step {
    pub fn done(self, detail: &str) {
        let secs = self.start.elapsed().as_secs_f64();
        eprintln!(
            "    done: {} in {secs:.1}s{}{detail}",
            self.name,
            if detail.is_empty() { "" } else { " — " }
        );
    }
    pub fn skipped(self, why: &str) {
        eprintln!("    up to date: {} ({why})", self.name);
    }
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

fn last_line(log: &Path, from: u64) -> Option<String> {
    let mut f = File::open(log).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(512).max(from);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = String::new();
    f.take(512).read_to_string(&mut buf).ok()?;
    let line = buf.lines().rev().find(|l| !l.trim().is_empty())?;
    Some(line.chars().take(100).collect())
}

/// The last `n` lines of a file (empty if unreadable).
pub fn tail(path: &Path, n: usize) -> Vec<String> {
    let Ok(f) = File::open(path) else {
        return Vec::new();
    };
    let lines: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// Path of the log file for a step.
pub fn log_path(logs: &Path, step: &str) -> PathBuf {
    logs.join(format!("{step}.log"))
}
