//! Writing one `.apk` (v2): signature, control and data, each its own gzip member.

use super::key::SigningKey;
use super::pkginfo::{index_record, PackageInfo};
use super::tarball::{gzip, Item, TarWriter};
use super::tree::{self, EntryKind};
use anyhow::{bail, Context, Result};
use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The scripts apk runs around an install, an upgrade or a removal.
pub const SCRIPT_NAMES: &[&str] = &[
    ".pre-install",
    ".post-install",
    ".pre-upgrade",
    ".post-upgrade",
    ".pre-deinstall",
    ".post-deinstall",
    ".trigger",
];

/// A written package.
pub struct Package {
    /// `<name>-<version>.apk`
    pub file_name: String,
    pub bytes: Vec<u8>,
    /// Its `APKINDEX` record.
    pub index_record: String,
    pub installed_size: u64,
}

/// Packs the tree `root` (its contents become `/`) with `info` and `scripts` (name from
/// [`SCRIPT_NAMES`], body), signed with `key`. The same inputs give the same bytes.
pub fn write_package(
    info: &PackageInfo,
    root: &Path,
    scripts: &[(String, Vec<u8>)],
    key: &SigningKey,
) -> Result<Package> {
    info.check()?;
    let mut data = TarWriter::new(info.build_time);
    let mut installed_size = 0;
    add_tree(&mut data, root, &mut installed_size)
        .with_context(|| format!("{}: packing {}", info.name, root.display()))?;
    let data_gz = gzip(&data.finish())?;
    let datahash = hex::encode(Sha256::digest(&data_gz));

    let mut control = TarWriter::new(info.build_time);
    let pkginfo = info.pkginfo(installed_size, &datahash);
    control.add(
        ".PKGINFO",
        0o644,
        Item::File {
            data: pkginfo.as_bytes(),
            pax: &[],
        },
    )?;
    for &name in SCRIPT_NAMES {
        if let Some((_, body)) = scripts.iter().find(|(n, _)| n == name) {
            control.add(
                name,
                0o755,
                Item::File {
                    data: body,
                    pax: &[],
                },
            )?;
        }
    }
    if let Some((name, _)) = scripts
        .iter()
        .find(|(n, _)| !SCRIPT_NAMES.contains(&n.as_str()))
    {
        bail!(
            "{}: {name} is not a script apk runs ({})",
            info.name,
            SCRIPT_NAMES.join(" ")
        );
    }
    let control_gz = gzip(&control.segment())?;

    let signature = signature_segment(key, &control_gz, info.build_time)?;
    let mut bytes = signature;
    bytes.extend_from_slice(&control_gz);
    bytes.extend_from_slice(&data_gz);

    let checksum = q1(&control_gz);
    let index_record = index_record(info, &checksum, bytes.len() as u64, installed_size);
    Ok(Package {
        file_name: format!("{}-{}.apk", info.name, info.version),
        bytes,
        index_record,
        installed_size,
    })
}

/// The first member of a package or an index: a segment holding `.SIGN.RSA256.<key>`, the
/// signature of the next member's compressed bytes.
pub fn signature_segment(key: &SigningKey, signed: &[u8], mtime: u64) -> Result<Vec<u8>> {
    let signature = key.sign(signed)?;
    let mut tar = TarWriter::new(mtime);
    let name = format!(".SIGN.RSA256.{}", key.name());
    tar.add(
        &name,
        0o644,
        Item::File {
            data: &signature,
            pax: &[],
        },
    )?;
    gzip(&tar.segment())
}

/// apk's identity of a package: `Q1` and the base64 of the SHA-1 of its control member.
pub fn q1(control_gz: &[u8]) -> String {
    format!(
        "Q1{}",
        base64::engine::general_purpose::STANDARD.encode(Sha1::digest(control_gz))
    )
}

/// Adds every entry of the tree `root` (`tree::entries`), counting the files' bytes.
fn add_tree(tar: &mut TarWriter, root: &Path, size: &mut u64) -> Result<()> {
    for e in tree::entries(root)? {
        match &e.kind {
            EntryKind::Dir => tar.add(&e.rel, e.mode, Item::Dir)?,
            EntryKind::Symlink(target) => tar.add(&e.rel, e.mode, Item::Symlink { target })?,
            EntryKind::File(path) => {
                let data =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                *size += data.len() as u64;
                let sha1 = hex::encode(Sha1::digest(&data));
                let pax = [("APK-TOOLS.checksum.SHA1", sha1)];
                tar.add(
                    &e.rel,
                    e.mode,
                    Item::File {
                        data: &data,
                        pax: &pax,
                    },
                )?;
            }
        }
    }
    Ok(())
}
