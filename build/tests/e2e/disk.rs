//! The disk (issue 12): `/dev/vda` is virtio-blk on a file in the origin's private storage,
//! ext4 with overlays over the directories people change, so what they write there is still
//! there after a reload. Each test's browser has a fresh profile, so its first boot finds a
//! blank disk.

use crate::common::*;
use crate::shell::{has, Shell};
use alpenglow_build::browser::session::Options;
use alpenglow_build::browser::Kind;
use alpenglow_build::serve::Server;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;
use std::time::Instant;

in_browsers!(files_in_root_and_usr_survive_a_reload: chromium, firefox);
in_browsers!(without_a_usable_disk_the_machine_boots_from_ram: chromium, firefox);
in_browsers!(a_second_tab_says_the_disk_is_in_use: chromium, firefox);
in_browsers!(erasing_the_disk_empties_it: chromium, firefox);
in_browsers!(a_downloaded_image_restores_the_files_and_a_truncated_one_is_refused: chromium, firefox);
in_browsers!(a_browser_killed_during_a_write_leaves_a_disk_that_mounts: chromium);
in_browsers!(the_disk_grows_to_the_size_asked_for_and_never_shrinks: chromium, firefox);

fn files_in_root_and_usr_survive_a_reload(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    let c = browser(kind);
    {
        let mut sh = Shell::login(&c, &url);
        // The first boot formatted the blank disk and put the overlays up.
        has(
            &terminal_transcript(&c),
            "alpenglow-disk: formatting a new disk (1024 MiB",
        );
        has(
            &sh.run("mount | grep /dev/vda"),
            "/dev/vda on /run/disk type ext4",
        );
        // The mount table is longer than a small terminal: look for the lines, not at the screen.
        let overlays = sh.run("mount | grep -e 'on /usr ' -e 'on /lib '");
        has(&overlays, "overlay on /usr type overlay");
        has(&overlays, "overlay on /lib type overlay");
        // The content is computed by the shell, so the typed line cannot show it.
        sh.run("echo disk-$((6*7)) > /root/keep");
        sh.run("printf '#!/bin/sh\\necho tool-$((2+3))\\n' > /usr/local/bin/hello-disk");
        sh.run("chmod +x /usr/local/bin/hello-disk");
        has(&sh.run("hello-disk"), "tool-5");
        // As a person would before closing the tab, to be sure: flushes to the browser.
        sh.run("sync");
    }
    {
        let mut sh = Shell::login(&c, &url);
        let out = sh.run("cat /root/keep");
        has(&out, "disk-42");
        has(&sh.run("hello-disk"), "tool-5");
        // Mounted again, not formatted again.
        let boot = terminal_transcript(&c);
        assert!(
            !boot.contains("formatting a new disk"),
            "the second boot formatted the disk again:\n{boot}"
        );
        has(&sh.run("ls -l /run/disk/upper/root"), "keep");
    }
}

/// `?disk=none` boots without the disk; a disk file cut in half is refused by the host (its
/// file system is larger than the file) and the machine still boots, from RAM, and says why.
fn without_a_usable_disk_the_machine_boots_from_ram(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    let c = browser(kind);
    {
        let mut sh = Shell::login(&c, &url);
        sh.run("echo disk-$((6*7)) > /root/keep; sync");
    }
    {
        let mut sh = Shell::login(&c, &format!("{url}?disk=none"));
        has(
            &terminal_transcript(&c),
            "alpenglow-disk: files live in memory only this time",
        );
        let (status, out) = sh.run_status("cat /root/keep");
        assert_ne!(status, 0, "RAM only, yet /root/keep is there:\n{out}");
        // No machine holds the disk now: cut its file in half, as a crash of the storage
        // might.
        let cut = js(
            &c,
            "const dir = await navigator.storage.getDirectory();
             const file = await dir.getFileHandle('disk.img');
             const size = (await file.getFile()).size;
             const w = await file.createWritable({ keepExistingData: true });
             await w.truncate(size / 2);
             await w.close();
             return (await file.getFile()).size;",
        );
        assert_eq!(
            cut.as_u64(),
            Some(512 << 20),
            "the disk file was not cut: {cut}"
        );
    }
    {
        let mut sh = Shell::login(&c, &url);
        let boot = terminal_transcript(&c);
        // The terminal wraps the line: its two ends.
        has(
            &boot,
            "no disk this time (the disk file was refused: the file system is 1073741824 bytes",
        );
        has(&boot, "but the image only 536870912: truncated)");
        has(&boot, "alpenglow-disk: files live in memory only this time");
        assert_eq!(text_of(&c, ".statusbar .disk"), "disk refused: RAM only");
        has(&sh.run("echo ok-$((1+1))"), "ok-2");
        let (status, _) = sh.run_status("mount | grep -q /dev/vda");
        assert_ne!(status, 0, "the cut disk was mounted");
    }
}

