//! Turns each pin into a verified tarball in the download cache (the `cargo x fetch` step,
//! `steps::fetch`, runs it for every component).
//!
//! Order: a tarball already in the cache that matches its recorded hash; the same release
//! from the apt mirror this machine is configured with (the index is verified through the
//! archive's signed InRelease; a missing patch release falls back to the newest of its
//! series, loudly); the pinned upstream URL when its sha256 is pinned.

use crate::formats::debian::{self, SourcePackage};
use crate::paths::Paths;
use crate::sources::mirror::{self, DEBIAN_KEYRING};
use crate::sources::pins::{choose_from_mirror, mirror_candidates, Pin, SourcesFile};
use crate::ui::Ui;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A verified tarball and where it came from (recorded in manifest.json).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Fetched {
    pub component: String,
    pub version: String,
    pub file: String,
    pub sha256: String,
    /// `mirror:<path in the archive>` or `upstream:<url>`.
    pub origin: String,
    /// The pinned patch release was gone from the mirror and this one replaced it.
    pub substituted: bool,
    /// Hash of the pin this was resolved for; a changed pin resolves again.
    pub pin_key: String,
}

impl Fetched {
    pub fn path(&self, paths: &Paths) -> PathBuf {
        paths.downloads().join(&self.file)
    }
}

pub struct Fetcher<'a> {
    paths: &'a Paths,
    ui: Ui,
    sources: &'a SourcesFile,
    mirrors: Vec<String>,
    keyring: PathBuf,
    agent: ureq::Agent,
    indices: HashMap<String, Vec<SourcePackage>>,
}

impl<'a> Fetcher<'a> {
    /// A fetcher using this machine's apt mirrors and Debian's keyring (both overridable
    /// with `ALPENGLOW_MIRROR` and `ALPENGLOW_DEBIAN_KEYRING`, for tests and odd setups).
    pub fn new(paths: &'a Paths, ui: Ui, sources: &'a SourcesFile) -> Self {
        let mirrors = match std::env::var("ALPENGLOW_MIRROR") {
            Ok(m) => m
                .split_whitespace()
                .map(|s| s.trim_end_matches('/').to_string())
                .collect(),
            Err(_) => mirror::debian_mirrors(&mirror::read_sources(Path::new("/"))),
        };
        let keyring = std::env::var_os("ALPENGLOW_DEBIAN_KEYRING")
            .map_or_else(|| PathBuf::from(DEBIAN_KEYRING), PathBuf::from);
        Self::with_mirrors(paths, ui, sources, mirrors, keyring)
    }

