//! What every theme uses: the built site, the browser session, reading the page and the
//! terminal as a person would, waiting for states.

use alpenglow_build::browser::session::Options;
use alpenglow_build::browser::{input, Kind, Session};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long the page may take to reach a state (downloads, compilation) on a busy machine.
pub const WAIT: Duration = Duration::from_secs(60);
/// How long the kernel may take to get to a line on a busy machine.
pub const BOOT_WAIT: Duration = Duration::from_secs(120);

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("build/ has a parent")
        .to_path_buf()
}

/// The built site; a clear message if it has not been built.
pub fn site() -> PathBuf {
    let site = repo().join("target/site");
    assert!(
        site.join("index.html").is_file() && site.join("dist/manifest.json").is_file(),
        "{} has no built site with artifacts: run `cargo x test` (or `cargo x all` and \
         `trunk build --release`) first",
        site.display()
    );
    site
}

fn screenshots() -> PathBuf {
    let dir = repo().join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    dir
}

pub fn manifest(site: &Path) -> Value {
    let text = std::fs::read_to_string(site.join("dist/manifest.json")).expect("read manifest");
    serde_json::from_str(&text).expect("manifest.json is JSON")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A fresh headless browser of `kind`; it quits when the session is dropped (also when the
/// test panics).
pub fn browser(kind: Kind) -> Session {
    browser_with(kind, &Options::default())
}

pub fn browser_with(kind: Kind, opts: &Options) -> Session {
    Session::start(kind, opts).unwrap_or_else(|e| panic!("a {kind} session: {e:#}"))
}

pub fn goto(c: &Session, url: &str) {
    c.goto(url).unwrap_or_else(|e| panic!("open {url}: {e:#}"));
}

pub fn js(c: &Session, script: &str) -> Value {
    c.execute(script, vec![])
        .unwrap_or_else(|e| panic!("script failed: {e:#}\n{script}"))
}

/// The page root's `data-state`: checking, not-isolated, loading, failed, compiled (only
/// until the machine starts), then the machine's booting, running, halted or crashed.
pub fn page_state(c: &Session) -> String {
    let v = js(
        c,
        "const a = document.querySelector('.app'); return a ? a.dataset.state : null;",
    );
    v.as_str().unwrap_or("not rendered").to_string()
}

pub fn body_text(c: &Session) -> String {
    js(c, "return document.body ? document.body.innerText : ''")
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits until the page is in state `want`; fails at once if it settles in another final state.
pub fn wait_for_state(c: &Session, want: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let state = page_state(c);
        if state == want {
            return;
        }
        let settled = matches!(state.as_str(), "failed" | "not-isolated") || started(&state);
        if settled || Instant::now() > deadline {
            panic!(
                "expected the page to reach {want:?}, it is {state:?}. It shows:\n{}",
                body_text(c)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The kernel is compiled and the machine was started.
pub fn started(state: &str) -> bool {
    matches!(state, "booting" | "running" | "halted" | "crashed")
}

/// Waits until the kernel is compiled and the page has started the machine; returns the state.
pub fn wait_until_started(c: &Session) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let state = page_state(c);
        if started(&state) {
            return state;
        }
        if matches!(state.as_str(), "failed" | "not-isolated") || Instant::now() > deadline {
            panic!(
                "expected the page to start the kernel, it is {state:?}. It shows:\n{}",
                body_text(c)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the page has left state `from` (e.g. after pressing Retry).
pub fn wait_to_leave(c: &Session, from: &str) {
    let deadline = Instant::now() + WAIT;
    while page_state(c) == from {
        assert!(Instant::now() < deadline, "the page stayed {from:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The element's rendered text, trimmed (as WebDriver's element text).
pub fn text_of(c: &Session, css: &str) -> String {
    c.text(css)
        .unwrap_or_else(|e| panic!("no text for {css}: {e:#}"))
        .trim()
        .to_string()
}

pub fn attr(c: &Session, css: &str, name: &str) -> Option<String> {
    let script = format!(
        "const e = document.querySelector({css:?}); return e ? e.getAttribute({name:?}) : null;"
    );
    js(c, &script).as_str().map(str::to_string)
}

/// Whether the element is rendered with a size and visible.
pub fn is_displayed(c: &Session, css: &str) -> bool {
    let script = format!(
        "const e = document.querySelector({css:?}); if (!e) return false; \
         const r = e.getBoundingClientRect(); const s = getComputedStyle(e); \
         return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';"
    );
    js(c, &script) == Value::Bool(true)
}

pub fn click(c: &Session, css: &str) {
    c.click(css)
        .unwrap_or_else(|e| panic!("click {css}: {e:#}"));
}

/// Replaces what a text field holds by typing, as a person would.
pub fn type_into(c: &Session, css: &str, text: &str) {
    c.clear(css)
        .unwrap_or_else(|e| panic!("no field {css}: {e:#}"));
    c.type_into(css, text)
        .unwrap_or_else(|e| panic!("type into {css}: {e:#}"));
}

/// Picks `files` in the file input `css`.
pub fn pick_files(c: &Session, css: &str, files: &[&Path]) {
    c.set_files(css, files)
        .unwrap_or_else(|e| panic!("pick {files:?} in {css}: {e:#}"));
}

/// Presses the keys in `keys` (key codes of `input`), in order, and lets them go.
pub fn press(c: &Session, keys: &str) {
    c.keys(keys)
        .unwrap_or_else(|e| panic!("press {keys:?}: {e:#}"));
}

/// Waits until `script` (which returns a boolean) is true in the page.
pub fn wait_until(c: &Session, what: &str, script: &str) {
    let deadline = Instant::now() + BOOT_WAIT;
    loop {
        if js(c, script) == Value::Bool(true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited in vain for {what}. The page shows:\n{}",
            body_text(c)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The text the terminal shows (xterm's DOM renderer rows), spaces normalised.
pub fn terminal_text(c: &Session) -> String {
    let v = js(
        c,
        "const r = document.querySelector('#terminal .xterm-rows'); \
         return r ? r.innerText : null;",
    );
    v.as_str().unwrap_or_default().replace('\u{a0}', " ")
}

/// Scrolls the terminal by `delta_y` pixels with the mouse wheel, as a person would, and
/// returns what it then shows.
pub fn scroll_terminal(c: &Session, delta_y: i64) -> Option<String> {
    let at = js(
        c,
        "const e = document.querySelector('#terminal .xterm-screen'); if (!e) return [null]; \
         e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); \
         return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];",
    );
    let (x, y) = c.in_tab(at[0].as_f64()?, at[1].as_f64()?);
    c.perform(vec![input::wheel(x as i64, y as i64, 0, delta_y)])
        .expect("scroll the terminal");
    Some(settled_terminal(c))
}

/// The terminal's text once it has stopped changing from one animation frame to the next
/// (xterm renders, and may animate a scroll, on animation frames).
pub fn settled_terminal(c: &Session) -> String {
    let mut text = terminal_text(c);
    for _ in 0..100 {
        js(
            c,
            "return await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));",
        );
        let again = terminal_text(c);
        if again == text {
            break;
        }
        text = again;
    }
    text
}

/// Scrolls the terminal up until it shows its first line.
pub fn scroll_to_top(c: &Session) -> Option<String> {
    let mut screen = scroll_terminal(c, -1_000_000)?;
    for _ in 0..50 {
        let next = scroll_terminal(c, -1_000_000)?;
        if next == screen {
            break;
        }
        screen = next;
    }
    Some(screen)
}

/// Everything the terminal holds, read screen by screen from the top of its scrollback
/// (screens overlap, so a line may appear twice).
pub fn terminal_transcript(c: &Session) -> String {
    let Some(mut screen) = scroll_to_top(c) else {
        return terminal_text(c);
    };
    let height = js(
        c,
        "const e = document.querySelector('#terminal .xterm-screen'); \
         return e ? e.getBoundingClientRect().height : 0;",
    )
    .as_f64()
    .unwrap_or(0.0);
    let step = ((height * 0.5) as i64).max(20);
    // Consecutive screens must share a line; Firefox may coalesce wheel steps into one
    // scroll and jump past lines, which are then read after steps back (each may jump too).
    let overlaps = |above: &str, below: &str| {
        below
            .lines()
            .next()
            .is_none_or(|first| above.lines().any(|l| l == first))
    };
    let mut all = screen.clone();
    for _ in 0..500 {
        let Some(mut next) = scroll_terminal(c, step) else {
            break;
        };
        for _ in 0..8 {
            if overlaps(&screen, &next) {
                break;
            }
            match scroll_terminal(c, -step / 2) {
                Some(back) => next = back,
                None => break,
            }
        }
        if next == screen {
            // A wheel step can be swallowed (a scroll animation still running): try a
            // small one before concluding this is the bottom.
            std::thread::sleep(Duration::from_millis(100));
            match scroll_terminal(c, 40) {
                Some(again) if again != screen => next = again,
                _ => break,
            }
        }
        all.push('\n');
        all.push_str(&next);
        screen = next;
    }
    all
}

pub fn wait_for_terminal(c: &Session, needle: &str, from_top: bool, wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    loop {
        let text = if from_top {
            terminal_transcript(c)
        } else {
            terminal_text(c)
        };
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the terminal never showed {needle:?}; it shows:\n{text}\nThe page shows:\n{}\n{}",
            body_text(c),
            console_tail(c)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until the terminal shows the login shell's prompt (BusyBox init logs root in on
/// hvc0), reading the visible screen as a person would.
pub fn wait_for_prompt(c: &Session) -> String {
    let deadline = Instant::now() + BOOT_WAIT;
    loop {
        // The view may have been scrolled up (to read the boot log): scroll to the end.
        let screen = scroll_terminal(c, 1_000_000).unwrap_or_default();
        if let Some(l) = screen.lines().map(str::trim).find(|l| l.ends_with(":~#")) {
            return l.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the terminal never showed the login shell's prompt; it shows:\n{screen}\n{}",
            console_tail(c)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The browser console's last lines, for a failure's message: what the page and its workers
/// said (a worker that would not start, a crash) is often why the terminal stopped.
pub fn console_tail(c: &Session) -> String {
    const LINES: usize = 40;
    let log = c.browser_log();
    let lines: Vec<&str> = log.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LINES)..];
    format!("The browser console's last lines:\n{}", tail.join("\n"))
}

/// Types `text` into the terminal (xterm's text area has the keyboard), then Enter.
pub fn type_line(c: &Session, text: &str) {
    c.type_into(
        "#terminal .xterm-helper-textarea",
        &format!("{text}{}", input::ENTER),
    )
    .unwrap_or_else(|e| panic!("type {text:?}: {e:#}"));
}

/// A line the terminal shows that matches `pred`, waiting for it (the visible screen).
pub fn wait_for_line(c: &Session, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + BOOT_WAIT;
    loop {
        let text = terminal_text(c);
        if let Some(l) = text.lines().map(str::trim).find(|l| pred(l)) {
            return l.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the terminal never showed {what}; it shows:\n{text}\n{}",
            console_tail(c)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Saves a PNG of the page in target/screenshots (Firefox's with a `firefox-` prefix).
pub fn screenshot(c: &Session, name: &str) {
    let png = c.screenshot().expect("screenshot");
    let name = match c.kind {
        Kind::Chromium => name.to_string(),
        Kind::Firefox => format!("firefox-{name}"),
    };
    let path = screenshots().join(name);
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

/// A script: the machine card is open (the status bar's Machine button says so, and the card
/// is on the page with a size).
const CARD_OPEN: &str = "const b = document.querySelector('button.machine-toggle'); \
     const e = document.getElementById('machine'); \
     return !!b && b.getAttribute('aria-expanded') === 'true' && !!e \
       && e.getBoundingClientRect().height > 0;";

/// Whether the machine card is open (`CARD_OPEN`).
pub fn machine_card_open(c: &Session) -> bool {
    js(c, CARD_OPEN) == Value::Bool(true)
}

/// Opens the machine card with the status bar's Machine button, as a person would, unless it
/// is open already (it unfolds by itself when the machine stops); waits until it shows.
pub fn open_machine_card(c: &Session) {
    if !machine_card_open(c) {
        click(c, "button.machine-toggle");
    }
    wait_until(c, "the machine card to open from the status bar", CARD_OPEN);
}

/// Folds the machine card with Escape (it has the keyboard once opened with its button), as a
/// person would; waits until it is gone and the terminal has the keyboard again.
pub fn fold_machine_card(c: &Session) {
    press(c, &input::ESCAPE.to_string());
    wait_until(c, "Escape to fold the machine card", CARD_FOLDED);
}

/// Folds the machine card with the status bar's Machine button; waits as `fold_machine_card`.
pub fn fold_machine_card_with_button(c: &Session) {
    click(c, "button.machine-toggle");
    wait_until(
        c,
        "the Machine button to fold the machine card",
        CARD_FOLDED,
    );
}

/// A script: the machine card is folded and the terminal has the keyboard.
const CARD_FOLDED: &str = "const b = document.querySelector('button.machine-toggle'); \
         return !!b && b.getAttribute('aria-expanded') === 'false' \
           && !document.getElementById('machine') \
           && !!document.activeElement \
           && document.activeElement.matches('#terminal .xterm-helper-textarea');";