/// A second machine of the same origin (a frame of the page, to the browser's locks the same
/// as a second tab) does not get the disk: it says why and boots from RAM, and the first
/// machine's disk is untouched.
fn a_second_tab_says_the_disk_is_in_use(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    let c = browser(kind);
    let mut sh = Shell::login(&c, &url);
    sh.run("echo first-$((3*3)) > /root/mine; sync");
    js(
        &c,
        "const f = document.createElement('iframe'); f.id = 'second'; \
         f.style = 'position: fixed; right: 0; bottom: 0; width: 800px; height: 500px'; \
         f.src = location.href; document.body.appendChild(f); return true;",
    );
    c.enter_frame("iframe#second")
        .expect("enter the second machine's frame");
    wait_for_terminal(
        &c,
        "the disk is in use by another tab of this site",
        true,
        Duration::from_secs(180),
    );
    wait_for_terminal(
        &c,
        "alpenglow-disk: files live in memory only this time",
        true,
        Duration::from_secs(180),
    );
    c.leave_frame();
    has(&sh.run("cat /root/mine"), "first-9");
    has(
        &sh.run("mount | grep /dev/vda"),
        "/dev/vda on /run/disk type ext4",
    );
}

/// Settings → Disk → "Erase disk…", confirmed: the machine restarts on a fresh disk, and what
/// was written before is gone, after a reload too.
fn erasing_the_disk_empties_it(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    let c = browser(kind);
    let mut sh = Shell::login(&c, &url);
    sh.run("echo gone-$((6*7)) > /root/erase-me; sync");
    has(&sh.run("cat /root/erase-me"), "gone-42");

    click(&c, "button.settings-toggle");
    wait_until(
        &c,
        "the settings panel's disk tools",
        "return !!document.querySelector('#settings button.erase-disk')",
    );
    click(&c, "#settings button.erase-disk");
    wait_until(
        &c,
        "the confirmation",
        "return !!document.querySelector('#settings button.erase-disk-confirm')",
    );
    click(&c, "#settings button.erase-disk-confirm");
    wait_for_terminal(&c, "alpenglow-disk: formatting a new disk", true, BOOT_WAIT);
    wait_for_line(&c, "the login shell's prompt", |l| l.ends_with(":~#"));
    let (status, out) = sh.run_status("cat /root/erase-me");
    assert_ne!(status, 0, "the file outlived the erase:\n{out}");
    has(&out, "No such file");

    let mut sh = Shell::login(&c, &url);
    let (status, out) = sh.run_status("cat /root/erase-me");
    assert_ne!(status, 0, "the file came back after a reload:\n{out}");
}

/// Opens Settings (if closed) and waits for the disk's tools.
fn open_disk_tools(c: &alpenglow_build::browser::Session) {
    if !c.exists("#settings").expect("look for the settings") {
        click(c, "button.settings-toggle");
    }
    wait_until(
        c,
        "the settings panel's disk tools",
        "return !!document.querySelector('#settings button.download-disk:not([disabled])')",
    );
}

/// The browser's download `name` in `dir` once complete (no partial file left) and `len`
/// bytes long.
fn wait_for_download(dir: &Path, name: &str, len: u64) {
    let deadline = Instant::now() + BOOT_WAIT;
    loop {
        let partial = std::fs::read_dir(dir).is_ok_and(|d| {
            d.flatten().any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.ends_with(".crdownload") || n.ends_with(".part")
            })
        });
        let size = std::fs::metadata(dir.join(name)).map(|m| m.len());
        if !partial && size.as_ref().is_ok_and(|&s| s == len) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the browser did not download {name} ({len} bytes) into {}: {size:?}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Settings → Disk → "Download disk image" saves the disk as a file; files changed after
