//! `dist/manifest.json`: what the artifacts are built from and what they are — component
//! versions, source and patch hashes, artifact sha256 and sizes, build durations. The web app
//! checks every artifact it downloads against it; `steps::manifest` writes it.

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
