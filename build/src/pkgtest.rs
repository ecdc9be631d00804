//! `cargo x pkgtest [NAME…]`: every package's `check` (its recipe's shell command) run for
//! real in the guest: the app boots in a headless browser, the guest's own `apk` installs the
//! packages from the site's repository, and each check's exit status is its result. A recipe
//! with a `[suite]` also has its upstream test suite run, in the guest (its files fetched from
//! the page's origin) and natively (the same source built for this machine). The table goes
//! to the terminal and to `$CACHE/out/pkgtest/results.txt`.

use crate::browser::page::{strip_escapes, Headless};
use crate::browser::Kind;
use crate::packages::recipe::{self, Recipe, Suite};
use crate::packages::{builder, component, split, BuiltPackage};
use crate::pipeline::Ctx;
use crate::steps;
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long a command may print nothing before it counts as stuck.
const QUIET: Duration = Duration::from_secs(120);

/// One package's line in the table.
pub struct Outcome {
    pub package: String,
    pub version: String,
    pub check: Result<(), String>,
    /// The upstream suite in the guest and natively, when the recipe has one.
    pub suite: Option<SuiteOutcome>,
}

/// Both runs of a package's test suite.
pub struct SuiteOutcome {
    pub guest: SuiteRun,
    pub native: SuiteRun,
}

/// One run of a suite: whether it passed, and its summary (the last line it printed, or
/// why it could not run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteRun {
    pub passed: bool,
    pub summary: String,
}

impl SuiteRun {
    /// `out` up to the guest's `@@N exit` marker line, if there is one.
    fn from_output(status: i32, out: &str) -> Self {
        let summary = out
            .lines()
            .map(str::trim)
            .take_while(|l| !is_exit_marker(l))
            .filter(|l| !l.is_empty())
            .last()
            .unwrap_or("no output")
            .to_string();
        SuiteRun {
            passed: status == 0,
            summary: if status == 0 {
                summary
            } else {
                format!("exit status {status}: {summary}")
            },
        }
    }
    fn error(e: &anyhow::Error) -> Self {
        SuiteRun {
            passed: false,
            summary: format!("{e:#}")
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        }
    }
}

/// The guest's `@@N exit S` line that ends a command's output (a diff's `@@ -1 +1 @@` is
/// not one).
fn is_exit_marker(line: &str) -> bool {
    line.strip_prefix("@@").is_some_and(|rest| {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with(" exit ")
    })
}

/// Where the guest fetches the suites from: a directory of the staged site.
const SUITES_URL: &str = "http://alpenglow.host/pkgtest-suites";

