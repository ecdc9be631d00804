//! The web app: `trunk build --release` of index.html + app/ + worker/ into `target/site`,
//! with the artifacts of `dist/` copied in.

use crate::paths::Paths;
use crate::ui::Ui;
use anyhow::{bail, Result};
use std::process::Command;

pub fn build(ui: &Ui, paths: &Paths) -> Result<()> {
    let step = ui.step("web app (trunk build --release)");
    if !paths.repo.join("index.html").exists() {
        bail!("{} is missing", paths.repo.join("index.html").display());
    }
    // Trunk.toml builds offline; make sure every crate of the lock file is downloaded.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut fetch = Command::new(cargo);
    fetch.arg("fetch").current_dir(&paths.repo);
    ui.run(
        "cargo fetch",
        &mut fetch,
        &crate::ui::log_path(&paths.logs(), "site"),
    )?;
    let mut c = Command::new("trunk");
    c.args(["build", "--release"])
        .current_dir(&paths.repo)
        .env("TRUNK_SKIP_VERSION_CHECK", "true")
        .env("NO_COLOR", "true");
    ui.run(
        "trunk build",
        &mut c,
        &crate::ui::log_path(&paths.logs(), "site"),
    )?;
    step.done(&paths.site().display().to_string());
    Ok(())
}
