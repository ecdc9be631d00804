//! Files in and out (issue 5).

use crate::common::*;
use crate::shell::{has, Shell};
use alpenglow_build::browser::session::Options;
use alpenglow_build::browser::{Kind, Session};
use alpenglow_build::serve::Server;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

in_browsers!(files_go_in_and_out_through_the_page: chromium, firefox);

/// The page's transfer line once it says `needle` and is finished (`done` or `failed`).
fn wait_for_transfer(c: &Session, needle: &str, wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    let script = "const t = document.querySelector('.transfer'); \
                  return t ? [t.dataset.state, t.textContent] : null;";
    loop {
        let v = js(c, script);
        let state = v[0].as_str().unwrap_or_default();
        let text = v[1].as_str().unwrap_or_default().to_string();
        if state != "busy" && text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the transfer line never said {needle:?}; it says {text:?} ({state})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A file the browser downloaded into `dir`, once it is complete (`len` bytes, no partial
/// file left: Chromium's `.crdownload`, Firefox's `.part`).
fn wait_for_download(dir: &Path, name: &str, len: usize, wait: Duration) -> Vec<u8> {
    let deadline = Instant::now() + wait;
    loop {
        let partial = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten().any(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.ends_with(".crdownload") || name.ends_with(".part")
                })
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
        std::thread::sleep(Duration::from_millis(100));
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
fn files_go_in_and_out_through_the_page(kind: Kind) {
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
    {
        // A headless browser saves downloads only where it is told to.
        let c = browser_with(
            kind,
            &Options {
                downloads: Some(downloads.clone()),
                ..Options::default()
            },
        );
        let mut sh = Shell::login(&c, &url);

        // Two files at once through the page's file input (what Upload opens).
        let input = "#upload-input";
        assert!(
            c.exists(input).expect("look for it"),
            "the page's file input"
        );
        let path = |name: &str| up.join(name);
        pick_files(&c, input, &[&path("notes.txt"), &path("binary.bin")]);
        wait_for_transfer(&c, "uploaded binary.bin to /root (195 KiB)", WAIT);
        screenshot(&c, "files-uploaded.png");
        has(&sh.run("cat /root/notes.txt"), "notes from the host: grüße");
        let out = sh.run("sha256sum /root/binary.bin");
        assert_eq!(
            guest_sha256(&out, "/root/binary.bin"),
            sha256_hex(&binary),
            "binary.bin changed on its way in"
        );

        // The same name again: kept beside the first, and the page says so.
        pick_files(&c, input, &[&path("notes.txt")]);
        let said = wait_for_transfer(&c, "notes.txt", WAIT);
        has(&said, "as /root/notes-1.txt");
        has(&said, "was there already");
        has(&sh.run("cat /root/notes-1.txt"), "notes from the host");

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
        ;
        assert_eq!(dragged, Value::Bool(true));
        wait_until(
            &c,
            "the drop target to light up",
            "return document.querySelector('.terminal-wrap').hasAttribute('data-drop') && \
             getComputedStyle(document.querySelector('.drop-hint')).display !== 'none'",
        );
        screenshot(&c, "files-drop-target.png");
        js(
            &c,
            "document.querySelector('.terminal-wrap').dispatchEvent(\
               new DragEvent('drop', { dataTransfer: window.__drag, bubbles: true, cancelable: true })); \
             return true;",
        )
        ;
        wait_for_transfer(&c, "uploaded dropped.txt to /root", WAIT);
        assert_eq!(
            attr(&c, ".terminal-wrap", "data-drop"),
            None,
            "the drop target stays lit after the drop"
        );
        has(&sh.run("cat /root/dropped.txt"), "dropped on the terminal");

        // Out: a file written in the guest downloads with the same bytes.
        let out = sh.run("head -c 300000 /dev/urandom > /tmp/r; sha256sum /tmp/r");
        let want = guest_sha256(&out, "/tmp/r");
        has(
            &sh.run("download /tmp/r"),
            "download: /tmp/r: sent to the browser (293 KiB)",
        );
        let got = wait_for_download(&downloads, "r", 300_000, WAIT);
        assert_eq!(sha256_hex(&got), want, "r changed on its way out");
        wait_for_transfer(&c, "downloaded r (293 KiB) from the guest", WAIT);
        screenshot(&c, "files-downloaded.png");

        // What cannot be downloaded says why, and fails.
        let (status, out) = sh.run_status("download /tmp");
        assert_eq!(status, 1, "download of a directory:\n{out}");
        has(&out, "download: /tmp: is a directory");
        let (status, out) = sh.run_status("download /tmp/nothing-here");
        assert_eq!(status, 1, "download of a missing file:\n{out}");
        has(
            &out,
            "download: /tmp/nothing-here: No such file or directory",
        );

        // 20 MiB in and out: the page sends only what the guest takes, nothing is lost.
        let started = Instant::now();
        pick_files(&c, input, &[&path("big.bin")]);
        wait_for_transfer(&c, "uploaded big.bin to /root (20 MiB)", BOOT_WAIT * 4);
        let upload = started.elapsed();
        let out = sh.run("sha256sum /root/big.bin");
        assert_eq!(
            guest_sha256(&out, "/root/big.bin"),
            sha256_hex(&big),
            "big.bin changed on its way in"
        );
        let started = Instant::now();
        has(
            &sh.run("download /root/big.bin"),
            "sent to the browser (20 MiB)",
        );
        let got = wait_for_download(&downloads, "big.bin", big.len(), BOOT_WAIT * 4);
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
    }
}
