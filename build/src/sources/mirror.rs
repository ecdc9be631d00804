//! The Debian mirror(s) this machine's apt is configured with, and the check of an archive's
//! signed index. Read only: the system's apt configuration is never modified, and no mirror
//! is ever written into the repository.

use crate::formats::debian::{parse_deb822, parse_one_line, AptSource};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// Debian's archive keyring, which signs the mirror's InRelease files.
pub const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Reads `etc/apt/sources.list` and `etc/apt/sources.list.d/*.{list,sources}` below `root`.
pub fn read_sources(root: &Path) -> Vec<AptSource> {
    let apt = root.join("etc/apt");
    let mut out = Vec::new();
    if let Ok(text) = std::fs::read_to_string(apt.join("sources.list")) {
        out.extend(parse_one_line(&text));
    }
    let mut files: Vec<_> = std::fs::read_dir(apt.join("sources.list.d"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        match f.extension().and_then(|e| e.to_str()) {
            Some("list") => out.extend(parse_one_line(&text)),
            Some("sources") => out.extend(parse_deb822(&text)),
            _ => {}
        }
    }
    out
}

/// The distinct archive URIs that can serve Debian source packages: security archives are
/// left out (they hold only updates of the suites they serve), order is kept.
pub fn debian_mirrors(sources: &[AptSource]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in sources {
        let debian_like = s.types.iter().any(|t| t == "deb" || t == "deb-src");
        let security = !s.suites.is_empty() && s.suites.iter().all(|x| x.ends_with("-security"));
        let uri = s.uri.trim_end_matches('/').to_string();
        if debian_like && !security && !out.contains(&uri) {
            out.push(uri);
        }
    }
    out
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

    #[test]
    fn mirrors_skip_security_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let apt = dir.path().join("etc/apt/sources.list.d");
        std::fs::create_dir_all(&apt).unwrap();
        std::fs::write(
            apt.join("debian.sources"),
            "Types: deb\nURIs: http://m.example/debian/\nSuites: bookworm\n\n\
             Types: deb\nURIs: http://m.example/debian-security\nSuites: bookworm-security\n",
        )
        .unwrap();
        std::fs::write(
            apt.join("other.list.disabled"),
            "deb http://nope.example/ x main\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/apt/sources.list"),
            "deb http://m.example/debian bookworm main\n",
        )
        .unwrap();
        let mirrors = debian_mirrors(&read_sources(dir.path()));
        assert_eq!(mirrors, ["http://m.example/debian"]);
    }
}
