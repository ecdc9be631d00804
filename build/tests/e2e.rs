//! End-to-end tests: headless Chromium (through chromedriver and fantoccini) opens the built
//! site, served with the cross-origin isolation headers, and the tests check what a person sees.
//!
//! They need the built site in `target/site` (`cargo x all` then `trunk build --release`, or
//! simply `cargo x test`), `/usr/bin/chromedriver` and `/usr/bin/chromium`. Plain `cargo test`
//! skips them; run them with `cargo test -p alpenglow-build --test e2e -- --ignored`.
//!
//! Timeouts only bound how long a test waits for the page to reach a state; nothing is timed.

use alpenglow_build::serve::Server;
use fantoccini::actions::{WheelAction, WheelActions};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long the page may take to reach a state (downloads, compilation) on a busy machine.
const WAIT: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("build/ has a parent")
        .to_path_buf()
}

/// The built site; a clear message if it has not been built.
fn site() -> PathBuf {
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

fn manifest(site: &Path) -> Value {
    let text = std::fs::read_to_string(site.join("dist/manifest.json")).expect("read manifest");
    serde_json::from_str(&text).expect("manifest.json is JSON")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

/// `12345678` → `12,345,678`, as the page prints byte counts.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let first = match digits.len() % 3 {
        0 => 3.min(digits.len()),
        r => r,
    };
    let mut out = digits[..first].to_string();
    let mut rest = &digits[first..];
    while !rest.is_empty() {
        let (group, tail) = rest.split_at(3.min(rest.len()));
        out.push(',');
        out.push_str(group);
        rest = tail;
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// chromedriver, killed when dropped (which also ends any browser it still runs).
struct ChromeDriver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl ChromeDriver {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let profile = tempfile::tempdir().expect("temporary browser profile");
        let driver = ChromeDriver {
            child,
            port,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }

    async fn connect(&self) -> Client {
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--window-size=1280,860".into(),
            "--force-device-scale-factor=1".into(),
            format!("--user-data-dir={}", self._profile.path().display()),
        ];
        let caps = json!({
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let caps = match caps {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        ClientBuilder::native()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a WebDriver session with headless Chromium")
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `body` with a fresh browser; the session is closed even when `body` panics, and the
/// panic is then passed on.
async fn with_browser<F, Fut>(body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let driver = ChromeDriver::start();
    let client = driver.connect().await;
    let result = tokio::spawn(body(client.clone())).await;
    let _ = client.close().await;
    drop(driver);
    if let Err(e) = result {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("test body did not finish: {e}");
    }
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// The page root's `data-state`: checking, not-isolated, loading, failed, compiled (only
/// until the machine starts), then the machine's booting, running, halted or crashed.
async fn page_state(c: &Client) -> String {
    let v = js(
        c,
        "const a = document.querySelector('.app'); return a ? a.dataset.state : null;",
    )
    .await;
    v.as_str().unwrap_or("not rendered").to_string()
}

async fn body_text(c: &Client) -> String {
    js(c, "return document.body ? document.body.innerText : ''")
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits until the page is in state `want`; fails at once if it settles in another final state.
async fn wait_for_state(c: &Client, want: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let state = page_state(c).await;
        if state == want {
            return;
        }
        let settled = matches!(state.as_str(), "failed" | "not-isolated") || started(&state);
        if settled || Instant::now() > deadline {
            panic!(
                "expected the page to reach {want:?}, it is {state:?}. It shows:\n{}",
                body_text(c).await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The kernel is compiled and the machine was started.
fn started(state: &str) -> bool {
    matches!(state, "booting" | "running" | "halted" | "crashed")
}

/// Waits until the kernel is compiled and the page has started the machine; returns the state.
async fn wait_until_started(c: &Client) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let state = page_state(c).await;
        if started(&state) {
            return state;
        }
        if matches!(state.as_str(), "failed" | "not-isolated") || Instant::now() > deadline {
            panic!(
                "expected the page to start the kernel, it is {state:?}. It shows:\n{}",
                body_text(c).await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the page has left state `from` (e.g. after pressing Retry).
async fn wait_to_leave(c: &Client, from: &str) {
    let deadline = Instant::now() + WAIT;
    while page_state(c).await == from {
        assert!(Instant::now() < deadline, "the page stayed {from:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text_of(c: &Client, css: &str) -> String {
    let el = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no element {css}: {e}"));
    el.text()
        .await
        .unwrap_or_else(|e| panic!("no text for {css}: {e}"))
}

/// The text the terminal shows (xterm's DOM renderer rows), spaces normalised.
async fn terminal_text(c: &Client) -> String {
    let v = js(
        c,
        "const r = document.querySelector('#terminal .xterm-rows'); \
         return r ? r.innerText : null;",
    )
    .await;
    v.as_str().unwrap_or_default().replace('\u{a0}', " ")
}

/// Scrolls the terminal by `delta_y` pixels with the mouse wheel, as a person would, and
/// returns what it then shows.
async fn scroll_terminal(c: &Client, delta_y: i64) -> Option<String> {
    let at = js(
        c,
        "const e = document.querySelector('#terminal .xterm-screen'); if (!e) return [null]; \
         e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); \
         return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];",
    )
    .await;
    let (x, y) = (at[0].as_i64()?, at[1].as_i64()?);
    let mut wheel = WheelActions::new("wheel".into());
    wheel.push(WheelAction::Scroll {
        duration: None,
        x,
        y,
        delta_x: 0,
        delta_y,
    });
    c.perform_actions(wheel).await.expect("scroll the terminal");
    Some(settled_terminal(c).await)
}

/// The terminal's text once it has stopped changing from one animation frame to the next
/// (xterm renders, and may animate a scroll, on animation frames).
async fn settled_terminal(c: &Client) -> String {
    let mut text = terminal_text(c).await;
    for _ in 0..100 {
        js(
            c,
            "return await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));",
        )
        .await;
        let again = terminal_text(c).await;
        if again == text {
            break;
        }
        text = again;
    }
    text
}

/// Scrolls the terminal up until it shows its first line.
async fn scroll_to_top(c: &Client) -> Option<String> {
    let mut screen = scroll_terminal(c, -1_000_000).await?;
    for _ in 0..50 {
        let next = scroll_terminal(c, -1_000_000).await?;
        if next == screen {
            break;
        }
        screen = next;
    }
    Some(screen)
}

/// Everything the terminal holds, read screen by screen from the top of its scrollback
/// (screens overlap, so a line may appear twice).
async fn terminal_transcript(c: &Client) -> String {
    let Some(mut screen) = scroll_to_top(c).await else {
        return terminal_text(c).await;
    };
    let height = js(
        c,
        "const e = document.querySelector('#terminal .xterm-screen'); \
         return e ? e.getBoundingClientRect().height : 0;",
    )
    .await
    .as_f64()
    .unwrap_or(0.0);
    let step = ((height * 0.75) as i64).max(20);
    let mut all = screen.clone();
    for _ in 0..500 {
        let Some(mut next) = scroll_terminal(c, step).await else {
            break;
        };
        if next == screen {
            // A wheel step can be swallowed (a scroll animation still running): try a
            // small one before concluding this is the bottom.
            tokio::time::sleep(Duration::from_millis(100)).await;
            match scroll_terminal(c, 40).await {
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

async fn wait_for_terminal(c: &Client, needle: &str, from_top: bool, wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    loop {
        let text = if from_top {
            terminal_transcript(c).await
        } else {
            terminal_text(c).await
        };
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the terminal never showed {needle:?}; it shows:\n{text}\nThe page shows:\n{}",
            body_text(c).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let path = screenshots().join(name);
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

/// Import and export counts of a wasm module, read independently of the page.
fn import_export_counts(wasm: &[u8]) -> (u32, u32) {
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

/// Everything the page shows once the kernel is compiled (and the machine started).
async fn assert_compiled(c: &Client, site: &Path) {
    let m = manifest(site);
    assert_eq!(
        js(c, "return self.crossOriginIsolated").await,
        Value::Bool(true),
        "the page must be cross-origin isolated"
    );
    let headline = text_of(c, ".compiled-head h1").await;
    assert!(
        ["Booting", "Running", "Halted", "Crashed"].contains(&headline.as_str()),
        "machine headline: {headline:?}"
    );

    for (name, info) in m["artifacts"].as_object().expect("artifacts") {
        let size = info["size"].as_u64().expect("size");
        let row = format!("li.artifact[data-name=\"{name}\"]");
        let text = text_of(c, &row).await;
        let shown = format!("{} bytes", grouped(size));
        assert!(
            text.contains(&shown) && text.contains("sha256 verified"),
            "{name}: expected {shown:?} and \"sha256 verified\", the page shows {text:?}"
        );
    }

    let wasm = std::fs::read(site.join("dist/vmlinux.wasm")).expect("read vmlinux.wasm");
    let (imports, exports) = import_export_counts(&wasm);
    assert_eq!(
        text_of(c, ".kernel-counts").await,
        format!("{imports} imports · {exports} exports")
    );

    // The host's own lines, before the kernel's (xterm renders writes a little later).
    let term = wait_for_terminal(
        c,
        "alpenglow: booting vmlinux.wasm: 128 MiB of RAM",
        true,
        WAIT,
    )
    .await;
    assert!(
        term.contains("alpenglow: the kernel is compiled"),
        "terminal:\n{term}"
    );
    assert!(
        !term.contains("not started"),
        "the terminal still says the kernel is not started:\n{term}"
    );

    let status = text_of(c, ".statusbar").await;
    for (name, comp) in m["components"].as_object().expect("components") {
        let version = comp["version"].as_str().expect("version");
        assert!(
            status.contains(version),
            "status bar lacks {name} {version}: {status:?}"
        );
    }
}

/// A deliberately limited static server for what `Server` must never do: serve without the
/// isolation headers, or trickle the artifacts out slowly so the page's progress is visible.
/// Its threads end with the test process.
fn plain_server(root: &Path, isolation: bool, trickle: Option<Duration>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let _ = answer(conn, &root, isolation, trickle);
            });
        }
    });
    url
}

fn answer(
    conn: TcpStream,
    root: &Path,
    isolation: bool,
    trickle: Option<Duration>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    let url = request_line.split_whitespace().nth(1).unwrap_or("/");
    let file = alpenglow_build::serve::resolve(root, url);
    let (status, body, ctype) = match &file {
        Some(p) => (
            "200 OK",
            std::fs::read(p)?,
            alpenglow_build::serve::content_type(p),
        ),
        None => ("404 Not Found", b"not found\n".to_vec(), "text/plain"),
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nConnection: close\r\n",
        body.len()
    );
    if isolation {
        head.push_str("Cross-Origin-Opener-Policy: same-origin\r\n");
        head.push_str("Cross-Origin-Embedder-Policy: require-corp\r\n");
    }
    head.push_str("\r\n");
    let mut out = conn;
    out.write_all(head.as_bytes())?;
    let slow = trickle.filter(|_| url.starts_with("/dist/") && !url.ends_with(".json"));
    for chunk in body.chunks(64 * 1024) {
        out.write_all(chunk)?;
        if let Some(d) = slow {
            out.flush()?;
            std::thread::sleep(d);
        }
    }
    out.flush()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy file");
        }
    }
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the built site: run by cargo x test"]
async fn page_reaches_kernel_compiled() {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    with_browser(move |c| async move {
        c.goto(&url).await.expect("open the page");
        wait_until_started(&c).await;
        assert_compiled(&c, &site).await;
        screenshot(&c, "compiled.png").await;
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the built site: run by cargo x test"]
async fn corrupted_kernel_is_refused_and_retry_recovers() {
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
    with_browser(move |c| async move {
        c.goto(&url).await.expect("open the page");
        wait_for_state(&c, "failed").await;

        let title = text_of(&c, ".error-title").await;
        assert!(title.contains("vmlinux.wasm"), "error title: {title:?}");
        assert_eq!(text_of(&c, ".hash.expected").await, expected);
        assert_eq!(text_of(&c, ".hash.actual").await, actual);
        let retry = c
            .find(Locator::Css("button.retry"))
            .await
            .expect("a Retry button");
        assert_eq!(retry.text().await.expect("button text"), "Retry");
        assert!(retry.is_displayed().await.expect("visibility"));
        screenshot(&c, "error-corrupted-kernel.png").await;

        // Put the good file back; Retry must fetch it again and get through.
        std::fs::write(site_copy.join("dist/vmlinux.wasm"), &good).expect("restore vmlinux.wasm");
        retry.click().await.expect("click Retry");
        wait_to_leave(&c, "failed").await;
        wait_until_started(&c).await;
        assert_compiled(&c, &site_copy).await;
    })
    .await;
    drop(server);
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the built site: run by cargo x test"]
async fn downloads_show_progress() {
    let site = site();
    // About 3 MiB/s: slow enough to watch, fast enough to finish.
    let url = plain_server(&site, true, Some(Duration::from_millis(20)));
    let vmlinux_size = manifest(&site)["artifacts"]["vmlinux.wasm"]["size"]
        .as_u64()
        .expect("size");
    let site2 = site.clone();
    with_browser(move |c| async move {
        c.goto(&url).await.expect("open the page");
        // Wait until part of vmlinux.wasm has arrived, and the page says how much.
        let deadline = Instant::now() + WAIT;
        let row = "li.artifact[data-name=\"vmlinux.wasm\"]";
        let shown = loop {
            let v = js(
                &c,
                "const b = document.querySelector('li.artifact[data-name=\"vmlinux.wasm\"] .bar'); \
                 return b ? Number(b.getAttribute('aria-valuenow')) : -1;",
            )
            .await;
            let now = v.as_f64().unwrap_or(-1.0);
            if now > 0.0 && now < vmlinux_size as f64 {
                break now as u64;
            }
            if started(&page_state(&c).await) || Instant::now() > deadline {
                panic!("never saw vmlinux.wasm part-way downloaded (the artifact may be too small to see progress)");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let text = text_of(&c, row).await;
        assert!(
            text.contains(&format!("of {} bytes", grouped(vmlinux_size))),
            "progress text: {text:?} (at {shown} bytes)"
        );
        screenshot(&c, "loading.png").await;
        wait_until_started(&c).await;
        assert_compiled(&c, &site2).await;
    })
    .await;
}

/// A static server that can be shut down for real (its listening socket closed: connections
/// are refused), unlike `Server`, whose kept-alive connections would leave the browser's
/// requests hanging. Answers like `plain_server`, with the isolation headers.
struct StoppableServer {
    url: String,
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StoppableServer {
    fn start(root: &Path) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("address");
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (root, flag) = (root.to_path_buf(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let root = root.clone();
                        std::thread::spawn(move || {
                            let _ = conn.set_nonblocking(false);
                            let _ = answer(conn, &root, true, None);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        StoppableServer {
            url: format!("http://{addr}/"),
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the listening socket; returns once connections are refused.
    fn shut_down(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        assert!(
            TcpStream::connect(self.addr).is_err(),
            "the server still accepts connections"
        );
    }
}

impl Drop for StoppableServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Waits until the service worker controls the page and says it has cached everything a
/// reload needs (the status bar's offline note).
async fn wait_until_offline_ready(c: &Client) {
    let deadline = Instant::now() + WAIT;
    loop {
        let state = attr(c, ".statusbar .offline", "data-offline").await;
        let controlled = js(c, "return !!navigator.serviceWorker.controller").await;
        if state.as_deref() == Some("ready") && controlled == Value::Bool(true) {
            return;
        }
        if state.as_deref() == Some("unavailable") || Instant::now() > deadline {
            panic!(
                "the page never became available offline ({state:?}, controlled: {controlled}): {:?}",
                attr(c, ".statusbar .offline", "title").await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// After one visit the service worker has everything: with the server gone, a reload boots the
/// kernel from the cache, verified and cross-origin isolated as online.
#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the built site: run by cargo x test"]
async fn page_boots_offline_after_one_visit() {
    let site = site();
    let mut server = StoppableServer::start(&site);
    let url = server.url.clone();
    let site2 = site.clone();
    with_browser(move |c| async move {
        c.goto(&url).await.expect("open the page");
        wait_until_started(&c).await;
        wait_for_prompt(&c).await;
        wait_until_offline_ready(&c).await;
        screenshot(&c, "offline-ready.png").await;

        server.shut_down();
        c.refresh().await.expect("reload the page");
        let state = wait_until_started(&c).await;
        eprintln!("offline reload: the page is {state:?}");
        assert_compiled(&c, &site2).await;
        // From the cache alone the machine boots to the shell's prompt.
        wait_for_prompt(&c).await;
        assert_eq!(page_state(&c).await, "running");
        screenshot(&c, "offline-boot.png").await;
    })
    .await;
}

async fn cache_names(c: &Client) -> Vec<String> {
    let v = js(
        c,
        "return (await caches.keys()).filter(n => n.startsWith('alpenglow-'));",
    )
    .await;
    let names = v.as_array().expect("cache names").iter();
    names
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect()
}

/// A new build (another vmlinux.wasm, so another manifest) is picked up online at the next
/// load: a new cache replaces the old one, and the new kernel is what boots offline afterwards.
#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the built site: run by cargo x test"]
async fn a_new_manifest_rolls_the_offline_cache() {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("site");
    copy_dir(&site(), &copy);
    let mut server = StoppableServer::start(&copy);
    let url = server.url.clone();
    let site_copy = copy.clone();
    with_browser(move |c| async move {
        c.goto(&url).await.expect("open the page");
        wait_until_started(&c).await;
        wait_until_offline_ready(&c).await;
        let before = cache_names(&c).await;
        assert_eq!(before.len(), 1, "caches: {before:?}");

        // "Rebuild" the kernel: the same module with one more custom section, and its manifest.
        let kernel = site_copy.join("dist/vmlinux.wasm");
        let mut wasm = std::fs::read(&kernel).expect("read vmlinux.wasm");
        let (name, payload) = (b"alpenglow.test", [0x5a_u8; 16]);
        wasm.extend([0, (1 + name.len() + payload.len()) as u8, name.len() as u8]);
        wasm.extend(name);
        wasm.extend(payload);
        std::fs::write(&kernel, &wasm).expect("write vmlinux.wasm");
        let mut m = manifest(&site_copy);
        m["artifacts"]["vmlinux.wasm"]["sha256"] = json!(sha256_hex(&wasm));
        m["artifacts"]["vmlinux.wasm"]["size"] = json!(wasm.len());
        let text = serde_json::to_string_pretty(&m).expect("manifest JSON");
        std::fs::write(site_copy.join("dist/manifest.json"), text).expect("write manifest");

        c.refresh().await.expect("reload the page");
        wait_until_started(&c).await;
        assert_compiled(&c, &site_copy).await;
        wait_until_offline_ready(&c).await;
        let after = cache_names(&c).await;
        assert!(
            after.len() == 1 && after != before,
            "expected one new cache instead of {before:?}, there are {after:?}"
        );

        server.shut_down();
        c.refresh().await.expect("reload the page offline");
        wait_until_started(&c).await;
        assert_compiled(&c, &site_copy).await;
        assert_eq!(cache_names(&c).await, after);
    })
    .await;
    drop(dir);
}

/// A host that cannot send the isolation headers: the service worker adds them after one
/// reload, and the kernel boots.
#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the built site: run by cargo x test"]
async fn page_without_isolation_headers_gets_them_from_the_service_worker() {
    let url = plain_server(&site(), false, None);
    with_browser(move |c| async move {
        c.goto(&url).await.expect("open the page");
        wait_until_started(&c).await;
        assert_eq!(
            js(&c, "return self.crossOriginIsolated").await,
            Value::Bool(true),
            "the page must be isolated after the service worker's reload"
        );
        assert_eq!(
            js(&c, "return !!navigator.serviceWorker.controller").await,
            Value::Bool(true)
        );
        assert_kernel_started(&c).await;
        screenshot(&c, "isolated-by-service-worker.png").await;
    })
    .await;
}

/// Neither the headers nor the service worker (a host that serves no sw.js; the same for a
/// browser without service workers): the page says what the host must do, and does not loop.
#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the built site: run by cargo x test"]
async fn page_without_isolation_or_service_worker_says_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("site");
    copy_dir(&site(), &copy);
    std::fs::remove_file(copy.join("sw.js")).expect("remove sw.js");
    let url = plain_server(&copy, false, None);
    with_browser(move |c| async move {
        c.goto(&url).await.expect("open the page");
        wait_for_state(&c, "not-isolated").await;
        assert_eq!(
            js(&c, "return self.crossOriginIsolated").await,
            Value::Bool(false)
        );
        let text = text_of(&c, ".card.error").await;
        for needed in [
            "Cross-Origin-Opener-Policy: same-origin",
            "Cross-Origin-Embedder-Policy: require-corp",
            "cargo x up",
            "sw.js",
            "registering ./sw.js failed",
        ] {
            assert!(
                text.contains(needed),
                "the error screen lacks {needed:?}: {text:?}"
            );
        }
        screenshot(&c, "not-isolated.png").await;
    })
    .await;
    drop(dir);
}

/// How long the kernel may take to get to a line on a busy machine.
const BOOT_WAIT: Duration = Duration::from_secs(120);

/// Waits until the terminal shows the login shell's prompt (BusyBox init logs root in on
/// hvc0), reading the visible screen as a person would.
async fn wait_for_prompt(c: &Client) -> String {
    let deadline = Instant::now() + BOOT_WAIT;
    loop {
        // The view may have been scrolled up (to read the boot log): scroll to the end.
        let screen = scroll_terminal(c, 1_000_000).await.unwrap_or_default();
        if let Some(l) = screen.lines().map(str::trim).find(|l| l.ends_with(":~#")) {
            return l.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the terminal never showed the login shell's prompt; it shows:\n{screen}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The boot check (build/guest/init.c) as the first process instead of BusyBox init: it
/// lists /proc, sleeps, runs alpenglow-ctest and powers the machine off.
const BOOT_CHECK: &str = "?append=rdinit=/usr/libexec/alpenglow/init";

async fn attr(c: &Client, css: &str, name: &str) -> Option<String> {
    let script = format!(
        "const e = document.querySelector({css:?}); return e ? e.getAttribute({name:?}) : null;"
    );
    js(c, &script).await.as_str().map(str::to_string)
}

/// Clicks the status bar's About toggle and waits for the page to react: the panel opens (or
/// closes) and the button says so.
async fn toggle_about(c: &Client, open: bool) {
    c.find(Locator::Css("button.about-toggle"))
        .await
        .expect("an About button in the status bar")
        .click()
        .await
        .expect("click About");
    let deadline = Instant::now() + WAIT;
    loop {
        let expanded = attr(c, "button.about-toggle", "aria-expanded").await;
        let panel = js(c, "return document.querySelector('#about') !== null").await;
        if expanded.as_deref() == Some(if open { "true" } else { "false" })
            && panel == Value::Bool(open)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the page did not react to About (aria-expanded {expanded:?}, panel {panel})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the kernel reliably prints, whatever it reaches later: its banner, the command line
/// the host put in the device tree, the RAM the device tree describes, the initramfs the host
/// placed (found, unpacked and freed), and init being run — by kernel_init, the first task,
/// which runs in a worker of its own (spawn_task → wasm_task_entry).
async fn assert_kernel_started(c: &Client) -> String {
    let term = wait_for_terminal(c, "Linux version 6.12", true, BOOT_WAIT).await;
    // "Run /init as init process", or the program an rdinit= names.
    let last = " as init process";
    let term = if term.contains(last) {
        term
    } else {
        wait_for_terminal(c, last, true, BOOT_WAIT).await
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
            term = wait_for_terminal(c, line, true, WAIT).await;
        }
    }
    term
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the built site: run by cargo x test"]
async fn kernel_boots_and_the_page_stays_responsive() {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    with_browser(move |c| async move {
        c.goto(&format!("{url}{BOOT_CHECK}"))
            .await
            .expect("open the page");
        let state = wait_until_started(&c).await;
        // The main thread never blocks: the page reacts while the kernel's workers run.
        toggle_about(&c, true).await;
        eprintln!("About opened while the machine was {state:?}");
        screenshot(&c, "about-while-booting.png").await;
        toggle_about(&c, false).await;

        assert_kernel_started(&c).await;
        // /init, a wasm program (build/guest/init.c), runs in kernel_init's worker, lists the
        // processes, sleeps a second and powers the machine off.
        let term = wait_for_terminal(&c, "reboot: Power down", true, BOOT_WAIT).await;
        let mut seen = std::collections::HashSet::new();
        let lines: Vec<&str> = term.lines().filter(|l| seen.insert(*l)).collect();
        eprintln!("terminal, from the top:\n{}", lines.join("\n"));
        screenshot(&c, "kernel-booted.png").await;
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
            "PASS: pthread create, mutex, cond, join, value back",
            &format!("ctest: {passes} passed, 0 failed"),
            "init: alpenglow-ctest exited with 0",
        ] {
            assert!(term.contains(line), "terminal lacks {line:?}:\n{term}");
        }

        // The power-off stops the machine: the page says so.
        let deadline = Instant::now() + WAIT;
        loop {
            let state = page_state(&c).await;
            if state == "halted" {
                break;
            }
            assert!(
                state != "crashed" && Instant::now() < deadline,
                "expected the page to reach \"halted\", it is {state:?}. It shows:\n{}",
                body_text(&c).await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(text_of(&c, ".compiled-head h1").await, "Halted");
        wait_for_terminal(&c, "alpenglow: the kernel powered off", false, WAIT).await;
        assert!(c.find(Locator::Css("button.reboot")).await.is_ok());
        // kernel_init ran in a worker of its own: the boot worker and at least that one.
        let stats = text_of(&c, ".machine-stats").await;
        let busy = stats
            .split(": ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse::<u32>().ok());
        assert!(busy.is_some_and(|b| b >= 2), "workers: {stats:?}");
        eprintln!("workers: {stats}");
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the built site: run by cargo x test"]
async fn reboot_starts_the_kernel_again() {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    with_browser(move |c| async move {
        c.goto(&url).await.expect("open the page");
        wait_until_started(&c).await;
        wait_for_prompt(&c).await;
        c.find(Locator::Css("button.reboot"))
            .await
            .expect("a Reboot button")
            .click()
            .await
            .expect("click Reboot");
        // Reboot clears the terminal: the compile-time lines are gone, the boot line is new.
        let deadline = Instant::now() + WAIT;
        loop {
            let term = scroll_to_top(&c).await.unwrap_or_default();
            if !term.contains("alpenglow: the kernel is compiled") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Reboot did not reset the terminal:\n{term}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        wait_for_prompt(&c).await;
        let top = scroll_to_top(&c).await.unwrap_or_default();
        assert!(
            top.trim_start()
                .starts_with("alpenglow: booting vmlinux.wasm"),
            "after the reboot the terminal starts with the new boot:\n{top}"
        );
        assert!(started(&page_state(&c).await));
        screenshot(&c, "rebooted.png").await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Settings, status bar and embedding (the web app issue): settings from the URL and the panel,
// the status bar's machine facts, and a parent page on another origin driving an embedded app.
// ---------------------------------------------------------------------------------------------

/// Waits until `script` (which returns a boolean) is true in the page.
async fn wait_until(c: &Client, what: &str, script: &str) {
    let deadline = Instant::now() + BOOT_WAIT;
    loop {
        if js(c, script).await == Value::Bool(true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited in vain for {what}. The page shows:\n{}",
            body_text(c).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Replaces what a text field holds by typing, as a person would.
async fn type_into(c: &Client, css: &str, text: &str) {
    let field = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no field {css}: {e}"));
    field.clear().await.expect("clear the field");
    field.send_keys(text).await.expect("type into the field");
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Settings from the URL reach the kernel (memory in its device tree, the command line); the
/// panel refuses a bad value with a clear message, saves good ones, and Reboot now boots with
/// them; after a reload without parameters the saved settings are used.
#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the built site: run by cargo x test"]
async fn settings_from_the_url_and_the_panel_reach_the_kernel() {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    with_browser(move |c| async move {
        c.goto(&format!(
            "{url}?memory=64&append=alpenglow.test=1%20rdinit=/usr/libexec/alpenglow/init&theme=light"
        ))
        .await
        .expect("open the page");
        wait_until_started(&c).await;
        let term = wait_for_terminal(&c, " as init process", true, BOOT_WAIT).await;
        for line in [
            "alpenglow: booting vmlinux.wasm: 64 MiB of RAM",
            "Kernel command line: console=hvc0 loglevel=8 alpenglow.test=1",
            "/65536K available",
        ] {
            assert!(term.contains(line), "terminal lacks {line:?}:\n{term}");
        }
        assert_eq!(
            attr(&c, ".app", "data-theme").await.as_deref(),
            Some("light")
        );
        let facts = text_of(&c, ".statusbar .machine-facts").await;
        assert!(
            facts.contains("memory 64 MiB") && facts.contains("CPUs 1"),
            "status bar: {facts:?}"
        );

        click(&c, "button.settings-toggle").await;
        wait_until(
            &c,
            "the settings panel",
            "return !!document.querySelector('#settings')",
        )
        .await;
        let tags = text_of(&c, "#settings").await;
        assert!(tags.contains("from the URL"), "panel: {tags:?}");
        // A value out of range is refused with the reason, and nothing is saved.
        type_into(&c, "#set-memory", "4096").await;
        click(&c, "#settings button.save").await;
        wait_until(
            &c,
            "the memory error",
            "return !!document.querySelector('#settings .field-error')",
        )
        .await;
        let error = text_of(&c, "#settings .field-error").await;
        assert!(
            error.contains("between 32 and 1024 MiB") && error.contains("4096"),
            "error: {error:?}"
        );
        let saved = js(&c, "return localStorage.getItem('alpenglow-settings')").await;
        assert_eq!(saved, Value::Null, "a refused form must not be saved");
        screenshot(&c, "settings-error.png").await;

        type_into(&c, "#set-memory", "96").await;
        type_into(&c, "#set-font-size", "18").await;
        click(&c, "#settings button.save").await;
        wait_until(
            &c,
            "the saved note",
            "return !!document.querySelector('#settings .saved-note')",
        )
        .await;
        let stored = js(
            &c,
            "return JSON.parse(localStorage.getItem('alpenglow-settings'))",
        )
        .await;
        assert_eq!(stored["memory_mib"], json!(96), "stored: {stored}");
        assert_eq!(stored["font_size"], json!(18), "stored: {stored}");
        assert_eq!(stored["theme"], json!("light"), "stored: {stored}");
        // The font applies at once: xterm's rows are now 18px text.
        wait_until(
            &c,
            "the 18px font",
            "const r = document.querySelector('#terminal .xterm-rows'); \
             return !!r && getComputedStyle(r).fontSize === '18px';",
        )
        .await;
        screenshot(&c, "settings-saved.png").await;

        click(&c, "#settings button.reboot-now").await;
        let term = wait_for_terminal(&c, "/98304K available", true, BOOT_WAIT).await;
        assert!(
            term.contains("alpenglow: booting vmlinux.wasm: 96 MiB of RAM"),
            "terminal:\n{term}"
        );

        // The saved settings outlive the page; the URL no longer sets anything.
        c.goto(&url).await.expect("open the page again");
        wait_until_started(&c).await;
        wait_for_terminal(&c, "/98304K available", true, BOOT_WAIT).await;
        let facts = text_of(&c, ".statusbar .machine-facts").await;
        assert!(facts.contains("memory 96 MiB"), "status bar: {facts:?}");
        assert_eq!(
            attr(&c, ".app", "data-theme").await.as_deref(),
            Some("light")
        );
    })
    .await;
}

/// A page on another origin embeds the app (?embed: the terminal only) and gets its state and
/// console output through postMessage; a frame from an origin the app does not allow is
/// refused, and its requests have no effect.
#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the built site: run by cargo x test"]
async fn embedding_page_on_another_origin_drives_the_app_and_strangers_are_refused() {
    let site = site();
    let app = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let example =
        Server::start(&repo().join("app/examples"), "127.0.0.1", 0).expect("serve the example");
    // A third origin, not allowed: its page asks the app to reboot and to say its state.
    let stranger_dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        stranger_dir.path().join("index.html"),
        "<!DOCTYPE html><meta charset=utf-8><title>stranger</title><script>\
         window.addEventListener('message', (ev) => { document.title = 'answered'; });\
         for (const type of ['alpenglow:reboot', 'alpenglow:get-state']) \
           parent.frames[0].postMessage({ type }, '*');\
         parent.frames[0].postMessage({ type: 'alpenglow:type', text: 'echo intruder\\n' }, '*');\
         </script>",
    )
    .expect("write the stranger's page");
    let stranger = Server::start(stranger_dir.path(), "127.0.0.1", 0).expect("serve the stranger");
    // The file the parent page uploads.
    let upload_dir = tempfile::tempdir().expect("temp dir");
    let upload = upload_dir.path().join("embedded.txt");
    std::fs::write(&upload, "from the parent\n").expect("write the file to upload");
    // A shell as the first process, so that what the parent types runs.
    let page = format!(
        "{}&append=rdinit=/bin/sh",
        alpenglow_build::serve::example_url(&example, &app)
    );
    let stranger_url = stranger.url();
    let app_origin = app.url().trim_end_matches('/').to_string();
    with_browser(move |c| async move {
        c.goto(&page).await.expect("open the example page");
        // The parent hears the machine boot, through postMessage only.
        wait_until(
            &c,
            "the embedded machine to report it boots",
            "return ['booting', 'running', 'halted'].includes(document.body.dataset.state)",
        )
        .await;
        wait_until(
            &c,
            "the kernel's banner in alpenglow:output events",
            "return document.getElementById('output').textContent.includes('Linux version 6.12')",
        )
        .await;

        // The stranger, a frame on a third origin, posts to the app.
        js(
            &c,
            &format!(
                "const f = document.createElement('iframe'); f.id = 'stranger'; \
                 f.style = 'position: fixed; left: 0; bottom: 0; width: 40px; height: 40px'; \
                 f.src = {stranger_url:?}; document.body.appendChild(f); return true;"
            ),
        )
        .await;
        // Inside the app's frame: the page is the terminal only, and it refused both.
        let frame = c
            .find(Locator::Css("iframe#alpenglow"))
            .await
            .expect("the app's iframe");
        frame.enter_frame().await.expect("enter the app's frame");
        assert_eq!(js(&c, "return location.origin").await, json!(app_origin));
        assert_eq!(attr(&c, ".app", "data-embed").await.as_deref(), Some(""));
        assert_eq!(
            js(&c, "return [!!document.querySelector('.topbar'), !!document.querySelector('.statusbar')]").await,
            json!([false, false]),
            "embed mode shows no page chrome"
        );
        assert_eq!(js(&c, "return self.crossOriginIsolated").await, Value::Bool(true));
        wait_until(
            &c,
            "three refused messages",
            "return document.querySelector('.app').dataset.refusedMessages === '3'",
        )
        .await;
        // The reboot was not done: the terminal still starts with the first boot's lines.
        let top = scroll_to_top(&c).await.unwrap_or_default();
        assert!(top.contains("alpenglow: the kernel is compiled"), "terminal:\n{top}");
        c.enter_parent_frame().await.expect("back to the example page");
        screenshot(&c, "embedded.png").await;

        // The stranger got no answer, while the allowed parent does.
        let stranger = c
            .find(Locator::Css("iframe#stranger"))
            .await
            .expect("the stranger's iframe");
        stranger.enter_frame().await.expect("enter the stranger's frame");
        assert_eq!(js(&c, "return document.title").await, json!("stranger"));
        c.enter_parent_frame().await.expect("back to the example page");
        let before = js(&c, "return document.getElementById('events').textContent.split('\\n').length").await;
        js(
            &c,
            "document.getElementById('alpenglow').contentWindow.postMessage({type: 'alpenglow:get-state'}, new URL(document.getElementById('alpenglow').src).origin); return true;",
        )
        .await;
        wait_until(
            &c,
            "the answer to get-state",
            &format!("return document.getElementById('events').textContent.split('\\n').length > {before}"),
        )
        .await;
        let events = text_of(&c, "#events").await;
        assert!(events.contains("state: "), "events: {events:?}");
        eprintln!("events the example page received:\n{events}");

        // The parent types a command as its visitor would; its output comes back.
        type_into(&c, "#text", "echo embedded").await;
        click(&c, "#send button").await;
        wait_until(
            &c,
            "the command's output in alpenglow:output events",
            "return document.getElementById('output').textContent.split(/\\r?\\n/)\
               .some(l => l.trim() === 'embedded')",
        )
        .await;
        let output = text_of(&c, "#output").await;
        assert!(!output.contains("intruder"), "the stranger's text was typed:\n{output}");
        screenshot(&c, "embedded-echo.png").await;

        // The parent uploads a file (alpenglow:upload with the picked File). This boot has no
        // init, so the file waits until the guest's helper runs; then it lands in /root and
        // the parent hears where.
        c.find(Locator::Css("#upload"))
            .await
            .expect("the example's file input")
            .send_keys(&upload.display().to_string())
            .await
            .expect("pick a file in the parent page");
        type_into(&c, "#text", "/usr/sbin/alpenglow-files &").await;
        click(&c, "#send button").await;
        wait_until(
            &c,
            "alpenglow:uploaded in the parent",
            "return document.getElementById('events').textContent\
               .includes('uploaded: embedded.txt → /root/embedded.txt (16 bytes)')",
        )
        .await;
        type_into(&c, "#text", "cat /root/embedded.txt").await;
        click(&c, "#send button").await;
        wait_until(
            &c,
            "the uploaded file's text in alpenglow:output events",
            "return document.getElementById('output').textContent.split(/\\r?\\n/)\
               .some(l => l.trim() === 'from the parent')",
        )
        .await;
        // And back: `download` in the guest is an alpenglow:download event with the bytes.
        type_into(&c, "#text", "download /root/embedded.txt").await;
        click(&c, "#send button").await;
        wait_until(
            &c,
            "alpenglow:download in the parent",
            "return document.getElementById('events').textContent\
               .includes('download: embedded.txt (16 bytes)')",
        )
        .await;
        let saved = js(
            &c,
            "const a = document.querySelector('#events a.download'); \
             return a ? [a.download, await (await fetch(a.href)).text()] : null;",
        )
        .await;
        assert_eq!(saved, json!(["embedded.txt", "from the parent\n"]));
    })
    .await;
    drop(stranger_dir);
    drop(upload_dir);
}

/// A WebDriver command fantoccini has no method for: `POST session/{id}/{path}` with a JSON
/// body (chromedriver's "set permission" and its bridge to the DevTools protocol).
#[derive(Debug)]
struct SessionPost(&'static str, Value);

impl SessionPost {
    /// Grants a permission (e.g. `clipboard-read`) to the page.
    fn grant(name: &str) -> SessionPost {
        SessionPost(
            "permissions",
            json!({ "descriptor": { "name": name }, "state": "granted" }),
        )
    }

    /// A DevTools protocol command.
    fn cdp(cmd: &str, params: Value) -> SessionPost {
        SessionPost("goog/cdp/execute", json!({ "cmd": cmd, "params": params }))
    }
}

impl fantoccini::wd::WebDriverCompatibleCommand for SessionPost {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/{}",
            session.unwrap_or_default(),
            self.0
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.1.to_string()))
    }
}

/// Number of rows the terminal shows.
async fn terminal_rows(c: &Client) -> u64 {
    js(
        c,
        "const r = document.querySelector('#terminal .xterm-rows'); return r ? r.children.length : 0;",
    )
    .await
    .as_u64()
    .unwrap_or(0)
}

/// The terminal has the keyboard once it opens; a line selected with the mouse is copied to
/// the clipboard with Ctrl-Shift-C; the terminal refits when the window changes size.
#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the built site: run by cargo x test"]
async fn terminal_takes_focus_copies_a_selection_and_fits_the_window() {
    use fantoccini::actions::{
        InputSource, KeyAction, KeyActions, MouseActions, PointerAction, MOUSE_BUTTON_LEFT,
    };
    use fantoccini::key::Key;
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    with_browser(move |c| async move {
        c.goto(&format!("{url}{BOOT_CHECK}"))
            .await
            .expect("open the page");
        wait_until_started(&c).await;
        assert_eq!(
            js(&c, "return document.activeElement?.classList.contains('xterm-helper-textarea') ?? false").await,
            Value::Bool(true),
            "the terminal must have the keyboard once it is open"
        );
        // The host's last line is still once the machine is off: select it with the mouse.
        wait_for_terminal(&c, "alpenglow: the kernel powered off", false, BOOT_WAIT).await;
        // The status bar says how the machine stopped, in words.
        assert_eq!(text_of(&c, ".statusbar .phase").await, "powered off");
        for p in ["clipboard-read", "clipboard-write"] {
            c.issue_cmd(SessionPost::grant(p))
                .await
                .unwrap_or_else(|e| panic!("grant {p}: {e}"));
        }
        let rect = js(
            &c,
            "const rows = [...document.querySelectorAll('#terminal .xterm-rows > div')]; \
             const row = rows.find(r => r.textContent.includes('the kernel powered off')); \
             if (!row) return null; const b = row.getBoundingClientRect(); \
             return [b.x, b.y, b.width, b.height];",
        )
        .await;
        let n = |i: usize| rect[i].as_f64().expect("the row's position");
        let (x, y, w, h) = (n(0), n(1), n(2), n(3));
        let drag = MouseActions::new("mouse".into())
            .then(PointerAction::MoveTo { duration: None, x: x + 1.0, y: y + h / 2.0 })
            .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
            .then(PointerAction::MoveTo {
                duration: Some(Duration::from_millis(100)),
                x: x + w - 2.0,
                y: y + h / 2.0,
            })
            .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
        c.perform_actions(drag).await.expect("select the line");
        let copy = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: Key::Control.into() })
            .then(KeyAction::Down { value: Key::Shift.into() })
            .then(KeyAction::Down { value: 'C' })
            .then(KeyAction::Up { value: 'C' })
            .then(KeyAction::Up { value: Key::Shift.into() })
            .then(KeyAction::Up { value: Key::Control.into() });
        c.perform_actions(copy).await.expect("press Ctrl-Shift-C");
        let deadline = Instant::now() + WAIT;
        loop {
            let text = js(&c, "return await navigator.clipboard.readText()").await;
            if text.as_str().is_some_and(|t| t.contains("alpenglow: the kernel powered off")) {
                break;
            }
            assert!(Instant::now() < deadline, "the clipboard holds {text}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        screenshot(&c, "terminal-selection-copied.png").await;

        // A smaller window: the terminal refits to fewer rows; a larger one, more again.
        let before = terminal_rows(&c).await;
        c.set_window_size(1280, 600).await.expect("shrink the window");
        let deadline = Instant::now() + WAIT;
        while terminal_rows(&c).await >= before {
            assert!(Instant::now() < deadline, "the terminal kept {before} rows in a smaller window");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let small = terminal_rows(&c).await;
        c.set_window_size(1280, 1000).await.expect("grow the window");
        let deadline = Instant::now() + WAIT;
        while terminal_rows(&c).await <= small {
            assert!(Instant::now() < deadline, "the terminal kept {small} rows in a larger window");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("terminal rows: {before}, then {small}, then {}", terminal_rows(&c).await);
    })
    .await;
}

/// The terminal's size in characters, as the page shows it (`data-cols`, `data-rows`).
async fn terminal_size(c: &Client) -> (u64, u64) {
    let v = js(
        c,
        "const t = document.getElementById('terminal'); \
         return [Number(t.dataset.cols), Number(t.dataset.rows)];",
    )
    .await;
    (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0))
}

/// Types `text` into the terminal (xterm's text area has the keyboard), then Enter.
async fn type_line(c: &Client, text: &str) {
    use fantoccini::key::Key;
    let area = c
        .find(Locator::Css("#terminal .xterm-helper-textarea"))
        .await
        .expect("xterm's text area");
    area.send_keys(&format!("{text}{}", char::from(Key::Enter)))
        .await
        .unwrap_or_else(|e| panic!("type {text:?}: {e}"));
}

/// A line the terminal shows that matches `pred`, waiting for it (the visible screen).
async fn wait_for_line(c: &Client, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + BOOT_WAIT;
    loop {
        let text = terminal_text(c).await;
        if let Some(l) = text.lines().map(str::trim).find(|l| pred(l)) {
            return l.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the terminal never showed {what}; it shows:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Boots a shell as the first process (`rdinit=/bin/sh` appended through the URL: no login),
/// types commands into the terminal as a person would, checks that `stty size` in the guest
/// follows the terminal's size when the window changes, and pastes a command with
/// Ctrl-Shift-V.
#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the built site: run by cargo x test"]
async fn typing_and_pasting_reach_the_shell_and_the_guest_sees_the_terminal_size() {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    with_browser(move |c| async move {
        c.goto(&format!("{url}?append=rdinit=/bin/sh"))
            .await
            .expect("open the page");
        wait_until_started(&c).await;
        wait_for_terminal(&c, "Run /bin/sh as init process", true, BOOT_WAIT).await;
        wait_for_line(&c, "a shell prompt", |l| l.ends_with('#')).await;
        type_line(&c, "echo $((6 * 7))").await;
        wait_for_line(&c, "the shell's answer", |l| l == "42").await;

        let stty = |(cols, rows): (u64, u64)| format!("{rows} {cols}");
        let size = terminal_size(&c).await;
        type_line(&c, "stty size").await;
        let want = stty(size);
        wait_for_line(&c, &format!("stty size = {want:?}"), |l| l == want).await;

        c.set_window_size(1000, 700)
            .await
            .expect("shrink the window");
        let deadline = Instant::now() + WAIT;
        while terminal_size(&c).await == size {
            assert!(
                Instant::now() < deadline,
                "the terminal kept its size {size:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let smaller = terminal_size(&c).await;
        type_line(&c, "clear; stty size").await;
        let want = stty(smaller);
        wait_for_line(&c, &format!("stty size = {want:?} after the resize"), |l| {
            l == want
        })
        .await;
        eprintln!("stty size: {} then {}", stty(size), stty(smaller));
        screenshot(&c, "shell-stty-size.png").await;

        // Paste: the clipboard holds a command line; Ctrl-Shift-V gives it to the shell.
        for p in ["clipboard-read", "clipboard-write"] {
            c.issue_cmd(SessionPost::grant(p))
                .await
                .unwrap_or_else(|e| panic!("grant {p}: {e}"));
        }
        js(
            &c,
            "await navigator.clipboard.writeText('echo pasted-$((2 + 3))\\n'); return true;",
        )
        .await;
        {
            use fantoccini::actions::{InputSource, KeyAction, KeyActions};
            use fantoccini::key::Key;
            let paste = KeyActions::new("keyboard".into())
                .then(KeyAction::Down {
                    value: Key::Control.into(),
                })
                .then(KeyAction::Down {
                    value: Key::Shift.into(),
                })
                .then(KeyAction::Down { value: 'V' })
                .then(KeyAction::Up { value: 'V' })
                .then(KeyAction::Up {
                    value: Key::Shift.into(),
                })
                .then(KeyAction::Up {
                    value: Key::Control.into(),
                });
            c.perform_actions(paste).await.expect("press Ctrl-Shift-V");
        }
        wait_for_line(&c, "the pasted command's output", |l| l == "pasted-5").await;
    })
    .await;
}

// ---- The shell, as people use it (issue 4) -------------------------------------------------

/// A logged-in shell on the page's terminal: types commands as a person would and reads
/// what the terminal shows. Each command line ends with `echo @@N:$?`, so the end of its
/// output (and its exit status) is a line the typed text itself cannot contain.
struct Shell {
    c: Client,
    n: u32,
}

impl Shell {
    /// Opens the page and waits for the console's prompt (root is logged in on hvc0).
    async fn login(c: Client, url: &str) -> Shell {
        c.goto(url).await.expect("open the page");
        wait_until_started(&c).await;
        wait_for_line(&c, "the login shell's prompt", |l| l.ends_with(":~#")).await;
        Shell { c, n: 0 }
    }

    /// Sends keys to the terminal without Enter (control characters included).
    async fn keys(&self, keys: &str) {
        self.c
            .find(Locator::Css("#terminal .xterm-helper-textarea"))
            .await
            .expect("xterm's text area")
            .send_keys(keys)
            .await
            .unwrap_or_else(|e| panic!("type {keys:?}: {e}"));
    }

    /// Waits for the marker of command `n`; returns its exit status and the screen.
    async fn wait_marker(&self, n: u32, wait: Duration) -> (i32, String) {
        let mark = format!("@@{n}:");
        let deadline = Instant::now() + wait;
        loop {
            let screen = terminal_text(&self.c).await;
            if let Some(status) = screen
                .lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix(&mark))
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                return (status, screen);
            }
            assert!(
                Instant::now() < deadline,
                "command {n} did not finish; the terminal shows:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clears the screen, runs `cmd` and returns what it printed (the lines between the
    /// command line and the marker). Asserts the exit status is 0.
    async fn run(&mut self, cmd: &str) -> String {
        let (status, out) = self.run_status(cmd).await;
        assert_eq!(status, 0, "`{cmd}` failed ({status}); it printed:\n{out}");
        out
    }

    async fn run_status(&mut self, cmd: &str) -> (i32, String) {
        self.n += 1;
        let n = self.n;
        type_line(&self.c, &format!("clear; {cmd}; echo @@{n}:$?")).await;
        let (status, screen) = self.wait_marker(n, WAIT).await;
        let lines: Vec<&str> = screen.lines().collect();
        let start = lines
            .iter()
            .position(|l| l.contains(&format!("echo @@{n}:")))
            .map_or(0, |i| i + 1);
        let end = lines
            .iter()
            .position(|l| l.trim().starts_with(&format!("@@{n}:")))
            .unwrap_or(lines.len());
        let out = lines[start.min(end)..end].join("\n");
        (status, out)
    }
}

fn has(out: &str, needle: &str) {
    assert!(out.contains(needle), "expected {needle:?} in:\n{out}");
}

/// The commands the issue lists, typed into the terminal of a normally booted page: the
/// kernel runs BusyBox init, which logs root in on hvc0 (a real tty, so job control works).
#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the built site: run by cargo x test"]
async fn a_login_shell_runs_what_people_type() {
    use fantoccini::key::Key;
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    with_browser(move |c| async move {
        let mut sh = Shell::login(c.clone(), &url).await;

        let out = sh.run("uname -a").await;
        has(&out, "Linux alpenglow 6.12.");
        has(&out, "wasm32");
        let out = sh.run("cat /etc/os-release").await;
        has(&out, "ID=alpenglow");
        has(&out, "ID_LIKE=alpine");
        let out = sh.run("tty").await;
        has(&out, "/dev/hvc0");
        // The screen shows ~20 lines: keep each command's output shorter than that.
        let out = sh.run("ls -l / | grep -E ' (bin|etc|proc|tmp|usr)$'").await;
        for d in ["bin", "etc", "proc", "tmp", "usr"] {
            assert!(
                out.lines()
                    .any(|l| l.starts_with('d') && l.ends_with(&format!(" {d}"))),
                "ls -l / lacks the directory {d}:\n{out}"
            );
        }
        has(&sh.run("echo hello | tr a-z A-Z").await, "HELLO");
        let out = sh.run("cat /proc/cpuinfo").await;
        has(&out, "processor");
        has(&out, "WebAssembly");
        let out = sh.run("ps | grep -E 'PID|init|-sh'").await;
        has(&out, "PID");
        has(&out, "init");
        has(&sh.run("echo x > /tmp/f; cat /tmp/f").await, "x");
        has(
            &sh.run("for i in 1 2 3; do echo n$i; done | xargs").await,
            "n1 n2 n3",
        );
        has(&sh.run("printf 'a b\\nc\\n' | wc -lw").await, "2");
        has(&sh.run("grep ^root: /etc/passwd").await, "root:x:0:0");
        has(&sh.run("echo alpine | sed s/alp/ALP/").await, "ALPine");
        has(&sh.run("echo 3 4 | awk '{ print $1 * $2 }'").await, "12");
        has(
            &sh.run("printf 'b\\na\\nc\\n' | sort | xargs").await,
            "a b c",
        );
        has(
            &sh.run("find /etc -name os-release").await,
            "/etc/os-release",
        );
        let out = sh.run("dmesg | head -3").await;
        has(&out, "Linux version 6.12");
        let out = sh
            .run("tar czf /tmp/t.tgz /etc && tar tzf /tmp/t.tgz | grep -c etc/")
            .await;
        let listed: u32 = out
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .expect("a count of listed files");
        assert!(listed >= 10, "tar listed {listed} entries under etc/");
        has(
            &sh.run("tar tzf /tmp/t.tgz | grep os-release").await,
            "etc/os-release",
        );

        // The C runtime checks (setjmp/longjmp, a pthread, SA_SIGINFO, vfork+exec).
        let out = sh.run("alpenglow-ctest | tail -1").await;
        has(&out, "passed, 0 failed");

        // Ctrl-C ends a foreground job at once and the prompt comes back.
        type_line(&c, "sleep 30").await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        sh.keys("\u{3}").await;
        let out = sh.run("echo back").await;
        has(&out, "back");
        // A background job, jobs, kill %1.
        let out = sh.run("sleep 30 & jobs").await;
        has(&out, "sleep 30");
        has(&out, "Running");
        let out = sh
            .run("kill %1; sleep 1; jobs; ps | grep -c '[s]leep 30' || true")
            .await;
        assert!(out.trim_end().ends_with('0'), "sleep 30 still runs:\n{out}");
        // Ctrl-Z stops a foreground job; fg resumes it; Ctrl-C ends it.
        type_line(&c, "sleep 40").await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        sh.keys("\u{1a}").await;
        let out = sh.run("jobs").await;
        has(&out, "Stopped");
        type_line(&c, "fg").await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        sh.keys("\u{3}").await;
        let out = sh.run("jobs; echo none-left").await;
        has(&out, "none-left");
        assert!(!out.contains("sleep 40"), "sleep 40 survived:\n{out}");

        // vi: insert a line, :wq, and the file has it.
        type_line(&c, "vi /tmp/v").await;
        wait_for_line(&c, "vi's screen", |l| l.starts_with('~')).await;
        sh.keys("ihello from vi").await;
        sh.keys(&char::from(Key::Escape).to_string()).await;
        // vi waits a moment after ESC for the rest of an escape sequence, as a person does.
        tokio::time::sleep(Duration::from_millis(500)).await;
        type_line(&c, ":wq").await;
        has(&sh.run("cat /tmp/v").await, "hello from vi");

        // `exit` gives a new login and prompt.
        type_line(&c, "exit").await;
        wait_for_terminal(&c, "login on 'hvc0'", false, WAIT).await;
        let out = sh.run("echo after-exit").await;
        has(&out, "after-exit");

        // 500 typed commands, then the terminal still answers.
        for i in 0..500 {
            let cmd = if i % 10 == 9 {
                format!("cat /etc/hostname > /dev/null # {i}")
            } else {
                format!("echo {i} > /dev/null")
            };
            type_line(&c, &cmd).await;
        }
        let out = sh.run("echo still-here").await;
        has(&out, "still-here");
        screenshot(&c, "shell-after-500-commands.png").await;
    })
    .await;
}

// ---- Files in and out (issue 5) -------------------------------------------------------------

/// The page's transfer line once it says `needle` and is finished (`done` or `failed`).
async fn wait_for_transfer(c: &Client, needle: &str, wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    let script = "const t = document.querySelector('.transfer'); \
                  return t ? [t.dataset.state, t.textContent] : null;";
    loop {
        let v = js(c, script).await;
        let state = v[0].as_str().unwrap_or_default();
        let text = v[1].as_str().unwrap_or_default().to_string();
        if state != "busy" && text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the transfer line never said {needle:?}; it says {text:?} ({state})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A file the browser downloaded into `dir`, once it is complete (`len` bytes, no partial
/// `.crdownload` left).
async fn wait_for_download(dir: &Path, name: &str, len: usize, wait: Duration) -> Vec<u8> {
    let deadline = Instant::now() + wait;
    loop {
        let partial = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"))
            })
            .unwrap_or(false);
        if let (false, Ok(bytes)) = (partial, std::fs::read(dir.join(name))) {
            if bytes.len() == len {
                return bytes;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the browser did not download {name} ({len} bytes) into {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The sha256 `sha256sum FILE` printed in the guest.
fn guest_sha256(out: &str, file: &str) -> String {
    out.lines()
        .find_map(|l| l.trim().strip_suffix(&format!("  {file}")))
        .unwrap_or_else(|| panic!("no sha256 of {file} in:\n{out}"))
        .to_string()
}

/// Files go in through the page (its file input, and a drop on the terminal) and are
/// readable in the guest with the same bytes; `download` in the guest hands a file to the
/// browser, which saves the same bytes. All through hvc1, the second virtio console, and the
/// guest's helper.
#[tokio::test(flavor = "current_thread")]
#[ignore = "needs the built site: run by cargo x test"]
async fn files_go_in_and_out_through_the_page() {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    let dir = tempfile::tempdir().expect("temp dir");
    let (up, downloads) = (dir.path().join("up"), dir.path().join("downloads"));
    std::fs::create_dir_all(&up).expect("upload dir");
    std::fs::create_dir_all(&downloads).expect("download dir");
    std::fs::write(up.join("notes.txt"), "notes from the host: grüße\n").expect("notes.txt");
    // Every byte value, the tty's special characters (^C, ^S, ^Q, ^O, CR, NUL) among them.
    let binary: Vec<u8> = (0..200_000u32).map(|i| (i ^ (i >> 8)) as u8).collect();
    std::fs::write(up.join("binary.bin"), &binary).expect("binary.bin");
    // Tens of MiB, so that the flow control is what carries them.
    let big: Vec<u8> = (0..20u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(up.join("big.bin"), &big).expect("big.bin");
    with_browser(move |c| async move {
        // Headless Chromium saves downloads only where it is told to.
        c.issue_cmd(SessionPost::cdp(
            "Browser.setDownloadBehavior",
            json!({ "behavior": "allow", "downloadPath": downloads.display().to_string() }),
        ))
        .await
        .expect("let the browser download into the test's directory");
        let mut sh = Shell::login(c.clone(), &url).await;

        // Two files at once through the page's file input (what Upload opens).
        let input = c
            .find(Locator::Css("#upload-input"))
            .await
            .expect("the page's file input");
        let path = |name: &str| up.join(name).display().to_string();
        input
            .send_keys(&format!("{}\n{}", path("notes.txt"), path("binary.bin")))
            .await
            .expect("pick two files");
        wait_for_transfer(&c, "uploaded binary.bin to /root (195 KiB)", WAIT).await;
        screenshot(&c, "files-uploaded.png").await;
        has(
            &sh.run("cat /root/notes.txt").await,
            "notes from the host: grüße",
        );
        let out = sh.run("sha256sum /root/binary.bin").await;
        assert_eq!(
            guest_sha256(&out, "/root/binary.bin"),
            sha256_hex(&binary),
            "binary.bin changed on its way in"
        );

        // The same name again: kept beside the first, and the page says so.
        input
            .send_keys(&path("notes.txt"))
            .await
            .expect("pick notes.txt again");
        let said = wait_for_transfer(&c, "notes.txt", WAIT).await;
        has(&said, "as /root/notes-1.txt");
        has(&said, "was there already");
        has(&sh.run("cat /root/notes-1.txt").await, "notes from the host");

        // A drop on the terminal: the target lights up while a file is dragged over it.
        let dragged = js(
            &c,
            "const w = document.querySelector('.terminal-wrap'); \
             const dt = new DataTransfer(); \
             dt.items.add(new File(['dropped on the terminal\\n'], 'dropped.txt')); \
             window.__drag = dt; \
             for (const type of ['dragenter', 'dragover']) \
               w.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true })); \
             return true;",
        )
        .await;
        assert_eq!(dragged, Value::Bool(true));
        wait_until(
            &c,
            "the drop target to light up",
            "return document.querySelector('.terminal-wrap').hasAttribute('data-drop') && \
             getComputedStyle(document.querySelector('.drop-hint')).display !== 'none'",
        )
        .await;
        screenshot(&c, "files-drop-target.png").await;
        js(
            &c,
            "document.querySelector('.terminal-wrap').dispatchEvent(\
               new DragEvent('drop', { dataTransfer: window.__drag, bubbles: true, cancelable: true })); \
             return true;",
        )
        .await;
        wait_for_transfer(&c, "uploaded dropped.txt to /root", WAIT).await;
        assert_eq!(
            attr(&c, ".terminal-wrap", "data-drop").await,
            None,
            "the drop target stays lit after the drop"
        );
        has(
            &sh.run("cat /root/dropped.txt").await,
            "dropped on the terminal",
        );

        // Out: a file written in the guest downloads with the same bytes.
        let out = sh
            .run("head -c 300000 /dev/urandom > /tmp/r; sha256sum /tmp/r")
            .await;
        let want = guest_sha256(&out, "/tmp/r");
        has(
            &sh.run("download /tmp/r").await,
            "download: /tmp/r: sent to the browser (293 KiB)",
        );
        let got = wait_for_download(&downloads, "r", 300_000, WAIT).await;
        assert_eq!(sha256_hex(&got), want, "r changed on its way out");
        wait_for_transfer(&c, "downloaded r (293 KiB) from the guest", WAIT).await;
        screenshot(&c, "files-downloaded.png").await;

        // What cannot be downloaded says why, and fails.
        let (status, out) = sh.run_status("download /tmp").await;
        assert_eq!(status, 1, "download of a directory:\n{out}");
        has(&out, "download: /tmp: is a directory");
        let (status, out) = sh.run_status("download /tmp/nothing-here").await;
        assert_eq!(status, 1, "download of a missing file:\n{out}");
        has(&out, "download: /tmp/nothing-here: No such file or directory");

        // 20 MiB in and out: the page sends only what the guest takes, nothing is lost.
        let started = Instant::now();
        input.send_keys(&path("big.bin")).await.expect("pick big.bin");
        wait_for_transfer(&c, "uploaded big.bin to /root (20 MiB)", BOOT_WAIT * 4).await;
        let upload = started.elapsed();
        let out = sh.run("sha256sum /root/big.bin").await;
        assert_eq!(
            guest_sha256(&out, "/root/big.bin"),
            sha256_hex(&big),
            "big.bin changed on its way in"
        );
        let started = Instant::now();
        has(
            &sh.run("download /root/big.bin").await,
            "sent to the browser (20 MiB)",
        );
        let got = wait_for_download(&downloads, "big.bin", big.len(), BOOT_WAIT * 4).await;
        let download = started.elapsed();
        assert!(got == big, "big.bin changed on its way out");
        let mib = big.len() as f64 / f64::from(1 << 20);
        eprintln!(
            "20 MiB: upload {:.1} s ({:.2} MiB/s), download {:.1} s ({:.2} MiB/s)",
            upload.as_secs_f64(),
            mib / upload.as_secs_f64(),
            download.as_secs_f64(),
            mib / download.as_secs_f64()
        );
    })
    .await;
}
