//! The page loads, verifies and compiles the kernel, shows its progress and errors, boots it
//! and reboots it.

use crate::common::*;
use crate::format::grouped;
use crate::servers::{copy_dir, plain_server};
use alpenglow_build::browser::{Kind, Session};
use alpenglow_build::serve::Server;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

in_browsers!(page_reaches_kernel_compiled: chromium, firefox);
in_browsers!(corrupted_kernel_is_refused_and_retry_recovers: chromium, firefox);
in_browsers!(downloads_show_progress: chromium, firefox);
in_browsers!(kernel_boots_and_the_page_stays_responsive: chromium, firefox);
in_browsers!(reboot_starts_the_kernel_again: chromium, firefox);

/// Import and export counts of a wasm module, read independently of the page.
pub fn import_export_counts(wasm: &[u8]) -> (u32, u32) {
    let (mut imports, mut exports) = (0, 0);
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.expect("vmlinux.wasm parses") {
            wasmparser::Payload::ImportSection(s) => imports = s.count(),
            wasmparser::Payload::ExportSection(s) => exports = s.count(),
            _ => {}
        }
    }
    (imports, exports)
}

/// Everything the page shows once the kernel is compiled (and the machine started). The
/// machine card is read as a person would: opened from the status bar (while the machine
/// runs it is folded there), and folded again after.
pub fn assert_compiled(c: &Session, site: &Path) {
    let m = manifest(site);
    assert_eq!(
        js(c, "return self.crossOriginIsolated"),
        Value::Bool(true),
        "the page must be cross-origin isolated"
    );
    let opened = !machine_card_open(c);
    open_machine_card(c);
    let headline = text_of(c, ".compiled-head h1");
    assert!(
        ["Booting", "Running", "Halted", "Crashed"].contains(&headline.as_str()),
        "machine headline: {headline:?}"
    );

    for (name, info) in m["artifacts"].as_object().expect("artifacts") {
        let size = info["size"].as_u64().expect("size");
        let row = format!("li.artifact[data-name=\"{name}\"]");
        let text = text_of(c, &row);
        let shown = format!("{} bytes", grouped(size));
        assert!(
            text.contains(&shown) && text.contains("sha256 verified"),
            "{name}: expected {shown:?} and \"sha256 verified\", the page shows {text:?}"
        );
    }

    let wasm = std::fs::read(site.join("dist/vmlinux.wasm")).expect("read vmlinux.wasm");
    let (imports, exports) = import_export_counts(&wasm);
    assert_eq!(
        text_of(c, ".kernel-counts"),
        format!("{imports} imports · {exports} exports")
    );
    if opened {
        fold_machine_card(c);
    }

    // The host's own lines, before the kernel's (xterm renders writes a little later).
    let term = wait_for_terminal(
        c,
        "alpenglow: booting vmlinux.wasm: 128 MiB of RAM",
        true,
        WAIT,
    );
    assert!(
        term.contains("alpenglow: the kernel is compiled"),
        "terminal:\n{term}"
    );
    assert!(
        !term.contains("not started"),
        "the terminal still says the kernel is not started:\n{term}"
    );

    let status = text_of(c, ".statusbar");
    for (name, comp) in m["components"].as_object().expect("components") {
        let version = comp["version"].as_str().expect("version");
        assert!(
            status.contains(version),
            "status bar lacks {name} {version}: {status:?}"
        );
    }
}

fn page_reaches_kernel_compiled(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    {
        let c = browser(kind);
        goto(&c, &url);
        wait_until_started(&c);
        assert_compiled(&c, &site);
        screenshot(&c, "compiled.png");
    }
}

fn corrupted_kernel_is_refused_and_retry_recovers(kind: Kind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("site");
    copy_dir(&site(), &copy);
    let kernel = copy.join("dist/vmlinux.wasm");
    let good = std::fs::read(&kernel).expect("read vmlinux.wasm");
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    for b in &mut bad[mid..(mid + 16).min(good.len())] {
        *b ^= 0xff;
    }
    std::fs::write(&kernel, &bad).expect("corrupt vmlinux.wasm");
    let expected = manifest(&copy)["artifacts"]["vmlinux.wasm"]["sha256"]
        .as_str()
        .expect("sha256")
        .to_string();
    let actual = sha256_hex(&bad);

    let server = Server::start(&copy, "127.0.0.1", 0).expect("serve the copy");
    let url = server.url();
    let site_copy = copy.clone();
    {
        let c = browser(kind);
        goto(&c, &url);
        wait_for_state(&c, "failed");

        let title = text_of(&c, ".error-title");
        assert!(title.contains("vmlinux.wasm"), "error title: {title:?}");
        assert_eq!(text_of(&c, ".hash.expected"), expected);
        assert_eq!(text_of(&c, ".hash.actual"), actual);
        let retry = "button.retry";
        assert!(c.exists(retry).expect("look for it"), "a Retry button");
        assert_eq!(text_of(&c, retry), "Retry");
        assert!(is_displayed(&c, retry));
        screenshot(&c, "error-corrupted-kernel.png");

        // Put the good file back; Retry must fetch it again and get through.
        std::fs::write(site_copy.join("dist/vmlinux.wasm"), &good).expect("restore vmlinux.wasm");
        click(&c, retry);
        wait_to_leave(&c, "failed");
        wait_until_started(&c);
        assert_compiled(&c, &site_copy);
    }
    drop(server);
}

