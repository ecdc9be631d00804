//! One browser, one tab, driven through WebDriver BiDi: navigation, scripts (a function body
//! with `arguments`, as classic WebDriver runs them; promises awaited), typing, clicks, the
//! mouse wheel, file inputs, screenshots, permissions, frames and the console log. The
//! browser quits when the session is dropped.

use super::bidi::Connection;
use super::kind::Kind;
use super::launch::{self, Launched};
use super::{input, log};
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// What Chromium answers a script whose page context a navigation destroyed (the script did
/// not run), and how often such a script is tried again, 250 ms apart.
const CONTEXT_GONE: &str = "Cannot find context";
const CONTEXT_GONE_TRIES: u32 = 20;

/// What a session needs from its browser at start.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where downloads are saved (without asking); none: a directory of the profile.
    pub downloads: Option<PathBuf>,
    /// Chromium only: the profile to use, kept when the session ends (a later session may
    /// start on it again); none: a fresh one, removed at the end.
    pub profile: Option<PathBuf>,
}

/// A frame the session works in: its browsing context, and where its viewport sits in the
/// tab's (input actions are given in the tab's coordinates).
#[derive(Clone)]
struct Frame {
    context: String,
    x: f64,
    y: f64,
}

pub struct Session {
    conn: RefCell<Connection>,
    /// The tab (top-level browsing context).
    top: String,
    frame: RefCell<Option<Frame>>,
    pub kind: Kind,
    /// Browser name and version, as the browser reports them.
    pub browser: String,
    // Declared last: dropped after the connection, and it ends the browser.
    _launched: Launched,
}

/// Wraps a classic WebDriver script body: `arguments` come as JSON, the value goes back as
/// JSON (plain data, which is all the callers read), promises are awaited.
fn wrap(body: &str) -> String {
    format!(
        "async function (__args) {{ const __r = await (async function () {{\n{body}\n}})\
         .apply(null, JSON.parse(__args)); return JSON.stringify(__r === undefined ? null : __r); }}"
    )
}

impl Session {
    /// Starts `kind` headless and opens a session on its one tab.
    pub fn start(kind: Kind, opts: &Options) -> Result<Session> {
        let launched = match kind {
            Kind::Chromium => launch::chromium(opts.profile.as_deref())?,
            Kind::Firefox => launch::firefox(opts.downloads.as_deref())?,
        };
        let mut conn = Connection::connect(&launched.ws_url)?;
        let browser = if launched.needs_session {
            let s = conn
                .command("session.new", json!({ "capabilities": {} }))
                .with_context(|| format!("starting a {kind} session"))?;
            let c = &s["capabilities"];
            format!(
                "{} {}",
                c["browserName"].as_str().unwrap_or("firefox"),
                c["browserVersion"].as_str().unwrap_or("?")
            )
        } else {
            launched.browser.clone().unwrap_or_else(|| kind.to_string())
        };
        conn.command("session.subscribe", json!({ "events": ["log.entryAdded"] }))?;
        let tree = conn.command("browsingContext.getTree", json!({ "maxDepth": 0 }))?;
        let top = tree["contexts"][0]["context"]
            .as_str()
            .ok_or_else(|| anyhow!("the browser has no tab: {tree}"))?
            .to_string();
        let session = Session {
            conn: RefCell::new(conn),
            top,
            frame: RefCell::new(None),
            kind,
            browser,
            _launched: launched,
        };
        match kind {
            // Firefox takes its download directory from the profile (launch.rs).
            Kind::Chromium => {
                if let Some(dir) = &opts.downloads {
                    session.set_downloads(dir)?;
                }
            }
            Kind::Firefox => session.set_viewport(launch::VIEWPORT.0, launch::VIEWPORT.1)?,
        }
        Ok(session)
    }

    /// Ends the browser at once (SIGKILL), as a crash or a killed tab would: no unload, no
    /// flush. The session is unusable after this.
    pub fn kill_browser(&self) -> Result<()> {
        self._launched.kill_browser()
    }

    /// A BiDi command, as is.
    pub fn command(&self, method: &str, params: Value) -> Result<Value> {
        self.conn.borrow_mut().command(method, params)
    }

    /// The browsing context scripts run in: the tab, or the frame entered.
    fn context(&self) -> String {
        match &*self.frame.borrow() {
            Some(f) => f.context.clone(),
            None => self.top.clone(),
        }
    }

