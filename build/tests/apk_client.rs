//! The guest's `apk` (build/guest/apk), compiled natively with the host's cc against
//! Debian's zlib and mbedtls, run with --root against signed repositories made with the
//! stock tools (tar, gzip -n, openssl: build/tests/apk_client/mk*.sh), served over HTTP by
//! the test and from the file system.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const KEY: &str = "alpenglow-test-1.rsa.pub";
const OTHER_KEY: &str = "someone-else.rsa.pub";

struct Fixture {
    dir: PathBuf,
    apk: PathBuf,
    /// http://127.0.0.1:PORT/redir/main: redirects to /repo/main, the index comes chunked.
    http_main: String,
    file_main: PathBuf,
    file_v2: PathBuf,
    file_unknown_index: PathBuf,
    file_tampered_index: PathBuf,
    main_count: usize,
}

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run_ok(c: &mut Command) -> Output {
    let out = c.output().unwrap_or_else(|e| panic!("running {c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A package source tree: PKGINFO, files, scripts.
struct Pkg<'a> {
    name: &'a str,
    version: &'a str,
    extra_info: &'a str,
    files: &'a [(&'a str, &'a str, u32)],
    symlinks: &'a [(&'a str, &'a str)],
    scripts: &'a [(&'a str, &'a str)],
    tamper: bool,
    key: &'a str,
}

impl Default for Pkg<'_> {
    fn default() -> Self {
        Pkg {
            name: "",
            version: "1.0-r0",
            extra_info: "",
            files: &[],
            symlinks: &[],
            scripts: &[],
            tamper: false,
            key: KEY,
        }
    }
}

/// Builds the package into `repo/wasm32/` and returns its index record.
fn make_pkg(dir: &Path, repo: &Path, p: &Pkg) -> String {
    let src = dir.join("src").join(format!("{}-{}", p.name, p.version));
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(src.join("files")).unwrap();
    std::fs::write(
        src.join("PKGINFO"),
        format!(
            "# test package\npkgname = {}\npkgver = {}\npkgdesc = the {} test package\n\
             url = https://example.invalid/{}\narch = wasm32\nlicense = MIT\norigin = {}\n\
             builddate = 1764720000\n{}",
            p.name, p.version, p.name, p.name, p.name, p.extra_info
        ),
    )
    .unwrap();
    for (path, body, mode) in p.files {
        let f = src.join("files").join(path);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, body).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    for (path, target) in p.symlinks {
        let f = src.join("files").join(path);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, f).unwrap();
    }
    if !p.scripts.is_empty() {
        std::fs::create_dir_all(src.join("scripts")).unwrap();
        for (name, body) in p.scripts {
            std::fs::write(src.join("scripts").join(name), body).unwrap();
        }
    }
    let arch = repo.join("wasm32");
    std::fs::create_dir_all(&arch).unwrap();
    let keyfile = if p.key == KEY { "key.pem" } else { "other.pem" };
    let out = run_ok(
        Command::new(manifest().join("tests/apk_client/mkapk.sh"))
            .env("TAMPER", if p.tamper { "1" } else { "0" })
            .arg(dir.join(keyfile))
            .arg(p.key)
            .arg(&src)
            .arg(arch.join(format!("{}-{}.apk", p.name, p.version))),
    );
    String::from_utf8(out.stdout).unwrap()
}

fn make_index(dir: &Path, repo: &Path, records: &str, key: &str, tamper: bool) {
    let keyfile = if key == KEY { "key.pem" } else { "other.pem" };
    std::fs::create_dir_all(repo.join("wasm32")).unwrap();
    let mut c = Command::new(manifest().join("tests/apk_client/mkindex.sh"));
    c.arg(dir.join(keyfile))
        .arg(key)
        .arg("alpenglow test main")
        .arg(repo.join("wasm32/APKINDEX.tar.gz"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("mkindex.sh");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(records.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "mkindex.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if tamper {
        // After signing, the index content changes: a record is appended in a re-made member.
        let f = repo.join("wasm32/APKINDEX.tar.gz");
        let bytes = std::fs::read(&f).unwrap();
        let split = second_gzip_member(&bytes);
        let mut tampered = bytes[..split].to_vec();
        let mut tar = tar::Builder::new(Vec::new());
        let body = format!("{records}P:evil\nV:6.6.6-r0\nA:wasm32\nS:1\nI:1\nT:evil\n\n");
        let mut h = tar::Header::new_ustar();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, "APKINDEX", body.as_bytes())
            .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&tar.into_inner().unwrap()).unwrap();
        tampered.extend(gz.finish().unwrap());
        std::fs::write(&f, tampered).unwrap();
    }
}

