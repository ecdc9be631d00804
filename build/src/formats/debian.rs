//! Debian's text formats the build reads: deb822 paragraphs, a `Sources` index, the
//! checksums of an `InRelease` file, and apt's source lists (one-line `sources.list` and
//! deb822 `*.sources`).

/// One source entry of apt's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub types: Vec<String>,
    pub uri: String,
    pub suites: Vec<String>,
}

/// Parses the one-line format of `sources.list` (`deb [opts] uri suite comp…`).
pub fn parse_one_line(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut rest = line;
        let kind = match rest.split_whitespace().next() {
            Some(k @ ("deb" | "deb-src")) => k,
            _ => continue,
        };
        rest = rest[kind.len()..].trim_start();
        if rest.starts_with('[') {
            match rest.find(']') {
                Some(end) => rest = rest[end + 1..].trim_start(),
                None => continue,
            }
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        out.push(AptSource {
            types: vec![kind.to_string()],
            uri: uri.to_string(),
            suites: vec![suite.to_string()],
        });
    }
    out
}

/// Parses the deb822 format of `*.sources` files (paragraphs of `Field: value`).
pub fn parse_deb822(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for para in paragraphs(text) {
        let field = |name: &str| -> Vec<String> {
            para.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        };
        if field("Enabled")
            .first()
            .is_some_and(|v| v.eq_ignore_ascii_case("no"))
        {
            continue;
        }
        let types = field("Types");
        let suites = field("Suites");
        for uri in field("URIs") {
            out.push(AptSource {
                types: types.clone(),
                uri,
                suites: suites.clone(),
            });
        }
    }
    out
}

/// Splits deb822 text into paragraphs of (field, value); continuation lines are joined.
pub fn paragraphs(text: &str) -> Vec<Vec<(String, String)>> {
    let mut paras = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !cur.is_empty() {
                paras.push(std::mem::take(&mut cur));
            }
        } else if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, v)) = cur.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    if !cur.is_empty() {
        paras.push(cur);
    }
    paras
}

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

    #[test]
    fn one_line_with_options_and_comments() {
        let text =
            "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n\
                    deb-src http://m.example/debian bookworm main # trailing\nbogus line\n";
        let s = parse_one_line(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].uri, "http://m.example/debian");
        assert_eq!(s[0].suites, ["bookworm"]);
        assert_eq!(s[1].types, ["deb-src"]);
    }

    #[test]
    fn deb822_skips_disabled_and_splits_uris() {
        let text = "Types: deb\nURIs: http://a.example/debian http://b.example/debian\n\
                    Suites: bookworm bookworm-updates\nComponents: main\n\n\
                    Types: deb\nURIs: http://c.example/debian\nSuites: x\nEnabled: no\n";
        let s = parse_deb822(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].uri, "http://b.example/debian");
        assert_eq!(s[0].suites, ["bookworm", "bookworm-updates"]);
    }
}
