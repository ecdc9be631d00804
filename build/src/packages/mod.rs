//! Packages: recipes (`build/packages/<name>.toml`) cross-built from Debian source packages
//! into staged trees that the `.apk` writer packs.
//!
//! `build(ctx, names)` builds what the names need, dependencies first, each recipe under its
//! own stamp (its recipe, its patched source, the cross environment, musl and the stamps of
//! what it depends on: a changed recipe rebuilds that package and its dependents). Every
//! (sub)package ends as `$CACHE/out/pkg/<origin>/<name>/{root/,meta.json}`.
//!
//! - `recipe`: the recipe format; `order`: which recipes, in what order;
//! - `cross`: the compiler wrapper and build-system files (`$CACHE/cross/`);
//! - `builder`: one recipe's build, install and checks; `split`: the tree → (sub)packages;
//! - `lint`: no ENOSYS-only calls in a program.

pub mod builder;
pub mod cross;
pub mod lint;
pub mod order;
pub mod recipe;
pub mod split;

use crate::pipeline::Ctx;
use crate::sources::fetch::Fetcher;
use crate::sources::pins::{Pin, SourcesFile};
use crate::stamp::{InputHash, Refreshed, Stamp};
use crate::steps::{musl, toolchain};
use anyhow::{Context, Result};
use recipe::Recipe;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bumped when the way packages are built changes: every package rebuilds.
const STEP_VERSION: &str = "1";

/// One built (sub)package, ready to be packed: its metadata (Alpine's names and version
/// format) and the staged tree of its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltPackage {
    /// `lua5.4`, `lua5.4-dev`.
    pub name: String,
    /// `5.4.7-r0`.
    pub version: String,
    pub description: String,
    pub url: String,
    pub license: String,
    /// The recipe it came from (`lua5.4` for `lua5.4-dev`).
    pub origin: String,
    /// Alpine dependency strings (`lua5.4=5.4.7-r0`, `ncurses-terminfo-base`).
    pub depends: Vec<String>,
    /// `cmd:lua5.4=5.4.7-r0` for each command, and the recipe's extra provides.
    pub provides: Vec<String>,
    /// Bytes of its regular files.
    pub installed_size: u64,
    /// The staged files: `root/usr/bin/lua5.4` is installed as `/usr/bin/lua5.4`.
    pub root: PathBuf,
    /// Package scripts: (`.post-install`, its file).
    pub scripts: Vec<(String, PathBuf)>,
    /// The shell command that checks the package in the guest (main packages only).
    pub check: Option<String>,
}

/// The packages a cold CI build makes (`cargo x pkg --default`): what the end-to-end tests
/// install and the guest's apk links, about ten minutes on two cores; the rest comes from
/// the cache.
pub const DEFAULT_SET: &[&str] = &[
    "zlib",
    "mbedtls",
    "lua5.4",
    "sqlite",
    "oniguruma",
    "jq",
    "tree",
    "ncurses",
    "htop",
    "e2fsprogs",
];

/// The packages the machine's image carries, installed (`steps/08_initramfs.rs`): the
/// disk's boot-time check and growth need e2fsck and resize2fs before any disk is mounted.
pub const BASE: &[&str] = &["e2fsprogs"];

/// `$CACHE/out/pkg`.
pub fn out_dir(ctx: &Ctx) -> PathBuf {
    ctx.paths.out("pkg")
}

/// Names of every recipe.
pub fn all_names(ctx: &Ctx) -> Result<Vec<String>> {
    Ok(recipe::load_all(&recipe::dir(&ctx.paths.repo))?
        .into_keys()
        .collect())
}

/// Builds the packages `names` (Alpine names of main or subpackages) and what they depend
/// on; returns every (sub)package of every recipe built, dependencies first.
pub fn build(ctx: &mut Ctx, names: &[String]) -> Result<Vec<BuiltPackage>> {
    build_recipes(ctx, names, false).map(|o| o.built)
}

/// What a best-effort build made, and the recipes it left out with why.
pub struct Outcome {
    pub built: Vec<BuiltPackage>,
    pub left_out: Vec<(String, String)>,
}

/// As [`build`], but a recipe that fails is left out (with what needs it) instead of
/// stopping the build: returns what built and, for each recipe left out, why. A recipe that
/// failed is not tried again until its inputs change (`$CACHE/out/pkg/<name>/failed` holds
/// the inputs' hash).
pub fn build_best_effort(ctx: &mut Ctx, names: &[String]) -> Result<Outcome> {
    build_recipes(ctx, names, true)
}

