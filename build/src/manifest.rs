//! `dist/manifest.json`: what the artifacts are built from and what they are — component
//! versions, source and patch hashes, artifact sha256 and sizes, build durations. The web app
//! checks every artifact it downloads against it.

use crate::fetch::sha256_file;
use crate::pipeline::Ctx;
use crate::tree;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub components: BTreeMap<String, Component>,
    pub artifacts: BTreeMap<String, Artifact>,
    /// Seconds each step took when it last ran (a skipped step keeps its last figure).
    pub build_seconds: BTreeMap<String, f64>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Component {
    pub version: String,
    pub source: Source,
    pub patches: Vec<Patch>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Source {
    pub file: String,
    pub sha256: String,
    pub origin: String,
    pub substituted: bool,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Patch {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Artifact {
    pub size: u64,
    pub sha256: String,
}

pub const ARTIFACTS: [&str; 2] = ["vmlinux.wasm", "initramfs.cpio.gz"];

pub fn write(ctx: &mut Ctx) -> Result<()> {
    let path = ctx.paths.dist().join("manifest.json");
    let old: Option<Manifest> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let mut components = BTreeMap::new();
    for name in ctx.sources.component.keys().cloned().collect::<Vec<_>>() {
        let f = ctx.fetched(&name)?;
        let mut patches = Vec::new();
        for p in tree::series(&ctx.paths.patches(&name))? {
            patches.push(Patch {
                name: p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                sha256: sha256_file(&p)?,
            });
        }
        let source = Source {
            file: f.file,
            sha256: f.sha256,
            origin: f.origin,
            substituted: f.substituted,
        };
        components.insert(
            name,
            Component {
                version: f.version,
                source,
                patches,
            },
        );
    }
    let mut artifacts = BTreeMap::new();
    for a in ARTIFACTS {
        let p = ctx.paths.dist().join(a);
        let size = std::fs::metadata(&p)
            .with_context(|| format!("{} was not built", p.display()))?
            .len();
        artifacts.insert(
            a.to_string(),
            Artifact {
                size,
                sha256: sha256_file(&p)?,
            },
        );
    }
    let mut build_seconds = old
        .as_ref()
        .map(|m| m.build_seconds.clone())
        .unwrap_or_default();
    for (step, d) in &ctx.durations {
        build_seconds.insert(step.clone(), (d.as_secs_f64() * 10.0).round() / 10.0);
    }
    let manifest = Manifest {
        name: "alpenglow".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        components,
        artifacts,
        build_seconds,
    };
    if old.as_ref() != Some(&manifest) {
        let json = serde_json::to_string_pretty(&manifest).context("serialising manifest")? + "\n";
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
