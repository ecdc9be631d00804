//! The network (issue 11): the guest's kernel has TCP/IP, `eth0` gets its address by DHCP,
//! the host's gateway answers ping and DNS and carries HTTP to the page's `fetch()`, and
//! loopback TCP works as on any Linux (AF_UNIX sockets: `alpenglow-ctest`, boot.rs).

use crate::common::*;
use crate::shell::{has, Shell};
use alpenglow_build::browser::{Kind, Session};
use alpenglow_build::relay::{self, Policy};
use alpenglow_build::serve::Server;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

in_browsers!(the_guest_is_on_a_network: chromium, firefox);
in_browsers!(a_server_in_the_guest_shows_at_the_pages_origin: chromium, firefox);
in_browsers!(tcp_to_other_ports_goes_through_the_relay: chromium, firefox);

/// A 20 MiB file of the site that no other test uses, and its sha256 in hex.
fn big_file(site: &Path) -> (&'static str, String) {
    let name = "e2e/network-20mib.bin";
    // A byte pattern that no compression or caching layer can shortcut.
    let mut x: u32 = 0x2545_f491;
    let bytes: Vec<u8> = (0..20 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let path = site.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).expect("mkdir site/e2e");
    std::fs::write(&path, &bytes).expect("write the big file");
    let hex = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (name, hex)
}

/// The packet count after `label` (`RX packets:` or `TX packets:`) in `ifconfig`'s output.
fn packets(out: &str, label: &str) -> u64 {
    out.split(label)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label} count in:\n{out}"))
}

fn the_guest_is_on_a_network(kind: Kind) {
    let site = site();
    let (big, big_sha256) = big_file(&site);
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let c = browser(kind);
    let mut sh = Shell::login(&c, &server.url());

    // The kernel's DHCP client (ip=dhcp) took the gateway's lease at boot: eth0's address,
    // the default route and the name server.
    let out = sh.run("ip -4 addr show dev eth0");
    has(&out, "inet 10.0.2.15/24");
    has(&out, "UP");
    has(&sh.run("ip route"), "default via 10.0.2.2 dev eth0");
    has(&sh.run("cat /etc/resolv.conf"), "nameserver 10.0.2.2");
    let before = sh.run("ifconfig eth0");
    let (rx, tx) = (
        packets(&before, "RX packets:"),
        packets(&before, "TX packets:"),
    );

    // The gateway answers ARP and ping; the counters move.
    let out = sh.run("ping -c 3 -W 5 10.0.2.2");
    has(
        &out,
        "3 packets transmitted, 3 packets received, 0% packet loss",
    );
    let after = sh.run("ifconfig eth0");
    assert!(
        packets(&after, "RX packets:") >= rx + 3 && packets(&after, "TX packets:") >= tx + 3,
        "eth0's counters did not move:\n{before}\n{after}"
    );
    // Nobody is behind another address of the LAN: ping fails, the shell goes on.
    let (status, out) = sh.run_status("ping -c 1 -W 2 10.0.2.77");
    assert_ne!(status, 0, "a ping of nobody succeeded:\n{out}");
    has(&out, "0 packets received");

    // DNS: every name has an address of the gateway's pool, the same one each time.
    let out = sh.run("nslookup alpenglow.host");
    has(&out, "Address: 198.1");
    let first = sh.run("nslookup example.org | tail -n +3 | grep Address");
    let again = sh.run("nslookup EXAMPLE.org. | tail -n +3 | grep Address");
    has(&first, "198.1");
    assert_eq!(first, again, "one name, two addresses");

    // HTTP to alpenglow.host is the page's fetch() of its own site.
    let out =
        sh.run("wget -qO- http://alpenglow.host/dist/manifest.json | head -c 1 | od -An -tx1");
    has(&out, "7b");
    let out = sh.run(&format!(
        "wget -O /tmp/big http://alpenglow.host/{big} 2>&1 | tail -1; sha256sum /tmp/big; rm /tmp/big"
    ));
    has(&out, &big_sha256);
    // Errors are HTTP errors: a missing file is the site's 404, a failed fetch a 502.
    let (status, out) = sh.run_status("wget -qO- http://alpenglow.host/no/such/file");
    assert_ne!(status, 0, "wget of a missing file succeeded:\n{out}");
    has(&out, "404");
    let (status, out) = sh.run_status("wget -O- http://nothing-here.invalid/");
    assert_ne!(status, 0, "wget of a name nobody serves succeeded:\n{out}");
    has(&out, "502");
    // The page's machine card counts the frames and the HTTP requests too (the manifest,
    // the big file, the missing file, the failed fetch: at least 4): opened from the status
    // bar, read, and folded again.
    open_machine_card(&c);
    wait_until(
        &c,
        "the machine card's network counters",
        r#"const t = document.querySelector('.machine-network')?.innerText ?? '';
           const m = t.match(/(\d+) frames in .* (\d+) HTTP requests/);
           return !!m && Number(m[1]) > 14000 && Number(m[2]) >= 4;"#,
    );
    fold_machine_card_with_button(&c);
    // The guest's counters saw the file go by.
    let after = sh.run("ifconfig eth0");
    assert!(packets(&after, "RX packets:") > rx + 14_000, "{after}");

    // TCP over loopback: a server and a client, both BusyBox nc.
    sh.run("nc -l -p 7777 > /tmp/got & sleep 1");
    sh.run("echo tcp-$((6*7)) | nc 127.0.0.1 7777; wait");
    has(&sh.run("cat /tmp/got"), "tcp-42");

    // syslogd and logger, over AF_UNIX datagrams on /dev/log as on Alpine.
    sh.run("syslogd -n -O /tmp/messages & sleep 1");
    sh.run("logger -t e2e note-$((6*7)); sleep 1");
    has(&sh.run("cat /tmp/messages"), "e2e: note-42");
    sh.run("kill %1; true");
}

