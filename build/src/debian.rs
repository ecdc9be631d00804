//! Debian archive metadata: the signed `InRelease` file and `Sources` indices.

use crate::apt::paragraphs;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// A source package paragraph of a `Sources` index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePackage {
    pub name: String,
    /// Full Debian version (`1:1.37.0-6`).
    pub version: String,
    /// Directory in the archive (`pool/main/b/busybox`).
    pub directory: String,
    pub files: Vec<IndexedFile>,
}

/// A file listed with its SHA-256 and size, in `Sources` or `InRelease`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFile {
    pub sha256: String,
    pub size: u64,
    pub name: String,
}

impl SourcePackage {
    /// The upstream part of the version: no epoch, no Debian revision.
    pub fn upstream_version(&self) -> &str {
        upstream_version(&self.version)
    }
}

/// `1:1.37.0-6` → `1.37.0`; `6.12.8-1` → `6.12.8`.
pub fn upstream_version(v: &str) -> &str {
    let v = v.split_once(':').map_or(v, |(_, rest)| rest);
    v.rsplit_once('-').map_or(v, |(up, _)| up)
}

fn parse_checksums(value: &str) -> Vec<IndexedFile> {
    value
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (sha, size, name) = (w.next()?, w.next()?, w.next()?);
            Some(IndexedFile {
                sha256: sha.to_string(),
                size: size.parse().ok()?,
                name: name.to_string(),
            })
        })
        .collect()
}

/// Parses a `Sources` index.
pub fn parse_sources(text: &str) -> Vec<SourcePackage> {
    paragraphs(text)
        .into_iter()
        .filter_map(|p| {
            let get = |k: &str| p.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
            Some(SourcePackage {
                name: get("Package")?,
                version: get("Version")?,
                directory: get("Directory")?,
                files: parse_checksums(&get("Checksums-Sha256")?),
            })
        })
        .collect()
}

/// The SHA-256 entry for `path` (e.g. `main/source/Sources.xz`) in a verified `InRelease`.
pub fn release_entry(release: &str, path: &str) -> Option<IndexedFile> {
    let para = paragraphs(release).into_iter().next()?;
    let (_, sums) = para.iter().find(|(k, _)| k == "SHA256")?;
    parse_checksums(sums).into_iter().find(|f| f.name == path)
}

/// Checks the signature of an `InRelease` file with `gpgv` against `keyring` and returns
/// the signed text (only what the signature covers).
pub fn verify_inrelease(inrelease: &Path, keyring: &Path) -> Result<String> {
    let out = Command::new("gpgv")
        .arg("--keyring")
        .arg(keyring)
        .arg("--output")
        .arg("-")
        .arg(inrelease)
        .output()
        .context("running gpgv (install the gpgv package)")?;
    if !out.status.success() {
        bail!(
            "signature check of {} against {} failed:\n{}",
            inrelease.display(),
            keyring.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).with_context(|| format!("{} is not UTF-8", inrelease.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCES: &str = "Package: busybox\nVersion: 1:1.37.0-6\nDirectory: pool/main/b/busybox\n\
Checksums-Sha256:\n 3311 2565764 busybox_1.37.0.orig.tar.bz2\n aaaa 100 busybox_1.37.0-6.debian.tar.xz\n\n\
Package: linux\nVersion: 6.12.8-1\nDirectory: pool/main/l/linux\nChecksums-Sha256:\n 3f25 150933284 linux_6.12.8.orig.tar.xz\n";

    #[test]
    fn parses_sources_paragraphs() {
        let pkgs = parse_sources(SOURCES);
        assert_eq!(pkgs.len(), 2);
        assert_eq!(pkgs[0].upstream_version(), "1.37.0");
        assert_eq!(
            pkgs[0].files[0],
            IndexedFile {
                sha256: "3311".into(),
                size: 2565764,
                name: "busybox_1.37.0.orig.tar.bz2".into()
            }
        );
        assert_eq!(pkgs[1].directory, "pool/main/l/linux");
    }

    #[test]
    fn upstream_versions() {
        assert_eq!(upstream_version("1:1.37.0-6"), "1.37.0");
        assert_eq!(upstream_version("1.2.5-3.1~deb13u1"), "1.2.5");
        assert_eq!(upstream_version("6.12"), "6.12");
    }

    #[test]
    fn release_entry_finds_sha256_not_md5() {
        let rel = "Origin: Debian\nMD5Sum:\n 0ec3 10 main/source/Sources.xz\nSHA256:\n 6002 10540436 main/source/Sources.xz\n 7777 5 main/source/Sources\n";
        let e = release_entry(rel, "main/source/Sources.xz").unwrap();
        assert_eq!(e.sha256, "6002");
        assert_eq!(e.size, 10540436);
        assert!(release_entry(rel, "main/binary-amd64/Packages.xz").is_none());
    }
}
