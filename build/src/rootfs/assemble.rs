//! The tree an image holds: declared entries with their sources read, applet links, and
//! the parent directories nobody declared; optional entries whose source is missing are
//! left out and reported.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};

use crate::formats::cpio::DeviceKind;
use crate::rootfs::description::{validate_path, Content, EntryKind, Rootfs};
use crate::rootfs::inputs::{read_source, Sources};

/// An optional entry left out of the image, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

#[derive(Default)]
pub(super) struct Plan {
    pub(super) nodes: Vec<(String, Node)>,
    pub(super) skipped: Vec<Skipped>,
    pub(super) inputs: Vec<PathBuf>,
}

pub(super) struct Node {
    pub(super) mode: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) data: NodeData,
}

pub(super) enum NodeData {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    Device {
        kind: DeviceKind,
        major: u32,
        minor: u32,
    },
}

impl Rootfs {
    /// The tree to write, sorted so that a directory's entries directly follow it.
    pub(super) fn plan(&self, sources: &Sources) -> Result<Plan> {
        let mut plan = Plan::default();
        // Sorted component-wise so a directory's entries directly follow it.
        let mut nodes: BTreeMap<Vec<String>, (String, Node)> = BTreeMap::new();
        let mut skipped_paths = BTreeSet::new();

        for e in &self.entries {
            let data = match &e.kind {
                EntryKind::Dir => NodeData::Dir,
                EntryKind::Symlink(t) => NodeData::Symlink(t.clone()),
                EntryKind::Device { kind, major, minor } => NodeData::Device {
                    kind: *kind,
                    major: *major,
                    minor: *minor,
                },
                EntryKind::File(Content::Text(t)) => NodeData::File(t.clone().into_bytes()),
                EntryKind::File(Content::Source(src)) => {
                    match read_source(sources, src)
                        .with_context(|| format!("entry {}: source `{src}`", e.path))?
                    {
                        Ok((path, bytes)) => {
                            plan.inputs.push(path);
                            NodeData::File(bytes)
                        }
                        Err(why) if e.optional => {
                            plan.skipped.push(Skipped {
                                path: e.path.clone(),
                                reason: format!("source `{src}`: {why}"),
                            });
                            skipped_paths.insert(e.path.clone());
                            continue;
                        }
                        Err(why) => bail!("entry {}: source `{src}`: {why}", e.path),
                    }
                }
            };
            let node = Node {
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
                data,
            };
            nodes.insert(components(&e.path), (e.path.clone(), node));
        }

        for a in &self.applets {
            let what = format!("applets from `{}`", a.list);
            let skip = |plan: &mut Plan, reason: String| {
                plan.skipped.push(Skipped {
                    path: what.clone(),
                    reason,
                })
            };
            if skipped_paths.contains(&a.target) {
                skip(&mut plan, format!("their target {} was skipped", a.target));
                continue;
            }
            let (list_path, bytes) =
                match read_source(sources, &a.list).with_context(|| what.clone())? {
                    Ok(found) => found,
                    Err(why) if a.optional => {
                        skip(&mut plan, why);
                        continue;
                    }
                    Err(why) => bail!("{what}: {why}"),
                };
            plan.inputs.push(list_path.clone());
            let text = String::from_utf8(bytes)
                .map_err(|_| anyhow!("{what}: {} is not UTF-8 text", list_path.display()))?;
            for (lineno, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let path = if line.contains('/') {
                    line.to_owned()
                } else {
                    format!("/bin/{line}")
                };
                validate_path(&path)
                    .with_context(|| format!("{what}: line {}: `{line}`", lineno + 1))?;
                if path == a.target {
                    continue;
                }
                // Declared entries win over applet links (e.g. a custom /sbin/init);
                // duplicates in the list are harmless.
                nodes.entry(components(&path)).or_insert_with(|| {
                    (
                        path,
                        Node {
                            mode: 0o777,
                            uid: 0,
                            gid: 0,
                            data: NodeData::Symlink(a.target.clone()),
                        },
                    )
                });
            }
        }

        // Add missing parents; refuse parents that exist but are not directories.
        let paths: Vec<(Vec<String>, String)> = nodes
            .iter()
            .map(|(k, (p, _))| (k.clone(), p.clone()))
            .collect();
        for (comps, path) in paths {
            for n in 1..comps.len() {
                let parent_key = comps[..n].to_vec();
                let parent = format!("/{}", parent_key.join("/"));
                match nodes.get(&parent_key) {
                    Some((_, node)) if !matches!(node.data, NodeData::Dir) => {
                        let noun = match node.data {
                            NodeData::File(_) => "file",
                            NodeData::Symlink(_) => "symlink",
                            _ => "device",
                        };
                        bail!("entry {path}: parent {parent} is a {noun}, not a directory");
                    }
                    Some(_) => {}
                    None => {
                        let node = Node {
                            mode: 0o755,
                            uid: 0,
                            gid: 0,
                            data: NodeData::Dir,
                        };
                        nodes.insert(parent_key, (parent, node));
                    }
                }
            }
        }
        plan.nodes = nodes.into_values().collect();
        Ok(plan)
    }
}

fn components(path: &str) -> Vec<String> {
    path[1..].split('/').map(str::to_owned).collect()
}
