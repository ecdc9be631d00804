//! `packages`: the default set (`packages::DEFAULT_SET`) and the ones named, built from their
//! Debian sources (`crate::packages`), packed into `.apk` files and indexed, signed, in the
//! repository the site serves (`crate::repository`).

use crate::packages::{self, BuiltPackage};
use crate::pipeline::{Ctx, SOURCE_DATE_EPOCH};
use crate::repository::{self, RepoPackage};
use anyhow::{Context, Result};

/// Builds the default set and `extra`, and writes the repository with every (sub)package of
/// them. Returns what was built.
pub fn build(ctx: &mut Ctx, extra: &[String]) -> Result<Vec<BuiltPackage>> {
    let mut names: Vec<String> = packages::DEFAULT_SET
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.extend(extra.iter().cloned());
    let built = packages::build(ctx, &names)?;
    write_repository(ctx, &built)?;
    Ok(built)
}

/// `cargo x up`: the default set, then every other recipe, best effort: a recipe that does
/// not build is left out (and not tried again until its inputs change), and the repository
/// serves everything that built. CI builds only the default set (`build`).
pub fn build_every_recipe(ctx: &mut Ctx) -> Result<Vec<BuiltPackage>> {
    let default: Vec<String> = packages::DEFAULT_SET
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut built = packages::build(ctx, &default)?;
    let all = packages::all_names(ctx)?;
    let outcome = packages::build_best_effort(ctx, &all)?;
    for p in outcome.built {
        if !built.iter().any(|b| b.name == p.name) {
            built.push(p);
        }
    }
    for (name, why) in &outcome.left_out {
        ctx.ui.info(&format!(
            "the repository has no {name}: {}",
            first_line(why)
        ));
    }
    write_repository(ctx, &built)?;
    Ok(built)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

fn write_repository(ctx: &Ctx, built: &[BuiltPackage]) -> Result<()> {
    let step = ctx.ui.step("package repository");
    let mtime: u64 = SOURCE_DATE_EPOCH.parse().context("SOURCE_DATE_EPOCH")?;
    let key = repository::signing_key(&ctx.paths)?;
    let packages: Vec<RepoPackage> = built
        .iter()
        .map(|p| repository::from_built(p, mtime))
        .collect::<Result<_>>()?;
    let dir = repository::arch_dir(&ctx.paths);
    let written = repository::write(&dir, &packages, &key, mtime)
        .with_context(|| format!("writing the repository in {}", dir.display()))?;
    step.done(&format!(
        "{} packages, {} KiB, signed by {} ({})",
        written.packages,
        written.bytes.div_ceil(1024),
        key.name(),
        dir.display()
    ));
    Ok(())
}
