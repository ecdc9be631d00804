//! A static file server for the built site with the headers cross-origin isolation needs
//! (COOP `same-origin`, COEP `require-corp`): SharedArrayBuffer, and so the kernel's shared
//! memory, only exists in an isolated page. Used by `cargo x up` and the end-to-end tests.

use anyhow::{anyhow, Context, Result};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use tiny_http::{Header, Response, StatusCode};

/// A running server; it stops when dropped.
pub struct Server {
    inner: Arc<tiny_http::Server>,
    addr: std::net::SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves `root` on `host:port` (port 0 picks a free one) from a background thread.
    pub fn start(root: &Path, host: &str, port: u16) -> Result<Self> {
        let root = root
            .canonicalize()
            .with_context(|| format!("site directory {} does not exist", root.display()))?;
        let inner = Arc::new(
            tiny_http::Server::http((host, port))
                .map_err(|e| anyhow!("cannot listen on {host}:{port}: {e}"))?,
        );
        let addr = inner
            .server_addr()
            .to_ip()
            .context("server has no IP address")?;
        let srv = inner.clone();
        let thread = std::thread::spawn(move || {
            // Each request is answered on a thread of its own: writing a response blocks
            // while the client does not read it (a browser holds a response body unread,
            // or reads it slowly under load), and one such client must not stall every
            // other request (`cargo x up` serves every tab of a person's browser).
            let root = Arc::new(root);
            for req in srv.incoming_requests() {
                let root = root.clone();
                std::thread::spawn(move || {
                    let resp = respond(&root, req.url());
                    let _ = req.respond(resp);
                });
            }
        });
        Ok(Self {
            inner,
            addr,
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Serves until the process is killed.
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.inner.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The embedding example (app/examples/embed.html, served by `example`) pointed at the app
/// served by `app`.
pub fn example_url(example: &Server, app: &Server) -> String {
    format!("{}embed.html?app={}", example.url(), app.url())
}

fn header(k: &str, v: &str) -> Header {
    Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("static header")
}

pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Maps a request path to a file below `root`; `..` and absolute tricks are refused.
pub fn resolve(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("/");
    let mut p = root.to_path_buf();
    for part in path.split('/').filter(|s| !s.is_empty()) {
        let part = percent_decode(part)?;
        let comp = Path::new(&part);
        if comp.components().count() != 1
            || !matches!(comp.components().next(), Some(Component::Normal(_)))
        {
            return None;
        }
        p.push(comp);
    }
    if p.is_dir() {
        p.push("index.html");
    }
    p.is_file().then_some(p)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn respond(root: &Path, url: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    let isolation = [
        header("Cross-Origin-Opener-Policy", "same-origin"),
        header("Cross-Origin-Embedder-Policy", "require-corp"),
        header("Cross-Origin-Resource-Policy", "cross-origin"),
        header("Cache-Control", "no-cache"),
    ];
    let (status, body, ctype) = match resolve(root, url).map(|p| (std::fs::read(&p), p)) {
        Some((Ok(bytes), p)) => (200, bytes, content_type(&p)),
        Some((Err(_), _)) => (500, b"read error\n".to_vec(), "text/plain"),
        None => (
            404,
            format!("not found: {url}\n").into_bytes(),
            "text/plain",
        ),
    };
    let mut r = Response::from_data(body)
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", ctype));
    for h in isolation {
        r = r.with_header(h);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn serves_with_isolation_headers_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<p>hi</p>").unwrap();
        std::fs::create_dir(dir.path().join("dist")).unwrap();
        std::fs::write(dir.path().join("dist/a b.wasm"), b"\0asm").unwrap();
        let srv = Server::start(dir.path(), "127.0.0.1", 0).unwrap();
        let base = srv.url();

        let r = ureq::get(&base).call().unwrap();
        assert_eq!(r.header("Cross-Origin-Opener-Policy"), Some("same-origin"));
        assert_eq!(
            r.header("Cross-Origin-Embedder-Policy"),
            Some("require-corp")
        );
        assert_eq!(r.into_string().unwrap(), "<p>hi</p>");

        let r = ureq::get(&format!("{base}dist/a%20b.wasm")).call().unwrap();
        assert_eq!(r.header("Content-Type"), Some("application/wasm"));
        let mut b = Vec::new();
        r.into_reader().read_to_end(&mut b).unwrap();
        assert_eq!(b, b"\0asm");

        assert!(resolve(dir.path(), "/../etc/passwd").is_none());
        assert!(resolve(dir.path(), "/%2e%2e/etc/passwd").is_none());
        match ureq::get(&format!("{base}missing.js")).call() {
            Err(ureq::Error::Status(404, _)) => {}
            other => panic!("expected 404, got {other:?}"),
        }
    }

    #[test]
    fn the_embedding_example_is_served_as_an_isolated_page_pointed_at_the_app() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let site = tempfile::tempdir().unwrap();
        std::fs::write(site.path().join("index.html"), "<p>app</p>").unwrap();
        let app = Server::start(site.path(), "127.0.0.1", 0).unwrap();
        let example = Server::start(&repo.join("app/examples"), "127.0.0.1", 0).unwrap();
        let url = example_url(&example, &app);
        assert!(
            url.ends_with(&format!("embed.html?app={}", app.url())),
            "{url}"
        );
        assert_ne!(
            example.url(),
            app.url(),
            "the example needs an origin of its own"
        );

        let r = ureq::get(&url).call().unwrap();
        // An isolated parent, so the embedded app can have shared memory.
        assert_eq!(r.header("Cross-Origin-Opener-Policy"), Some("same-origin"));
        assert_eq!(
            r.header("Cross-Origin-Embedder-Policy"),
            Some("require-corp")
        );
        let page = r.into_string().unwrap();
        for needed in ["allow=\"cross-origin-isolated", "alpenglow:type", "?embed&"] {
            assert!(page.contains(needed), "embed.html lacks {needed:?}");
        }
        // The app's responses may be embedded by another origin.
        let r = ureq::get(&app.url()).call().unwrap();
        assert_eq!(
            r.header("Cross-Origin-Resource-Policy"),
            Some("cross-origin")
        );
    }
}