pub fn run(ctx: &mut Ctx, names: &[String], kind: Kind) -> Result<Vec<Outcome>> {
    let recipes = recipe::load_all(&recipe::dir(&ctx.paths.repo))?;
    // What the named packages' suites run with (gawk's runs under make) is built too.
    let mut to_build = names.to_vec();
    for n in names {
        if let Some(suite) = recipes.get(n).and_then(|(r, _)| r.suite.as_ref()) {
            to_build.extend(suite.needs.iter().filter(|d| !names.contains(d)).cloned());
        }
    }
    let built = steps::packages::build(ctx, &to_build)?;
    let wanted = |p: &&BuiltPackage| names.is_empty() || names.contains(&p.name);
    let checked: Vec<&BuiltPackage> = built
        .iter()
        .filter(|p| p.check.is_some())
        .filter(wanted)
        .collect();
    if checked.is_empty() {
        bail!("no package to check: none of them has a `check` in its recipe");
    }
    // The suites: packed for the guest and run natively before the browser starts.
    let dir = ctx.paths.out("pkgtest");
    let mut suites: Vec<(String, PathBuf, SuiteRun)> = Vec::new();
    for p in &checked {
        let Some((r, _)) = recipes.get(&p.name) else {
            continue;
        };
        let Some(suite) = &r.suite else { continue };
        let step = ctx.ui.step(&format!("test suite of {} natively", p.name));
        let tar = dir.join("suites").join(format!("{}.tar", p.name));
        let native = pack_suite(ctx, r, suite, &tar).and_then(|()| run_native(ctx, r, suite, &tar));
        let native = match native {
            Ok(run) => run,
            Err(e) => SuiteRun::error(&e),
        };
        step.done(&format!(
            "{}: {}",
            if native.passed { "passed" } else { "FAILED" },
            native.summary
        ));
        suites.push((p.name.clone(), tar, native));
    }
    let mut h = Headless::boot(ctx, None, &[], kind)?;
    // The staged site is served from disk as it is asked for: the guest fetches the suites
    // from there.
    let served = ctx.paths.repo.join("target/bench/site/pkgtest-suites");
    std::fs::create_dir_all(&served).with_context(|| format!("creating {}", served.display()))?;
    for (name, tar, _) in &suites {
        if tar.exists() {
            std::fs::copy(tar, served.join(format!("{name}.tar")))
                .with_context(|| format!("copying {}", tar.display()))?;
        }
    }
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
    let mut list: Vec<&str> = checked.iter().map(|p| p.name.as_str()).collect();
    for p in &checked {
        if let Some(suite) = recipes.get(&p.name).and_then(|(r, _)| r.suite.as_ref()) {
            for need in &suite.needs {
                if !list.contains(&need.as_str()) {
                    list.push(need);
                }
            }
        }
    }
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
        let suite = match suites.iter().find(|(n, _, _)| *n == p.name) {
            Some((name, _, native)) => {
                let step = ctx.ui.step(&format!("test suite of {name} in the guest"));
                let guest = if native.summary.starts_with("packing") {
                    native.clone()
                } else {
                    let (out, status) = shell(&guest_command(name))?;
                    let log = dir.join("suites").join(format!("{name}.guest.log"));
                    let _ = std::fs::write(&log, &out);
                    SuiteRun::from_output(status, &out)
                };
                step.done(&format!(
                    "{}: {}",
                    if guest.passed { "passed" } else { "FAILED" },
                    guest.summary
                ));
                Some(SuiteOutcome {
                    guest,
                    native: native.clone(),
                })
            }
            None => None,
        };
        outcomes.push(Outcome {
            package: p.name.clone(),
            version: p.version.clone(),
            check: result,
            suite,
        });
    }
    drop(h);
    let table = table(&outcomes);
    print!("{table}");
    let dir = ctx.paths.out("pkgtest");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("results.txt");
    std::fs::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
    let failed = outcomes
        .iter()
        .filter(|o| o.check.is_err() || o.suite.as_ref().is_some_and(|s| !s.guest.passed))
        .count();
    if failed > 0 {
        bail!(
            "{failed} of {} packages failed their check or suite in the guest (table in {})",
            outcomes.len(),
            path.display()
        );
    }
    Ok(outcomes)
}

/// The results as a Markdown table (the closing notes quote it).
pub fn table(outcomes: &[Outcome]) -> String {
    let mut t = String::from(
        "| package | version | check in the guest | suite in the guest | suite natively |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    let cell = |r: &SuiteRun| {
        let summary = r.summary.replace('|', "/");
        if r.passed {
            format!("pass ({summary})")
        } else {
            format!("FAIL ({summary})")
        }
    };
    for o in outcomes {
        let check = match &o.check {
            Ok(()) => "pass".to_string(),
            Err(e) => format!("FAIL ({})", e.lines().next().unwrap_or_default()),
        };
        let (guest, native) = match &o.suite {
            Some(s) => (cell(&s.guest), cell(&s.native)),
            None => ("—".to_string(), "—".to_string()),
        };
        let _ = writeln!(
            t,
            "| {} | {} | {check} | {guest} | {native} |",
            o.package, o.version
        );
    }
    t
}

/// The guest's command line for a suite: fetch its files into a scratch directory and run
/// `suite.sh` there.
fn guest_command(name: &str) -> String {
    let d = format!("/tmp/suite-{name}");
    format!(
        "rm -rf {d} && mkdir -p {d} && cd {d} && wget -q -O s.tar {SUITES_URL}/{name}.tar \
         && tar -xf s.tar && rm s.tar && sh suite.sh; s=$?; cd /; rm -rf {d}; (exit $s)"
    )
}

/// Packs a suite: the files its globs match in the recipe's patched source tree, and its
/// `run` as `suite.sh`, into a tar the guest unpacks.
fn pack_suite(ctx: &Ctx, r: &Recipe, suite: &Suite, tar: &Path) -> Result<()> {
    let src = ctx.paths.src(&component(&r.name));
    let files: Vec<PathBuf> = split::entries(&src)
        .with_context(|| format!("packing the suite of {}: listing its source", r.name))?
        .into_iter()
        .filter(|p| {
            let rel = p.to_string_lossy();
            !rel.starts_with(".git/")
                && src.join(p).is_file()
                && suite.files.iter().any(|g| split::glob_match(g, &rel))
        })
        .collect();
    if files.is_empty() {
        bail!(
            "packing the suite of {}: no file in {} matches {:?}",
            r.name,
            src.display(),
            suite.files
        );
    }
    if let Some(d) = tar.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let out = std::fs::File::create(tar).with_context(|| format!("creating {}", tar.display()))?;
    let mut b = tar::Builder::new(out);
    b.mode(tar::HeaderMode::Deterministic);
    for f in &files {
        b.append_path_with_name(src.join(f), f)
            .with_context(|| format!("packing {}", f.display()))?;
    }
    let script = format!("{}\n", suite.run.trim_end());
    let mut h = tar::Header::new_gnu();
    h.set_size(script.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "suite.sh", script.as_bytes())
        .context("packing suite.sh")?;
    b.into_inner()
        .and_then(|mut f| std::io::Write::flush(&mut f))
        .with_context(|| format!("writing {}", tar.display()))?;
    Ok(())
}

