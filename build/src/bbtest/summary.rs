//! The counts of a testsuite run, parsed from what it printed, and two runs compared.

use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

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

pub fn spinner() -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("    {spinner} {elapsed:>4} {msg}").expect("static template"),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// The counts so far and the last line of a testsuite log, for a progress line.
pub fn progress(log: &str) -> String {
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
