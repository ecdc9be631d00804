//! The pinned sources (`build/sources.toml`) and the pure part of resolving them: which
//! release of which origin to use.

use crate::formats::debian::SourcePackage;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesFile {
    pub debian_suites: Vec<String>,
    pub component: BTreeMap<String, Pin>,
}

/// One component's pin. `{version}` in file names and URLs is replaced by the version.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    pub version: String,
    pub series: String,
    pub debian_package: String,
    pub debian_orig: String,
    pub debian_sha256: Option<String>,
    pub upstream_url: String,
    pub upstream_sha256: Option<String>,
}

impl SourcesFile {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: Self =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        for (name, pin) in &file.component {
            if !version_in_series(&pin.version, &pin.series) {
                bail!(
                    "{}: component {name}: version {} is not in series {}",
                    path.display(),
                    pin.version,
                    pin.series
                );
            }
        }
        Ok(file)
    }

    pub fn pin(&self, component: &str) -> Result<&Pin> {
        self.component
            .get(component)
            .with_context(|| format!("no component `{component}` in sources.toml"))
    }
}

impl Pin {
    pub fn orig_name(&self, version: &str) -> String {
        self.debian_orig.replace("{version}", version)
    }
    pub fn upstream_url(&self) -> String {
        self.upstream_url.replace("{version}", &self.version)
    }
}

/// Compares dotted numeric versions (`6.12.9` < `6.12.10`); non-numeric parts compare as text.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let mut ai = a.split('.');
    let mut bi = b.split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// `6.12.8` is in series `6.12`; `6.120.1` is not.
pub fn version_in_series(version: &str, series: &str) -> bool {
    version == series
        || version
            .strip_prefix(series)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// A tarball offered by the mirror for a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorCandidate {
    pub version: String,
    pub file: String,
    pub sha256: String,
    pub size: u64,
    /// Path below the mirror root (`pool/main/…/file`).
    pub path: String,
}

/// What the mirror offers for `pin`: orig tarballs of its package in its series.
pub fn mirror_candidates(pin: &Pin, packages: &[SourcePackage]) -> Vec<MirrorCandidate> {
    let mut out: Vec<MirrorCandidate> = Vec::new();
    for p in packages.iter().filter(|p| p.name == pin.debian_package) {
        let version = p.upstream_version();
        let want = pin.orig_name(version);
        if let Some(f) = p.files.iter().find(|f| f.name == want) {
            if !out.iter().any(|c| c.file == f.name) {
                out.push(MirrorCandidate {
                    version: version.to_string(),
                    file: f.name.clone(),
                    sha256: f.sha256.clone(),
                    size: f.size,
                    path: format!("{}/{}", p.directory, f.name),
                });
            }
        }
    }
    out
}

/// The mirror's choice for a pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorChoice {
    pub candidate: MirrorCandidate,
    /// The pinned release was not there; this is the newest of the same series.
    pub substituted: bool,
}