/// Where the second gzip member starts.
fn second_gzip_member(bytes: &[u8]) -> usize {
    use std::io::Read;
    let mut d = flate2::bufread::GzDecoder::new(bytes);
    let mut sink = Vec::new();
    d.read_to_end(&mut sink).unwrap();
    bytes.len() - d.into_inner().len()
}

fn build_client(dir: &Path) -> PathBuf {
    let out = dir.join("apk");
    let srcs: Vec<PathBuf> = std::fs::read_dir(manifest().join("guest/apk"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    let status = Command::new("cc")
        .args(["-O2", "-Wall", "-Werror", "-D_GNU_SOURCE", "-o"])
        .arg(&out)
        .args(&srcs)
        .args(["-lmbedcrypto", "-lz"])
        .status()
        .expect("cc");
    assert!(
        status.success(),
        "compiling the apk client natively failed (it needs zlib1g-dev and libmbedtls-dev)"
    );
    out
}

fn serve(root: PathBuf) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("http server");
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let url = req.url().to_string();
            if let Some(rest) = url.strip_prefix("/redir/") {
                let loc =
                    tiny_http::Header::from_bytes("Location", format!("/repo/{rest}")).unwrap();
                let _ = req.respond(tiny_http::Response::empty(302).with_header(loc));
                continue;
            }
            let Some(rest) = url.strip_prefix("/repo/") else {
                let _ = req.respond(tiny_http::Response::empty(404));
                continue;
            };
            let path = root.join(rest);
            match std::fs::read(&path) {
                // The index goes out chunked (no length), the packages with a length.
                Ok(bytes) if rest.ends_with("APKINDEX.tar.gz") => {
                    let resp = tiny_http::Response::new(
                        200.into(),
                        vec![],
                        std::io::Cursor::new(bytes),
                        None,
                        None,
                    );
                    let _ = req.respond(resp);
                }
                Ok(bytes) => {
                    let _ = req.respond(tiny_http::Response::from_data(bytes));
                }
                Err(_) => {
                    let _ = req.respond(tiny_http::Response::empty(404));
                }
            }
        }
    });
    format!("http://127.0.0.1:{port}/redir/main")
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("apk_client-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        for (pem, name) in [("key.pem", KEY), ("other.pem", OTHER_KEY)] {
            run_ok(
                Command::new("openssl")
                    .args(["genrsa", "-out"])
                    .arg(dir.join(pem))
                    .arg("2048"),
            );
            if name == KEY {
                run_ok(
                    Command::new("openssl")
                        .args(["rsa", "-pubout", "-in"])
                        .arg(dir.join(pem))
                        .arg("-out")
                        .arg(dir.join("keys").join(name)),
                );
            }
        }
        let apk = build_client(&dir);
        let main = dir.join("repo/main");
        let hello_scripts: &[(&str, &str)] = &[
            (
                ".post-install",
                "#!/bin/sh\necho post-install-$((6*7)) \"$1\" > hello-post-install\n",
            ),
            (
                ".post-deinstall",
                "#!/bin/sh\necho post-deinstall-$((6*7)) \"$1\" > hello-post-deinstall\n",
            ),
            (
                ".post-upgrade",
                "#!/bin/sh\necho post-upgrade-$((6*7)) \"$1\" \"$2\" > hello-post-upgrade\n",
            ),
        ];
        let pkgs = [
            Pkg {
                name: "liba",
                extra_info: "provides = so:liba.so.1=1\n",
                files: &[("usr/lib/liba.so.1", "liba 1\n", 0o755)],
                ..Default::default()
            },
            Pkg {
                name: "hello",
                extra_info: "depend = so:liba.so.1\n",
                files: &[
                    ("usr/bin/hello", "#!/bin/sh\necho hello 1.0\n", 0o755),
                    ("usr/share/doc/hello/README", "hello one\n", 0o644),
                ],
                symlinks: &[("usr/bin/hi", "hello")],
                scripts: hello_scripts,
                ..Default::default()
            },
            Pkg {
                name: "tampered",
                files: &[("usr/share/tampered/data", "honest data\n", 0o644)],
                tamper: true,
                ..Default::default()
            },
            Pkg {
                name: "alien",
                files: &[("usr/share/alien/data", "alien\n", 0o644)],
                key: OTHER_KEY,
                ..Default::default()
            },
            Pkg {
                name: "badscript",
                extra_info: "depend = liba\n",
                files: &[("usr/share/badscript/data", "bad\n", 0o644)],
                scripts: &[(".pre-install", "#!/bin/sh\necho refusing >&2\nexit 3\n")],
                ..Default::default()
            },
            Pkg {
                name: "blocker",
                files: &[
                    ("usr/bin/aaa", "blocker's aaa\n", 0o755),
                    ("usr/zzz", "blocked by a directory\n", 0o644),
                ],
                ..Default::default()
            },
            Pkg {
                name: "noclash",
                extra_info: "depend = !hello\n",
                files: &[("usr/share/noclash/data", "x\n", 0o644)],
                ..Default::default()
            },
        ];
        let mut records = String::new();
        for p in &pkgs {
            records.push_str(&make_pkg(&dir, &main, p));
        }
        // A package rebuilt after the index was made: signed, but not what the index's C:
        // vouches for.
        let stale = |desc: &'static str| Pkg {
            name: "stale",
            extra_info: desc,
            files: &[("usr/share/stale/data", "stale\n", 0o644)],
            ..Default::default()
        };
        records.push_str(&make_pkg(&dir, &main, &stale("")));
        make_pkg(&dir, &main, &stale("# rebuilt\n"));
        make_index(&dir, &main, &records, KEY, false);

        let v2 = dir.join("repo/v2");
        let rec = make_pkg(
            &dir,
            &v2,
            &Pkg {
                name: "hello",
                version: "1.1-r0",
                extra_info: "depend = so:liba.so.1\n",
                files: &[
                    ("usr/bin/hello", "#!/bin/sh\necho hello 1.1\n", 0o755),
                    ("usr/share/doc/hello/NEWS", "new in 1.1\n", 0o644),
                ],
                scripts: hello_scripts,
                ..Default::default()
            },
        );
        make_index(&dir, &v2, &rec, KEY, false);

        let unknown = dir.join("repo/unknown-index");
        make_index(&dir, &unknown, &records, OTHER_KEY, false);
        let tampered = dir.join("repo/tampered-index");
        make_index(&dir, &tampered, &records, KEY, true);

        let http_main = serve(dir.join("repo"));
        Fixture {
            apk,
            http_main,
            file_main: main,
            file_v2: v2,
            file_unknown_index: unknown,
            file_tampered_index: tampered,
            main_count: pkgs.len() + 1,
            dir,
        }
    })
}

