//! The repository's signing key: RSA 2048, made once per build cache and never committed.
//!
//! apk names a key by its file name, and a signature by the key's name
//! (`.SIGN.RSA256.<name>`), so the guest finds the public half as `/etc/apk/keys/<name>`.
//! The name carries a short hash of the public key, as abuild's do, so that two caches'
//! keys never share a name.

use anyhow::{bail, Context, Result};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const BITS: usize = 2048;

/// The private key and its name (`alpenglow-1a2b3c4d.rsa.pub`).
pub struct SigningKey {
    name: String,
    private: RsaPrivateKey,
}

impl SigningKey {
    /// Loads the key kept in `dir`, or makes one there. The private half is `<stem>.rsa`
    /// (PKCS#8 PEM, mode 0600), the public half `<stem>.rsa.pub` (SubjectPublicKeyInfo PEM,
    /// the form `/etc/apk/keys` holds).
    pub fn load_or_create(dir: &Path) -> Result<SigningKey> {
        if let Some(private) = find_private(dir)? {
            return Self::load(&private);
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), BITS)
            .context("making the repository's RSA key")?;
        let key = Self::from_private(private)?;
        let stem = key.name.trim_end_matches(".pub");
        let private_path = dir.join(stem);
        let pem = key
            .private
            .to_pkcs8_pem(LineEnding::LF)
            .context("encoding the private key")?;
        write_private(&private_path, pem.as_bytes())?;
        let public_path = dir.join(&key.name);
        std::fs::write(&public_path, key.public_pem()?)
            .with_context(|| format!("writing {}", public_path.display()))?;
        Ok(key)
    }

    /// Loads a private key file (`<stem>.rsa`).
    pub fn load(path: &Path) -> Result<SigningKey> {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("reading the signing key {}", path.display()))?;
        let private = RsaPrivateKey::from_pkcs8_pem(&pem)
            .with_context(|| format!("{}: not a PKCS#8 RSA private key", path.display()))?;
        let key = Self::from_private(private)?;
        let expected = format!("{}.pub", file_name(path));
        if key.name != expected {
            bail!(
                "{}: the key's name should be {} for this key (the file was renamed or changed)",
                path.display(),
                key.name.trim_end_matches(".pub")
            );
        }
        Ok(key)
    }

    fn from_private(private: RsaPrivateKey) -> Result<SigningKey> {
        let der = RsaPublicKey::from(&private)
            .to_public_key_der()
            .context("encoding the public key")?;
        let hash = Sha256::digest(der.as_bytes());
        let name = format!("alpenglow-{}.rsa.pub", hex::encode(&hash[..4]));
        Ok(SigningKey { name, private })
    }

    /// The key's name: the file name of its public half in `/etc/apk/keys`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half, PEM.
    pub fn public_pem(&self) -> Result<String> {
        RsaPublicKey::from(&self.private)
            .to_public_key_pem(LineEnding::LF)
            .context("encoding the public key")
    }

    /// RSA PKCS#1 v1.5 over SHA-256 of `data`; deterministic.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        let digest = Sha256::digest(data);
        self.private
            .sign(Pkcs1v15Sign::new::<Sha256>(), &digest)
            .context("signing")
    }
}

/// Checks an RSA PKCS#1 v1.5 signature over SHA-256 (`sha256 = true`) or SHA-1.
pub fn verify(public_pem: &str, data: &[u8], signature: &[u8], sha256: bool) -> Result<()> {
    let key = RsaPublicKey::from_public_key_pem(public_pem).context("not an RSA public key")?;
    let result = if sha256 {
        key.verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(data),
            signature,
        )
    } else {
        use sha1::Sha1;
        key.verify(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(data), signature)
    };
    result.context("the signature does not match")
}

fn find_private(dir: &Path) -> Result<Option<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        let name = file_name(&path);
        if name.starts_with("alpenglow-") && name.ends_with(".rsa") {
            found.push(path);
        }
    }
    found.sort();
    match found.len() {
        0 | 1 => Ok(found.pop()),
        _ => bail!(
            "{}: more than one signing key ({}); keep one",
            dir.display(),
            found
                .iter()
                .map(|p| file_name(p))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(unix)]
fn write_private(path: &Path, pem: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(pem)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, pem: &[u8]) -> Result<()> {
    std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))
}