/// Picks the pinned release from the mirror's candidates, or the newest of the same series.
/// The pinned release must carry the pinned hash (a different one is an error naming both).
pub fn choose_from_mirror(
    component: &str,
    pin: &Pin,
    candidates: &[MirrorCandidate],
) -> Result<MirrorChoice> {
    if let Some(c) = candidates.iter().find(|c| c.version == pin.version) {
        if let Some(pinned) = &pin.debian_sha256 {
            if !pinned.eq_ignore_ascii_case(&c.sha256) {
                bail!(
                    "{component}: the mirror's {} has sha256 {} but sources.toml pins {pinned}",
                    c.file,
                    c.sha256
                );
            }
        }
        return Ok(MirrorChoice {
            candidate: c.clone(),
            substituted: false,
        });
    }
    let newest = candidates
        .iter()
        .filter(|c| version_in_series(&c.version, &pin.series))
        .max_by(|a, b| compare_versions(&a.version, &b.version));
    match newest {
        Some(c) => Ok(MirrorChoice {
            candidate: c.clone(),
            substituted: true,
        }),
        None => {
            let found: Vec<&str> = candidates.iter().map(|c| c.version.as_str()).collect();
            bail!(
                "{component}: neither {} nor any other {}.x release of Debian source package `{}` is on the mirror (found: {})",
                pin.version,
                pin.series,
                pin.debian_package,
                if found.is_empty() { "none".to_string() } else { found.join(", ") }
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::debian::{parse_sources, upstream_version};

    fn pin() -> Pin {
        Pin {
            version: "6.12.8".into(),
            series: "6.12".into(),
            debian_package: "linux".into(),
            debian_orig: "linux_{version}.orig.tar.xz".into(),
            debian_sha256: Some("aa".into()),
            upstream_url: "https://example.org/linux-{version}.tar.xz".into(),
            upstream_sha256: None,
        }
    }

    fn index(versions: &[(&str, &str)]) -> Vec<SourcePackage> {
        let text: String = versions
            .iter()
            .map(|(v, sha)| {
                let up = upstream_version(v);
                format!("Package: linux\nVersion: {v}\nDirectory: pool/main/l/linux\nChecksums-Sha256:\n {sha} 10 linux_{up}.orig.tar.xz\n {sha}ff 5 linux_{v}.debian.tar.xz\n\n")
            })
            .collect();
        parse_sources(&text)
    }

    #[test]
    fn version_order_is_numeric() {
        assert_eq!(compare_versions("6.12.9", "6.12.10"), Ordering::Less);
        assert_eq!(compare_versions("6.12", "6.12.1"), Ordering::Less);
        assert_eq!(compare_versions("1.37.0", "1.37.0"), Ordering::Equal);
        assert!(version_in_series("6.12.107", "6.12"));
        assert!(!version_in_series("6.120.1", "6.12"));
        assert!(!version_in_series("6.13.1", "6.12"));
    }

    #[test]
    fn pinned_release_is_taken_when_present() {
        let c = mirror_candidates(&pin(), &index(&[("6.12.8-1", "aa"), ("6.12.38-1", "bb")]));
        let choice = choose_from_mirror("linux", &pin(), &c).unwrap();
        assert!(!choice.substituted);
        assert_eq!(
            choice.candidate.path,
            "pool/main/l/linux/linux_6.12.8.orig.tar.xz"
        );
    }

    #[test]
    fn newest_in_series_when_pin_is_gone() {
        let c = mirror_candidates(
            &pin(),
            &index(&[
                ("6.12.9-1", "a9"),
                ("6.12.38-1", "bb"),
                ("6.12.10-2", "cc"),
                ("6.13.1-1", "dd"),
            ]),
        );
        let choice = choose_from_mirror("linux", &pin(), &c).unwrap();
        assert!(choice.substituted);
        assert_eq!(choice.candidate.version, "6.12.38");
        assert_eq!(choice.candidate.sha256, "bb");
    }

    #[test]
    fn missing_series_is_a_clear_error() {
        let c = mirror_candidates(&pin(), &index(&[("6.11.2-1", "x"), ("6.13.1-1", "y")]));
        let err = choose_from_mirror("linux", &pin(), &c)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("6.12.8") && err.contains("6.12.x") && err.contains("6.11.2, 6.13.1"),
            "{err}"
        );
        let err = choose_from_mirror("linux", &pin(), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("found: none"), "{err}");
    }

    #[test]
    fn pinned_release_with_other_hash_is_refused() {
        let c = mirror_candidates(&pin(), &index(&[("6.12.8-1", "ee")]));
        let err = choose_from_mirror("linux", &pin(), &c)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("linux_6.12.8.orig.tar.xz")
                && err.contains("ee")
                && err.contains("pins aa"),
            "{err}"
        );
    }

    #[test]
    fn the_repository_pins_parse() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sources.toml");
        let f = SourcesFile::load(&path).unwrap();
        for c in ["linux", "musl", "busybox"] {
            assert!(f.pin(c).is_ok(), "{c} pinned");
        }
        assert!(f.pin("glibc").is_err());
    }
}
