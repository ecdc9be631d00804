//! Splitting an installed tree into (sub)packages by path globs, and what a package's
//! files say about it: its `cmd:` provides and its installed size.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Matches a relative path against a glob: `*` and `?` within one component, `**` any
/// number of components (`usr/include/**` matches everything below usr/include).
pub fn glob_match(glob: &str, path: &str) -> bool {
    let g: Vec<&str> = glob.split('/').filter(|s| !s.is_empty()).collect();
    let p: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match_parts(&g, &p)
}

fn match_parts(g: &[&str], p: &[&str]) -> bool {
    match g.split_first() {
        None => p.is_empty(),
        Some((&"**", rest)) => (0..=p.len()).any(|i| match_parts(rest, &p[i..])),
        Some((first, rest)) => {
            !p.is_empty()
                && match_component(first.as_bytes(), p[0].as_bytes())
                && match_parts(rest, &p[1..])
        }
    }
}

fn match_component(g: &[u8], s: &[u8]) -> bool {
    match g.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| match_component(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && match_component(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && match_component(rest, &s[1..]),
    }
}

/// Every file, symlink and empty directory below `root`, relative, sorted.
pub fn entries(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        names.sort();
        if names.is_empty() && dir != root {
            out.push(dir.strip_prefix(root).unwrap_or(dir).to_path_buf());
        }
        for p in names {
            let meta = std::fs::symlink_metadata(&p)
                .with_context(|| format!("reading {}", p.display()))?;
            if meta.is_dir() {
                walk(root, &p, out)?;
            } else {
                out.push(p.strip_prefix(root).unwrap_or(&p).to_path_buf());
            }
        }
        Ok(())
    }
    if root.exists() {
        walk(root, root, &mut out)?;
    }
    Ok(out)
}

/// Which of `parts` (name, globs; the last is the main package, which takes the rest)
/// each entry goes to: the first whose globs match.
pub fn assign<'a>(
    entries: &[PathBuf],
    parts: &'a [(String, Vec<String>)],
) -> Vec<(&'a str, PathBuf)> {
    entries
        .iter()
        .map(|e| {
            let s = e.to_string_lossy();
            let owner = parts
                .iter()
                .find(|(_, globs)| globs.iter().any(|g| glob_match(g, &s)))
                .or(parts.last())
                .map(|(n, _)| n.as_str())
                .unwrap_or_default();
            (owner, e.clone())
        })
        .collect()
}

/// Moves the entries of `dest` into `<out>/<package>/root/` as `assign` says.
pub fn split_into(dest: &Path, parts: &[(String, Vec<String>)], out: &Path) -> Result<()> {
    for (name, _) in parts {
        let root = out.join(name).join("root");
        if root.exists() {
            std::fs::remove_dir_all(&root)
                .with_context(|| format!("removing {}", root.display()))?;
        }
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    }
    for (owner, rel) in assign(&entries(dest)?, parts) {
        let from = dest.join(&rel);
        let to = out.join(owner).join("root").join(&rel);
        if let Some(d) = to.parent() {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        std::fs::rename(&from, &to)
            .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// `cmd:NAME` for every executable in bin/, sbin/, usr/bin/, usr/sbin/ of `root`.
pub fn commands(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for dir in ["bin", "sbin", "usr/bin", "usr/sbin"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in rd {
            let e = e.with_context(|| format!("listing {}", root.join(dir).display()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            out.push(format!("cmd:{name}"));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Installed size as apk counts it: the bytes of regular files.
pub fn installed_size(root: &Path) -> Result<u64> {
    let mut n = 0;
    for e in entries(root)? {
        let m = std::fs::symlink_metadata(root.join(&e))
            .with_context(|| format!("reading {}", root.join(&e).display()))?;
        if m.is_file() {
            n += m.len();
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("usr/include/**", "usr/include/zlib.h"));
        assert!(glob_match("usr/include/**", "usr/include/mbedtls/ssl.h"));
        assert!(!glob_match("usr/include/**", "usr/lib/libz.a"));
        assert!(glob_match("usr/lib/*.a", "usr/lib/libz.a"));
        assert!(!glob_match("usr/lib/*.a", "usr/lib/pkgconfig/zlib.pc"));
        assert!(glob_match("usr/bin/*-config", "usr/bin/ncursesw6-config"));
        assert!(glob_match(
            "**/terminfo/x/xterm*",
            "usr/share/terminfo/x/xterm-256color"
        ));
        assert!(glob_match("usr/bin/lua?.?", "usr/bin/lua5.4"));
        assert!(!glob_match("usr/bin/lua?.?", "usr/bin/lua5.41"));
    }

    #[test]
    fn split_moves_each_file_to_the_first_matching_package() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        for f in [
            "usr/bin/lua5.4",
            "usr/include/lua.h",
            "usr/lib/liblua5.4.a",
            "usr/share/man/man1/lua5.4.1",
        ] {
            let p = dest.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f).unwrap();
        }
        std::fs::create_dir_all(dest.join("usr/share/lua/5.4")).unwrap();
        std::os::unix::fs::symlink("lua5.4", dest.join("usr/bin/lua")).unwrap();
        let parts = vec![
            (
                "lua5.4-dev".to_string(),
                vec!["usr/include/**".to_string(), "usr/lib/*.a".into()],
            ),
            (
                "lua5.4-doc".to_string(),
                vec!["usr/share/man/**".to_string()],
            ),
            ("lua5.4".to_string(), vec![]),
        ];
        let out = dir.path().join("out");
        split_into(&dest, &parts, &out).unwrap();
        let list = |n: &str| -> Vec<String> {
            entries(&out.join(n).join("root"))
                .unwrap()
                .iter()
                .map(|p| p.display().to_string())
                .collect()
        };
        assert_eq!(
            list("lua5.4-dev"),
            ["usr/include/lua.h", "usr/lib/liblua5.4.a"]
        );
        assert_eq!(list("lua5.4-doc"), ["usr/share/man/man1/lua5.4.1"]);
        assert_eq!(
            list("lua5.4"),
            ["usr/bin/lua", "usr/bin/lua5.4", "usr/share/lua/5.4"]
        );
        let main = out.join("lua5.4/root");
        assert!(std::fs::symlink_metadata(main.join("usr/bin/lua"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(commands(&main).unwrap(), ["cmd:lua", "cmd:lua5.4"]);
        assert_eq!(
            installed_size(&main).unwrap(),
            "usr/bin/lua5.4".len() as u64
        );
    }
}
