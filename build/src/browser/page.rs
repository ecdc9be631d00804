//! The app in a headless browser, driven through the session, as `cargo x run`, `cargo x
//! bench` and `cargo x bbtest guest` use it: a probe injected before the page's own scripts
//! keeps everything the console printed and stamps milestones with the page's clock; commands
//! are typed into the terminal of a logged-in shell, as a person would.

use super::input;
use super::kind::Kind;
use super::session::{Options, Session};
use crate::paths::Paths;
use crate::pipeline::Ctx;
use crate::serve::Server;
use crate::steps::{guest, initramfs, kernel, manifest, site};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xterm's input element: what a person types into.
pub const TERMINAL_INPUT: &str = "#terminal .xterm-helper-textarea";
/// How long a boot may take to reach a login prompt or shell.
pub const BOOT_WAIT: Duration = Duration::from_secs(180);

/// Removes terminal escape sequences (CSI, OSC, and two-byte ESC sequences) and carriage
/// returns, which a terminal stream has around the text.
pub fn strip_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => {
                    // Parameters and intermediates, then one final byte in @..~.
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    // Up to BEL or ESC \.
                    while let Some(c) = chars.next() {
                        if c == '\x07' {
                            break;
                        }
                        if c == '\x1b' {
                            chars.next_if_eq(&'\\');
                            break;
                        }
                    }
                }
                // Character set designations take one more byte (ESC ( B).
                Some('(' | ')' | '*' | '+' | '-' | '.' | '/' | '#' | '%') => {
                    chars.next();
                }
                _ => {}
            },
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Injected into every document before its own scripts. It wraps `Worker`, so it sees the
/// `{Console: {bytes}}` messages the kernel's workers post to the page (everything the
/// terminal shows), keeps that text, counts live workers, keeps the live process memories
/// (`UserCreated`/`UserReleased`: a process's memory is its own `WebAssembly.Memory`, which
/// the kernel's NOMMU /proc accounting does not see), and stamps `performance.now()`
/// (milliseconds since navigation start) when the text first matches a watched pattern and
/// when the page root's `data-state` first takes each value.
const PROBE: &str = r#"(() => {
  if (window.__agBench || !window.Worker) return;
  const PROMPT = '__PROMPT__';
  const b = window.__agBench = { text: '', marks: {}, states: {}, workers: 0, ended: 0, errors: [],
    messages: 0, users: new Map(), userSeq: 0, watches: [
      ['banner', 'Linux version \\d'],
      ['init', 'Run \\S+ as init process'],
      ['login', 'login: $'],
      ['boot_shell', PROMPT],
    ].map(([name, re]) => ({ name, re: new RegExp(re), from: 0 })) };
  const strip = (s) => s.replace(/\x1b\[[0-?]*[ -\/]*[@-~]/g, '').replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)?/g, '').replace(/\r/g, '');
  const decoder = new TextDecoder();
  const check = () => {
    if (!b.watches.length) return;
    const now = performance.now();
    b.watches = b.watches.filter((w) => {
      const tail = strip(b.text.slice(Math.max(w.from, b.text.length - 4096)));
      if (!w.re.test(tail)) return true;
      b.marks[w.name] = now;
      return false;
    });
  };
  b.watch = (name, re) => { delete b.marks[name];
    b.watches.push({ name, re: new RegExp(re), from: b.text.length }); };
  // Console chunks come from the worker of the task that wrote them, numbered in the order
  // the kernel wrote them; messages of different workers may arrive in any order (Firefox
  // reorders them). The text takes them by number, as the page's terminal does
  // (kernel_host::in_order): a chunk missing for GAP_MS is given up on, a number behind the
  // next one (a late chunk, or a restarted machine's) goes out as it comes.
  const GAP_MS = 300;
  const waiting = new Map();
  let next = 0, gapTimer = null;
  const put = (bytes) => { b.text += decoder.decode(bytes, { stream: true }); };
  const release = () => {
    while (waiting.has(next)) { put(waiting.get(next)); waiting.delete(next); next = (next + 1) >>> 0; }
    clearTimeout(gapTimer);
    gapTimer = waiting.size ? setTimeout(skipGap, GAP_MS) : null;
    check();
  };
  const skipGap = () => {
    let first = null;
    for (const k of waiting.keys())
      if (first === null || ((k - next) >>> 0) < ((first - next) >>> 0)) first = k;
    if (first !== null) next = first;
    release();
  };
  const inOrder = (seq, bytes) => {
    if (((seq - next) >>> 0) > 0x7fffffff) { put(bytes); check(); return; }
    waiting.set(seq, bytes);
    release();
  };
  const Native = window.Worker;
  window.Worker = class extends Native {
    constructor(...args) {
      super(...args);
      b.workers++;
      const seq = b.workers;
      this.addEventListener('error', (ev) => b.errors.push(
        `worker ${seq}: ${ev.message || 'error'} (${ev.filename || '?'}:${ev.lineno || 0})`));
      this.addEventListener('messageerror', () => b.errors.push(`worker ${seq}: messageerror`));
      this.addEventListener('message', (ev) => {
        const d = ev.data || {};
        if (d.UserCreated && d.UserCreated.memory instanceof WebAssembly.Memory)
          b.users.set(d.UserCreated.handle, { memory: d.UserCreated.memory, seq: b.userSeq++ });
        if (d.UserReleased) b.users.delete(d.UserReleased.handle);
        const c = d.Console;
        if (!c || !(c.bytes instanceof Uint8Array)) return;
        if (!b.messages++) b.marks.first_output = performance.now();
        inOrder(c.seq >>> 0, c.bytes);
      });
    }
    terminate() { b.ended++; return super.terminate(); }
  };
  const seen = () => {
    const app = document.querySelector('.app');
    const s = app && app.dataset.state;
    if (s && !(s in b.states)) b.states[s] = performance.now();
  };
  new MutationObserver(seen).observe(document, { subtree: true, childList: true,
    attributes: true, attributeFilter: ['data-state'] });
})();"#;