/// A fresh root with the test key trusted and `repos` in /etc/apk/repositories.
fn new_root(name: &str, repos: &[&str]) -> PathBuf {
    let f = fixture();
    let root = f.dir.join("roots").join(name);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("etc/apk/keys")).unwrap();
    std::fs::copy(
        f.dir.join("keys").join(KEY),
        root.join("etc/apk/keys").join(KEY),
    )
    .unwrap();
    std::fs::write(root.join("etc/apk/repositories"), repos.join("\n") + "\n").unwrap();
    let out = apk(&root, &["--initdb", "stats"]);
    assert!(out.ok, "--initdb: {}", out.all());
    root
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

fn apk(root: &Path, args: &[&str]) -> Run {
    let out = Command::new(&fixture().apk)
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("running apk");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn db_state(root: &Path) -> (String, String) {
    (
        read(root, "lib/apk/db/installed"),
        read(root, "etc/apk/world"),
    )
}

/// Every path under root, to prove a refused or failed transaction left nothing behind.
fn tree(root: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if p.is_dir() && !p.is_symlink() {
                walk(base, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(root, root, &mut v);
    v.retain(|p| !p.starts_with("lib/apk/db/lock"));
    v.sort();
    v
}

#[test]
fn http_update_add_info_del() {
    let f = fixture();
    let root = new_root("http", &[&f.http_main]);
    let r = apk(&root, &["update"]);
    assert!(r.ok, "{}", r.all());
    assert!(
        r.stdout
            .contains(&format!("alpenglow test main [{}]", f.http_main)),
        "{}",
        r.all()
    );
    assert!(
        r.stdout
            .contains(&format!("OK: {} distinct packages available", f.main_count)),
        "{}",
        r.all()
    );

    let r = apk(&root, &["add", "hello"]);
    assert!(r.ok, "{}", r.all());
    assert!(
        r.stdout.contains("(1/2) Installing liba (1.0-r0)"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout.contains("(2/2) Installing hello (1.0-r0)"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("OK: "), "{}", r.all());
    assert_eq!(read(&root, "usr/bin/hello"), "#!/bin/sh\necho hello 1.0\n");
    assert_eq!(read(&root, "usr/lib/liba.so.1"), "liba 1\n");
    assert_eq!(
        std::fs::read_link(root.join("usr/bin/hi")).unwrap(),
        PathBuf::from("hello")
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("usr/bin/hello"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        read(&root, "hello-post-install"),
        "post-install-42 1.0-r0\n"
    );
    assert_eq!(read(&root, "etc/apk/world"), "hello\n");
    let db = read(&root, "lib/apk/db/installed");
    assert!(db.contains("P:hello\nV:1.0-r0\n"), "{db}");
    assert!(db.contains("F:usr/bin\nR:hello\na:0:0:755\nZ:Q1"), "{db}");
    let scripts = std::fs::read(root.join("lib/apk/db/scripts.tar")).unwrap();
    assert!(
        String::from_utf8_lossy(&scripts).contains(".post-deinstall"),
        "scripts.tar keeps the scripts"
    );

    let r = apk(&root, &["info", "-L", "hello"]);
    assert!(r.ok, "{}", r.all());
    assert_eq!(
        r.stdout,
        "hello-1.0-r0 contains:\nusr/bin/hello\nusr/bin/hi\nusr/share/doc/hello/README\n\n"
    );
    let r = apk(&root, &["info", "-R", "hello"]);
    assert_eq!(r.stdout, "hello-1.0-r0 depends on:\nso:liba.so.1\n\n");
    let r = apk(&root, &["info", "-w", "hello"]);
    assert_eq!(
        r.stdout,
        "hello-1.0-r0 webpage:\nhttps://example.invalid/hello\n\n"
    );
    let r = apk(&root, &["info"]);
    assert_eq!(r.stdout, "hello\nliba\n");
    let r = apk(&root, &["search", "hel"]);
    assert_eq!(r.stdout, "hello-1.0-r0\n");
    let r = apk(&root, &["list", "--installed"]);
    assert_eq!(
        r.stdout,
        "hello-1.0-r0 wasm32 {hello} (MIT) [installed]\nliba-1.0-r0 wasm32 {liba} (MIT) [installed]\n"
    );
    let r = apk(&root, &["stats"]);
    assert!(r.stdout.contains("  packages: 2\n"), "{}", r.all());

    let r = apk(&root, &["del", "hello"]);
    assert!(r.ok, "{}", r.all());
    assert!(r.stdout.contains("Purging hello (1.0-r0)"), "{}", r.all());
    assert!(
        r.stdout.contains("Purging liba (1.0-r0)"),
        "orphaned deps go too: {}",
        r.all()
    );
    assert!(!root.join("usr/bin/hello").exists());
    assert!(!root.join("usr/bin/hi").exists());
    assert!(!root.join("usr/lib/liba.so.1").exists());
    assert!(
        !root.join("usr/share/doc/hello").exists(),
        "its directories go too"
    );
    assert_eq!(
        read(&root, "hello-post-deinstall"),
        "post-deinstall-42 1.0-r0\n"
    );
    assert_eq!(db_state(&root), (String::new(), String::new()));
}

#[test]
fn package_cache_installs_offline() {
    let f = fixture();
    let root = new_root("offline", &[&f.http_main]);
    std::fs::create_dir_all(root.join("etc/apk/cache")).unwrap();
    assert!(apk(&root, &["update"]).ok);
    let r = apk(&root, &["add", "hello"]);
    assert!(r.ok, "{}", r.all());
    assert!(root.join("etc/apk/cache/hello-1.0-r0.apk").exists());
    assert!(apk(&root, &["del", "hello"]).ok);
    let r = apk(&root, &["--no-network", "add", "hello"]);
    assert!(r.ok, "{}", r.all());
    assert_eq!(read(&root, "usr/bin/hello"), "#!/bin/sh\necho hello 1.0\n");
    let r = apk(&root, &["--no-network", "add", "blocker"]);
    assert!(!r.ok);
    assert!(
        r.stderr
            .contains("blocker-1.0-r0.apk: not in the cache and --no-network"),
        "{}",
        r.all()
    );
    std::fs::write(root.join("etc/apk/cache/stale-0.1-r0.apk"), "stale").unwrap();
    let r = apk(&root, &["cache", "clean"]);
    assert!(r.ok, "{}", r.all());
    assert!(
        root.join("etc/apk/cache/hello-1.0-r0.apk").exists(),
        "still needed"
    );
    assert!(!root.join("etc/apk/cache/stale-0.1-r0.apk").exists());
    std::fs::remove_file(root.join("etc/apk/cache/hello-1.0-r0.apk")).unwrap();
    let r = apk(&root, &["cache", "download"]);
    assert!(r.ok, "{}", r.all());
    assert!(
        r.stdout.contains("Downloaded hello-1.0-r0.apk"),
        "{}",
        r.all()
    );
    assert!(root.join("etc/apk/cache/hello-1.0-r0.apk").exists());
}

#[test]
fn upgrade_and_versions_from_file_repositories() {
    let f = fixture();
    let main = f.file_main.display().to_string();
    let v2 = f.file_v2.display().to_string();
    let root = new_root("upgrade", &[&main]);
    let r = apk(&root, &["add", "hello"]);
    assert!(r.ok, "{}", r.all());
    let r = apk(&root, &["-X", &v2, "-s", "upgrade"]);
    assert!(
        r.stdout
            .contains("(1/1) Upgrading hello (1.0-r0 -> 1.1-r0)"),
        "{}",
        r.all()
    );
    assert_eq!(
        read(&root, "usr/bin/hello"),
        "#!/bin/sh\necho hello 1.0\n",
        "--simulate"
    );
    let r = apk(&root, &["-X", &v2, "upgrade"]);
    assert!(r.ok, "{}", r.all());
    assert!(
        r.stdout
            .contains("(1/1) Upgrading hello (1.0-r0 -> 1.1-r0)"),
        "{}",
        r.all()
    );
    assert_eq!(read(&root, "usr/bin/hello"), "#!/bin/sh\necho hello 1.1\n");
    assert_eq!(read(&root, "usr/share/doc/hello/NEWS"), "new in 1.1\n");
    assert!(
        !root.join("usr/bin/hi").exists(),
        "files the new version lacks go"
    );
    assert!(!root.join("usr/share/doc/hello/README").exists());
    assert_eq!(
        read(&root, "hello-post-upgrade"),
        "post-upgrade-42 1.1-r0 1.0-r0\n"
    );
    // Constraints: a version that exists nowhere, then back down with `<`.
    let r = apk(&root, &["-X", &v2, "add", "hello>=1.2"]);
    assert!(!r.ok);
    assert!(
        r.stderr
            .contains("hello>=1.2 (no version that satisfies it)"),
        "{}",
        r.all()
    );
    let r = apk(&root, &["-X", &v2, "add", "hello<1.1"]);
    assert!(r.ok, "{}", r.all());
    assert!(
        r.stdout.contains("Downgrading hello (1.1-r0 -> 1.0-r0)"),
        "{}",
        r.all()
    );
    assert_eq!(read(&root, "etc/apk/world"), "hello<1.1\n");
    // Virtual packages: -t NAME holds its dependencies; deleting it drops them.
    let r = apk(&root, &["add", "-t", ".build-deps", "liba"]);
    assert!(r.ok, "{}", r.all());
    assert!(r.stdout.contains("Installing .build-deps ("), "{}", r.all());
    assert_eq!(read(&root, "etc/apk/world"), ".build-deps\nhello<1.1\n");
    let r = apk(&root, &["del", "hello"]);
    assert!(r.ok, "{}", r.all());
    assert!(
        root.join("usr/lib/liba.so.1").exists(),
        ".build-deps still needs liba"
    );
    let r = apk(&root, &["del", ".build-deps"]);
    assert!(r.ok, "{}", r.all());
    assert!(!root.join("usr/lib/liba.so.1").exists());
    // Conflicts.
    let r = apk(&root, &["add", "hello", "noclash"]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("conflicts: noclash-1.0-r0[!hello]"),
        "{}",
        r.all()
    );
}

#[test]
fn fix_repairs_a_damaged_file() {
    let f = fixture();
    let root = new_root("fix", &[&f.file_main.display().to_string()]);
    assert!(apk(&root, &["add", "hello"]).ok);
    std::fs::write(root.join("usr/bin/hello"), "damaged").unwrap();
    let r = apk(&root, &["fix"]);
    assert!(r.ok, "{}", r.all());
    assert!(
        r.stdout.contains("Reinstalling hello (1.0-r0)"),
        "{}",
        r.all()
    );
    assert!(!r.stdout.contains("Reinstalling liba"), "{}", r.all());
    assert_eq!(read(&root, "usr/bin/hello"), "#!/bin/sh\necho hello 1.0\n");
}

#[test]
fn tampered_package_is_refused_and_nothing_installed() {
    let f = fixture();
    let root = new_root("tampered", &[&f.http_main]);
    let before = (tree(&root), db_state(&root));
    let r = apk(&root, &["add", "tampered"]);
    assert!(!r.ok, "{}", r.all());
    assert!(
        r.stderr
            .contains("tampered-1.0-r0.apk: data checksum mismatch"),
        "{}",
        r.all()
    );
    let after = (tree(&root), db_state(&root));
    // The index cache is the one new file.
    let new: Vec<_> = after.0.iter().filter(|p| !before.0.contains(p)).collect();
    assert!(
        new.iter().all(|p| p.starts_with("var/cache/apk/APKINDEX.")),
        "refused package left {new:?}"
    );
    assert_eq!(before.1, after.1);
}

#[test]
fn unknown_key_package_is_refused() {
    let f = fixture();
    let root = new_root("alien", &[&f.file_main.display().to_string()]);
    let before = (tree(&root), db_state(&root));
    let r = apk(&root, &["add", "alien"]);
    assert!(!r.ok, "{}", r.all());
    assert!(
        r.stderr.contains(&format!(
            "alien-1.0-r0.apk: UNTRUSTED signature: key {OTHER_KEY} is not in"
        )),
        "{}",
        r.all()
    );
    assert_eq!(before, (tree(&root), db_state(&root)));
    // --allow-untrusted takes it (the index's C: still vouches for its control part).
    let r = apk(&root, &["--allow-untrusted", "add", "alien"]);
    assert!(r.ok, "{}", r.all());
    assert_eq!(read(&root, "usr/share/alien/data"), "alien\n");
}

#[test]
fn package_that_differs_from_its_index_record_is_refused() {
    let f = fixture();
    let root = new_root("stale", &[&f.file_main.display().to_string()]);
    let before = (tree(&root), db_state(&root));
    let r = apk(&root, &["add", "stale"]);
    assert!(!r.ok, "{}", r.all());
    assert!(
        r.stderr.contains("stale-1.0-r0.apk: control checksum Q1")
            && r.stderr.contains("does not match the index's C:Q1"),
        "{}",
        r.all()
    );
    assert_eq!(before, (tree(&root), db_state(&root)));
}

#[test]
fn unknown_key_and_tampered_indexes_are_refused() {
    let f = fixture();
    let root = new_root("badindex", &[&f.file_unknown_index.display().to_string()]);
    let r = apk(&root, &["update"]);
    assert!(!r.ok, "{}", r.all());
    assert!(
        r.stderr.contains(&format!(
            "unknown-index/wasm32/APKINDEX.tar.gz: UNTRUSTED signature: key {OTHER_KEY}"
        )),
        "{}",
        r.all()
    );
    let r = apk(&root, &["add", "hello"]);
    assert!(!r.ok);
    assert!(r.stderr.contains("hello (no such package)"), "{}", r.all());

    let root = new_root(
        "tamperedindex",
        &[&f.file_tampered_index.display().to_string()],
    );
    let r = apk(&root, &["update"]);
    assert!(!r.ok, "{}", r.all());
    assert!(
        r.stderr.contains(&format!(
            "tampered-index/wasm32/APKINDEX.tar.gz: BAD signature: it does not verify with key {KEY}"
        )),
        "{}",
        r.all()
    );
}

#[test]
fn no_such_package_is_an_error() {
    let f = fixture();
    let root = new_root("nosuch", &[&f.http_main]);
    let before = db_state(&root);
    let r = apk(&root, &["add", "no-such-package"]);
    assert!(!r.ok);
    assert_eq!(
        r.stderr,
        "ERROR: unable to select packages:\n  no-such-package (no such package):\n    \
         required by: world[no-such-package]\n"
    );
    assert_eq!(before, db_state(&root));
}

#[test]
fn failing_pre_install_rolls_everything_back() {
    let f = fixture();
    let root = new_root("badscript", &[&f.file_main.display().to_string()]);
    let before = (tree(&root), db_state(&root));
    let r = apk(&root, &["add", "badscript"]);
    assert!(!r.ok, "{}", r.all());
    assert!(r.stderr.contains("refusing"), "the script ran: {}", r.all());
    assert!(
        r.stderr
            .contains("badscript-1.0-r0.pre-install: script exited with error 3"),
        "{}",
        r.all()
    );
    assert_eq!(
        before,
        (tree(&root), db_state(&root)),
        "liba, extracted first, is gone too"
    );
}

#[test]
fn failure_while_placing_files_restores_the_replaced_ones() {
    let f = fixture();
    let root = new_root("blocker", &[&f.file_main.display().to_string()]);
    // An unowned file the package replaces, and a directory where it wants a file.
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::write(root.join("usr/bin/aaa"), "original\n").unwrap();
    std::fs::create_dir_all(root.join("usr/zzz")).unwrap();
    std::fs::write(root.join("usr/zzz/keep"), "keep\n").unwrap();
    let before = (tree(&root), db_state(&root));
    let r = apk(&root, &["add", "blocker"]);
    assert!(!r.ok, "{}", r.all());
    assert!(
        r.stderr
            .contains("usr/zzz: a directory is in the way of a file"),
        "{}",
        r.all()
    );
    assert_eq!(read(&root, "usr/bin/aaa"), "original\n");
    assert_eq!(before, (tree(&root), db_state(&root)));
}

/// Packages and an index written by the build's Rust writer (`formats::apk`), read by the
/// client: the two sides of docs/apk.md's contract checked against each other.
#[test]
fn packages_from_the_rust_writer_install() {
    use alpenglow_build::formats::apk::{write_index, write_package, PackageInfo, SigningKey};
    let f = fixture();
    let dir = f.dir.join("rust-writer");
    let _ = std::fs::remove_dir_all(&dir);
    let key = SigningKey::load_or_create(&dir.join("key")).expect("signing key");
    let arch = dir.join("repo/wasm32");
    std::fs::create_dir_all(&arch).unwrap();
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("usr/bin")).unwrap();
    std::fs::write(
        tree.join("usr/bin/greet"),
        "#!/bin/sh\necho greet-$((6*7))\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        tree.join("usr/bin/greet"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("greet", tree.join("usr/bin/hey")).unwrap();
    let info = PackageInfo {
        name: "greet".into(),
        version: "2.0-r1".into(),
        description: "greets".into(),
        url: "https://example.invalid/greet".into(),
        license: "MIT".into(),
        origin: "greet".into(),
        build_time: 1764720000,
        depends: vec!["/bin/sh".into()],
        provides: vec!["cmd:greet=2.0-r1".into()],
        ..Default::default()
    };
    // The dependency `/bin/sh` is met by a second package that provides it.
    let shtree = dir.join("shtree");
    std::fs::create_dir_all(shtree.join("usr/share/shim")).unwrap();
    std::fs::write(shtree.join("usr/share/shim/README"), "a shell provider\n").unwrap();
    let shinfo = PackageInfo {
        name: "shim".into(),
        version: "1.0-r0".into(),
        description: "provides /bin/sh".into(),
        license: "MIT".into(),
        origin: "shim".into(),
        build_time: 1764720000,
        provides: vec!["/bin/sh".into()],
        ..Default::default()
    };
    let scripts = vec![(
        ".post-install".to_string(),
        b"#!/bin/sh\necho installed-$((6*7)) > greet-post-install\n".to_vec(),
    )];
    let mut records = Vec::new();
    for (i, t, s) in [(&info, &tree, scripts), (&shinfo, &shtree, Vec::new())] {
        let p = write_package(i, t, &s, &key).expect("write_package");
        std::fs::write(arch.join(&p.file_name), &p.bytes).unwrap();
        records.push(p.index_record);
    }
    let index = write_index(&records, "alpenglow rust-writer", &key, 1764720000).unwrap();
    std::fs::write(arch.join("APKINDEX.tar.gz"), index).unwrap();

    let root = f.dir.join("roots").join("rust-writer");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("etc/apk/keys")).unwrap();
    std::fs::write(
        root.join("etc/apk/keys").join(key.name()),
        key.public_pem().unwrap(),
    )
    .unwrap();
    std::fs::write(
        root.join("etc/apk/repositories"),
        format!("{}\n", dir.join("repo").display()),
    )
    .unwrap();
    let r = apk(&root, &["--initdb", "update"]);
    assert!(r.ok, "{}", r.all());
    assert!(r.stdout.contains("alpenglow rust-writer ["), "{}", r.all());
    assert!(
        r.stdout.contains("OK: 2 distinct packages available"),
        "{}",
        r.all()
    );
    let r = apk(&root, &["add", "greet"]);
    assert!(r.ok, "{}", r.all());
    assert!(r.stdout.contains("Installing shim (1.0-r0)"), "{}", r.all());
    assert!(
        r.stdout.contains("Installing greet (2.0-r1)"),
        "{}",
        r.all()
    );
    assert_eq!(
        read(&root, "usr/bin/greet"),
        "#!/bin/sh\necho greet-$((6*7))\n"
    );
    assert_eq!(read(&root, "greet-post-install"), "installed-42\n");
    let r = apk(&root, &["info", "-L", "greet"]);
    assert_eq!(
        r.stdout,
        "greet-2.0-r1 contains:\nusr/bin/greet\nusr/bin/hey\n\n"
    );
    let r = apk(&root, &["del", "greet"]);
    assert!(r.ok, "{}", r.all());
    assert!(!root.join("usr/bin/greet").exists());
    assert!(
        !root.join("usr/share/shim").exists(),
        "the provider was only needed by greet"
    );
}

/// Alpine's version order (docs/apk.md), through `apk version -t`.
#[test]
fn versions_compare_by_alpine_rules() {
    let cases = [
        ("1.2.3-r1", "1.2.3-r0", ">"),
        ("1.2_rc1", "1.2", "<"),
        ("1.2a", "1.2", ">"),
        ("1.10", "1.9", ">"),
        ("1.2", "1.2", "="),
        ("1.2_alpha", "1.2_beta", "<"),
        ("1.2_p1", "1.2", ">"),
        ("1.2.0", "1.2", ">"),
        ("1.01", "1.1", "<"),
        ("2.0_rc1-r0", "2.0-r0", "<"),
        ("1.0_git20240101", "1.0", ">"),
        ("1.2-r10", "1.2-r9", ">"),
    ];
    for (a, b, want) in cases {
        let out = Command::new(&fixture().apk)
            .args(["version", "-t", a, b])
            .output()
            .unwrap();
        assert!(out.status.success(), "{a} {b}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{want}\n"),
            "{a} vs {b}"
        );
    }
    let out = Command::new(&fixture().apk)
        .args(["version", "-t", "1.x", "2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ERROR: version: '1.x' is not a valid version\n"
    );
}
