//! The service worker: the page boots offline after one visit, a new build rolls the cache,
//! and it supplies the isolation headers a host cannot send.

use crate::boot::{assert_compiled, assert_kernel_started};
use crate::common::*;
use crate::servers::{copy_dir, plain_server, StoppableServer};
use crate::shell::{has, Shell};
use alpenglow_build::browser::{Kind, Session};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

in_browsers!(page_boots_offline_after_one_visit: chromium, firefox);
in_browsers!(the_guest_reads_the_cached_site_offline: chromium, firefox);
in_browsers!(a_new_manifest_rolls_the_offline_cache: chromium, firefox);
in_browsers!(page_without_isolation_headers_gets_them_from_the_service_worker: chromium, firefox);
in_browsers!(page_without_isolation_or_service_worker_says_what_to_do: chromium, firefox);

/// Waits until the service worker controls the page and says it has cached everything a
/// reload needs (the status bar's offline note).
fn wait_until_offline_ready(c: &Session) {
    let deadline = Instant::now() + WAIT;
    loop {
        let state = attr(c, ".statusbar .offline", "data-offline");
        let controlled = js(c, "return !!navigator.serviceWorker.controller");
        if state.as_deref() == Some("ready") && controlled == Value::Bool(true) {
            return;
        }
        if state.as_deref() == Some("unavailable") || Instant::now() > deadline {
            panic!(
                "the page never became available offline ({state:?}, controlled: {controlled}): {:?}",
                attr(c, ".statusbar .offline", "title")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// After one visit the service worker has everything: with the server gone, a reload boots the
/// kernel from the cache, verified and cross-origin isolated as online.
fn page_boots_offline_after_one_visit(kind: Kind) {
    let site = site();
    let mut server = StoppableServer::start(&site);
    let url = server.url.clone();
    let site2 = site.clone();
    {
        let c = browser(kind);
        goto(&c, &url);
        wait_until_started(&c);
        wait_for_prompt(&c);
        wait_until_offline_ready(&c);
        screenshot(&c, "offline-ready.png");

        server.shut_down();
        c.reload().expect("reload the page");
        let state = wait_until_started(&c);
        eprintln!("offline reload: the page is {state:?}");
        assert_compiled(&c, &site2);
        // From the cache alone the machine boots to the shell's prompt.
        wait_for_prompt(&c);
        assert_eq!(page_state(&c), "running");
        screenshot(&c, "offline-boot.png");
    }
}

/// The guest's HTTP to the site goes through the page's service worker: a file it read
/// online it reads again offline, and one never fetched is an HTTP error, not a hang.
fn the_guest_reads_the_cached_site_offline(kind: Kind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("site");
    copy_dir(&site(), &copy);
    let note = format!("kept-for-later {}", 6 * 7);
    std::fs::create_dir_all(copy.join("e2e")).expect("mkdir e2e");
    std::fs::write(copy.join("e2e/offline-note.txt"), format!("{note}\n")).expect("write");
    let mut server = StoppableServer::start(&copy);
    let url = server.url.clone();
    let c = browser(kind);
    let mut sh = Shell::login(&c, &url);
    wait_until_offline_ready(&c);
    has(
        &sh.run("wget -qO- http://alpenglow.host/e2e/offline-note.txt"),
        &note,
    );

    server.shut_down();
    c.reload().expect("reload the page offline");
    wait_until_started(&c);
    wait_for_line(&c, "the login shell's prompt", |l| l.ends_with(":~#"));
    has(
        &sh.run("wget -qO- http://alpenglow.host/e2e/offline-note.txt"),
        &note,
    );
    let (status, out) = sh.run_status("wget -qO- http://alpenglow.host/e2e/never-fetched.txt");
    assert_ne!(status, 0, "an uncached file was read offline:\n{out}");
}

fn cache_names(c: &Session) -> Vec<String> {
    let v = js(
        c,
        "return (await caches.keys()).filter(n => n.startsWith('alpenglow-'));",
    );
    let names = v.as_array().expect("cache names").iter();
    names
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect()
}

/// A new build (another vmlinux.wasm, so another manifest) is picked up online at the next
/// load: a new cache replaces the old one, and the new kernel is what boots offline afterwards.
fn a_new_manifest_rolls_the_offline_cache(kind: Kind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("site");
    copy_dir(&site(), &copy);
    let mut server = StoppableServer::start(&copy);
    let url = server.url.clone();
    let site_copy = copy.clone();
    {
        let c = browser(kind);
        goto(&c, &url);
        wait_until_started(&c);
        wait_until_offline_ready(&c);
        let before = cache_names(&c);
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

        c.reload().expect("reload the page");
        wait_until_started(&c);
        assert_compiled(&c, &site_copy);
        wait_until_offline_ready(&c);
        let after = cache_names(&c);
        assert!(
            after.len() == 1 && after != before,
            "expected one new cache instead of {before:?}, there are {after:?}"
        );

        server.shut_down();
        c.reload().expect("reload the page offline");
        wait_until_started(&c);
        assert_compiled(&c, &site_copy);
        assert_eq!(cache_names(&c), after);
    }
    drop(dir);
}

/// A host that cannot send the isolation headers: the service worker adds them after one
/// reload, and the kernel boots.
fn page_without_isolation_headers_gets_them_from_the_service_worker(kind: Kind) {
    let url = plain_server(&site(), false, None);
    {
        let c = browser(kind);
        goto(&c, &url);
        wait_until_started(&c);
        assert_eq!(
            js(&c, "return self.crossOriginIsolated"),
            Value::Bool(true),
            "the page must be isolated after the service worker's reload"
        );
        assert_eq!(
            js(&c, "return !!navigator.serviceWorker.controller"),
            Value::Bool(true)
        );
        assert_kernel_started(&c);
        screenshot(&c, "isolated-by-service-worker.png");
    }
}

/// Neither the headers nor the service worker (a host that serves no sw.js; the same for a
/// browser without service workers): the page says what the host must do, and does not loop.
fn page_without_isolation_or_service_worker_says_what_to_do(kind: Kind) {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("site");
    copy_dir(&site(), &copy);
    std::fs::remove_file(copy.join("sw.js")).expect("remove sw.js");
    let url = plain_server(&copy, false, None);
    {
        let c = browser(kind);
        goto(&c, &url);
        wait_for_state(&c, "not-isolated");
        assert_eq!(
            js(&c, "return self.crossOriginIsolated"),
            Value::Bool(false)
        );
        let text = text_of(&c, ".card.error");
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
        screenshot(&c, "not-isolated.png");
    }
    drop(dir);
}
