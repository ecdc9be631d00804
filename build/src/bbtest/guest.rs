//! `cargo x bbtest guest` and `compare`: the testsuite typed at the page's shell prompt, and
//! what it printed compared with the native run.

use super::native::{native, RESULTS};
use super::summary::{compare, progress, spinner, Summary};
use crate::browser::Kind;
use crate::pipeline::Ctx;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Duration;

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

/// `cargo x bbtest guest [APPLET]...`: boots the built app in a headless browser, types
/// `busybox-testsuite [APPLET]...` at its shell prompt, and keeps what the terminal printed
/// in `$CACHE/out/busybox-guest/testsuite.log` (the summary in testsuite-results.txt).
/// A full run is compared with the native one.
pub fn guest(
    ctx: &mut Ctx,
    applets: &[String],
    append: Option<&str>,
    quiet: Duration,
    browser: Kind,
) -> Result<Summary> {
    use crate::browser::page::{self, Headless};

    let dir = ctx.paths.out("busybox-guest");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = dir.join("testsuite.log");

    let mut h = Headless::boot(ctx, append, &[], browser)?;
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
