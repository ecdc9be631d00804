//! `cargo x fetch`: every component of `build/sources.toml` as a verified tarball in the
//! download cache (how: `sources::fetch`).

use crate::pipeline::Ctx;
use crate::sources::fetch::Fetched;
use anyhow::Result;

pub fn run(ctx: &mut Ctx) -> Result<Vec<Fetched>> {
    let step = ctx.ui.step("fetch sources");
    let names: Vec<String> = ctx.sources.component.keys().cloned().collect();
    let mut out = Vec::new();
    for c in names {
        let f = ctx.fetched(&c)?;
        ctx.ui
            .info(&format!("{c} {}: {} ({})", f.version, f.file, f.origin));
        out.push(f);
    }
    step.done("");
    Ok(out)
}