fn downloads_show_progress(kind: Kind) {
    let site = site();
    // About 3 MiB/s: slow enough to watch, fast enough to finish.
    let url = plain_server(&site, true, Some(Duration::from_millis(20)));
    let vmlinux_size = manifest(&site)["artifacts"]["vmlinux.wasm"]["size"]
        .as_u64()
        .expect("size");
    let site2 = site.clone();
    {
        let c = browser(kind);
        goto(&c, &url);
        // Wait until part of vmlinux.wasm has arrived, and the page says how much.
        let deadline = Instant::now() + WAIT;
        let row = "li.artifact[data-name=\"vmlinux.wasm\"]";
        let shown = loop {
            let v = js(
                &c,
                "const b = document.querySelector('li.artifact[data-name=\"vmlinux.wasm\"] .bar'); \
                 return b ? Number(b.getAttribute('aria-valuenow')) : -1;",
            )
            ;
            let now = v.as_f64().unwrap_or(-1.0);
            if now > 0.0 && now < vmlinux_size as f64 {
                break now as u64;
            }
            if started(&page_state(&c)) || Instant::now() > deadline {
                panic!("never saw vmlinux.wasm part-way downloaded (the artifact may be too small to see progress)");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let text = text_of(&c, row);
        assert!(
            text.contains(&format!("of {} bytes", grouped(vmlinux_size))),
            "progress text: {text:?} (at {shown} bytes)"
        );
        screenshot(&c, "loading.png");
        wait_until_started(&c);
        assert_compiled(&c, &site2);
    }
}

/// The boot check (build/guest/init.c) as the first process instead of BusyBox init: it
/// lists /proc, sleeps, runs alpenglow-ctest and powers the machine off.
pub const BOOT_CHECK: &str = "?append=rdinit=/usr/libexec/alpenglow/init";

/// Clicks the status bar's About toggle and waits for the page to react: the panel opens (or
/// closes) and the button says so.
fn toggle_about(c: &Session, open: bool) {
    assert!(
        c.exists("button.about-toggle").expect("look for it"),
        "an About button in the status bar"
    );
    click(c, "button.about-toggle");
    let deadline = Instant::now() + WAIT;
    loop {
        let expanded = attr(c, "button.about-toggle", "aria-expanded");
        let panel = js(c, "return document.querySelector('#about') !== null");
        if expanded.as_deref() == Some(if open { "true" } else { "false" })
            && panel == Value::Bool(open)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the page did not react to About (aria-expanded {expanded:?}, panel {panel})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the kernel reliably prints, whatever it reaches later: its banner, the command line
/// the host put in the device tree, the RAM the device tree describes, the initramfs the host
/// placed (found, unpacked and freed), and init being run — by kernel_init, the first task,
/// which runs in a worker of its own (spawn_task → wasm_task_entry).
pub fn assert_kernel_started(c: &Session) -> String {
    let term = wait_for_terminal(c, "Linux version 6.12", true, BOOT_WAIT);
    // "Run /init as init process", or the program an rdinit= names.
    let last = " as init process";
    let term = if term.contains(last) {
        term
    } else {
        wait_for_terminal(c, last, true, BOOT_WAIT)
    };
    let mut term = term;
    for line in [
        "Kernel command line: console=hvc0 loglevel=8",
        "/131072K available",
        "Unpacking initramfs...",
        "Freeing initrd memory: ",
    ] {
        // A transcript read while output still arrives can miss a screen: read it again
        // rather than conclude from one pass.
        if !term.contains(line) {
            term = wait_for_terminal(c, line, true, WAIT);
        }
    }
    term
}

fn kernel_boots_and_the_page_stays_responsive(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    {
        let c = browser(kind);
        goto(&c, &format!("{url}{BOOT_CHECK}"));
        let state = wait_until_started(&c);
        // The main thread never blocks: the page reacts while the kernel's workers run.
        toggle_about(&c, true);
        eprintln!("About opened while the machine was {state:?}");
        screenshot(&c, "about-while-booting.png");
        toggle_about(&c, false);

        assert_kernel_started(&c);
        // /init, a wasm program (build/guest/init.c), runs in kernel_init's worker, lists the
        // processes, sleeps a second and powers the machine off.
        let term = wait_for_terminal(&c, "reboot: Power down", true, BOOT_WAIT);
        let mut seen = std::collections::HashSet::new();
        let lines: Vec<&str> = term.lines().filter(|l| seen.insert(*l)).collect();
        eprintln!("terminal, from the top:\n{}", lines.join("\n"));
        screenshot(&c, "kernel-booted.png");
        for line in [
            "init: hello from /init, a wasm program under Linux",
            "init: pid 1 init",
            "init: pid 2 kthreadd",
            "processes in /proc",
            "init: slept, monotonic clock advanced",
            "init: powering off",
        ] {
            assert!(term.contains(line), "terminal lacks {line:?}:\n{term}");
        }
        let slept = lines
            .iter()
            .find(|l| l.contains("init: slept"))
            .expect("the sleep line");
        assert!(slept.contains("(ok)"), "{slept:?}");
        let count = lines
            .iter()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("init: ")?
                    .strip_suffix(" processes in /proc")
            })
            .and_then(|n| n.trim().parse::<usize>().ok())
            .expect("the process count");
        let listed: std::collections::HashSet<&str> = lines
            .iter()
            .filter(|l| l.trim().starts_with("init: pid "))
            .map(|l| l.trim())
            .collect();
        assert!(
            count >= 2 && count == listed.len(),
            "/init counted {count} processes and listed {listed:?}"
        );
        for kind in ["kworker/", "ksoftirqd/"] {
            assert!(
                listed.iter().any(|l| l.contains(kind)),
                "/init listed no {kind} thread: {listed:?}"
            );
        }
        assert!(
            !term.contains("No working init found")
                && !term.contains("Kernel panic")
                && !term.contains("Oops"),
            "terminal:\n{term}"
        );
        // /init ran the C runtime checks (build/guest/ctest.c): signal handlers, threads,
        // setjmp, vfork + exec, each a PASS line, in the browser's workers.
        let failed: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FAIL")).collect();
        assert!(failed.is_empty(), "ctest failures: {failed:?}");
        let passes = lines.iter().filter(|l| l.starts_with("PASS: ")).count();
        for line in [
            "PASS: SA_SIGINFO handler, kill()",
            "PASS: siglongjmp out of a handler restores the mask",
            "PASS: with SA_RESTART: the call is restarted",
            "PASS: vfork + exec busybox true",
            "PASS: AF_UNIX datagram to a waiting receiver",
            "PASS: logger to a waiting receiver",
            "PASS: pthread create, mutex, cond, join, value back",
            &format!("ctest: {passes} passed, 0 failed"),
            "init: alpenglow-ctest exited with 0",
        ] {
            assert!(term.contains(line), "terminal lacks {line:?}:\n{term}");
        }

        // The power-off stops the machine: the page says so.
        let deadline = Instant::now() + WAIT;
        loop {
            let state = page_state(&c);
            if state == "halted" {
                break;
            }
            assert!(
                state != "crashed" && Instant::now() < deadline,
                "expected the page to reach \"halted\", it is {state:?}. It shows:\n{}",
                body_text(&c)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // The machine card unfolds by itself, in the page above the terminal (no longer a
        // panel over it): how the machine stopped, and Reboot in the status bar.
        wait_until(
            &c,
            "the machine card to unfold by itself",
            "const e = document.getElementById('machine'); \
             return !!e && e.getBoundingClientRect().height > 0 && !e.hasAttribute('data-panel');",
        );
        assert!(
            machine_card_open(&c),
            "the Machine button says the card is open"
        );
        assert_eq!(text_of(&c, ".compiled-head h1"), "Halted");
        screenshot(&c, "halted.png");
        wait_for_terminal(&c, "alpenglow: the kernel powered off", false, WAIT);
        assert!(c.exists("button.reboot").expect("look for it"));
        // kernel_init ran in a worker of its own: the boot worker and at least that one.
        let stats = text_of(&c, ".machine-stats");
        let busy = stats
            .split(": ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse::<u32>().ok());
        assert!(busy.is_some_and(|b| b >= 2), "workers: {stats:?}");
        eprintln!("workers: {stats}");
    }
}

fn reboot_starts_the_kernel_again(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    {
        let c = browser(kind);
        goto(&c, &url);
        wait_until_started(&c);
        wait_for_prompt(&c);
        assert!(
            c.exists("button.reboot").expect("look for it"),
            "a Reboot button"
        );
        click(&c, "button.reboot");
        // Reboot clears the terminal: the compile-time lines are gone, the boot line is new.
        let deadline = Instant::now() + WAIT;
        loop {
            let term = scroll_to_top(&c).unwrap_or_default();
            if !term.contains("alpenglow: the kernel is compiled") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Reboot did not reset the terminal:\n{term}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        wait_for_prompt(&c);
        let top = scroll_to_top(&c).unwrap_or_default();
        assert!(
            top.trim_start()
                .starts_with("alpenglow: booting vmlinux.wasm"),
            "after the reboot the terminal starts with the new boot:\n{top}"
        );
        assert!(started(&page_state(&c)));
        screenshot(&c, "rebooted.png");
    }
}
