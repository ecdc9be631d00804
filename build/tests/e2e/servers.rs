//! Small static servers for what `Server` must never do: serve without the isolation
//! headers, trickle the artifacts, or stop for real (the offline tests).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

/// A deliberately limited static server for what `Server` must never do: serve without the
/// isolation headers, or trickle the artifacts out slowly so the page's progress is visible.
/// Its threads end with the test process.
pub fn plain_server(root: &Path, isolation: bool, trickle: Option<Duration>) -> String {
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

pub fn answer(
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

pub fn copy_dir(from: &Path, to: &Path) {
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

/// A static server that can be shut down for real (its listening socket closed: connections
/// are refused), unlike `Server`, whose kept-alive connections would leave the browser's
/// requests hanging. Answers like `plain_server`, with the isolation headers.
pub struct StoppableServer {
    pub url: String,
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StoppableServer {
    pub fn start(root: &Path) -> Self {
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
    pub fn shut_down(&mut self) {
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
