//! Source trees: each component is a git repository in the cache holding the pristine
//! tarball (tag `upstream`) plus one commit per patch of `patches/<component>/`.
//!
//! Keeping the tree in git gives three things: `git am` names the failing patch and hunk;
//! re-applying a changed series only rewrites files that differ, so make rebuilds only what
//! depends on them; and `cargo x patches` regenerates the series from the tree.

use crate::ui::Ui;
use anyhow::{bail, Context, Result};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

const MARKER: &str = "alpenglow-upstream";
const IDENTITY: [&str; 4] = [
    "-c",
    "user.name=Alpenglow build",
    "-c",
    "user.email=build@alpenglow.invalid",
];

/// Flags that make `git format-patch` output depend only on the commits.
pub const FORMAT_PATCH_FLAGS: [&str; 3] = ["--zero-commit", "--no-signature", "--no-numbered"];

fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(dir).args(IDENTITY);
    c
}

fn git_out(dir: &Path, args: &[&str]) -> Result<String> {
    let out = git(dir)
        .args(args)
        .output()
        .with_context(|| format!("running git {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "git {} in {} failed: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The patch files of a series, in order.
pub fn series(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "patch"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    v.sort();
    Ok(v)
}

/// Unpacks a `.tar.{gz,xz,bz2}` into `dest`, dropping the top-level directory.
pub fn unpack(tarball: &Path, dest: &Path) -> Result<()> {
    let f =
        std::fs::File::open(tarball).with_context(|| format!("opening {}", tarball.display()))?;
    let name = tarball.to_string_lossy();
    let reader: Box<dyn std::io::Read> = if name.ends_with(".xz") {
        Box::new(xz2::read::XzDecoder::new(f))
    } else if name.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(f))
    } else if name.ends_with(".bz2") {
        Box::new(bzip2::read::BzDecoder::new(f))
    } else {
        bail!("{}: unknown compression", tarball.display());
    };
    let mut ar = tar::Archive::new(reader);
    ar.set_preserve_permissions(true);
    for entry in ar
        .entries()
        .with_context(|| format!("reading {}", tarball.display()))?
    {
        let mut entry = entry.with_context(|| format!("reading {}", tarball.display()))?;
        let path = entry
            .path()
            .with_context(|| format!("bad path in {}", tarball.display()))?
            .into_owned();
        let rel: PathBuf = path.components().skip(1).collect();
        if rel.as_os_str().is_empty()
            || rel.components().any(|c| !matches!(c, Component::Normal(_)))
        {
            continue;
        }
        let target = dest.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        entry
            .unpack(&target)
            .with_context(|| format!("unpacking {} from {}", rel.display(), tarball.display()))?;
    }
    Ok(())
}

/// A prepared tree: its directory and the commit it is at.
pub struct Tree {
    pub dir: PathBuf,
    pub head: String,
}

/// Makes `dir` hold `tarball` (identified by `sha256`) with the series in `patches` applied.
/// Local work is never lost: a dirty tree is an error, and commits that are not in the
/// series are kept on a `backup-…` branch before the tree is reset.
pub fn prepare(
    ui: &Ui,
    component: &str,
    tarball: &Path,
    sha256: &str,
    dir: &Path,
    patches: &Path,
) -> Result<Tree> {
    let marker = dir.join(".git").join(MARKER);
    let pristine = std::fs::read_to_string(&marker).is_ok_and(|s| s.trim() == sha256);
    if !pristine {
        if dir.join(".git").exists() {
            ensure_clean(component, dir)?;
            let head = git_out(dir, &["rev-parse", "HEAD"])?;
            ui.warn(&format!(
                "{component}: source tarball changed; the old tree {} (HEAD {}) is replaced",
                dir.display(),
                head.trim()
            ));
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        ui.info(&format!("unpacking {}", tarball.display()));
        unpack(tarball, dir)?;
        let file = tarball
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        git_out(dir, &["init", "-q", "-b", "alpenglow"])?;
        git_out(dir, &["add", "-A", "-f"])?;
        git_out(
            dir,
            &[
                "commit",
                "-q",
                "--no-verify",
                "-m",
                &format!("upstream {file}"),
            ],
        )?;
        git_out(dir, &["tag", "-f", "upstream"])?;
        std::fs::write(&marker, sha256).with_context(|| format!("writing {}", marker.display()))?;
    }
    apply_series(component, dir, patches)?;
    let head = git_out(dir, &["rev-parse", "HEAD"])?.trim().to_string();
    Ok(Tree {
        dir: dir.to_path_buf(),
        head,
    })
}

fn ensure_clean(component: &str, dir: &Path) -> Result<()> {
    let status = git_out(dir, &["status", "--porcelain", "--untracked-files=no"])?;
    if !status.trim().is_empty() {
        bail!(
            "{component}: {} has uncommitted changes; commit them (and run `cargo x patches {component}`) or discard them:\n{}",
            dir.display(),
            status.trim_end()
        );
    }
    Ok(())
}

/// The series the tree holds now, as format-patch would write it: (file name, bytes).
fn tree_series(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let tmp = tempdir_in(dir)?;
    let mut args = vec!["format-patch", "-q"];
    args.extend(FORMAT_PATCH_FLAGS);
    let out = tmp.to_string_lossy().into_owned();
    args.extend(["-o", &out, "upstream..HEAD"]);
    git_out(dir, &args)?;
    let mut v = Vec::new();
    for p in series(&tmp)? {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        v.push((
            name,
            std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?,
        ));
    }
    std::fs::remove_dir_all(&tmp).ok();
    Ok(v)
}

fn tempdir_in(dir: &Path) -> Result<PathBuf> {
    let p = dir.join(".git").join("alpenglow-series");
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
    Ok(p)
}

fn apply_series(component: &str, dir: &Path, patches: &Path) -> Result<()> {
    let wanted = series(patches)?;
    let mut want: Vec<(String, Vec<u8>)> = Vec::new();
    for p in &wanted {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        want.push((
            name,
            std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        ));
    }
    let have = tree_series(dir)?;
    if have == want {
        return Ok(());
    }
    ensure_clean(component, dir)?;
    let common = have.iter().zip(&want).take_while(|(a, b)| a == b).count();
    if have.len() > common {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let branch = format!("backup-{stamp}");
        git_out(dir, &["branch", "-f", &branch, "HEAD"])?;
        eprintln!(
            "    {component}: the tree had {} commit(s) not in patches/{component}; kept on branch `{branch}`",
            have.len() - common
        );
    }
    // Reset to the last commit both agree on, so files of unchanged patches keep their mtimes.
    let base = if common == 0 {
        "upstream".to_string()
    } else {
        let revs = git_out(dir, &["rev-list", "--reverse", "upstream..HEAD"])?;
        revs.lines()
            .nth(common - 1)
            .context("tree history shorter than its series")?
            .to_string()
    };
    git_out(dir, &["checkout", "-q", "-f", "-B", "alpenglow", &base])?;
    for (i, p) in wanted.iter().enumerate().skip(common) {
        let out = git(dir)
            .args(["am", "-q", "--keep-cr", "--committer-date-is-author-date"])
            .arg(p)
            .output()
            .context("running git am")?;
        if !out.status.success() {
            let msg = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let _ = git(dir).args(["am", "--abort"]).output();
            bail!(
                "{component}: patch {} ({} of {}) does not apply:\n{}",
                p.display(),
                i + 1,
                wanted.len(),
                msg.trim_end()
            );
        }
    }
    Ok(())
}

/// `cargo x patches <component>`: regenerates `patches/<component>/` from the tree's commits.
pub fn export(component: &str, dir: &Path, patches: &Path) -> Result<usize> {
    ensure_clean(component, dir)?;
    std::fs::create_dir_all(patches).with_context(|| format!("creating {}", patches.display()))?;
    for old in series(patches)? {
        std::fs::remove_file(&old).with_context(|| format!("removing {}", old.display()))?;
    }
    let out = patches.to_string_lossy().into_owned();
    let mut args = vec!["format-patch", "-q"];
    args.extend(FORMAT_PATCH_FLAGS);
    args.extend(["-o", &out, "upstream..HEAD"]);
    git_out(dir, &args)?;
    Ok(series(patches)?.len())
}

/// The commit a tree is at.
pub fn head(dir: &Path) -> Result<String> {
    Ok(git_out(dir, &["rev-parse", "HEAD"])?.trim().to_string())
}

/// A hash of uncommitted changes (empty if clean), so builds notice local edits too.
pub fn local_changes(dir: &Path) -> Result<String> {
    git_out(dir, &["diff", "HEAD"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, script: &str) {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
    }

    /// A tarball with one top-level directory, like upstream releases.
    fn make_tarball(dir: &Path) -> PathBuf {
        sh(dir, "mkdir -p pkg-1.0/src && printf 'one\\ntwo\\nthree\\n' > pkg-1.0/src/a.c && echo keep > pkg-1.0/b.txt && tar czf pkg-1.0.tar.gz pkg-1.0");
        dir.join("pkg-1.0.tar.gz")
    }

    #[test]
    fn series_apply_change_and_backup() {
        let tmp = tempfile::tempdir().unwrap();
        let tarball = make_tarball(tmp.path());
        let tree = tmp.path().join("src");
        let patches = tmp.path().join("patches");
        let ui = Ui::default();
        let t = prepare(&ui, "pkg", &tarball, "sha-1", &tree, &patches).unwrap();
        assert_eq!(
            std::fs::read_to_string(tree.join("b.txt")).unwrap(),
            "keep\n"
        );
        let pristine = t.head.clone();

        // A developer commits a change and exports it as the series.
        sh(&tree, "sed -i s/two/TWO/ src/a.c && git -c user.name=d -c user.email=d@x commit -qam 'pkg: shout two' ");
        assert_eq!(export("pkg", &tree, &patches).unwrap(), 1);
        let t2 = prepare(&ui, "pkg", &tarball, "sha-1", &tree, &patches).unwrap();
        assert_ne!(t2.head, pristine);

        // Unpacked afresh (new tarball hash), the series is applied again.
        let t3 = prepare(&ui, "pkg", &tarball, "sha-2", &tree, &patches).unwrap();
        assert!(std::fs::read_to_string(tree.join("src/a.c"))
            .unwrap()
            .contains("TWO"));
        assert_ne!(t3.head, pristine);

        // A commit that is not in the series is kept on a backup branch, not lost.
        sh(
            &tree,
            "echo extra >> b.txt && git -c user.name=d -c user.email=d@x commit -qam extra",
        );
        prepare(&ui, "pkg", &tarball, "sha-2", &tree, &patches).unwrap();
        assert_eq!(
            std::fs::read_to_string(tree.join("b.txt")).unwrap(),
            "keep\n"
        );
        let branches = git_out(&tree, &["branch", "--list", "backup-*"]).unwrap();
        assert!(branches.contains("backup-"), "{branches}");
    }

    #[test]
    fn dirty_tree_is_refused_and_bad_patch_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let tarball = make_tarball(tmp.path());
        let tree = tmp.path().join("src");
        let patches = tmp.path().join("patches");
        let ui = Ui::default();
        prepare(&ui, "pkg", &tarball, "s", &tree, &patches).unwrap();
        std::fs::create_dir_all(&patches).unwrap();
        std::fs::write(
            patches.join("0001-broken.patch"),
            "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: d <d@x>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nSubject: [PATCH] broken\n\n---\n src/a.c | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n\ndiff --git a/src/a.c b/src/a.c\n--- a/src/a.c\n+++ b/src/a.c\n@@ -1,3 +1,3 @@\n one\n-zwei\n+TWO\n three\n",
        )
        .unwrap();
        let err = format!(
            "{:#}",
            prepare(&ui, "pkg", &tarball, "s", &tree, &patches)
                .err()
                .unwrap()
        );
        assert!(
            err.contains("0001-broken.patch") && err.contains("src/a.c"),
            "{err}"
        );

        std::fs::remove_file(patches.join("0001-broken.patch")).unwrap();
        std::fs::write(tree.join("b.txt"), "local edit\n").unwrap();
        std::fs::write(patches.join("0001-other.patch"), "x").unwrap();
        let err = format!(
            "{:#}",
            prepare(&ui, "pkg", &tarball, "s", &tree, &patches)
                .err()
                .unwrap()
        );
        assert!(
            err.contains("uncommitted changes") && err.contains("b.txt"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(tree.join("b.txt")).unwrap(),
            "local edit\n"
        );
    }
}
