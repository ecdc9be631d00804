//! Reads the Debian mirror(s) this machine's apt is configured with. Read only: the system's
//! apt configuration is never modified, and no mirror is ever written into the repository.

use std::path::Path;

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

#[cfg(test)]
mod tests {
    use super::*;

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