fn build_recipes(ctx: &mut Ctx, names: &[String], best_effort: bool) -> Result<Outcome> {
    let loaded = recipe::load_all(&recipe::dir(&ctx.paths.repo))?;
    let recipes: BTreeMap<String, Recipe> = loaded
        .iter()
        .map(|(k, (r, _))| (k.clone(), r.clone()))
        .collect();
    let order = order::build_order(&recipes, names)?;
    // musl is built if missing; a stale one is `cargo x musl`'s business (its stamp is keyed
    // by the kernel tree too, which a package build has no reason to touch).
    if !musl::libc_a(ctx).exists() {
        musl::build(ctx)?;
    }
    let cross = cross::generate(&ctx.paths.cache)?;
    let origins = order::origins(&recipes);
    let sources = sources_file(
        &ctx.sources.debian_suites,
        order.iter().map(|n| &recipes[n]),
    );
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    let mut built = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    let common = {
        let mut k = InputHash::new("pkg-common");
        k.add("version", STEP_VERSION.as_bytes())
            .add("cross", cross.identity.as_bytes())
            .add("toolchain", toolchain::identity()?.as_bytes());
        k.add_file(&musl::libc_a(ctx))?;
        k.finish()
    };
    let paths = ctx.paths.clone();
    let mut fetcher = Fetcher::new(&paths, ctx.ui, &sources);
    for name in &order {
        let (r, path) = &loaded[name];
        if best_effort {
            let needs = order::needs(r, &origins)?;
            if let Some(dep) = needs.iter().find(|d| failed.iter().any(|(f, _)| f == *d)) {
                failed.push((name.clone(), format!("it needs {dep}, which was left out")));
                continue;
            }
        }
        let one = build_recipe(
            ctx,
            &mut fetcher,
            &cross,
            &common,
            &recipes,
            &origins,
            &mut keys,
            name,
            r,
            path,
            best_effort,
        );
        match one {
            Ok(pkgs) => built.extend(pkgs),
            Err(e) if best_effort => {
                ctx.ui.info(&format!("left out package {name}: {e:#}"));
                failed.push((name.clone(), format!("{e:#}")));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Outcome {
        built,
        left_out: failed,
    })
}

/// One recipe, under its stamp: fetched, patched, built and split, or read back.
#[allow(clippy::too_many_arguments)]
fn build_recipe(
    ctx: &mut Ctx,
    fetcher: &mut Fetcher,
    cross: &cross::Cross,
    common: &str,
    recipes: &BTreeMap<String, Recipe>,
    origins: &BTreeMap<String, String>,
    keys: &mut BTreeMap<String, String>,
    name: &String,
    r: &Recipe,
    path: &Path,
    best_effort: bool,
) -> Result<Vec<BuiltPackage>> {
    {
        let fetched = fetcher
            .fetch(&component(name))
            .with_context(|| format!("fetching the source of package {name}"))?;
        let tree = crate::sources::tree::prepare(
            &ctx.ui,
            &component(name),
            &fetched.path(&ctx.paths),
            &fetched.sha256,
            &ctx.paths.src(&component(name)),
            &ctx.paths.patches(name),
        )?;
        let local = crate::sources::tree::local_changes(&tree.dir)?;
        let needs = order::needs(r, origins)?;
        let make_key = || -> Result<InputHash> {
            let mut key = InputHash::new("pkg");
            key.add("common", common.as_bytes())
                .add("head", tree.head.as_bytes())
                .add("local", local.as_bytes());
            key.add_file(path)?;
            for dep in &needs {
                key.add(&format!("dep {dep}"), keys[dep].as_bytes());
            }
            Ok(key)
        };
        let key = make_key()?;
        let hash = make_key()?.finish();
        keys.insert(name.clone(), hash.clone());
        let dir = out_dir(ctx).join(name);
        let index = dir.join("built.json");
        let failed_marker = dir.join("failed");
        if best_effort && std::fs::read_to_string(&failed_marker).is_ok_and(|h| h == hash) {
            anyhow::bail!("it failed before with the same recipe, source and toolchain (`cargo x pkg {name}` shows why)");
        }
        let step = ctx.ui.step(&format!("package {name} {}", r.full_version()));
        let stamp = Stamp::new(format!("pkg-{name}"), key).output(&index);
        let src = tree.dir.clone();
        let result = ctx.stamps.refresh(&stamp, || {
            builder::build_one(ctx, cross, r, &src, &dir, recipes)
        });
        if result.is_err() {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(&failed_marker, &hash);
        } else {
            let _ = std::fs::remove_file(&failed_marker);
        }
        let pkgs = match result.with_context(|| format!("building package {name}"))? {
            Refreshed::Fresh { .. } => {
                step.skipped("recipe, source, dependencies and toolchain unchanged");
                read_index(&index)?
            }
            Refreshed::Built(pkgs) => {
                let list: Vec<String> = pkgs
                    .iter()
                    .map(|p| format!("{} ({} KiB)", p.name, p.installed_size.div_ceil(1024)))
                    .collect();
                ctx.finish_step(step, &format!("pkg-{name}"), &list.join(", "));
                pkgs
            }
        };
        Ok(pkgs)
    }
}

/// The source component of a recipe: its own name in the download and source caches.
pub fn component(name: &str) -> String {
    format!("pkg-{name}")
}

/// The recipes' sources as pins, so the kernel's fetcher resolves and verifies them.
fn sources_file<'a>(suites: &[String], recipes: impl Iterator<Item = &'a Recipe>) -> SourcesFile {
    let component = recipes
        .map(|r| {
            let v = &r.source.debian_version;
            (
                component(&r.name),
                Pin {
                    version: v.clone(),
                    series: v.clone(),
                    debian_package: r.source.debian_package.clone(),
                    debian_orig: r.source.orig.clone(),
                    debian_sha256: Some(r.source.sha256.clone()),
                    // Never downloaded: no upstream hash is pinned.
                    upstream_url: r.url.clone(),
                    upstream_sha256: None,
                },
            )
        })
        .collect();
    SourcesFile {
        debian_suites: suites.to_vec(),
        component,
    }
}

fn read_index(path: &Path) -> Result<Vec<BuiltPackage>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_set_is_closed_under_dependencies() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let recipes: BTreeMap<String, Recipe> = recipe::load_all(&recipe::dir(repo))
            .unwrap()
            .into_iter()
            .map(|(k, (r, _))| (k, r))
            .collect();
        let wanted: Vec<String> = DEFAULT_SET.iter().map(|s| s.to_string()).collect();
        let mut order = order::build_order(&recipes, &wanted).unwrap();
        order.sort();
        let mut set = wanted.clone();
        set.sort();
        assert_eq!(order, set, "CI would build more than its default set");
    }
}