/// it are undone by "Restore from image…" with that file, after a reload too. A truncated
/// copy of the image is refused with the reason, and the running machine and its disk are
/// untouched.
fn a_downloaded_image_restores_the_files_and_a_truncated_one_is_refused(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    let dir = tempfile::tempdir().expect("temp dir");
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).expect("download dir");
    let c = browser_with(
        kind,
        &Options {
            downloads: Some(downloads.clone()),
            ..Options::default()
        },
    );
    let mut sh = Shell::login(&c, &url);
    sh.run("echo saved-$((6*7)) > /root/saved");
    sh.run("printf '#!/bin/sh\\necho tool-$((2+3))\\n' > /usr/local/bin/hello-disk");
    sh.run("chmod +x /usr/local/bin/hello-disk; sync");
    has(&sh.run("hello-disk"), "tool-5");

    open_disk_tools(&c);
    // The panel says how full the disk is, from the file system's superblock.
    wait_until(
        &c,
        "the disk's figures",
        "return /used of 1 GiB/.test(document.querySelector('#settings .disk-figures')?.textContent ?? '')",
    );
    click(&c, "#settings button.download-disk");
    wait_for_terminal(
        &c,
        "alpenglow-disk.img (1 GiB) is downloading",
        true,
        BOOT_WAIT,
    );
    let image = downloads.join("alpenglow-disk.img");
    wait_for_download(&downloads, "alpenglow-disk.img", 1 << 30);
    // The image is the disk: an ext4 superblock at byte 1024.
    let mut head = vec![0u8; 2048];
    std::fs::File::open(&image)
        .and_then(|mut f| f.read_exact(&mut head))
        .expect("read the image's start");
    assert_eq!(
        &head[1080..1082],
        &[0x53, 0xef],
        "no ext4 magic in the image"
    );

    // After the download the machine runs on the disk again; change what was saved.
    let mut sh = Shell::login(&c, &url);
    has(&sh.run("cat /root/saved"), "saved-42");
    sh.run("rm /root/saved /usr/local/bin/hello-disk; echo later-$((1+2)) > /root/later; sync");

    // A truncated image: refused with the reason, nothing changes.
    let cut = dir.path().join("cut.img");
    {
        let mut from = std::fs::File::open(&image).expect("open the image");
        let mut to = std::fs::File::create(&cut).expect("create the cut image");
        std::io::copy(&mut (&mut from).take(512 << 20), &mut to).expect("copy half");
        to.flush().expect("flush the cut image");
    }
    open_disk_tools(&c);
    pick_files(&c, "#settings input.restore-disk-file", &[&cut]);
    wait_until(
        &c,
        "the refusal",
        "return /cut\\.img was not restored: .*truncated.*The disk is unchanged/\
         .test(document.querySelector('#settings .disk-note')?.textContent ?? '')",
    );
    has(&sh.run("cat /root/later"), "later-3");
    has(
        &sh.run("mount | grep /dev/vda"),
        "/dev/vda on /run/disk type ext4",
    );

    // The downloaded image: the machine restarts on it.
    pick_files(&c, "#settings input.restore-disk-file", &[&image]);
    wait_for_terminal(
        &c,
        "the disk was restored from alpenglow-disk.img",
        true,
        BOOT_WAIT,
    );
    let mut sh = Shell::login(&c, &url);
    has(&sh.run("cat /root/saved"), "saved-42");
    has(&sh.run("hello-disk"), "tool-5");
    let (status, out) = sh.run_status("cat /root/later");
    assert_ne!(
        status, 0,
        "a file written after the download outlived the restore:\n{out}"
    );
    assert_eq!(text_of(&c, ".statusbar .disk"), "disk 1 GiB");
}

