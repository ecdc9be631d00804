//! The writer against our reader, against Python's tarfile/zlib and OpenSSL (independent
//! readers of the same bytes), and against tampering.

use super::reader::{members, read_index, read_package, TrustedKey};
use super::*;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// One key for the whole test run: making an RSA key takes a moment.
fn key() -> &'static (tempfile::TempDir, SigningKey) {
    static KEY: OnceLock<(tempfile::TempDir, SigningKey)> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::load_or_create(dir.path()).unwrap();
        (dir, key)
    })
}

fn trusted() -> (String, String) {
    let (_, key) = key();
    (key.name().to_string(), key.public_pem().unwrap())
}

fn info() -> PackageInfo {
    PackageInfo {
        name: "hello".into(),
        version: "1.0-r0".into(),
        description: "says hello".into(),
        url: "https://example.invalid/".into(),
        license: "MIT".into(),
        origin: "hello".into(),
        build_time: 1_700_000_000,
        depends: vec!["zlib>=1.3".into()],
        provides: vec!["cmd:hello=1.0-r0".into()],
        ..Default::default()
    }
}

fn tree(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir.join("usr/bin")).unwrap();
    std::fs::create_dir_all(dir.join(format!("usr/share/{}", "long".repeat(30)))).unwrap();
    std::fs::write(dir.join("usr/bin/hello"), b"\0asm hello").unwrap();
    std::fs::set_permissions(
        dir.join("usr/bin/hello"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("usr/share/{}/readme", "long".repeat(30))),
        b"read me\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("hello", dir.join("usr/bin/hi")).unwrap();
}

fn package() -> (tempfile::TempDir, Package) {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let scripts = vec![(
        ".post-install".to_string(),
        b"#!/bin/sh\necho installed\n".to_vec(),
    )];
    let pkg = write_package(&info(), dir.path(), &scripts, &key().1).unwrap();
    (dir, pkg)
}

#[test]
fn a_package_reads_back_with_every_check() {
    let (_dir, pkg) = package();
    let (name, pem) = trusted();
    let read = read_package(
        &pkg.bytes,
        &[TrustedKey {
            name: &name,
            pem: &pem,
        }],
    )
    .unwrap();
    assert_eq!(read.signer, name);
    assert_eq!(pkg.file_name, "hello-1.0-r0.apk");
    let field = |k: &str| {
        read.pkginfo
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("pkgname"), Some("hello"));
    assert_eq!(field("arch"), Some("wasm32"));
    assert_eq!(field("size"), Some(&*(10 + 8).to_string()));
    assert_eq!(read.control[1].path, ".post-install");
    let paths: Vec<&str> = read.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths[..4],
        ["usr/", "usr/bin/", "usr/bin/hello", "usr/bin/hi"]
    );
    let hello = &read.files[2];
    assert_eq!(
        (hello.mode, hello.data.as_slice()),
        (0o755, &b"\0asm hello"[..])
    );
    assert_eq!(read.files[3].link.as_deref(), Some("hello"));
    assert!(paths
        .iter()
        .any(|p| p.ends_with("longlong/readme") && p.len() > 100));
    assert!(pkg.index_record.contains("P:hello\nV:1.0-r0\nA:wasm32\n"));
    assert!(pkg
        .index_record
        .contains(&format!("S:{}\n", pkg.bytes.len())));
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    let (_a, one) = package();
    let (_b, two) = package();
    assert!(one.bytes == two.bytes, "two builds of one package differ");
}

#[test]
fn tampering_is_caught() {
    let (_dir, pkg) = package();
    let (name, pem) = trusted();
    let keys = [TrustedKey {
        name: &name,
        pem: &pem,
    }];
    let parts = members(&pkg.bytes).unwrap();
    let sig = &parts[0].compressed;
    let control = &parts[1].compressed;

    // Other data behind a validly signed control member: the datahash no longer matches.
    let mut other = super::tarball::TarWriter::new(0);
    let pax = [("APK-TOOLS.checksum.SHA1", "0".repeat(40))];
    other
        .add(
            "usr/bin/hello",
            0o755,
            super::tarball::Item::File {
                data: b"evil",
                pax: &pax,
            },
        )
        .unwrap();
    let evil_data = super::tarball::gzip(&other.finish()).unwrap();
    let tampered = [sig.clone(), control.clone(), evil_data].concat();
    let err = read_package(&tampered, &keys).err().unwrap();
    assert!(format!("{err:#}").contains("datahash"), "{err:#}");

    // Another control member (a changed .PKGINFO): the signature no longer matches.
    let mut info = info();
    info.depends.clear();
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let other = write_package(&info, dir.path(), &[], &key().1).unwrap();
    let other_control = members(&other.bytes).unwrap()[1].compressed.clone();
    let tampered = [sig.clone(), other_control, parts[2].compressed.clone()].concat();
    let err = read_package(&tampered, &keys).err().unwrap();
    assert!(format!("{err:#}").contains("signature"), "{err:#}");

    // An unknown key.
    let err = read_package(&pkg.bytes, &[]).err().unwrap();
    assert!(format!("{err:#}").contains("not a trusted key"), "{err:#}");

    // Unsigned: no signature member at all.
    let unsigned = [control.clone(), parts[2].compressed.clone()].concat();
    assert!(read_package(&unsigned, &keys).is_err());
}