    /// Opens `url` in the tab (leaving any frame) once it has loaded.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.frame.replace(None);
        self.command(
            "browsingContext.navigate",
            json!({ "context": self.top, "url": url, "wait": "complete" }),
        )
        .with_context(|| format!("opening {url}"))?;
        Ok(())
    }

    /// Reloads the tab.
    pub fn reload(&self) -> Result<()> {
        self.frame.replace(None);
        self.command(
            "browsingContext.reload",
            json!({ "context": self.top, "wait": "complete" }),
        )
        .context("reloading the page")?;
        Ok(())
    }

    /// Runs `body` (a function body; `arguments` are `args`) in the page and returns its
    /// value as JSON; a returned promise is awaited.
    /// A script that meets a navigation (the service worker reloads the page once it
    /// controls it) finds the page's context gone before it runs: it runs again in the new
    /// page.
    pub fn execute(&self, body: &str, args: Vec<Value>) -> Result<Value> {
        let params = json!({
            "functionDeclaration": wrap(body),
            "arguments": [{ "type": "string", "value": Value::Array(args).to_string() }],
            "target": { "context": self.context() },
            "awaitPromise": true,
        });
        let mut tries = 0;
        let r = loop {
            match self.command("script.callFunction", params.clone()) {
                Err(e) if tries < CONTEXT_GONE_TRIES && format!("{e:#}").contains(CONTEXT_GONE) => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(250));
                }
                r => {
                    break r.with_context(|| {
                        format!("running a script in the page: {}", first_line(body))
                    })?
                }
            }
        };
        if r["type"] == "exception" {
            bail!(
                "the script threw {}: {}",
                r["exceptionDetails"]["text"].as_str().unwrap_or("?"),
                first_line(body)
            );
        }
        let text = r["result"]["value"].as_str().unwrap_or("null");
        serde_json::from_str(text).context("the script's value is not JSON")
    }

    /// A script's value as the browser describes it (nodes, windows), for the commands that
    /// take one.
    fn remote(&self, expression: &str) -> Result<Value> {
        let r = self.command(
            "script.evaluate",
            json!({ "expression": expression, "target": { "context": self.context() },
                    "awaitPromise": false, "resultOwnership": "root" }),
        )?;
        if r["type"] == "exception" {
            bail!(
                "{expression}: {}",
                r["exceptionDetails"]["text"].as_str().unwrap_or("?")
            );
        }
        Ok(r["result"].clone())
    }

    /// Whether `css` selects an element now.
    pub fn exists(&self, css: &str) -> Result<bool> {
        let v = self.execute(
            "return document.querySelector(arguments[0]) !== null;",
            vec![json!(css)],
        )?;
        Ok(v == Value::Bool(true))
    }

    /// The element's text as it is rendered (`innerText`, like WebDriver's element text).
    pub fn text(&self, css: &str) -> Result<String> {
        let v = self.execute(
            "const e = document.querySelector(arguments[0]); \
             return e ? [e.innerText] : null;",
            vec![json!(css)],
        )?;
        Ok(v[0]
            .as_str()
            .ok_or_else(|| anyhow!("no element {css}"))?
            .to_string())
    }

    /// Where `css` is, in the tab's viewport, once scrolled into view: its centre.
    fn centre(&self, css: &str) -> Result<(f64, f64)> {
        let v = self.execute(
            "const e = document.querySelector(arguments[0]); if (!e) return null; \
             e.scrollIntoView({ block: 'center', inline: 'center' }); \
             const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];",
            vec![json!(css)],
        )?;
        let (x, y) = (v[0].as_f64(), v[1].as_f64());
        let (Some(x), Some(y)) = (x, y) else {
            bail!("no element {css}");
        };
        Ok(self.in_tab(x, y))
    }

    /// A point of the current frame's viewport in the tab's.
    pub fn in_tab(&self, x: f64, y: f64) -> (f64, f64) {
        match &*self.frame.borrow() {
            Some(f) => (x + f.x, y + f.y),
            None => (x, y),
        }
    }

    /// Input actions (sources from `input`), in the tab.
    pub fn perform(&self, sources: Vec<Value>) -> Result<()> {
        self.command(
            "input.performActions",
            json!({ "context": self.top, "actions": sources }),
        )
        .context("input actions")?;
        Ok(())
    }

    /// A left click in the middle of the element, as a person would.
    pub fn click(&self, css: &str) -> Result<()> {
        let (x, y) = self.centre(css)?;
        self.perform(vec![input::mouse(vec![
            input::move_to(x, y, 0),
            input::button(true),
            input::button(false),
        ])])
        .with_context(|| format!("clicking {css}"))
    }

    /// Types `text` (see `input::key_actions`) into whatever has the keyboard.
    pub fn keys(&self, text: &str) -> Result<()> {
        self.perform(vec![input::keyboard(input::key_actions(text))])
            .with_context(|| format!("typing {text:?}"))
    }

    /// Gives the element the keyboard (caret at the end) and types `text` into it.
    pub fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let v = self.execute(
            "const e = document.querySelector(arguments[0]); if (!e) return false; \
             if (document.activeElement !== e) { e.focus(); \
               if (typeof e.value === 'string' && e.setSelectionRange) \
                 try { e.setSelectionRange(e.value.length, e.value.length); } catch (_) {} } \
             return true;",
            vec![json!(css)],
        )?;
        if v != Value::Bool(true) {
            bail!("no element {css} to type into");
        }
        self.keys(text)
    }

    /// Empties a text field, as WebDriver's "clear" does (the page hears `input`/`change`).
    pub fn clear(&self, css: &str) -> Result<()> {
        let v = self.execute(
            "const e = document.querySelector(arguments[0]); if (!e) return false; \
             e.focus(); e.value = ''; \
             e.dispatchEvent(new Event('input', { bubbles: true })); \
             e.dispatchEvent(new Event('change', { bubbles: true })); return true;",
            vec![json!(css)],
        )?;
        if v != Value::Bool(true) {
            bail!("no field {css} to clear");
        }
        Ok(())
    }

    /// Picks `files` in the file input `css` (the page hears `input` and `change`).
    pub fn set_files(&self, css: &str, files: &[&Path]) -> Result<()> {
        let node = self.remote(&format!("document.querySelector({css:?})"))?;
        let Some(id) = node["sharedId"].as_str() else {
            bail!("no file input {css}");
        };
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        self.command(
            "input.setFiles",
            json!({ "context": self.context(), "element": { "sharedId": id }, "files": files }),
        )
        .with_context(|| format!("picking {files:?} in {css}"))?;
        Ok(())
    }

    /// A PNG of the tab.
    pub fn screenshot(&self) -> Result<Vec<u8>> {
        let r = self.command(
            "browsingContext.captureScreenshot",
            json!({ "context": self.top }),
        )?;
        let data = r["data"]
            .as_str()
            .ok_or_else(|| anyhow!("no screenshot data"))?;
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .context("decoding the screenshot")
    }

    /// Grants `permission` (e.g. `clipboard-read`) to the current page's origin. Firefox ESR
    /// knows no clipboard permissions and refuses those names: the clipboard tests are
    /// Chromium's only.
    pub fn grant(&self, permission: &str) -> Result<()> {
        let origin = self.execute("return location.origin;", vec![])?;
        self.command(
            "permissions.setPermission",
            json!({ "descriptor": { "name": permission }, "state": "granted",
                    "origin": origin }),
        )
        .with_context(|| format!("granting {permission}"))?;
        Ok(())
    }

    /// Resizes the tab's viewport (what the page sees as the window).
    pub fn set_viewport(&self, width: u32, height: u32) -> Result<()> {
        self.command(
            "browsingContext.setViewport",
            json!({ "context": self.top, "viewport": { "width": width, "height": height } }),
        )
        .context("resizing the viewport")?;
        Ok(())
    }

    /// Where the browser saves downloads (without asking). Used for Chromium; Firefox gets
    /// its download directory from the profile's prefs at launch (`launch::firefox`).
    pub fn set_downloads(&self, dir: &Path) -> Result<()> {
        self.command(
            "browser.setDownloadBehavior",
            json!({ "downloadBehavior": { "type": "allowed",
                                          "destinationFolder": dir.display().to_string() } }),
        )
        .context("setting where downloads go")?;
        Ok(())
    }

    /// Works in the iframe `css` selects (in the current frame) until [`Session::leave_frame`].
    pub fn enter_frame(&self, css: &str) -> Result<()> {
        let win = self.remote(&format!("document.querySelector({css:?})?.contentWindow"))?;
        let Some(context) = win["value"]["context"].as_str() else {
            bail!("no frame {css}: {win}");
        };
        let at = self.execute(
            "const f = document.querySelector(arguments[0]); const r = f.getBoundingClientRect(); \
             return [r.x + f.clientLeft, r.y + f.clientTop];",
            vec![json!(css)],
        )?;
        let (x, y) = self.in_tab(at[0].as_f64().unwrap_or(0.0), at[1].as_f64().unwrap_or(0.0));
        self.frame.replace(Some(Frame {
            context: context.to_string(),
            x,
            y,
        }));
        Ok(())
    }

    /// Back to the tab's document.
    pub fn leave_frame(&self) {
        self.frame.replace(None);
    }

    /// Runs `source` (a function declaration) in every document before its own scripts.
    pub fn add_preload_script(&self, source: &str) -> Result<()> {
        self.command(
            "script.addPreloadScript",
            json!({ "functionDeclaration": source }),
        )
        .context("installing a preload script")?;
        Ok(())
    }

    /// The browser console's messages since the last call, one `LEVEL text` line each.
    pub fn browser_log(&self) -> String {
        // A cheap command lets the events that are already on their way arrive.
        let _ = self.command("browsingContext.getTree", json!({ "maxDepth": 0 }));
        let entries = std::mem::take(&mut self.conn.borrow_mut().log);
        log::format_entries(&entries)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let conn = self.conn.get_mut();
        if self.kind == Kind::Firefox {
            let _ = conn.command_within(
                "browser.close",
                json!({}),
                std::time::Duration::from_secs(10),
            );
        }
        conn.close();
    }
}

fn first_line(s: &str) -> &str {
    s.trim().lines().next().unwrap_or("")
}
