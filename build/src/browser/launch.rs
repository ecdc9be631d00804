//! Starting a browser with a WebDriver BiDi endpoint: Chromium through chromedriver (a
//! classic session asked for `webSocketUrl`), Firefox ESR directly (its remote agent speaks
//! BiDi; no geckodriver is needed). Each gets a fresh profile, removed at the end.

use super::kind::Kind;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const FIREFOX: &str = "/usr/bin/firefox-esr";
/// Chromium's window (as the tests always had it).
pub const WINDOW: (u32, u32) = (1280, 860);
/// What that window leaves to the page in headless Chromium; Firefox's viewport is set to
/// the same, so both browsers show the page alike (its `--window-size` is not the viewport).
pub const VIEWPORT: (u32, u32) = (1280, 717);

/// A started browser (and chromedriver): its BiDi URL; everything ends when dropped.
pub struct Launched {
    pub ws_url: String,
    /// Firefox's endpoint wants `session.new`; chromedriver's already has its session.
    pub needs_session: bool,
    /// Name and version, when the launch already knows them (chromedriver says).
    pub browser: Option<String>,
    child: Child,
    /// chromedriver's classic session, deleted (Chromium quits) before chromedriver ends.
    classic: Option<String>,
    /// The temporary directory holding the profile (and Firefox's output).
    dir: PathBuf,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free local port")?
        .port())
}

fn wait_listening(what: &str, port: u16, wait: Duration, child: &mut Child) -> Result<()> {
    let deadline = Instant::now() + wait;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("{what} exited ({status}) before listening on port {port}");
        }
        if Instant::now() > deadline {
            bail!(
                "{what} did not listen on port {port} within {} s",
                wait.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn temp_dir(kind: Kind, port: u16) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "alpenglow-{}-{}-{port}",
        kind.name(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("profile"))
        .with_context(|| format!("creating the browser profile in {}", dir.display()))?;
    Ok(dir)
}

/// Debian's headless Chromium flags (TOOLCHAIN-NOTES), and a fixed window.
fn chromium_args(profile: &Path) -> Vec<String> {
    vec![
        "--headless".into(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        format!("--window-size={},{}", WINDOW.0, WINDOW.1),
        "--force-device-scale-factor=1".into(),
        format!("--user-data-dir={}", profile.display()),
    ]
}

/// Chromium through chromedriver; on `profile` if given (kept), else on a fresh one.
pub fn chromium(profile: Option<&Path>) -> Result<Launched> {
    for tool in [CHROMEDRIVER, CHROMIUM] {
        if !Path::new(tool).exists() {
            bail!("{tool} is missing (run `cargo x doctor`)");
        }
    }
    let port = free_port()?;
    let dir = temp_dir(Kind::Chromium, port)?;
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {CHROMEDRIVER}"))?;
    let mut launched = Launched {
        ws_url: String::new(),
        needs_session: false,
        browser: None,
        child,
        classic: None,
        dir,
    };
    wait_listening(
        "chromedriver",
        port,
        Duration::from_secs(30),
        &mut launched.child,
    )?;
    let caps = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "webSocketUrl": true,
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": chromium_args(&profile.map_or_else(|| launched.dir.join("profile"), Path::to_path_buf)),
        },
    }}});
    let base = format!("http://127.0.0.1:{port}");
    let answer = classic_post(&format!("{base}/session"), &caps).context("starting Chromium")?;
    let id = answer["sessionId"]
        .as_str()
        .ok_or_else(|| anyhow!("chromedriver gave no session id: {answer}"))?;
    launched.classic = Some(format!("{base}/session/{id}"));
    let c = &answer["capabilities"];
    launched.ws_url = c["webSocketUrl"]
        .as_str()
        .ok_or_else(|| anyhow!("chromedriver gave no webSocketUrl: {answer}"))?
        .to_string();
    launched.browser = Some(format!(
        "{} {}",
        c["browserName"].as_str().unwrap_or("chrome"),
        c["browserVersion"].as_str().unwrap_or("?")
    ));
    Ok(launched)
}

/// Firefox preferences: no updates, telemetry, first-run pages or other traffic of its own
/// (Firefox's remote agent sets more of these itself), and downloads saved without asking.
const FIREFOX_PREFS: &[(&str, &str)] = &[
    ("app.update.disabledForTesting", "true"),
    ("app.update.auto", "false"),
    ("app.normandy.enabled", "false"),
    ("browser.shell.checkDefaultBrowser", "false"),
    ("browser.startup.page", "0"),
    ("browser.startup.homepage_override.mstone", "\"ignore\""),
    ("browser.aboutwelcome.enabled", "false"),
    ("browser.newtabpage.enabled", "false"),
    ("browser.safebrowsing.malware.enabled", "false"),
    ("browser.safebrowsing.phishing.enabled", "false"),
    ("browser.safebrowsing.downloads.enabled", "false"),
    ("browser.safebrowsing.blockedURIs.enabled", "false"),
    ("browser.search.update", "false"),
    ("browser.topsites.contile.enabled", "false"),
    ("datareporting.policy.dataSubmissionEnabled", "false"),
    ("datareporting.healthreport.uploadEnabled", "false"),
    ("toolkit.telemetry.enabled", "false"),
    ("toolkit.telemetry.unified", "false"),
    ("toolkit.telemetry.server", "\"\""),
    ("extensions.update.enabled", "false"),
    ("extensions.getAddons.cache.enabled", "false"),
    ("extensions.blocklist.enabled", "false"),
    ("media.gmp-manager.updateEnabled", "false"),
    ("network.captive-portal-service.enabled", "false"),
    ("network.connectivity-service.enabled", "false"),
    ("network.dns.disablePrefetch", "true"),
    ("network.prefetch-next", "false"),
    ("network.http.speculative-parallel-limit", "0"),
    (
        "services.settings.server",
        "\"data:,#remote-settings-dummy/v1\"",
    ),
    ("browser.download.folderList", "2"),
    ("browser.download.useDownloadDir", "true"),
    (
        "browser.download.always_ask_before_handling_new_types",
        "false",
    ),
    ("browser.download.manager.showWhenStarting", "false"),
    ("browser.download.start_downloads_in_tmp_dir", "false"),
    (
        "browser.helperApps.neverAsk.saveToDisk",
        "\"application/octet-stream\"",
    ),
    // navigator.clipboard.readText without Firefox's paste menu (no permission for it).
    ("dom.events.testing.asyncClipboard", "true"),
];

