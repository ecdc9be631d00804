//! `dist/manifest.json` (the format: `formats::manifest`) from the pinned sources, the patch
//! series, the artifacts in `dist/` and the time each step took.

use crate::formats::manifest::{Artifact, Component, Manifest, Patch, Source, ARTIFACTS};
use crate::pipeline::Ctx;
use crate::sources::fetch::sha256_file;
use crate::sources::tree;
use anyhow::{Context, Result};
use std::collections::BTreeMap;

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
