//! The disk (issue 12): `/dev/vda` is virtio-blk on a file in the origin's private storage,
//! ext4 with overlays over the directories people change, so what they write there is still
//! there after a reload. Each test's browser has a fresh profile, so its first boot finds a
//! blank disk.

use crate::common::*;
use crate::shell::{has, Shell};
use alpenglow_build::browser::Kind;
use alpenglow_build::serve::Server;
use std::time::Duration;

in_browsers!(files_in_root_and_usr_survive_a_reload: chromium, firefox);
in_browsers!(without_a_usable_disk_the_machine_boots_from_ram: chromium, firefox);
in_browsers!(a_second_tab_says_the_disk_is_in_use: chromium, firefox);
in_browsers!(erasing_the_disk_empties_it: chromium, firefox);

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
        has(&sh.run("mount"), "/dev/vda on /run/disk type ext4");
        has(&sh.run("mount"), "overlay on /usr type overlay");
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

/// `?disk=none` boots without the disk; a disk file cut in half is refused by the guest (ext4
/// does not mount) and the machine still boots, from RAM, and says why.
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
        has(&boot, "alpenglow-disk: the disk did not mount");
        has(&boot, "alpenglow-disk: files live in memory only this time");
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
    has(&sh.run("mount"), "/dev/vda on /run/disk type ext4");
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
