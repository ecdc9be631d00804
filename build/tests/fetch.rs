//! Source resolution against a local Debian-style archive signed with a key made by the
//! test: pinned release, newest-in-series fallback, upstream fallback, checksum and
//! signature failures.

use alpenglow_build::paths::Paths;
use alpenglow_build::serve::Server;
use alpenglow_build::sources::fetch::Fetcher;
use alpenglow_build::sources::pins::{Pin, SourcesFile};
use alpenglow_build::ui::Ui;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Archive {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    keyring: PathBuf,
    gnupg: PathBuf,
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

impl Archive {
    /// An archive with a fresh signing key; `releases` are (upstream version, tarball bytes).
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let gnupg = tmp.path().join("gnupg");
        std::fs::create_dir_all(&gnupg).unwrap();
        let gpg = |args: &[&str]| {
            let out = Command::new("gpg")
                .env("GNUPGHOME", &gnupg)
                .args([
                    "--batch",
                    "--quiet",
                    "--pinentry-mode",
                    "loopback",
                    "--passphrase",
                    "",
                ])
                .args(args)
                .output()
                .expect("gpg is installed (Debian package gnupg)");
            assert!(
                out.status.success(),
                "gpg {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        gpg(&[
            "--quick-gen-key",
            "Alpenglow test archive <test@alpenglow.invalid>",
            "ed25519",
            "sign",
            "never",
        ]);
        let keyring = tmp.path().join("keyring.gpg");
        std::fs::write(&keyring, gpg(&["--export"])).unwrap();
        let root = tmp.path().join("www");
        std::fs::create_dir_all(&root).unwrap();
        Archive {
            root,
            keyring,
            gnupg,
            _tmp: tmp,
        }
    }

    /// Publishes suite `suite` with `pkg` releases (version, tarball bytes).
    fn publish(&self, suite: &str, pkg: &str, releases: &[(&str, &[u8])], tamper_index: bool) {
        let mut sources = String::new();
        for (v, bytes) in releases {
            let dir = format!("pool/main/{}/{pkg}", &pkg[..1]);
            let file = format!("{pkg}_{v}.orig.tar.gz");
            std::fs::create_dir_all(self.root.join(&dir)).unwrap();
            std::fs::write(self.root.join(&dir).join(&file), bytes).unwrap();
            sources += &format!(
                "Package: {pkg}\nVersion: {v}-1\nDirectory: {dir}\nChecksums-Sha256:\n {} {} {file}\n\n",
                sha(bytes),
                bytes.len()
            );
        }
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(sources.as_bytes()).unwrap();
        let xz = xz.finish().unwrap();
        let dists = self.root.join("dists").join(suite);
        std::fs::create_dir_all(dists.join("main/source")).unwrap();
        let listed = if tamper_index {
            sha(b"something else")
        } else {
            sha(&xz)
        };
        std::fs::write(dists.join("main/source/Sources.xz"), &xz).unwrap();
        let release = format!(
            "Origin: Test\nSuite: {suite}\nSHA256:\n {listed} {} main/source/Sources.xz\n",
            xz.len()
        );
        std::fs::write(dists.join("Release"), release).unwrap();
        let st = Command::new("gpg")
            .env("GNUPGHOME", &self.gnupg)
            .args([
                "--batch",
                "--yes",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(["--clearsign", "-o"])
            .arg(dists.join("InRelease"))
            .arg(dists.join("Release"))
            .status()
            .unwrap();
        assert!(st.success());
    }
}

fn pin(
    version: &str,
    series: &str,
    debian_sha: Option<String>,
    upstream: &str,
    upstream_sha: Option<String>,
) -> Pin {
    Pin {
        version: version.into(),
        series: series.into(),
        debian_package: "hello".into(),
        debian_orig: "hello_{version}.orig.tar.gz".into(),
        debian_sha256: debian_sha,
        upstream_url: upstream.into(),
        upstream_sha256: upstream_sha,
    }
}

fn setup(p: Pin) -> (tempfile::TempDir, Paths, SourcesFile) {
    let cache = tempfile::tempdir().unwrap();
    let paths = Paths {
        repo: cache.path().join("repo"),
        cache: cache.path().join("cache"),
    };
    let sources = SourcesFile {
        debian_suites: vec!["stable".into()],
        component: BTreeMap::from([("hello".to_string(), p)]),
    };
    (cache, paths, sources)
}

fn read(paths: &Paths, file: &str) -> Vec<u8> {
    std::fs::read(paths.downloads().join(file)).unwrap()
}

#[test]
fn mirror_resolution_and_failures() {
    let archive = Archive::new();
    archive.publish(
        "stable",
        "hello",
        &[
            ("2.1.3", b"release 2.1.3"),
            ("2.1.10", b"release 2.1.10"),
            ("2.2.0", b"release 2.2.0"),
        ],
        false,
    );
    let server = Server::start(&archive.root, "127.0.0.1", 0).unwrap();
    let mirror = server.url();
    let ui = Ui::default();
    let keyring = archive.keyring.clone();

    // The pinned release is on the mirror: taken, with its pinned hash.
    let (_t, paths, sources) = setup(pin(
        "2.1.3",
        "2.1",
        Some(sha(b"release 2.1.3")),
        "http://127.0.0.1:9/none",
        None,
    ));
    let f = Fetcher::with_mirrors(&paths, ui, &sources, vec![mirror.clone()], keyring.clone())
        .fetch("hello")
        .unwrap();
    assert_eq!((f.version.as_str(), f.substituted), ("2.1.3", false));
    assert_eq!(f.origin, "mirror:pool/main/h/hello/hello_2.1.3.orig.tar.gz");
    assert_eq!(read(&paths, &f.file), b"release 2.1.3");

    // The pinned release is gone: the newest of the series (2.1.10, not 2.2.0), flagged.
    let (_t, paths, sources) = setup(pin(
        "2.1.4",
        "2.1",
        Some(sha(b"gone")),
        "http://127.0.0.1:9/none",
        None,
    ));
    let f = Fetcher::with_mirrors(&paths, ui, &sources, vec![mirror.clone()], keyring.clone())
        .fetch("hello")
        .unwrap();
    assert_eq!((f.version.as_str(), f.substituted), ("2.1.10", true));
    assert_eq!(read(&paths, &f.file), b"release 2.1.10");

    // The mirror's file differs from the pin: refused, naming the file and both hashes.
    let (_t, paths, sources) = setup(pin(
        "2.1.3",
        "2.1",
        Some(sha(b"other")),
        "http://127.0.0.1:9/none",
        None,
    ));
    let err = format!(
        "{:#}",
        Fetcher::with_mirrors(&paths, ui, &sources, vec![mirror.clone()], keyring.clone())
            .fetch("hello")
            .unwrap_err()
    );
    assert!(
        err.contains("hello_2.1.3.orig.tar.gz")
            && err.contains(&sha(b"release 2.1.3"))
            && err.contains(&sha(b"other")),
        "{err}"
    );

    // No mirror: the pinned upstream URL with its hash.
    std::fs::create_dir_all(archive.root.join("upstream")).unwrap();
    std::fs::write(
        archive.root.join("upstream/hello-2.1.3.tar.gz"),
        b"upstream bytes",
    )
    .unwrap();
    let url = format!("{mirror}upstream/hello-{{version}}.tar.gz");
    let (_t, paths, sources) = setup(pin(
        "2.1.3",
        "2.1",
        None,
        &url,
        Some(sha(b"upstream bytes")),
    ));
    let f = Fetcher::with_mirrors(&paths, ui, &sources, vec![], keyring.clone())
        .fetch("hello")
        .unwrap();
    assert!(f.origin.starts_with("upstream:"), "{}", f.origin);
    assert_eq!(read(&paths, "hello-2.1.3.tar.gz"), b"upstream bytes");

    // Upstream bytes that do not match the pinned hash: an error naming file and both hashes.
    let (_t, paths, sources) = setup(pin("2.1.3", "2.1", None, &url, Some(sha(b"expected"))));
    let err = format!(
        "{:#}",
        Fetcher::with_mirrors(&paths, ui, &sources, vec![], keyring.clone())
            .fetch("hello")
            .unwrap_err()
    );
    assert!(
        err.contains("hello-2.1.3.tar.gz")
            && err.contains(&sha(b"upstream bytes"))
            && err.contains(&sha(b"expected")),
        "{err}"
    );
    assert!(
        !paths.downloads().join("hello-2.1.3.tar.gz").exists(),
        "a bad download must not stay in the cache"
    );

    // Nothing anywhere: a clear error that lists what was tried.
    let (_t, paths, sources) = setup(pin("3.0.1", "3.0", None, "http://127.0.0.1:9/x", None));
    let err = format!(
        "{:#}",
        Fetcher::with_mirrors(&paths, ui, &sources, vec![mirror.clone()], keyring.clone())
            .fetch("hello")
            .unwrap_err()
    );
    assert!(
        err.contains("no source could be fetched")
            && err.contains("3.0.x")
            && err.contains("no sha256 pinned"),
        "{err}"
    );
}

#[test]
fn unsigned_or_tampered_index_is_refused() {
    let archive = Archive::new();
    archive.publish("stable", "hello", &[("1.0.0", b"one")], true);
    let server = Server::start(&archive.root, "127.0.0.1", 0).unwrap();
    let ui = Ui::default();
    let (_t, paths, sources) = setup(pin("1.0.0", "1.0", None, "http://127.0.0.1:9/x", None));
    let err = format!(
        "{:#}",
        Fetcher::with_mirrors(
            &paths,
            ui,
            &sources,
            vec![server.url()],
            archive.keyring.clone()
        )
        .fetch("hello")
        .unwrap_err()
    );
    assert!(
        err.contains("Sources.xz") && err.contains("signed InRelease"),
        "{err}"
    );

    // A keyring without the archive's key: the signature check fails.
    let other = Archive::new();
    archive.publish("stable", "hello", &[("1.0.0", b"one")], false);
    let err = format!(
        "{:#}",
        Fetcher::with_mirrors(
            &paths,
            ui,
            &sources,
            vec![server.url()],
            other.keyring.clone()
        )
        .fetch("hello")
        .unwrap_err()
    );
    assert!(err.contains("signature check"), "{err}");
    let _ = Path::new("");
}
