//! Reading packages and indexes back, with every check apk makes: the build checks what it
//! wrote, and the tests check the writer against it.

use super::key::verify;
use super::pkginfo::parse_pkginfo;
use anyhow::{bail, Context, Result};
use flate2::bufread::GzDecoder;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::io::Read;

/// One gzip member: its compressed bytes and what they hold.
pub struct Member {
    pub compressed: Vec<u8>,
    pub data: Vec<u8>,
}

/// Splits concatenated gzip members.
pub fn members(mut bytes: &[u8]) -> Result<Vec<Member>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let before = bytes.len();
        let mut decoder = GzDecoder::new(bytes);
        let mut data = Vec::new();
        decoder
            .read_to_end(&mut data)
            .with_context(|| format!("gzip member {} does not decompress", out.len() + 1))?;
        let rest = decoder.into_inner();
        let used = before - rest.len();
        out.push(Member {
            compressed: bytes[..used].to_vec(),
            data,
        });
        bytes = rest;
    }
    Ok(out)
}

/// A tar entry as apk sees it.
#[derive(Debug)]
pub struct Entry {
    pub path: String,
    pub mode: u32,
    pub kind: tar::EntryType,
    pub data: Vec<u8>,
    pub link: Option<String>,
    /// `APK-TOOLS.checksum.SHA1` from the entry's PAX header.
    pub sha1: Option<String>,
}

/// The entries of a tar or tar segment.
pub fn entries(tar_bytes: &[u8]) -> Result<Vec<Entry>> {
    let mut complete = tar_bytes.to_vec();
    complete.extend_from_slice(&[0; 1024]);
    let mut archive = tar::Archive::new(&complete[..]);
    let mut out = Vec::new();
    for entry in archive.entries().context("reading the tar")? {
        let mut entry = entry.context("reading a tar entry")?;
        let mut sha1 = None;
        if let Some(pax) = entry.pax_extensions().context("reading PAX records")? {
            for ext in pax {
                let ext = ext.context("reading a PAX record")?;
                if ext.key() == Ok("APK-TOOLS.checksum.SHA1") {
                    sha1 = ext.value().ok().map(str::to_string);
                }
            }
        }
        let path = entry
            .path()
            .context("entry name")?
            .to_string_lossy()
            .into_owned();
        let link = entry
            .link_name()
            .context("link name")?
            .map(|l| l.to_string_lossy().into_owned());
        let mode = entry.header().mode().context("entry mode")?;
        let kind = entry.header().entry_type();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).context("entry data")?;
        out.push(Entry {
            path,
            mode,
            kind,
            data,
            link,
            sha1,
        });
    }
    Ok(out)
}

/// A trusted key: its name (`alpenglow-….rsa.pub`) and PEM.
pub struct TrustedKey<'a> {
    pub name: &'a str,
    pub pem: &'a str,
}

/// Checks a signature member against the next member and returns the signer's key name.
fn check_signature(signature: &Member, signed: &Member, keys: &[TrustedKey]) -> Result<String> {
    let entries = entries(&signature.data).context("the signature member")?;
    let Some(sig) = entries.first() else {
        bail!("no signature");
    };
    let (sha256, key_name) = if let Some(k) = sig.path.strip_prefix(".SIGN.RSA256.") {
        (true, k)
    } else if let Some(k) = sig.path.strip_prefix(".SIGN.RSA.") {
        (false, k)
    } else {
        bail!("not signed (the first entry is {})", sig.path);
    };
    let Some(key) = keys.iter().find(|k| k.name == key_name) else {
        bail!("signed with {key_name}, which is not a trusted key");
    };
    verify(key.pem, &signed.compressed, &sig.data, sha256)
        .with_context(|| format!("the signature by {key_name}"))?;
    Ok(key_name.to_string())
}

/// A package read back and checked.
pub struct ReadPackage {
    pub signer: String,
    pub pkginfo: Vec<(String, String)>,
    pub control: Vec<Entry>,
    pub files: Vec<Entry>,
}

/// Reads an `.apk` and checks its signature, its `datahash` and every file's SHA-1.
pub fn read_package(bytes: &[u8], keys: &[TrustedKey]) -> Result<ReadPackage> {
    let members = members(bytes)?;
    let [signature, control, data] = &members[..] else {
        bail!(
            "{} gzip members, not 3 (signature, control, data)",
            members.len()
        );
    };
    let signer = check_signature(signature, control, keys)?;
    let control_entries = entries(&control.data).context("the control member")?;
    let Some(info) = control_entries.iter().find(|e| e.path == ".PKGINFO") else {
        bail!("no .PKGINFO");
    };
    let pkginfo = parse_pkginfo(&String::from_utf8_lossy(&info.data));
    let datahash = pkginfo
        .iter()
        .find(|(k, _)| k == "datahash")
        .map(|(_, v)| v.clone())
        .context(".PKGINFO has no datahash")?;
    if hex::encode(Sha256::digest(&data.compressed)) != datahash {
        bail!("the data does not match the datahash of .PKGINFO");
    }
    let files = entries(&data.data).context("the data member")?;
    for file in &files {
        if file.kind == tar::EntryType::Regular {
            let actual = hex::encode(Sha1::digest(&file.data));
            match &file.sha1 {
                Some(expected) if *expected == actual => {}
                Some(_) => bail!("{}: the content does not match its checksum", file.path),
                None => bail!("{}: no checksum", file.path),
            }
        }
    }
    Ok(ReadPackage {
        signer,
        pkginfo,
        control: control_entries,
        files,
    })
}

/// Reads an `APKINDEX.tar.gz`, checks its signature and returns `(DESCRIPTION, APKINDEX)`.
pub fn read_index(bytes: &[u8], keys: &[TrustedKey]) -> Result<(String, String)> {
    let members = members(bytes)?;
    let [signature, body] = &members[..] else {
        bail!("{} gzip members, not 2 (signature, index)", members.len());
    };
    check_signature(signature, body, keys)?;
    let entries = entries(&body.data)?;
    let text = |name: &str| -> Result<String> {
        let e = entries
            .iter()
            .find(|e| e.path == name)
            .with_context(|| format!("no {name}"))?;
        String::from_utf8(e.data.clone()).with_context(|| format!("{name} is not UTF-8"))
    };
    Ok((text("DESCRIPTION")?, text("APKINDEX")?))
}
