//! `cargo x bench`: Alpenglow against native, side by side, on this machine, in one run.
//!
//! The built site is served and opened in headless Chromium (`browser/`);
//! every boot is a fresh navigation. A probe injected before the page's own scripts
//! (a WebDriver BiDi preload script) listens to the kernel workers' console
//! messages, the bytes the terminal is fed, and stamps milestones with the page's clock, so
//! boot times are measured in the page, from navigation start. Workloads are typed into the
//! terminal of a logged-in shell, as a person would, and run `alpenglow-bench`
//! (`build/guest/bench.c`), which times them itself with CLOCK_MONOTONIC and prints
//! `@@<tag> …` lines. The same program, built natively from the same source, runs the same
//! workloads on the host with the native BusyBox (`cargo x bbtest native`) first on PATH,
//! interleaved with the guest's repetitions, so both see the same machine load.
//!
//! Split by role: `workload` (what runs, and parsing what it prints), `guest` and `native`
//! (the two sides), `stats`, `report` (table, Markdown, JSON, compare), `machine` (sizes and
//! the machine's description), `run` (the order of it all).

mod guest;
mod machine;
mod native;
mod report;
mod run;
mod stats;
#[cfg(test)]
mod tests;
mod workload;

pub use crate::browser::page::strip_escapes;
pub use machine::{civil_from_days, utc};
pub use report::{bytes, columns, compare, num, Figure, Report, Size};
pub use run::{run, Options};
pub use stats::{ratio, Stats};
pub use workload::{
    describe, parse_output, prepare, sh_quote, workloads, Output, Record, Side, Workload,
};
