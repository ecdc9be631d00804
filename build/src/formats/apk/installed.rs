//! A record of `lib/apk/db/installed` for a package that is already in place: the image
//! carries a few packages (`packages::BASE`), and apk must know them as installed, with
//! their files and checksums, exactly as if it had installed them itself.

use super::tree::{self, EntryKind};
use anyhow::{Context, Result};
use base64::Engine;
use sha1::{Digest, Sha1};
use std::path::Path;

/// The package's index record (`C P V A S I T …`, as in `APKINDEX`) followed by its tree:
/// per directory `F:` (with `M:uid:gid:mode` when not 0:0:755), per file `R:` (with
/// `a:uid:gid:mode` when not 0:0:644) and `Z:` (`Q1` + base64 of the SHA-1 of the content;
/// of the target for a symbolic link). Directories come in the order the data member holds
/// them, as the guest's apk records an install; files in the root are under `F:` with an
/// empty name. Ends with the blank line that ends a record.
pub fn installed_record(index_record: &str, root: &Path) -> Result<String> {
    let mut out = index_record.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    // (directory, its M: line if any, its files' lines)
    let mut dirs: Vec<(String, Option<u32>, String)> = Vec::new();
    fn dir_index(dirs: &mut Vec<(String, Option<u32>, String)>, name: &str) -> usize {
        match dirs.iter().position(|(n, _, _)| n == name) {
            Some(i) => i,
            None => {
                dirs.push((name.to_string(), None, String::new()));
                dirs.len() - 1
            }
        }
    }
    for e in tree::entries(root)? {
        let (parent, base) = match e.rel.rsplit_once('/') {
            Some((p, b)) => (p, b),
            None => ("", e.rel.as_str()),
        };
        let sha1 = match &e.kind {
            EntryKind::Dir => {
                let i = dir_index(&mut dirs, &e.rel);
                dirs[i].1 = (e.mode != 0o755).then_some(e.mode);
                continue;
            }
            EntryKind::Symlink(target) => Sha1::digest(target.as_bytes()),
            EntryKind::File(path) => Sha1::digest(
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            ),
        };
        let i = dir_index(&mut dirs, parent);
        let lines = &mut dirs[i].2;
        lines.push_str(&format!("R:{base}\n"));
        if e.mode != 0o644 {
            lines.push_str(&format!("a:0:0:{:o}\n", e.mode));
        }
        lines.push_str(&format!(
            "Z:Q1{}\n",
            base64::engine::general_purpose::STANDARD.encode(sha1)
        ));
    }
    for (name, mode, files) in dirs {
        out.push_str(&format!("F:{name}\n"));
        if let Some(mode) = mode {
            out.push_str(&format!("M:0:0:{mode:o}\n"));
        }
        out.push_str(&files);
    }
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn lists_directories_files_modes_and_checksums() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("sbin")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/tool.conf"), "x=1\n").unwrap();
        std::fs::write(root.join("sbin/tool"), "\0asm").unwrap();
        std::fs::set_permissions(
            root.join("sbin/tool"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::set_permissions(root.join("etc"), std::fs::Permissions::from_mode(0o700)).unwrap();
        symlink("tool", root.join("sbin/tool2")).unwrap();
        let q1 = |b: &[u8]| {
            format!(
                "Q1{}",
                base64::engine::general_purpose::STANDARD.encode(Sha1::digest(b))
            )
        };
        let got = installed_record("C:Q1abc\nP:tool\nV:1-r0\n", root).unwrap();
        let want = format!(
            "C:Q1abc\nP:tool\nV:1-r0\n\
             F:etc\nM:0:0:700\nR:tool.conf\nZ:{}\n\
             F:sbin\nR:tool\na:0:0:755\nZ:{}\nR:tool2\na:0:0:777\nZ:{}\n\n",
            q1(b"x=1\n"),
            q1(b"\0asm"),
            q1(b"tool")
        );
        assert_eq!(got, want);
    }
}