#[test]
fn an_index_is_signed_and_sorted() {
    let (_dir, pkg) = package();
    let records = vec![
        pkg.index_record.replace("P:hello", "P:zzz"),
        pkg.index_record.clone(),
    ];
    let bytes = write_index(&records, "alpenglow main", &key().1, 1_700_000_000).unwrap();
    let (name, pem) = trusted();
    let (description, index) = read_index(
        &bytes,
        &[TrustedKey {
            name: &name,
            pem: &pem,
        }],
    )
    .unwrap();
    assert_eq!(description, "alpenglow main\n");
    let names: Vec<&str> = index.lines().filter_map(|l| l.strip_prefix("P:")).collect();
    assert_eq!(names, ["hello", "zzz"]);
    assert!(
        index.ends_with("\n\n"),
        "every record ends with a blank line"
    );
    assert!(read_index(&bytes, &[]).is_err());
}

#[test]
fn the_key_is_kept_and_its_name_checked() {
    let dir = tempfile::tempdir().unwrap();
    let first = SigningKey::load_or_create(dir.path()).unwrap();
    let again = SigningKey::load_or_create(dir.path()).unwrap();
    assert_eq!(first.name(), again.name());
    assert!(first.name().starts_with("alpenglow-") && first.name().ends_with(".rsa.pub"));
    let private = dir.path().join(first.name().trim_end_matches(".pub"));
    let renamed = dir.path().join("alpenglow-00000000.rsa");
    std::fs::rename(&private, &renamed).unwrap();
    assert!(SigningKey::load(&renamed).is_err());
}

/// Python's gzip/tarfile and the OpenSSL command line read our bytes as apk would: they split
/// the members, check the signature with the public key, the datahash and each file's SHA-1.
#[test]
fn independent_readers_accept_the_package() {
    let (dir, pkg) = package();
    let (_, key) = key();
    let apk = dir.path().join(&pkg.file_name);
    std::fs::write(&apk, &pkg.bytes).unwrap();
    let pub_path = dir.path().join(key.name());
    std::fs::write(&pub_path, key.public_pem().unwrap()).unwrap();
    let script = r#"
import hashlib, io, sys, tarfile, zlib, subprocess
apk, pub = sys.argv[1], sys.argv[2]
data = open(apk, 'rb').read()
members = []
while data:
    d = zlib.decompressobj(31)
    plain = d.decompress(data)
    used = len(data) - len(d.unused_data)
    members.append((data[:used], plain))
    data = d.unused_data
assert len(members) == 3, len(members)
sig_tar = tarfile.open(fileobj=io.BytesIO(members[0][1] + bytes(1024)))
sig = sig_tar.getmembers()[0]
assert sig.name.startswith('.SIGN.RSA256.'), sig.name
open(apk + '.sig', 'wb').write(sig_tar.extractfile(sig).read())
open(apk + '.control', 'wb').write(members[1][0])
subprocess.run(['openssl', 'dgst', '-sha256', '-verify', pub, '-signature', apk + '.sig', apk + '.control'], check=True, stdout=subprocess.DEVNULL)
control = tarfile.open(fileobj=io.BytesIO(members[1][1] + bytes(1024)))
info = control.extractfile('.PKGINFO').read().decode()
datahash = [l.split(' = ')[1] for l in info.splitlines() if l.startswith('datahash = ')][0]
assert hashlib.sha256(members[2][0]).hexdigest() == datahash
files = tarfile.open(fileobj=io.BytesIO(members[2][1]))
checked = 0
for m in files.getmembers():
    if m.isfile():
        assert hashlib.sha1(files.extractfile(m).read()).hexdigest() == m.pax_headers['APK-TOOLS.checksum.SHA1'], m.name
        checked += 1
print('checked', checked)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&apk)
        .arg(&pub_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "checked 2");
    // GNU tar reads the whole package as one archive, as `tar -tzf x.apk` does for Alpine's.
    let out = Command::new("tar").arg("-tzf").arg(&apk).output().unwrap();
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout);
    let first: Vec<&str> = listing.lines().take(3).collect();
    assert_eq!(
        first,
        [
            format!(".SIGN.RSA256.{}", key.name()).as_str(),
            ".PKGINFO",
            ".post-install"
        ]
    );
}
