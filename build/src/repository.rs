//! The package repository the site serves: `/repo/main/wasm32/` with one `.apk` per
//! package and the signed `APKINDEX.tar.gz`, in Alpine's layout, so the guest's
//! `/etc/apk/repositories` line `http://alpenglow.host/repo/main` works as it would for
//! apk-tools. The signing key is made once in the cache (`keys/`) and never leaves it but
//! for its public half, which the initramfs carries in `/etc/apk/keys`.

use crate::formats::apk::reader::{read_index, read_package, TrustedKey};
use crate::formats::apk::{write_index, write_package, PackageInfo, SigningKey, ARCH};
use crate::packages::BuiltPackage;
use crate::paths::Paths;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The repository's name in URLs and in its DESCRIPTION.
pub const REPOSITORY: &str = "main";

/// One package to put in the repository.
pub struct RepoPackage {
    pub info: PackageInfo,
    /// Its files: the tree's contents become `/` in the guest.
    pub root: PathBuf,
    /// `.post-install` and the like, with their bodies.
    pub scripts: Vec<(String, Vec<u8>)>,
}

/// Who builds and packs every package.
pub const PACKAGER: &str = "Alpenglow developers <dev@alpenglow.invalid>";

/// A built (sub)package as the repository packs it, built at `build_time`.
pub fn from_built(p: &BuiltPackage, build_time: u64) -> Result<RepoPackage> {
    let mut scripts = Vec::new();
    for (name, path) in &p.scripts {
        let body = std::fs::read(path)
            .with_context(|| format!("reading {}'s {name} ({})", p.name, path.display()))?;
        scripts.push((name.clone(), body));
    }
    Ok(RepoPackage {
        info: PackageInfo {
            name: p.name.clone(),
            version: p.version.clone(),
            description: p.description.clone(),
            url: p.url.clone(),
            license: p.license.clone(),
            origin: p.origin.clone(),
            maintainer: PACKAGER.into(),
            packager: PACKAGER.into(),
            build_time,
            depends: p.depends.clone(),
            provides: p.provides.clone(),
            install_if: Vec::new(),
            triggers: Vec::new(),
        },
        root: p.root.clone(),
        scripts,
    })
}

/// The directory of the signing key.
pub fn key_dir(paths: &Paths) -> PathBuf {
    paths.cache.join("keys")
}

/// The repository's signing key, made on first use.
pub fn signing_key(paths: &Paths) -> Result<SigningKey> {
    SigningKey::load_or_create(&key_dir(paths)).context("the package repository's signing key")
}

/// `target/repo/main/wasm32`, served as `/repo/main/wasm32/`.
pub fn arch_dir(paths: &Paths) -> PathBuf {
    paths.package_repo().join(REPOSITORY).join(ARCH)
}

/// What [`write`] did.
pub struct Written {
    pub packages: usize,
    pub bytes: u64,
}

/// Writes every package and the index into `dir`, checks each file by reading it back as
/// apk would, and removes the `.apk` files of packages no longer built.
pub fn write(
    dir: &Path,
    packages: &[RepoPackage],
    key: &SigningKey,
    mtime: u64,
) -> Result<Written> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let public = key.public_pem()?;
    let trusted = [TrustedKey {
        name: key.name(),
        pem: &public,
    }];
    let mut names = BTreeSet::new();
    let mut records = Vec::new();
    let mut bytes = 0;
    for p in packages {
        if !names.insert(p.info.name.clone()) {
            bail!("two packages are named {}", p.info.name);
        }
        let pkg = write_package(&p.info, &p.root, &p.scripts, key)
            .with_context(|| format!("packing {}", p.info.name))?;
        read_package(&pkg.bytes, &trusted)
            .with_context(|| format!("{} does not read back", pkg.file_name))?;
        let path = dir.join(&pkg.file_name);
        if std::fs::read(&path).ok().as_deref() != Some(&pkg.bytes[..]) {
            std::fs::write(&path, &pkg.bytes)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        bytes += pkg.bytes.len() as u64;
        records.push(pkg.index_record);
    }
    let description = format!("alpenglow {REPOSITORY}");
    let index = write_index(&records, &description, key, mtime)?;
    read_index(&index, &trusted).context("APKINDEX.tar.gz does not read back")?;
    let index_path = dir.join("APKINDEX.tar.gz");
    std::fs::write(&index_path, &index)
        .with_context(|| format!("writing {}", index_path.display()))?;
    let files: BTreeSet<String> = packages
        .iter()
        .map(|p| format!("{}-{}.apk", p.info.name, p.info.version))
        .collect();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".apk") && !files.contains(&name) {
            std::fs::remove_file(&path)
                .with_context(|| format!("removing the stale {}", path.display()))?;
        }
    }
    Ok(Written {
        packages: packages.len(),
        bytes: bytes + index.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(dir: &Path, name: &str) -> RepoPackage {
        let root = dir.join(name);
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin").join(name), name).unwrap();
        RepoPackage {
            info: PackageInfo {
                name: name.into(),
                version: "1.0-r0".into(),
                origin: name.into(),
                build_time: 1,
                ..Default::default()
            },
            root,
            scripts: vec![],
        }
    }

    #[test]
    fn a_repository_holds_its_packages_and_drops_old_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let key = SigningKey::load_or_create(&tmp.path().join("keys")).unwrap();
        let repo = tmp.path().join("repo");
        let (a, b) = (package(tmp.path(), "a"), package(tmp.path(), "b"));
        let written = write(&repo, &[a, b], &key, 1).unwrap();
        assert_eq!(written.packages, 2);
        assert!(repo.join("b-1.0-r0.apk").exists());
        let a = package(tmp.path(), "a");
        write(&repo, &[a], &key, 1).unwrap();
        assert!(
            !repo.join("b-1.0-r0.apk").exists(),
            "a package no longer built is removed"
        );
        let public = key.public_pem().unwrap();
        let index = std::fs::read(repo.join("APKINDEX.tar.gz")).unwrap();
        let (_, text) = read_index(
            &index,
            &[TrustedKey {
                name: key.name(),
                pem: &public,
            }],
        )
        .unwrap();
        assert!(text.contains("P:a\n") && !text.contains("P:b\n"));
        let twice = [package(tmp.path(), "a"), package(tmp.path(), "a")];
        assert!(write(&repo, &twice, &key, 1).is_err());
    }
}
