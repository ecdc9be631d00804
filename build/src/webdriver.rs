//! A small synchronous WebDriver client for headless Chromium through chromedriver, for
//! commands of the CLI (`cargo x bench`). The end-to-end tests use fantoccini (async); this
//! one needs no async runtime and speaks the few W3C endpoints the CLI uses over `ureq`.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The W3C name of an element reference in a JSON answer.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver on a free local port with a fresh browser profile; both end when dropped.
pub struct Driver {
    child: Child,
    port: u16,
    /// A fresh browser profile directory, removed when dropped.
    profile: std::path::PathBuf,
}

impl Driver {
    pub fn start() -> Result<Self> {
        for tool in [CHROMEDRIVER, CHROMIUM] {
            if !std::path::Path::new(tool).exists() {
                bail!("{tool} is missing (run `cargo x doctor`)");
            }
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free local port for chromedriver")?
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {CHROMEDRIVER}"))?;
        let profile =
            std::env::temp_dir().join(format!("alpenglow-chromium-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&profile)
            .with_context(|| format!("creating the browser profile {}", profile.display()))?;
        let driver = Driver {
            child,
            port,
            profile,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("chromedriver did not listen on port {port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(driver)
    }

    /// A new headless Chromium session (window 1280×860, as the end-to-end tests use).
    pub fn session(&self) -> Result<Session> {
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--window-size=1280,860".into(),
            "--force-device-scale-factor=1".into(),
            format!("--user-data-dir={}", self.profile.display()),
        ];
        let base = format!("http://127.0.0.1:{}", self.port);
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            // Keeps the page's console messages for `Session::browser_log`.
            "goog:loggingPrefs": { "browser": "ALL" },
        }}});
        let answer = post(&format!("{base}/session"), &caps).context("starting Chromium")?;
        let id = answer["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("chromedriver gave no session id: {answer}"))?;
        let browser = format!(
            "{} {}",
            answer["capabilities"]["browserName"]
                .as_str()
                .unwrap_or("chrome"),
            answer["capabilities"]["browserVersion"]
                .as_str()
                .unwrap_or("?")
        );
        Ok(Session {
            url: format!("{base}/session/{id}"),
            browser,
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// One browser session; closed (the browser quits) when dropped.
pub struct Session {
    url: String,
    /// Browser name and version as the session reports them.
    pub browser: String,
}

impl Session {
    pub fn goto(&self, url: &str) -> Result<()> {
        post(&format!("{}/url", self.url), &json!({ "url": url }))
            .with_context(|| format!("opening {url}"))?;
        Ok(())
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page; its return value.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        post(
            &format!("{}/execute/sync", self.url),
            &json!({ "script": script, "args": args }),
        )
        .with_context(|| format!("running a script in the page: {}", first_line(script)))
    }

    /// The browser console's messages since the last call (chromedriver's log endpoint), one
    /// `LEVEL message` line each; a line repeated at once is shown once with a count (every
    /// worker logs the same start-up warnings).
    pub fn browser_log(&self) -> Result<String> {
        let v = post(
            &format!("{}/se/log", self.url),
            &json!({ "type": "browser" }),
        )
        .context("reading the browser's console log")?;
        let lines = v.as_array().into_iter().flatten().map(|e| {
            format!(
                "{} {}",
                e["level"].as_str().unwrap_or("?"),
                e["message"].as_str().unwrap_or("")
            )
        });
        Ok(collapse_repeats(lines))
    }

    /// A Chrome DevTools Protocol command (chromedriver's `goog/cdp/execute`).
    pub fn cdp(&self, cmd: &str, params: Value) -> Result<Value> {
        post(
            &format!("{}/goog/cdp/execute", self.url),
            &json!({ "cmd": cmd, "params": params }),
        )
        .with_context(|| format!("DevTools command {cmd}"))
    }

    /// Types `text` into the element `css` selects, as key presses (WebDriver "send keys").
    pub fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let el = post(
            &format!("{}/element", self.url),
            &json!({ "using": "css selector", "value": css }),
        )
        .with_context(|| format!("finding {css}"))?;
        let id = el[ELEMENT_KEY]
            .as_str()
            .ok_or_else(|| anyhow!("no element reference for {css}: {el}"))?;
        post(
            &format!("{}/element/{id}/value", self.url),
            &json!({ "text": text }),
        )
        .with_context(|| format!("typing into {css}"))?;
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = ureq::delete(&self.url)
            .timeout(Duration::from_secs(10))
            .call();
    }
}

/// The WebDriver key code of Enter.
pub const ENTER: char = '\u{E007}';
/// Presses Control until [`NULL`] (WebDriver modifier keys stay down until released).
pub const CONTROL: char = '\u{E009}';
/// Releases every modifier key held down.
pub const NULL: char = '\u{E000}';

/// Lines, with each run of identical lines shown once as `line (×n)`.
pub fn collapse_repeats(lines: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    let mut last: Option<(String, usize)> = None;
    let flush = |out: &mut String, l: &(String, usize)| match l.1 {
        1 => out.push_str(&format!("{}\n", l.0)),
        n => out.push_str(&format!("{} (×{n})\n", l.0)),
    };
    for line in lines {
        match &mut last {
            Some((l, n)) if *l == line => *n += 1,
            _ => {
                if let Some(l) = last.take() {
                    flush(&mut out, &l);
                }
                last = Some((line, 1));
            }
        }
    }
    if let Some(l) = last {
        flush(&mut out, &l);
    }
    out
}

fn first_line(s: &str) -> &str {
    s.trim().lines().next().unwrap_or("")
}

/// POSTs `body` and returns the answer's `value`; a WebDriver error becomes an error with
/// its message.
fn post(url: &str, body: &Value) -> Result<Value> {
    let answer = match ureq::post(url)
        .timeout(Duration::from_secs(120))
        .set("Content-Type", "application/json; charset=utf-8")
        .send_string(&body.to_string())
    {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            let text = r.into_string().unwrap_or_default();
            bail!("WebDriver answered {code}: {}", error_message(&text));
        }
        Err(e) => return Err(e).context("WebDriver request"),
    };
    let text = answer.into_string().context("reading a WebDriver answer")?;
    let v: Value = serde_json::from_str(&text).context("WebDriver answer is not JSON")?;
    Ok(v.get("value").cloned().unwrap_or(Value::Null))
}

/// The `error: message` of a WebDriver error answer, or the text itself.
pub fn error_message(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => {
            let e = &v["value"];
            let msg = e["message"].as_str().unwrap_or(text);
            let msg = msg.lines().next().unwrap_or(msg);
            match e["error"].as_str() {
                Some(kind) => format!("{kind}: {msg}"),
                None => msg.to_string(),
            }
        }
        Err(_) => text.chars().take(300).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_lines_are_counted() {
        let lines = ["a", "b", "b", "b", "a"].map(String::from);
        assert_eq!(collapse_repeats(lines), "a\nb (×3)\na\n");
        assert_eq!(collapse_repeats(Vec::<String>::new()), "");
    }

    #[test]
    fn error_answers_are_summarised() {
        let t = r#"{"value":{"error":"no such element","message":"no such element: x\n  (Session info)","stacktrace":""}}"#;
        assert_eq!(error_message(t), "no such element: no such element: x");
        assert_eq!(error_message("plain"), "plain");
    }
}