pub fn firefox(downloads: Option<&Path>) -> Result<Launched> {
    if !Path::new(FIREFOX).exists() {
        bail!("{FIREFOX} is missing (run `cargo x doctor`)");
    }
    let port = free_port()?;
    let dir = temp_dir(Kind::Firefox, port)?;
    let profile = dir.join("profile");
    let mut prefs = String::new();
    for (k, v) in FIREFOX_PREFS {
        prefs.push_str(&format!("user_pref({k:?}, {v});\n"));
    }
    let downloads = downloads.map_or_else(|| dir.join("downloads"), Path::to_path_buf);
    prefs.push_str(&format!(
        "user_pref(\"browser.download.dir\", {:?});\n",
        downloads.display().to_string()
    ));
    std::fs::write(profile.join("user.js"), prefs).context("writing Firefox's user.js")?;
    let out = std::fs::File::create(dir.join("firefox.log"))?;
    let child = Command::new(FIREFOX)
        .args(["--headless", "--no-remote", "--profile"])
        .arg(&profile)
        .arg(format!("--remote-debugging-port={port}"))
        .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
        .env("MOZ_CRASHREPORTER_DISABLE", "1")
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("starting {FIREFOX}"))?;
    let mut launched = Launched {
        ws_url: format!("ws://127.0.0.1:{port}/session"),
        needs_session: true,
        browser: None,
        child,
        classic: None,
        dir,
    };
    if let Err(e) = wait_listening(
        "firefox",
        port,
        Duration::from_secs(60),
        &mut launched.child,
    ) {
        let log = std::fs::read_to_string(launched.dir.join("firefox.log")).unwrap_or_default();
        bail!("{e:#}; Firefox said:\n{log}");
    }
    Ok(launched)
}

impl Launched {
    /// SIGKILLs the browser this launch started, as a crash would: Firefox itself, or the
    /// browser chromedriver started (its child; the browser's helpers end with it).
    pub fn kill_browser(&self) -> Result<()> {
        let own = self.child.id();
        let pids: Vec<u32> = if self.classic.is_none() {
            vec![own]
        } else {
            std::fs::read_dir("/proc")
                .context("listing /proc")?
                .flatten()
                .filter_map(|e| {
                    let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
                    let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
                    // Field 4, the parent, after the command name in parentheses.
                    let parent = stat.rsplit(')').next()?.split_whitespace().nth(1)?;
                    (parent.parse::<u32>().ok()? == own).then_some(pid)
                })
                .collect()
        };
        if pids.is_empty() {
            bail!("no browser process of this session to kill");
        }
        for pid in pids {
            let status = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .context("running kill")?;
            if !status.success() {
                bail!("kill -KILL {pid} failed");
            }
        }
        Ok(())
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        if let Some(url) = &self.classic {
            let _ = ureq::delete(url).timeout(Duration::from_secs(10)).call();
        }
        // Firefox was asked to close (browser.close); give it a moment to.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.classic.is_none() && Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// POSTs `body` to chromedriver and returns the answer's `value`.
fn classic_post(url: &str, body: &Value) -> Result<Value> {
    let answer = match ureq::post(url)
        .timeout(Duration::from_secs(120))
        .set("Content-Type", "application/json; charset=utf-8")
        .send_string(&body.to_string())
    {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            let text = r.into_string().unwrap_or_default();
            bail!("WebDriver answered {code}: {}", classic_error(&text));
        }
        Err(e) => return Err(e).context("WebDriver request"),
    };
    let text = answer.into_string().context("reading a WebDriver answer")?;
    let v: Value = serde_json::from_str(&text).context("WebDriver answer is not JSON")?;
    Ok(v.get("value").cloned().unwrap_or(Value::Null))
}

/// The `error: message` of a classic WebDriver error answer, or the text itself.
pub fn classic_error(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => super::bidi::error_message(&v["value"]),
        Err(_) => text.chars().take(300).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_errors_are_summarised() {
        let t = r#"{"value":{"error":"session not created","message":"session not created: x\n  (Session info)","stacktrace":""}}"#;
        assert_eq!(
            classic_error(t),
            "session not created: session not created: x"
        );
        assert_eq!(classic_error("plain"), "plain");
    }
}