/// A shell prompt at the end of the text: `host:dir# ` (the image's PS1) or hush's default
/// `/dir # `, at the start of a line, so a log line cut after a `#` does not count.
pub const PROMPT: &str = r"(^|\n)([\w.-]+:[^\n]*|[/~][^\n]* )[#$] $";

/// The probe with the prompt pattern in it (as a JS string literal's content).
pub fn probe_script() -> String {
    PROBE.replace("__PROMPT__", &PROMPT.replace('\\', "\\\\"))
}

/// Milestones of one boot, in ms from navigation start (the page's clock).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BootMarks {
    pub compiled: Option<f64>,
    pub banner: Option<f64>,
    pub init: Option<f64>,
    pub login: Option<f64>,
    /// When "root" was typed at the login prompt.
    pub login_typed: Option<f64>,
    pub shell: Option<f64>,
    /// Live workers when the shell prompt appeared.
    pub workers: Option<f64>,
    /// Sizes in bytes of the live process memories at the prompt, oldest first (the last is
    /// the login shell's: login execs it last).
    pub users: Vec<f64>,
}

impl BootMarks {
    /// The intervals the report shows: name → ms.
    pub fn intervals(&self) -> Vec<(&'static str, Option<f64>)> {
        let d = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
        vec![
            ("nav-to-kernel-compiled", self.compiled),
            ("nav-to-kernel-banner", self.banner),
            ("banner-to-init", d(self.banner, self.init)),
            ("init-to-login-prompt", d(self.init, self.login)),
            // With a login prompt this includes typing the name (WebDriver, a few ms).
            ("init-to-shell-prompt", d(self.init, self.shell)),
            ("login-to-shell-prompt", d(self.login_typed, self.shell)),
            ("nav-to-shell-prompt", self.shell),
        ]
    }
}

