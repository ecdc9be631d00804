//! `cargo x pkgtest [NAME…]`: every package's `check` (its recipe's shell command) run for
//! real in the guest: the app boots in a headless browser, the guest's own `apk` installs the
//! packages from the site's repository, and each check's exit status is its result. The table
//! goes to the terminal and to `$CACHE/out/pkgtest/results.txt`.

use crate::browser::page::{strip_escapes, Headless};
use crate::browser::Kind;
use crate::packages::BuiltPackage;
use crate::pipeline::Ctx;
use crate::steps;
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::time::Duration;

/// How long a command may print nothing before it counts as stuck.
const QUIET: Duration = Duration::from_secs(120);

/// One package's line in the table.
pub struct Outcome {
    pub package: String,
    pub version: String,
    pub check: Result<(), String>,
}

pub fn run(ctx: &mut Ctx, names: &[String], kind: Kind) -> Result<Vec<Outcome>> {
    let built = steps::packages::build(ctx, names)?;
    let wanted = |p: &&BuiltPackage| names.is_empty() || names.contains(&p.name);
    let checked: Vec<&BuiltPackage> = built
        .iter()
        .filter(|p| p.check.is_some())
        .filter(wanted)
        .collect();
    if checked.is_empty() {
        bail!("no package to check: none of them has a `check` in its recipe");
    }
    let mut h = Headless::boot(ctx, None, kind)?;
    let page = &mut h.page;
    let mut shell = |line: &str| -> Result<(String, i32)> {
        let tag = page.next_tag();
        let (text, status) = page
            .run_tagged(tag, line, QUIET, |_| {})
            .with_context(|| format!("`{line}` in the guest did not finish"))?;
        Ok((strip_escapes(&text), status))
    };
    let step = ctx.ui.step("apk update and apk add in the guest");
    let (out, status) = shell("apk update")?;
    if status != 0 {
        bail!("`apk update` in the guest failed ({status}):\n{out}");
    }
    let list: Vec<&str> = checked.iter().map(|p| p.name.as_str()).collect();
    let add = format!("apk add {}", list.join(" "));
    let (out, status) = shell(&add)?;
    if status != 0 {
        bail!("`{add}` in the guest failed ({status}):\n{out}");
    }
    step.done(&format!("{} packages installed", list.len()));
    let mut outcomes = Vec::new();
    for p in &checked {
        let check = p.check.as_deref().unwrap_or_default();
        let step = ctx.ui.step(&format!("check {}", p.name));
        let (out, status) = shell(check)?;
        let result = match status {
            0 => Ok(()),
            s => Err(format!("exit status {s}: {}", out.trim())),
        };
        match &result {
            Ok(()) => step.done("passed"),
            Err(e) => step.done(&format!("FAILED: {e}")),
        }
        outcomes.push(Outcome {
            package: p.name.clone(),
            version: p.version.clone(),
            check: result,
        });
    }
    drop(h);
    let table = table(&outcomes);
    print!("{table}");
    let dir = ctx.paths.out("pkgtest");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("results.txt");
    std::fs::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
    let failed = outcomes.iter().filter(|o| o.check.is_err()).count();
    if failed > 0 {
        bail!(
            "{failed} of {} package checks failed (table in {})",
            outcomes.len(),
            path.display()
        );
    }
    Ok(outcomes)
}

/// The results as a Markdown table (the closing notes quote it).
pub fn table(outcomes: &[Outcome]) -> String {
    let mut t = String::from("| package | version | check in the guest |\n| --- | --- | --- |\n");
    for o in outcomes {
        let check = match &o.check {
            Ok(()) => "pass".to_string(),
            Err(e) => format!("FAIL ({})", e.lines().next().unwrap_or_default()),
        };
        let _ = writeln!(t, "| {} | {} | {check} |", o.package, o.version);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_line_per_package_and_the_first_line_of_a_failure() {
        let outcomes = [
            Outcome {
                package: "lua5.4".into(),
                version: "5.4.7-r0".into(),
                check: Ok(()),
            },
            Outcome {
                package: "jq".into(),
                version: "1.7.1-r0".into(),
                check: Err("exit status 1: jq: error\nmore".into()),
            },
        ];
        let t = table(&outcomes);
        assert!(t.contains("| lua5.4 | 5.4.7-r0 | pass |\n"));
        assert!(t.contains("| jq | 1.7.1-r0 | FAIL (exit status 1: jq: error) |\n"));
    }
}