    /// A fetcher with explicit mirrors (archive roots) and the keyring that signs them.
    pub fn with_mirrors(
        paths: &'a Paths,
        ui: Ui,
        sources: &'a SourcesFile,
        mirrors: Vec<String>,
        keyring: PathBuf,
    ) -> Self {
        let mirrors = mirrors
            .into_iter()
            .map(|m| m.trim_end_matches('/').to_string())
            .collect();
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(15))
            .timeout_read(Duration::from_secs(60))
            .build();
        Self {
            paths,
            ui,
            sources,
            mirrors,
            keyring,
            agent,
            indices: HashMap::new(),
        }
    }

    fn record_path(&self, component: &str) -> PathBuf {
        self.paths
            .downloads()
            .join(format!("{component}.resolved.json"))
    }

    /// Resolves and downloads one component (or reuses the verified cache).
    pub fn fetch(&mut self, component: &str) -> Result<Fetched> {
        let pin = self.sources.pin(component)?.clone();
        let pin_key = pin_key(&pin);
        if let Ok(text) = std::fs::read_to_string(self.record_path(component)) {
            if let Ok(rec) = serde_json::from_str::<Fetched>(&text) {
                if rec.pin_key == pin_key
                    && verify_cached(&rec.path(self.paths), &rec.sha256).is_ok()
                {
                    return Ok(rec);
                }
            }
        }
        std::fs::create_dir_all(self.paths.downloads())
            .with_context(|| format!("creating {}", self.paths.downloads().display()))?;
        let mut tried = Vec::new();
        let mut found = None;
        for mirror in self.mirrors.clone() {
            match self.fetch_from_mirror(component, &pin, &mirror) {
                Ok(f) => {
                    found = Some(f);
                    break;
                }
                Err(e) => tried.push(format!("apt mirror: {e:#}")),
            }
        }
        if found.is_none() {
            match &pin.upstream_sha256 {
                Some(sha) => {
                    let url = pin.upstream_url();
                    let file = url.rsplit('/').next().unwrap_or(component).to_string();
                    match self.download(&url, &file, sha) {
                        Ok(()) => {
                            found = Some(Fetched {
                                component: component.into(),
                                version: pin.version.clone(),
                                file,
                                sha256: sha.clone(),
                                origin: format!("upstream:{url}"),
                                substituted: false,
                                pin_key: String::new(),
                            })
                        }
                        Err(e) => tried.push(format!("upstream: {e:#}")),
                    }
                }
                None => tried.push(format!(
                    "upstream {}: no sha256 pinned, not used",
                    pin.upstream_url()
                )),
            }
        }
        if self.mirrors.is_empty() {
            tried.push("no Debian mirror in this machine's apt configuration".into());
        }
        let mut fetched = found.ok_or_else(|| {
            anyhow!(
                "{component} {}: no source could be fetched:\n  - {}",
                pin.version,
                tried.join("\n  - ")
            )
        })?;
        fetched.pin_key = pin_key;
        if fetched.substituted {
            self.ui.warn(&format!(
                "{component} {} is gone from the mirror; using {} (newest {}.x there), verified by the archive's signed index",
                pin.version, fetched.version, pin.series
            ));
        }
        let json = serde_json::to_string_pretty(&fetched).context("serialising fetch record")?;
        std::fs::write(self.record_path(component), json).context("writing fetch record")?;
        Ok(fetched)
    }

    fn fetch_from_mirror(&mut self, component: &str, pin: &Pin, mirror: &str) -> Result<Fetched> {
        let mut packages = Vec::new();
        let mut errors = Vec::new();
        for suite in self.sources.debian_suites.clone() {
            match self.index(mirror, &suite) {
                Ok(idx) => {
                    packages.extend(idx.iter().filter(|p| p.name == pin.debian_package).cloned())
                }
                Err(e) => errors.push(format!("{suite}: {e:#}")),
            }
        }
        if packages.is_empty() && !errors.is_empty() {
            bail!("no usable source index: {}", errors.join("; "));
        }
        let choice = choose_from_mirror(component, pin, &mirror_candidates(pin, &packages))?;
        let c = choice.candidate;
        self.download(&format!("{mirror}/{}", c.path), &c.file, &c.sha256)?;
        Ok(Fetched {
            component: component.into(),
            version: c.version,
            file: c.file,
            sha256: c.sha256,
            origin: format!("mirror:{}", c.path),
            substituted: choice.substituted,
            pin_key: String::new(),
        })
    }

    /// The verified `Sources` index of one suite (memoised for this run).
    fn index(&mut self, mirror: &str, suite: &str) -> Result<&Vec<SourcePackage>> {
        let key = format!("{mirror} {suite}");
        if !self.indices.contains_key(&key) {
            let dir = self
                .paths
                .cache
                .join("debian")
                .join(short_hash(mirror))
                .join(suite);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let inrelease = dir.join("InRelease");
            let body = self.get(&format!("{mirror}/dists/{suite}/InRelease"))?;
            std::fs::write(&inrelease, body)
                .with_context(|| format!("writing {}", inrelease.display()))?;
            let release = mirror::verify_inrelease(&inrelease, &self.keyring)?;
            let entry = debian::release_entry(&release, "main/source/Sources.xz")
                .with_context(|| format!("{suite}/InRelease lists no main/source/Sources.xz"))?;
            let xz = self.get(&format!("{mirror}/dists/{suite}/main/source/Sources.xz"))?;
            let got = hex::encode(Sha256::digest(&xz));
            if got != entry.sha256 {
                bail!(
                    "{suite}/main/source/Sources.xz: sha256 is {got}, the signed InRelease says {}",
                    entry.sha256
                );
            }
            let mut text = String::new();
            xz2::read::XzDecoder::new(&xz[..])
                .read_to_string(&mut text)
                .with_context(|| format!("decompressing {suite}/main/source/Sources.xz"))?;
            self.indices
                .insert(key.clone(), debian::parse_sources(&text));
        }
        Ok(&self.indices[&key])
    }

    fn get(&self, url: &str) -> Result<Vec<u8>> {
        let resp = self
            .agent
            .get(url)
            .call()
            .with_context(|| format!("GET {url}"))?;
        let mut body = Vec::new();
        resp.into_reader()
            .read_to_end(&mut body)
            .with_context(|| format!("reading {url}"))?;
        Ok(body)
    }

    /// Downloads `url` to the cache as `file`, hashing as it goes; the file only appears
    /// under its name once its sha256 matches.
    pub fn download(&self, url: &str, file: &str, sha256: &str) -> Result<()> {
        let dest = self.paths.downloads().join(file);
        if verify_cached(&dest, sha256).is_ok() {
            return Ok(());
        }
        let resp = self
            .agent
            .get(url)
            .call()
            .with_context(|| format!("GET {url}"))?;
        let total = resp.header("Content-Length").and_then(|v| v.parse().ok());
        let part = dest.with_extension("part");
        let mut out =
            std::fs::File::create(&part).with_context(|| format!("creating {}", part.display()))?;
        let pb = self.ui.bytes_bar(total, file);
        let mut reader = resp.into_reader();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader
                .read(&mut buf)
                .with_context(|| format!("downloading {url}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .with_context(|| format!("writing {}", part.display()))?;
            pb.inc(n as u64);
        }
        pb.finish_and_clear();
        drop(out);
        let got = hex::encode(hasher.finalize());
        if !got.eq_ignore_ascii_case(sha256) {
            let _ = std::fs::remove_file(&part);
            bail!("checksum mismatch for {file} from {url}: got sha256 {got}, expected {sha256}");
        }
        std::fs::rename(&part, &dest)
            .with_context(|| format!("moving {} into place", part.display()))?;
        write_sidecar(&dest, sha256);
        Ok(())
    }
}

