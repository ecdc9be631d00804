//! Fetching `dist/manifest.json` and the artifacts it lists, streaming each download so the
//! page can show progress, and checking every byte against the manifest's size and sha256.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, Request, RequestCache, RequestInit, Response};

/// Where the build puts the artifacts, relative to the page.
pub const DIST: &str = "dist/";

/// The artifacts the page needs, in download order.
pub const REQUIRED: [&str; 2] = ["vmlinux.wasm", "initramfs.cpio.gz"];

/// The parts of `dist/manifest.json` the page uses (the build writes more).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Manifest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub components: BTreeMap<String, Component>,
    pub artifacts: BTreeMap<String, ArtifactInfo>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Component {
    pub version: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ArtifactInfo {
    pub size: u64,
    pub sha256: String,
}

impl Manifest {
    /// Parses and checks the manifest: every required artifact must be listed with a
    /// well-formed sha256.
    pub fn parse(text: &str) -> Result<Self, String> {
        let m: Manifest =
            serde_json::from_str(text).map_err(|e| format!("manifest.json is not valid: {e}"))?;
        for name in REQUIRED {
            let a = m
                .artifacts
                .get(name)
                .ok_or_else(|| format!("manifest.json does not list {name}"))?;
            let ok = a.sha256.len() == 64 && a.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return Err(format!("manifest.json has a malformed sha256 for {name}"));
            }
        }
        Ok(m)
    }
}

/// Why loading failed; every variant is shown to the person with a Retry button.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadError {
    Manifest(String),
    Download {
        file: String,
        message: String,
    },
    Size {
        file: String,
        expected: u64,
        actual: u64,
    },
    Hash {
        file: String,
        expected: String,
        actual: String,
    },
    Kernel(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Manifest(m) => write!(f, "{m}"),
            LoadError::Download { file, message } => {
                write!(f, "downloading {file} failed: {message}")
            }
            LoadError::Size {
                file,
                expected,
                actual,
            } => write!(
                f,
                "{file} has {actual} bytes, but manifest.json says {expected}"
            ),
            LoadError::Hash { file, .. } => {
                write!(f, "{file} does not match the sha256 in manifest.json")
            }
            LoadError::Kernel(m) => write!(f, "{m}"),
        }
    }
}

/// Renders a JavaScript exception as text.
pub fn js_error(v: &JsValue) -> String {
    if let Some(e) = v.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    v.as_string().unwrap_or_else(|| format!("{v:?}"))
}

/// Fetches `path` bypassing the HTTP cache (so Retry really fetches again).
async fn fetch(path: &str) -> Result<Response, String> {
    let window = web_sys::window().ok_or("no window")?;
    let init = RequestInit::new();
    init.set_cache(RequestCache::NoStore);
    let req = Request::new_with_str_and_init(path, &init).map_err(|e| js_error(&e))?;
    let resp = JsFuture::from(window.fetch_with_request(&req))
        .await
        .map_err(|e| js_error(&e))?;
    let resp: Response = resp
        .dyn_into()
        .map_err(|_| "fetch did not return a Response")?;
    if !resp.ok() {
        return Err(format!("HTTP {} {}", resp.status(), resp.status_text()));
    }
    Ok(resp)
}

pub async fn fetch_manifest() -> Result<Manifest, LoadError> {
    let path = format!("{DIST}manifest.json");
    let resp = fetch(&path)
        .await
        .map_err(|e| LoadError::Manifest(format!("cannot load {path}: {e}")))?;
    let text = resp.text().map_err(|e| js_error(&e)).map(JsFuture::from);
    let text = match text {
        Ok(p) => p.await.map_err(|e| js_error(&e)),
        Err(e) => Err(e),
    };
    let text = text
        .ok()
        .and_then(|t| t.as_string())
        .ok_or_else(|| LoadError::Manifest(format!("cannot read {path}")))?;
    Manifest::parse(&text).map_err(LoadError::Manifest)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Downloads `dist/<file>`, calling `progress(received)` as bytes arrive, and checks the result
/// against `info`. Returns the verified bytes.
pub async fn download(
    file: &str,
    info: &ArtifactInfo,
    mut progress: impl FnMut(u64),
) -> Result<Vec<u8>, LoadError> {
    let dl_err = |message: String| LoadError::Download {
        file: file.to_string(),
        message,
    };
    let resp = fetch(&format!("{DIST}{file}")).await.map_err(dl_err)?;
    let mut hasher = Sha256::new();
    // Never trust the manifest for an allocation larger than a sane artifact.
    let mut buf = Vec::with_capacity(info.size.min(512 << 20) as usize);
    match resp.body() {
        Some(stream) => {
            let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
            loop {
                let chunk = JsFuture::from(reader.read())
                    .await
                    .map_err(|e| dl_err(js_error(&e)))?;
                let done = js_sys::Reflect::get(&chunk, &"done".into())
                    .map(|d| d.is_truthy())
                    .unwrap_or(true);
                if done {
                    break;
                }
                let value = js_sys::Reflect::get(&chunk, &"value".into())
                    .map_err(|e| dl_err(js_error(&e)))?;
                let Some(arr) = value.dyn_ref::<js_sys::Uint8Array>() else {
                    return Err(dl_err(
                        "the response stream gave something other than bytes".into(),
                    ));
                };
                let start = buf.len();
                buf.resize(start + arr.length() as usize, 0);
                arr.copy_to(&mut buf[start..]);
                hasher.update(&buf[start..]);
                progress(buf.len() as u64);
                if buf.len() as u64 > info.size {
                    // Longer than the manifest says: stop reading, it cannot verify.
                    let _ = reader.cancel();
                    break;
                }
            }
        }
        None => {
            let ab = resp.array_buffer().map_err(|e| dl_err(js_error(&e)))?;
            let ab = JsFuture::from(ab).await.map_err(|e| dl_err(js_error(&e)))?;
            buf = js_sys::Uint8Array::new(&ab).to_vec();
            hasher.update(&buf);
            progress(buf.len() as u64);
        }
    }
    if buf.len() as u64 != info.size {
        return Err(LoadError::Size {
            file: file.to_string(),
            expected: info.size,
            actual: buf.len() as u64,
        });
    }
    let actual = hex(&hasher.finalize());
    if !actual.eq_ignore_ascii_case(&info.sha256) {
        return Err(LoadError::Hash {
            file: file.to_string(),
            expected: info.sha256.to_ascii_lowercase(),
            actual,
        });
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_needs_both_artifacts_with_hashes() {
        let good = r#"{"name":"alpenglow","version":"0.1.0",
            "components":{"linux":{"version":"6.12.1","source":{}}},
            "artifacts":{"vmlinux.wasm":{"size":3,"sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
                         "initramfs.cpio.gz":{"size":4,"sha256":"BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"}},
            "build_seconds":{}}"#;
        let m = Manifest::parse(good).unwrap();
        assert_eq!(m.components["linux"].version, "6.12.1");
        assert_eq!(m.artifacts["vmlinux.wasm"].size, 3);
        assert!(Manifest::parse("{}").is_err());
        assert!(Manifest::parse("not json").is_err());
        let short = good.replace("aaaaaaaa", "");
        assert!(Manifest::parse(&short)
            .unwrap_err()
            .contains("vmlinux.wasm"));
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