/// Builds the recipe's programs for this machine (once per source and `native` script) and
/// runs the suite with them first on PATH.
fn run_native(ctx: &Ctx, r: &Recipe, suite: &Suite, tar: &Path) -> Result<SuiteRun> {
    let src = ctx.paths.src(&component(&r.name));
    let base = ctx.paths.out("pkgtest").join("native").join(&r.name);
    let bin = base.join("bin");
    let key = format!(
        "{}\n{}",
        crate::sources::tree::head(&src).unwrap_or_default(),
        suite.native
    );
    let key_file = base.join("key");
    let log = ctx.log(&format!("pkgtest-native-{}", r.name));
    let clean_env = |c: &mut Command| {
        c.env_clear()
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
            )
            .env("NATIVE_BIN", &bin)
            .env("SOURCES", src.parent().unwrap_or(&src))
            .env("JOBS", ctx.jobs.clamp(1, 2).to_string())
            .env("LC_ALL", "C");
        for key in ["HOME", "TMPDIR", "USER"] {
            if let Some(v) = std::env::var_os(key) {
                c.env(key, v);
            }
        }
    };
    if std::fs::read_to_string(&key_file).ok().as_deref() != Some(key.as_str()) {
        if base.exists() {
            std::fs::remove_dir_all(&base)
                .with_context(|| format!("removing {}", base.display()))?;
        }
        let tree = base.join("src");
        for d in [&tree, &bin] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let _ = std::fs::remove_file(&log);
        builder::copy_tree(&src, &tree, &[".git"])?;
        let mut c = Command::new("sh");
        c.args(["-ec", &suite.native]).current_dir(&tree);
        clean_env(&mut c);
        ctx.ui
            .run(&format!("{}: native build", r.name), &mut c, &log)
            .with_context(|| format!("building {} natively (log {})", r.name, log.display()))?;
        std::fs::write(&key_file, &key)
            .with_context(|| format!("writing {}", key_file.display()))?;
    }
    let run = base.join("run");
    if run.exists() {
        std::fs::remove_dir_all(&run).with_context(|| format!("removing {}", run.display()))?;
    }
    std::fs::create_dir_all(&run).with_context(|| format!("creating {}", run.display()))?;
    let f = std::fs::File::open(tar).with_context(|| format!("opening {}", tar.display()))?;
    tar::Archive::new(f)
        .unpack(&run)
        .with_context(|| format!("unpacking {}", tar.display()))?;
    // One stream, as in the guest's terminal: the summary is the last line of both.
    let mut c = Command::new("sh");
    c.args(["-c", "sh suite.sh 2>&1"]).current_dir(&run);
    clean_env(&mut c);
    let out = c
        .output()
        .with_context(|| format!("running the suite of {} natively", r.name))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::write(base.join("suite.log"), &text);
    Ok(SuiteRun::from_output(
        out.status.code().unwrap_or(-1),
        &text,
    ))
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
                suite: None,
            },
            Outcome {
                package: "jq".into(),
                version: "1.7.1-r0".into(),
                check: Err("exit status 1: jq: error\nmore".into()),
                suite: Some(SuiteOutcome {
                    guest: SuiteRun::from_output(1, "x\n1 of 2 tests passed\n\n"),
                    native: SuiteRun::from_output(0, "2 of 2 tests passed"),
                }),
            },
        ];
        let run = SuiteRun::from_output(1, "@@ -1 +1 @@\n-a\n+b\n2 of 3 passed\n@@7 exit 1\n$ ");
        assert_eq!(run.summary, "exit status 1: 2 of 3 passed");
        let t = table(&outcomes);
        assert!(t.contains("| lua5.4 | 5.4.7-r0 | pass | — | — |\n"));
        assert!(t.contains(
            "| jq | 1.7.1-r0 | FAIL (exit status 1: jq: error) \
             | FAIL (exit status 1: 1 of 2 tests passed) | pass (2 of 2 tests passed) |\n"
        ));
    }
}