fn users(probe: &Value) -> Vec<f64> {
    probe["users"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// The page, driven through the browser session.
pub struct Page {
    pub session: Session,
    pub url: String,
    tag: u32,
}

impl Page {
    pub fn new(session: Session, url: String) -> Page {
        Page {
            session,
            url,
            tag: 0,
        }
    }

    pub fn probe(&self) -> Result<Value> {
        self.session.execute(
            "const b = window.__agBench; if (!b) return null; \
             const users = [...b.users.values()].sort((x, y) => x.seq - y.seq) \
               .map((u) => u.memory.buffer.byteLength); \
             return { marks: b.marks, states: b.states, live: b.workers - b.ended, \
                      messages: b.messages, len: b.text.length, users, \
                      state: document.querySelector('.app')?.dataset.state ?? null, \
                      alert: document.querySelector('.crash')?.innerText ?? null };",
            vec![],
        )
    }

    pub fn text_from(&self, from: u64) -> Result<String> {
        let v = self.session.execute(
            "return window.__agBench ? window.__agBench.text.slice(arguments[0]) : '';",
            vec![json!(from)],
        )?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// The console text from `from` to its end now, and where that end is (the text may have
    /// grown since the last probe; offsets are the page's, in UTF-16 units).
    pub fn text_since(&self, from: u64) -> Result<(String, u64)> {
        let v = self.session.execute(
            "const t = window.__agBench ? window.__agBench.text : ''; \
             return [t.slice(arguments[0]), t.length];",
            vec![json!(from)],
        )?;
        Ok((
            v[0].as_str().unwrap_or_default().to_string(),
            v[1].as_u64().unwrap_or(from),
        ))
    }

    pub fn last_lines(&self, n: usize) -> String {
        let text = self.text_from(0).unwrap_or_default();
        let text = strip_escapes(&text);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Waits until `probe()` satisfies `done`; fails if the machine stopped or `wait` passed.
    pub fn wait_probe(
        &self,
        what: &str,
        wait: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = Instant::now() + wait;
        loop {
            let p = self.probe()?;
            if done(&p) {
                return Ok(p);
            }
            let state = p["state"].as_str().unwrap_or("");
            if matches!(state, "failed" | "not-isolated" | "crashed" | "halted") {
                // The page says why (a crash names the worker and the error).
                let said = p["alert"].as_str().unwrap_or("no message on the page");
                let log = self.session.browser_log();
                let log: Vec<&str> = log.lines().rev().take(20).collect();
                bail!(
                    "waiting for {what}, the page is {state:?}: {said}. The console's last \
                     lines:\n{}\nThe browser's console, last lines:\n{}",
                    self.last_lines(30),
                    log.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "waiting for {what}: not there after {} s (page state {state:?}). The \
                     console's last lines:\n{}",
                    wait.as_secs(),
                    self.last_lines(30)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One boot from navigation to a shell prompt, logging in as root if a login prompt
    /// comes first.
    pub fn boot(&mut self) -> Result<BootMarks> {
        self.session.goto(&self.url)?;
        let p = self
            .wait_probe("a login prompt or a shell", BOOT_WAIT, |p| {
                p["marks"]["login"].is_number() || p["marks"]["boot_shell"].is_number()
            })
            .context(
                "the boot must end at a shell prompt (an /init that is not BusyBox init can be \
                 bypassed with `--append rdinit=/sbin/init`)",
            )?;
        if p["messages"].as_u64() == Some(0) {
            bail!("the probe saw no console messages from the kernel's workers");
        }
        let m = &p["marks"];
        let mut marks = BootMarks {
            compiled: p["states"]["compiled"]
                .as_f64()
                .or(p["states"]["booting"].as_f64()),
            banner: m["banner"].as_f64(),
            init: m["init"].as_f64(),
            login: m["login"].as_f64(),
            ..Default::default()
        };
        if marks.login.is_some() {
            let typed = self.session.execute(
                "window.__agBench.watch('shell', arguments[0]); return performance.now();",
                vec![json!(PROMPT)],
            )?;
            marks.login_typed = typed.as_f64();
            self.session
                .type_into(TERMINAL_INPUT, &format!("root{}", input::ENTER))?;
            let p = self.wait_probe("the shell prompt after logging in", BOOT_WAIT, |p| {
                p["marks"]["shell"].is_number()
            })?;
            marks.shell = p["marks"]["shell"].as_f64();
            marks.workers = p["live"].as_f64();
            marks.users = users(&p);
        } else {
            marks.shell = m["boot_shell"].as_f64();
            marks.workers = p["live"].as_f64();
            marks.users = users(&p);
        }
        Ok(marks)
    }

    /// Types the console's SysRq prefix (Ctrl-O) and then `key`: `t` shows every task's
    /// state, `w` the blocked ones, `m` memory. The kernel answers on the console even when
    /// the shell is stuck, as long as it still takes interrupts.
    pub fn sysrq(&self, key: char) -> Result<()> {
        let keys = format!("{}o{}{key}", input::CONTROL, input::NULL);
        self.session.type_into(TERMINAL_INPUT, &keys)
    }

    /// What the kernel says about its tasks (SysRq `t`) and memory (`m`) when a command seems
    /// stuck, as the console printed it.
    pub fn stuck_report(&mut self) -> String {
        let from = self
            .probe()
            .ok()
            .and_then(|p| p["len"].as_u64())
            .unwrap_or(0);
        for key in ['t', 'm'] {
            if let Err(e) = self.sysrq(key) {
                return format!("(could not type SysRq {key}: {e:#})");
            }
            std::thread::sleep(Duration::from_secs(3));
        }
        let dump = self.text_from(from).unwrap_or_default();
        let host = self
            .session
            .execute(
                "const b = window.__agBench; return b ? { workers: b.workers, ended: b.ended, \
                 errors: b.errors, messages: b.messages } : null;",
                vec![],
            )
            .map_or_else(|e| format!("{e:#}"), |v| v.to_string());
        let log = self.session.browser_log();
        format!(
            "---- SysRq t and m, as the console printed them ----\n{}\n\
             ---- the page: workers started/ended, worker errors ----\n{host}\n\
             ---- the browser's console ----\n{log}",
            strip_escapes(&dump)
        )
    }

    /// The browser console's messages since the last call (page and workers).
    pub fn browser_log(&self) -> String {
        self.session.browser_log()
    }

    /// A fresh tag for [`Page::run_tagged`].
    pub fn next_tag(&mut self) -> u32 {
        self.tag += 1;
        self.tag
    }

    /// Types `LINE; echo @@TAG exit $?` at the shell prompt, waits for that marker line and
    /// returns everything the console printed from the moment it was typed (the echoed line
    /// included), with the command's exit status. It gives up when the console prints
    /// nothing new for `quiet`; `progress` sees each new piece of text as it comes.
    pub fn run_tagged(
        &mut self,
        tag: u32,
        line: &str,
        quiet: Duration,
        mut progress: impl FnMut(&str),
    ) -> Result<(String, i32)> {
        let from = self.probe()?["len"].as_u64().unwrap_or(0);
        // `@@""N` echoes as typed but prints as `@@N`: only the output line starts with it.
        let typed = format!("{line}; echo @@\"\"{tag} exit $?");
        self.session.execute(
            "window.__agBench.watch('cmd', arguments[0]);",
            vec![json!(format!("(^|\\n)@@{tag} exit -?\\d+\\n"))],
        )?;
        self.session
            .type_into(TERMINAL_INPUT, &format!("{typed}{}", input::ENTER))?;
        let mut seen = from;
        let mut last_news = Instant::now();
        loop {
            let left = quiet.saturating_sub(last_news.elapsed());
            let p = self.wait_probe(&format!("`{line}` to print more"), left, |p| {
                p["marks"]["cmd"].is_number() || p["len"].as_u64().unwrap_or(0) > seen
            })?;
            if p["len"].as_u64().unwrap_or(0) > seen {
                let (chunk, end) = self.text_since(seen)?;
                progress(&chunk);
                seen = end;
                last_news = Instant::now();
            }
            if p["marks"]["cmd"].is_number() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let text = self.text_from(from)?;
        let marker = format!("@@{tag} exit ");
        let exit = strip_escapes(&text)
            .lines()
            .find_map(|l| l.strip_prefix(&marker)?.trim().parse().ok())
            .ok_or_else(|| anyhow!("no `{marker}N` line after `{line}`"))?;
        Ok((text, exit))
    }
}

/// A site to serve: the built app (`target/site`) with `dist/` pointing at the artifacts just
/// built, so a bench never measures a stale copy.
pub fn stage_site(paths: &Paths) -> Result<PathBuf> {
    let site = paths.site();
    let stage = paths.repo.join("target/bench/site");
    if stage.exists() {
        std::fs::remove_dir_all(&stage).with_context(|| format!("clearing {}", stage.display()))?;
    }
    std::fs::create_dir_all(&stage).with_context(|| format!("creating {}", stage.display()))?;
    for e in std::fs::read_dir(&site).with_context(|| format!("reading {}", site.display()))? {
        let e = e?;
        let name = e.file_name();
        if name == "dist" || name == "repo" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        std::os::unix::fs::symlink(e.path(), stage.join(&name))
            .with_context(|| format!("linking {}", e.path().display()))?;
    }
    std::os::unix::fs::symlink(paths.dist(), stage.join("dist")).context("linking dist/")?;
    // The package repository as `cargo x pkg` last wrote it, not as the site last copied it.
    std::os::unix::fs::symlink(paths.package_repo(), stage.join("repo"))
        .context("linking the package repository")?;
    for (name, len) in WEB_FILES {
        let path = stage.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, incompressible(len))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // The bench's large program, which the guest downloads (it is not in the image).
    let big = paths.out(BIG_PROGRAM).join(BIG_PROGRAM);
    if big.exists() {
        std::os::unix::fs::symlink(&big, stage.join("bench-data").join(BIG_PROGRAM))
            .with_context(|| format!("linking {}", big.display()))?;
    }
    Ok(stage)
}

/// Files the bench's network workloads fetch, under the staged site's root: a large one,
/// and a small one for `--quick`.
pub const WEB_FILES: [(&str, usize); 2] = [
    ("bench-data/20mib.bin", 20 << 20),
    ("bench-data/1mib.bin", 1 << 20),
];

/// The bench's large program (`build/guest/big.c`), by its name in the guest step's output
/// and under the staged site's `bench-data/`.
pub const BIG_PROGRAM: &str = "alpenglow-big";

/// `len` bytes that no compression or cache can shortcut (xorshift).
fn incompressible(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Percent-encodes a URL query value.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Makes sure what the page loads is current: the image (with the guest programs), the
/// manifest and the site. The kernel must have been built already.
pub fn artifacts_ready(ctx: &mut Ctx) -> Result<()> {
    if !kernel::vmlinux_wasm(ctx).exists() {
        bail!(
            "{} is missing: build the artifacts first (`cargo x all`)",
            kernel::vmlinux_wasm(ctx).display()
        );
    }
    guest::build(ctx)?;
    initramfs::build(ctx)?;
    manifest::write(ctx)?;
    let paths = ctx.paths.clone();
    if !paths.site().join("index.html").exists() {
        site::build(&ctx.ui, &paths)?;
    }
    Ok(())
}

/// The built app served on a free local port and open in a headless browser, with the probe
/// installed. Dropping it closes the browser, then the server.
pub struct Headless {
    pub page: Page,
    /// The browser's name and version.
    pub browser: String,
    _server: Server,
}

impl Headless {
    /// `append` goes to the kernel command line (the page's `append` URL parameter).
    pub fn open(paths: &Paths, append: Option<&str>, kind: Kind) -> Result<Headless> {
        Headless::open_site(&stage_site(paths)?, append, kind)
    }

    /// As `open`, for a site already staged (`stage_site`, then changed).
    pub fn open_site(stage: &Path, append: Option<&str>, kind: Kind) -> Result<Headless> {
        let server = Server::start(stage, "127.0.0.1", 0)?;
        let session = Session::start(kind, &Options::default())?;
        session.add_preload_script(&format!("() => {{ {} }}", probe_script()))?;
        let mut url = server.url();
        if let Some(a) = append {
            url = with_param(&url, "append", a);
        }
        let browser = session.browser.clone();
        Ok(Headless {
            page: Page::new(session, url),
            browser,
            _server: server,
        })
    }

    /// Makes the artifacts current, opens the app and boots it to a shell prompt. `params`
    /// (`KEY=VALUE`) are added to the page's address, e.g. `preempt=off`.
    pub fn boot(
        ctx: &mut Ctx,
        append: Option<&str>,
        params: &[String],
        kind: Kind,
    ) -> Result<Headless> {
        artifacts_ready(ctx)?;
        let step = ctx.ui.step(&format!("booting the app in headless {kind}"));
        let mut h = Headless::open(&ctx.paths, append, kind)?;
        for param in params {
            let (key, value) = param
                .split_once('=')
                .with_context(|| format!("the page parameter {param:?} is not KEY=VALUE"))?;
            h.page.url = with_param(&h.page.url, key, value);
        }
        let marks = h.page.boot().context("booting to a shell prompt")?;
        step.done(&format!(
            "{}: a shell prompt after {:.1} s",
            h.browser,
            marks.shell.unwrap_or(0.0) / 1000.0
        ));
        Ok(h)
    }
}

/// `url` with the page parameter `key=value` added.
pub fn with_param(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{sep}{}={}",
        percent_encode(key),
        percent_encode(value)
    )
}

/// How `cargo x run` runs its commands.
pub struct RunOptions<'a> {
    /// Added to the kernel command line.
    pub append: Option<&'a str>,
    /// `KEY=VALUE` parameters of the page's address.
    pub params: &'a [String],
    /// Give up on a command that prints nothing for this long.
    pub quiet: Duration,
    pub kind: Kind,
    /// Print the browser console's messages after the commands.
    pub browser_log: bool,
}

/// `cargo x run CMD...`: boots the app in a headless browser and types each command at its
/// shell prompt, printing what the terminal shows as it comes. Fails on the first command
/// that exits non-zero, or that prints nothing for `quiet`.
pub fn run_commands(ctx: &mut Ctx, commands: &[String], opts: &RunOptions) -> Result<()> {
    let mut h = Headless::boot(ctx, opts.append, opts.params, opts.kind)?;
    let result = run_each(&mut h, commands, opts.quiet);
    if opts.browser_log {
        println!(
            "\n---- the browser's console ----\n{}",
            h.page.browser_log()
        );
    }
    result
}

fn run_each(h: &mut Headless, commands: &[String], quiet: Duration) -> Result<()> {
    for cmd in commands {
        let tag = h.page.next_tag();
        let ran = h.page.run_tagged(tag, cmd, quiet, |chunk| {
            print!("{}", strip_escapes(chunk));
            let _ = std::io::Write::flush(&mut std::io::stdout());
        });
        let exit = match ran {
            Ok((_, exit)) => exit,
            Err(e) => {
                println!("\n{}", h.page.stuck_report());
                return Err(e);
            }
        };
        if exit != 0 {
            bail!("`{cmd}` exited with status {exit} in the guest");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn escapes_are_stripped() {
        assert_eq!(strip_escapes("a\x1b[0;32mb\x1b[6nc\r\n"), "abc\n");
        assert_eq!(strip_escapes("\x1b]0;t\x1b\\x\x1b(By\x1b]0;u\x07z"), "xyz");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            percent_encode("rdinit=/sbin/init x"),
            "rdinit%3D%2Fsbin%2Finit%20x"
        );
    }

    #[test]
    fn page_parameters_join_the_query() {
        let url = with_param("http://h/", "append", "ip=off");
        assert_eq!(url, "http://h/?append=ip%3Doff");
        assert_eq!(
            with_param(&url, "preempt", "off"),
            "http://h/?append=ip%3Doff&preempt=off"
        );
    }

    #[test]
    fn the_probe_gets_the_prompt_pattern_as_a_js_string() {
        let p = probe_script();
        assert!(
            p.contains(r"const PROMPT = '(^|\\n)([\\w.-]+:[^\\n]*|[/~][^\\n]* )[#$] $';"),
            "{p}"
        );
        assert!(!p.contains("__PROMPT__"));
    }

    #[test]
    fn boot_intervals_need_both_ends() {
        let m = BootMarks {
            compiled: Some(100.0),
            banner: Some(150.0),
            init: Some(900.0),
            login: None,
            login_typed: None,
            shell: Some(2000.0),
            workers: Some(5.0),
            users: vec![],
        };
        let i: BTreeMap<_, _> = m.intervals().into_iter().collect();
        assert_eq!(i["banner-to-init"], Some(750.0));
        assert_eq!(i["init-to-login-prompt"], None);
        assert_eq!(i["nav-to-shell-prompt"], Some(2000.0));
    }
}
