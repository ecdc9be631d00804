//! The terminal: focus, selection and copy, paste, typing, and the size the guest sees.

use crate::boot::BOOT_CHECK;
use crate::common::*;
use alpenglow_build::browser::{input, Kind, Session};
use alpenglow_build::serve::Server;
use serde_json::Value;
use std::time::{Duration, Instant};

// Chromium only: both tests read or write the clipboard through `navigator.clipboard` after
// granting `clipboard-read`/`clipboard-write` (BiDi `permissions.setPermission`). Firefox ESR
// has no such permissions to grant (its Permissions API does not know the names), so the
// tests' own step cannot be taken there.
in_browsers!(terminal_takes_focus_copies_a_selection_and_fits_the_window: chromium);
in_browsers!(typing_and_pasting_reach_the_shell_and_the_guest_sees_the_terminal_size: chromium);

/// Number of rows the terminal shows.
fn terminal_rows(c: &Session) -> u64 {
    js(
        c,
        "const r = document.querySelector('#terminal .xterm-rows'); return r ? r.children.length : 0;",
    )
    .as_u64()
    .unwrap_or(0)
}

/// The terminal has the keyboard once it opens; a line selected with the mouse is copied to
/// the clipboard with Ctrl-Shift-C; the terminal refits when the window changes size.
fn terminal_takes_focus_copies_a_selection_and_fits_the_window(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    {
        let c = browser(kind);
        goto(&c, &format!("{url}{BOOT_CHECK}"));
        wait_until_started(&c);
        assert_eq!(
            js(&c, "return document.activeElement?.classList.contains('xterm-helper-textarea') ?? false"),
            Value::Bool(true),
            "the terminal must have the keyboard once it is open"
        );
        // The host's last line is still once the machine is off: select it with the mouse.
        wait_for_terminal(&c, "alpenglow: the kernel powered off", false, BOOT_WAIT);
        // The status bar says how the machine stopped, in words.
        assert_eq!(text_of(&c, ".statusbar .phase"), "powered off");
        for p in ["clipboard-read", "clipboard-write"] {
            c.grant(p).unwrap_or_else(|e| panic!("grant {p}: {e:#}"));
        }
        let rect = js(
            &c,
            "const rows = [...document.querySelectorAll('#terminal .xterm-rows > div')]; \
             const row = rows.find(r => r.textContent.includes('the kernel powered off')); \
             if (!row) return null; const b = row.getBoundingClientRect(); \
             return [b.x, b.y, b.width, b.height];",
        );
        let n = |i: usize| rect[i].as_f64().expect("the row's position");
        let (x, y, w, h) = (n(0), n(1), n(2), n(3));
        let drag = input::mouse(vec![
            input::move_to(x + 1.0, y + h / 2.0, 0),
            input::button(true),
            input::move_to(x + w - 2.0, y + h / 2.0, 100),
            input::button(false),
        ]);
        c.perform(vec![drag]).expect("select the line");
        press(&c, &format!("{}{}C", input::CONTROL, input::SHIFT));
        let deadline = Instant::now() + WAIT;
        loop {
            let text = js(&c, "return await navigator.clipboard.readText()");
            if text
                .as_str()
                .is_some_and(|t| t.contains("alpenglow: the kernel powered off"))
            {
                break;
            }
            assert!(Instant::now() < deadline, "the clipboard holds {text}");
            std::thread::sleep(Duration::from_millis(100));
        }
        screenshot(&c, "terminal-selection-copied.png");

        // A smaller window: the terminal refits to fewer rows; a larger one, more again.
        let before = terminal_rows(&c);
        c.set_viewport(1280, 600).expect("shrink the window");
        let deadline = Instant::now() + WAIT;
        while terminal_rows(&c) >= before {
            assert!(
                Instant::now() < deadline,
                "the terminal kept {before} rows in a smaller window"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let small = terminal_rows(&c);
        c.set_viewport(1280, 1000).expect("grow the window");
        let deadline = Instant::now() + WAIT;
        while terminal_rows(&c) <= small {
            assert!(
                Instant::now() < deadline,
                "the terminal kept {small} rows in a larger window"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "terminal rows: {before}, then {small}, then {}",
            terminal_rows(&c)
        );
    }
}

/// The terminal's size in characters, as the page shows it (`data-cols`, `data-rows`).
fn terminal_size(c: &Session) -> (u64, u64) {
    let v = js(
        c,
        "const t = document.getElementById('terminal'); \
         return [Number(t.dataset.cols), Number(t.dataset.rows)];",
    );
    (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0))
}

/// Boots a shell as the first process (`rdinit=/bin/sh` appended through the URL: no login),
/// types commands into the terminal as a person would, checks that `stty size` in the guest
/// follows the terminal's size when the window changes, and pastes a command with
/// Ctrl-Shift-V.
fn typing_and_pasting_reach_the_shell_and_the_guest_sees_the_terminal_size(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    {
        let c = browser(kind);
        goto(&c, &format!("{url}?append=rdinit=/bin/sh"));
        wait_until_started(&c);
        wait_for_terminal(&c, "Run /bin/sh as init process", true, BOOT_WAIT);
        wait_for_line(&c, "a shell prompt", |l| l.ends_with('#'));
        type_line(&c, "echo $((6 * 7))");
        wait_for_line(&c, "the shell's answer", |l| l == "42");

        let stty = |(cols, rows): (u64, u64)| format!("{rows} {cols}");
        let size = terminal_size(&c);
        type_line(&c, "stty size");
        let want = stty(size);
        wait_for_line(&c, &format!("stty size = {want:?}"), |l| l == want);

        c.set_viewport(1000, 700).expect("shrink the window");
        let deadline = Instant::now() + WAIT;
        while terminal_size(&c) == size {
            assert!(
                Instant::now() < deadline,
                "the terminal kept its size {size:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let smaller = terminal_size(&c);
        type_line(&c, "clear; stty size");
        let want = stty(smaller);
        wait_for_line(&c, &format!("stty size = {want:?} after the resize"), |l| {
            l == want
        });
        eprintln!("stty size: {} then {}", stty(size), stty(smaller));
        screenshot(&c, "shell-stty-size.png");

        // Paste: the clipboard holds a command line; Ctrl-Shift-V gives it to the shell.
        for p in ["clipboard-read", "clipboard-write"] {
            c.grant(p).unwrap_or_else(|e| panic!("grant {p}: {e:#}"));
        }
        js(
            &c,
            "await navigator.clipboard.writeText('echo pasted-$((2 + 3))\\n'); return true;",
        );
        press(&c, &format!("{}{}V", input::CONTROL, input::SHIFT));
        wait_for_line(&c, "the pasted command's output", |l| l == "pasted-5");
    }
}