fn pin_key(pin: &Pin) -> String {
    short_hash(&format!("{pin:?}"))
}

fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..8])
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(h.finalize()))
}

/// Sidecar `<file>.sha256` = "hash size mtime": lets a no-op build skip rehashing 150 MB.
fn sidecar(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

fn file_identity(path: &Path) -> Option<String> {
    let m = std::fs::metadata(path).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(format!("{} {mtime}", m.len()))
}

fn write_sidecar(path: &Path, sha256: &str) {
    if let Some(id) = file_identity(path) {
        let _ = std::fs::write(sidecar(path), format!("{sha256} {id}"));
    }
}

/// Checks a cached file against its expected hash (trusting an up-to-date sidecar).
pub fn verify_cached(path: &Path, sha256: &str) -> Result<()> {
    let id =
        file_identity(path).with_context(|| format!("{} is not in the cache", path.display()))?;
    if std::fs::read_to_string(sidecar(path)).is_ok_and(|s| s == format!("{sha256} {id}")) {
        return Ok(());
    }
    let got = sha256_file(path)?;
    if !got.eq_ignore_ascii_case(sha256) {
        bail!(
            "checksum mismatch for {}: got sha256 {got}, expected {sha256}",
            path.display()
        );
    }
    write_sidecar(path, sha256);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_file_with_wrong_hash_names_file_and_both_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("musl_1.2.5.orig.tar.gz");
        std::fs::write(&f, b"not the real tarball").unwrap();
        let good = hex::encode(Sha256::digest(b"not the real tarball"));
        verify_cached(&f, &good).unwrap();
        let want = "a9a118bbe84d8764da0ea0d28b3ab3fae8477fc7e4085d90102b8596fc7c75e4";
        let err = verify_cached(&f, want).unwrap_err().to_string();
        assert!(
            err.contains("musl_1.2.5.orig.tar.gz") && err.contains(&good) && err.contains(want),
            "{err}"
        );
    }

    #[test]
    fn changed_file_is_rehashed_despite_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.tar");
        std::fs::write(&f, b"one").unwrap();
        let one = hex::encode(Sha256::digest(b"one"));
        verify_cached(&f, &one).unwrap();
        std::fs::write(&f, b"two!").unwrap();
        assert!(verify_cached(&f, &one).is_err());
    }
}
