//! The guest side: `alpenglow-bench` typed at the shell prompt of the page.

use super::workload::{parse_output, sh_quote, Output};
use crate::browser::page::{strip_escapes, BootMarks, Page};
use anyhow::{bail, Context, Result};
use std::time::Duration;

/// How long one guest command may print nothing (the longest takes ~20 s on a busy 2-core
/// machine and prints only at its end).
const COMMAND_WAIT: Duration = Duration::from_secs(180);

/// The page, with `alpenglow-bench` run at its shell prompt.
pub struct Guest<'a> {
    pub page: &'a mut Page,
}

impl Guest<'_> {
    pub fn boot(&mut self) -> Result<BootMarks> {
        self.page.boot()
    }

    /// Types `alpenglow-bench -t TAG ARGS…` at the shell prompt and returns what it printed.
    pub fn run(&mut self, args: &[String]) -> Result<Output> {
        let cmd: Vec<String> = args.iter().map(|a| sh_quote(a)).collect();
        self.run_line(&cmd.join(" "))
    }

    /// The same with the arguments as shell text (`procmem $$`: the shell expands it).
    pub fn run_line(&mut self, args: &str) -> Result<Output> {
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