/// What the page's own `fetch(url)` gets: `STATUS body`.
fn page_fetch(c: &Session, url: &str) -> String {
    js(
        c,
        &format!(
            r#"window.__fetched = null;
               fetch({url:?}).then(async r => window.__fetched = r.status + ' ' + await r.text(),
                                   e => window.__fetched = 'error ' + e);
               return true;"#
        ),
    );
    wait_until(c, "the page's fetch", "return window.__fetched !== null;");
    js(c, "return window.__fetched;")
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn a_server_in_the_guest_shows_at_the_pages_origin(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let c = browser(kind);
    let mut sh = Shell::login(&c, &server.url());
    // The page's service worker answers /_port/N/ once it controls the page.
    wait_until(
        &c,
        "the service worker to control the page",
        "return !!navigator.serviceWorker.controller;",
    );

    sh.run("mkdir -p /tmp/www && echo \"<h1>guest-$((6*7))</h1>\" > /tmp/www/index.html");
    sh.run("httpd -f -p 8080 -h /tmp/www & sleep 1");
    let got = page_fetch(&c, "_port/8080/index.html");
    assert!(got.starts_with("200 "), "{got}");
    has(&got, "<h1>guest-42</h1>");
    // BusyBox httpd's own 404, from the guest.
    let got = page_fetch(&c, "_port/8080/no-such-page.html");
    assert!(got.starts_with("404 "), "{got}");
    // A port nobody listens on: the gateway says so.
    let got = page_fetch(&c, "_port/9/");
    assert!(got.starts_with("502 "), "{got}");
    has(&got, "nothing in the guest listens on TCP port 9");
    sh.run("kill %1; true");
}

/// A TCP server on this machine's loopback that answers one line with it upper-cased, then
/// closes; its port.
fn upper_case_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("its port").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(&conn);
            if reader.read_line(&mut line).is_ok() {
                let _ = (&conn).write_all(line.to_uppercase().as_bytes());
            }
        }
    });
    port
}

fn tcp_to_other_ports_goes_through_the_relay(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let allowed = upper_case_server();
    let other = upper_case_server();
    let relay = relay::start(
        "127.0.0.1:0",
        Policy::new(&[format!("127.0.0.1:{allowed}")]).expect("the rule"),
        Arc::new(|line| eprintln!("relay: {line}")),
    )
    .expect("start the relay");
    let c = browser(kind);
    let mut sh = Shell::login(&c, &format!("{}?relay={}", server.url(), relay.url));

    // The gateway's address stands for the relay's machine: real TCP to its loopback.
    let out = sh.run(&format!("echo relay-$((6*7)) | nc 10.0.2.2 {allowed}"));
    has(&out, "RELAY-42");
    // A destination the relay does not allow: the connection ends, nothing comes back, and
    // the shell goes on.
    let out = sh.run(&format!(
        "echo nope-$((6*7)) | nc 10.0.2.2 {other}; echo done-$((7*7))"
    ));
    assert!(
        !out.contains("NOPE-42"),
        "the relay let a blocked stream through:\n{out}"
    );
    has(&out, "done-49");
    // It works again after a failure, and the machine card counts both.
    let out = sh.run(&format!("echo again-$((6*7)) | nc 10.0.2.2 {allowed}"));
    has(&out, "AGAIN-42");
    open_machine_card(&c);
    wait_until(
        &c,
        "the machine card's relay counters",
        r#"const t = document.querySelector('.machine-network')?.innerText ?? '';
           const m = t.match(/(\d+) relayed \((\d+) failed\)/);
           return !!m && Number(m[1]) >= 3 && Number(m[2]) >= 1;"#,
    );
    fold_machine_card(&c);
}
