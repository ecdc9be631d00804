//! Packages (issue 13): the guest's own `apk` installs real packages from the repository the
//! site serves at /repo/, checks their signatures and hashes, and keeps them on the disk; the
//! page's Packages panel installs through the same apk. The packages are those of
//! `packages::DEFAULT_SET`.

use crate::common::*;
use crate::shell::{has, Shell};
use alpenglow_build::browser::Kind;
use alpenglow_build::formats::apk::reader::{entries, members};
use alpenglow_build::serve::Server;
use std::path::Path;
use std::time::Duration;

in_browsers!(apk_installs_runs_and_removes_packages: chromium, firefox);
in_browsers!(the_packages_panel_installs_a_package: chromium, firefox);
in_browsers!(a_tampered_package_is_refused_and_nothing_of_it_installed: chromium);

/// The site's repository index: its package names, and the file name of `name`'s package.
fn index(site: &Path) -> Vec<(String, String)> {
    let bytes = std::fs::read(site.join("repo/main/wasm32/APKINDEX.tar.gz"))
        .expect("the site has no package repository: run cargo x all");
    let parts = members(&bytes).expect("the index's gzip members");
    let files = entries(&parts[1].data).expect("the index's tar");
    let text = files
        .iter()
        .find(|e| e.path == "APKINDEX")
        .map(|e| String::from_utf8_lossy(&e.data).into_owned())
        .expect("APKINDEX in the index");
    text.split("\n\n")
        .filter_map(|record| {
            let field = |k: &str| {
                record
                    .lines()
                    .find_map(|l| l.strip_prefix(k))
                    .map(str::to_string)
            };
            Some((
                field("P:")?,
                format!("{}-{}.apk", field("P:")?, field("V:")?),
            ))
        })
        .collect()
}

fn apk_installs_runs_and_removes_packages(kind: Kind) {
    let site = site();
    let count = index(&site).len();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    let c = browser(kind);
    {
        let mut sh = Shell::login(&c, &url);
        has(
            &sh.run("cat /etc/apk/repositories"),
            "http://alpenglow.host/repo/main",
        );
        let out = sh.run("apk update");
        has(&out, &format!("OK: {count} distinct packages available"));

        let out = sh.run("apk add lua5.4 sqlite jq htop");
        has(&out, "Installing lua5.4");
        has(&out, "Installing jq");
        // htop needs ncurses' terminal descriptions: apk brought them along.
        has(&out, "Installing ncurses-terminfo-base");
        // The results are computed by the programs, so the typed lines cannot show them.
        has(&sh.run("lua5.4 -e 'print(6*7)'"), "42");
        has(&sh.run("sqlite3 :memory: 'select 40+2;'"), "42");
        has(&sh.run("echo '{\"a\":40}' | jq '.a+2'"), "42");
        has(&sh.run("apk info -L jq"), "usr/bin/jq");
        // htop draws its screen (its meters and the function-key bar) and q quits it.
        sh.keys("clear; htop\n");
        wait_for_terminal(&c, "Load average", false, Duration::from_secs(60));
        wait_for_terminal(&c, "Quit", false, Duration::from_secs(30));
        sh.keys("q");
        has(&sh.run("echo htop-quit-$((6*7))"), "htop-quit-42");
        has(&sh.run("cat /etc/apk/world"), "sqlite");

        let out = sh.run("apk del jq");
        has(&out, "Purging jq");
        has(
            &sh.run("command -v jq || echo jq-gone-$((40+2))"),
            "jq-gone-42",
        );
        let (status, out) = sh.run_status("apk info -e jq");
        assert_ne!(status, 0, "jq is still installed:\n{out}");

        let (status, out) = sh.run_status("apk add no-such-package");
        assert_ne!(status, 0, "apk add of a missing package succeeded:\n{out}");
        has(&out, "no-such-package (no such package)");
        sh.run("sync");
    }
    {
        // Installed packages are on the disk: after a reload they are still there.
        let mut sh = Shell::login(&c, &url);
        has(&sh.run("lua5.4 -e 'print(6*7)'"), "42");
        let out = sh.run("apk info");
        has(&out, "lua5.4");
        assert!(
            !out.lines().any(|l| l.trim() == "jq"),
            "jq came back:\n{out}"
        );
    }
}

