//! The description, `build/rootfs.toml`: its TOML schema and the checked entries it
//! declares.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

use crate::formats::cpio::DeviceKind;
use crate::rootfs::inputs::validate_source;

// ---- the TOML schema ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Description {
    #[serde(default)]
    dir: Vec<DirSpec>,
    #[serde(default)]
    file: Vec<FileSpec>,
    #[serde(default)]
    symlink: Vec<SymlinkSpec>,
    #[serde(default)]
    device: Vec<DeviceSpec>,
    #[serde(default)]
    applets: Vec<AppletsSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirSpec {
    path: String,
    mode: Option<String>,
    #[serde(default)]
    uid: u32,
    #[serde(default)]
    gid: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    path: String,
    mode: Option<String>,
    #[serde(default)]
    uid: u32,
    #[serde(default)]
    gid: u32,
    text: Option<String>,
    source: Option<String>,
    #[serde(default)]
    optional: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SymlinkSpec {
    path: String,
    target: String,
    #[serde(default)]
    uid: u32,
    #[serde(default)]
    gid: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceSpec {
    path: String,
    #[serde(rename = "type")]
    dev_type: DevType,
    major: u32,
    minor: u32,
    mode: Option<String>,
    #[serde(default)]
    uid: u32,
    #[serde(default)]
    gid: u32,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum DevType {
    Char,
    Block,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppletsSpec {
    /// Source of the applet list: one path per line (BusyBox's `busybox.links`);
    /// a bare name goes to /bin.
    list: String,
    /// What every applet links to.
    #[serde(default = "default_applet_target")]
    target: String,
    #[serde(default)]
    optional: bool,
}

fn default_applet_target() -> String {
    "/bin/busybox".to_owned()
}

// ---- the validated description ----

/// A file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    Source(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File(Content),
    Symlink(String),
    Device {
        kind: DeviceKind,
        major: u32,
        minor: u32,
    },
}

impl EntryKind {
    fn noun(&self) -> &'static str {
        match self {
            EntryKind::Dir => "directory",
            EntryKind::File(_) => "file",
            EntryKind::Symlink(_) => "symlink",
            EntryKind::Device { .. } => "device",
        }
    }
}

/// One declared entry; `path` is absolute and normalised ("/etc/passwd").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    /// Permission bits only.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub kind: EntryKind,
    pub optional: bool,
}

/// "Every applet in `list` as a symlink to `target`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applets {
    pub list: String,
    pub target: String,
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootfs {
    pub entries: Vec<Entry>,
    pub applets: Vec<Applets>,
}

pub(super) fn parse_mode(mode: Option<&str>, default: u32) -> Result<u32> {
    let Some(text) = mode else {
        return Ok(default);
    };
    let value = (!text.is_empty() && text.len() <= 5)
        .then(|| u32::from_str_radix(text, 8).ok())
        .flatten()
        .filter(|&m| m <= 0o7777)
        .ok_or_else(|| {
            anyhow!(
                "bad mode \"{text}\": expected octal permission bits up to \"7777\", e.g. \"0755\""
            )
        })?;
    Ok(value)
}

/// Checks an absolute path and returns it unchanged.
pub(super) fn validate_path(path: &str) -> Result<String> {
    let Some(rest) = path.strip_prefix('/') else {
        bail!("path must be absolute");
    };
    if rest.is_empty() {
        bail!("the root directory itself cannot be an entry");
    }
    if path.contains('\0') {
        bail!("path contains a NUL byte");
    }
    if rest
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        bail!("path has an empty, '.' or '..' component (no trailing '/')");
    }
    Ok(path.to_owned())
}

fn validate_target(target: &str) -> Result<()> {
    if target.is_empty() || target.contains('\0') {
        bail!("symlink target must be non-empty and have no NUL byte");
    }
    Ok(())
}

impl Rootfs {
    pub fn load(path: &Path) -> Result<Rootfs> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Rootfs::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Rootfs> {
        let desc: Description = toml::from_str(text).context("parsing the rootfs description")?;
        let mut entries = Vec::new();
        let mut push = |path: &str, f: &dyn Fn() -> Result<Entry>| -> Result<()> {
            let entry = validate_path(path)
                .and_then(|_| f())
                .with_context(|| format!("entry {path}"))?;
            entries.push(entry);
            Ok(())
        };
        for d in &desc.dir {
            push(&d.path, &|| {
                Ok(Entry {
                    path: d.path.clone(),
                    mode: parse_mode(d.mode.as_deref(), 0o755)?,
                    uid: d.uid,
                    gid: d.gid,
                    kind: EntryKind::Dir,
                    optional: false,
                })
            })?;
        }
        for f in &desc.file {
            push(&f.path, &|| {
                let content = match (&f.text, &f.source) {
                    (Some(t), None) => Content::Text(t.clone()),
                    (None, Some(s)) => {
                        validate_source(s)?;
                        Content::Source(s.clone())
                    }
                    _ => bail!("a file needs exactly one of `text` and `source`"),
                };
                if f.optional && matches!(content, Content::Text(_)) {
                    bail!("`optional` only applies to files with a `source`");
                }
                Ok(Entry {
                    path: f.path.clone(),
                    mode: parse_mode(f.mode.as_deref(), 0o644)?,
                    uid: f.uid,
                    gid: f.gid,
                    kind: EntryKind::File(content),
                    optional: f.optional,
                })
            })?;
        }
        for s in &desc.symlink {
            push(&s.path, &|| {
                validate_target(&s.target)?;
                Ok(Entry {
                    path: s.path.clone(),
                    mode: 0o777,
                    uid: s.uid,
                    gid: s.gid,
                    kind: EntryKind::Symlink(s.target.clone()),
                    optional: false,
                })
            })?;
        }
        for d in &desc.device {
            push(&d.path, &|| {
                // Linux's dev_t: 12-bit major, 20-bit minor.
                if d.major >= 1 << 12 || d.minor >= 1 << 20 {
                    bail!(
                        "device number {}:{} out of range (major < 4096, minor < 1048576)",
                        d.major,
                        d.minor
                    );
                }
                let kind = match d.dev_type {
                    DevType::Char => DeviceKind::Char,
                    DevType::Block => DeviceKind::Block,
                };
                Ok(Entry {
                    path: d.path.clone(),
                    mode: parse_mode(d.mode.as_deref(), 0o600)?,
                    uid: d.uid,
                    gid: d.gid,
                    kind: EntryKind::Device {
                        kind,
                        major: d.major,
                        minor: d.minor,
                    },
                    optional: false,
                })
            })?;
        }

        let mut seen: BTreeMap<&str, &EntryKind> = BTreeMap::new();
        for e in &entries {
            if let Some(prev) = seen.insert(&e.path, &e.kind) {
                bail!(
                    "duplicate path {}: declared as a {} and as a {}",
                    e.path,
                    prev.noun(),
                    e.kind.noun()
                );
            }
        }

        let applets = desc
            .applets
            .iter()
            .map(|a| {
                validate_source(&a.list)
                    .and_then(|_| validate_path(&a.target))
                    .with_context(|| format!("applets from {}", a.list))?;
                Ok(Applets {
                    list: a.list.clone(),
                    target: a.target.clone(),
                    optional: a.optional,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Rootfs { entries, applets })
    }
}