/// The browser is killed (SIGKILL) while the guest writes 50 MiB to the disk; a new browser
/// on the same profile boots, the journal is replayed (by e2fsck at boot, or by ext4), the
/// disk mounts with what was synced before, and the shell works.
fn a_browser_killed_during_a_write_leaves_a_disk_that_mounts(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = Options {
        profile: Some(dir.path().join("profile")),
        ..Options::default()
    };
    {
        let c = browser_with(kind, &opts);
        let mut sh = Shell::login(&c, &url);
        sh.run("echo before-$((6*7)) > /root/before; sync");
        // The write runs on; once 10 MiB of it are in the file, the browser dies.
        let started = sh.run(
            "(dd if=/dev/urandom of=/root/big bs=1M count=50 2>/dev/null &); \
             while [ $(stat -c %s /root/big 2>/dev/null || echo 0) -lt 10485760 ]; do sleep 0.2; done; \
             echo writing-$((5*5))",
        );
        has(&started, "writing-25");
        c.kill_browser().expect("kill the browser");
    }
    let c = browser_with(kind, &opts);
    let mut sh = Shell::login(&c, &url);
    has(
        &sh.run("mount | grep /dev/vda"),
        "/dev/vda on /run/disk type ext4",
    );
    let dmesg = sh.run("dmesg | grep -i -e 'EXT4-fs (vda)' -e 'e2fsck: '");
    assert!(
        dmesg.contains(": recovering journal") || dmesg.contains("recovery complete"),
        "no journal replay in the kernel log:\n{dmesg}"
    );
    has(&sh.run("cat /root/before"), "before-42");
    has(
        &sh.run("echo ok-$((6*7)) > /root/after; sync; cat /root/after"),
        "ok-42",
    );
}

/// Settings → Disk size asks for 2 GiB: at the next boot the disk file grows and the guest
/// grows its file system while mounted, files kept. Asked for less, it keeps its size. The
/// image carries e2fsprogs, installed as apk knows it, and every boot checks the disk with
/// e2fsck before mounting it.
fn the_disk_grows_to_the_size_asked_for_and_never_shrinks(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    let c = browser(kind);
    let total_mib = "df -m /run/disk | awk 'NR == 2 { print $2 }'";
    {
        let mut sh = Shell::login(&c, &url);
        has(
            &sh.run("apk info -e e2fsprogs >/dev/null && echo have-$((6*7))"),
            "have-42",
        );
        has(
            &sh.run("apk info -L e2fsprogs | grep -c -e '^sbin/e2fsck$' -e '^sbin/resize2fs$'"),
            "2",
        );
        sh.run("echo grow-$((6*7)) > /root/keep; sync");
        click(&c, "button.settings-toggle");
        wait_until(
            &c,
            "the settings panel",
            "return !!document.querySelector('#settings #set-disk-size')",
        );
        type_into(&c, "#set-disk-size", "2");
        click(&c, "#settings button.save");
        wait_until(
            &c,
            "the saved note",
            "return !!document.querySelector('#settings .saved-note')",
        );
        has(&text_of(&c, "#settings .pending-note"), "disk size");
    }
    {
        let mut sh = Shell::login(&c, &url);
        has(
            &terminal_transcript(&c),
            "alpenglow-disk: growing the file system from 1024 MiB to 2048 MiB",
        );
        assert_eq!(text_of(&c, ".statusbar .disk"), "disk 2 GiB");
        has(&sh.run("cat /root/keep"), "grow-42");
        has(
            &sh.run(&format!(
                "[ $({total_mib}) -gt 1900 ] && echo grown-$((6*7))"
            )),
            "grown-42",
        );
        // The boot checked the file system before it mounted it (e2fsck names it by its
        // label), and grew it.
        let log = sh.run("dmesg | grep -e 'e2fsck: ' -e 'resize2fs: '");
        has(&log, "e2fsck: alpenglow: clean");
        has(
            &log,
            "The filesystem on /dev/vda is now 524288 (4k) blocks long",
        );
    }
    {
        // Less than the disk has: the file system cannot shrink under its files.
        let mut sh = Shell::login(&c, &format!("{url}?disk-size=1"));
        assert_eq!(text_of(&c, ".statusbar .disk"), "disk 2 GiB");
        has(
            &sh.run(&format!(
                "[ $({total_mib}) -gt 1900 ] && echo kept-$((5*5))"
            )),
            "kept-25",
        );
        has(&sh.run("cat /root/keep"), "grow-42");
        let boot = terminal_transcript(&c);
        assert!(
            !boot.contains("growing the file system"),
            "the disk grew again:\n{boot}"
        );
    }
}