fn the_packages_panel_installs_a_package(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let c = browser(kind);
    let mut sh = Shell::login(&c, &server.url());
    click(&c, "button.packages-toggle");
    wait_until(
        &c,
        "the Packages panel lists tree",
        "return !!document.querySelector('#packages li.package[data-package=\"tree\"][data-installed=\"false\"]')",
    );
    type_into(&c, "#packages input.packages-search", "tre");
    let shown = js(
        &c,
        "return [...document.querySelectorAll('#packages li.package')].map(e => e.dataset.package)",
    );
    let shown: Vec<String> = serde_json::from_value(shown).expect("names");
    assert!(shown.contains(&"tree".to_string()), "{shown:?}");
    assert!(
        !shown.contains(&"lua5.4".to_string()),
        "the search does not filter: {shown:?}"
    );
    click(
        &c,
        "#packages li.package[data-package=\"tree\"] button.package-action",
    );
    wait_until(
        &c,
        "the panel says tree is installed",
        "const o = document.querySelector('#packages .packages-outcome'); return !!o && o.dataset.ok === 'true'",
    );
    has(
        &text_of(&c, "#packages .packages-outcome"),
        "tree is installed",
    );
    has(&text_of(&c, "#packages .packages-log"), "Installing tree");
    wait_until(
        &c,
        "the panel shows tree installed",
        "return !!document.querySelector('#packages li.package[data-package=\"tree\"][data-installed=\"true\"]')",
    );
    click(&c, "button.packages-toggle");
    // The shell, not the panel, runs tree: the package works in the terminal.
    sh.run("mkdir -p /tmp/t/a/b /tmp/t/c && touch /tmp/t/a/f");
    has(&sh.run("tree /tmp/t"), "4 directories, 1 file");
}

/// A package whose data stream was swapped behind a valid signature and index entry: apk
/// refuses it before it writes anything.
fn a_tampered_package_is_refused_and_nothing_of_it_installed(kind: Kind) {
    let site = site();
    let (_, file) = index(&site)
        .into_iter()
        .find(|(name, _)| name == "lua5.4")
        .expect("lua5.4 in the repository");
    let real = std::fs::read(site.join("repo/main/wasm32").join(&file)).expect("lua5.4's package");
    let parts = members(&real).expect("lua5.4's gzip members");
    // Another data stream: lua5.4's own files with its program's bytes changed.
    let mut data = parts[2].data.clone();
    let at = data
        .windows(4)
        .position(|w| w == b"\0asm")
        .expect("a wasm program in lua5.4");
    data[at + 8] ^= 0xff;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &data).unwrap();
    let tampered = [
        parts[0].compressed.clone(),
        parts[1].compressed.clone(),
        gz.finish().unwrap(),
    ]
    .concat();
    let dir = site.join("e2e/tampered/wasm32");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        site.join("repo/main/wasm32/APKINDEX.tar.gz"),
        dir.join("APKINDEX.tar.gz"),
    )
    .unwrap();
    std::fs::write(dir.join(&file), tampered).unwrap();

    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let c = browser(kind);
    let mut sh = Shell::login(&c, &server.url());
    sh.run("echo http://alpenglow.host/e2e/tampered > /etc/apk/repositories");
    sh.run("apk update");
    let (status, out) = sh.run_status("apk add lua5.4");
    assert_ne!(status, 0, "the tampered package was installed:\n{out}");
    has(&out, &file);
    let (status, out) = sh.run_status("ls /usr/bin/lua5.4");
    assert_ne!(status, 0, "lua5.4's program was written:\n{out}");
    let (status, _) = sh.run_status("apk info -e lua5.4");
    assert_ne!(status, 0, "the database lists lua5.4");
}
