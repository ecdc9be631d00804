//! The web app: `trunk build --release` of index.html + app/ + worker/ into `target/site`,
//! with the artifacts of `dist/` copied in.

use crate::paths::Paths;
use crate::ui::Ui;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn build(ui: &Ui, paths: &Paths) -> Result<()> {
    let step = ui.step("web app (trunk build --release)");
    if !paths.repo.join("index.html").exists() {
        bail!("{} is missing", paths.repo.join("index.html").display());
    }
    // index.html copies the package repository to /repo/; a site built before any package
    // serves an empty one (the guest's `apk update` then says the index is missing).
    let repo = paths.package_repo();
    std::fs::create_dir_all(&repo).with_context(|| format!("creating {}", repo.display()))?;
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

/// The PNG icons the web app manifest lists, rendered from `app/icon.svg`: name, size in
/// pixels, and whether it is the maskable one (drawn at 80% on the icon's background, so a
/// launcher's mask never cuts into the picture).
pub const ICONS: [(&str, u32, bool); 3] = [
    ("icon-192.png", 192, false),
    ("icon-512.png", 512, false),
    ("icon-maskable-512.png", 512, true),
];

/// The icon's background (the svg's backdrop and the page's): what a maskable icon's margin
/// is filled with.
const ICON_BACKGROUND: (u8, u8, u8) = (0x0b, 0x0e, 0x14);

/// Renders `svg` into `out_dir/icons/` as the `ICONS`; returns the files written.
pub fn render_icons(svg: &Path, out_dir: &Path) -> Result<Vec<PathBuf>> {
    use resvg::{tiny_skia, usvg};
    let data = std::fs::read(svg).with_context(|| format!("reading {}", svg.display()))?;
    let tree = usvg::Tree::from_data(&data, &usvg::Options::default())
        .with_context(|| format!("{} is not an SVG this renderer can read", svg.display()))?;
    let dir = out_dir.join("icons");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, px, maskable) in ICONS {
        let mut pixmap = tiny_skia::Pixmap::new(px, px).context("an icon size must not be zero")?;
        let (scale, offset) = match maskable {
            true => {
                let (r, g, b) = ICON_BACKGROUND;
                pixmap.fill(tiny_skia::Color::from_rgba8(r, g, b, 255));
                (0.8, px as f32 * 0.1)
            }
            false => (1.0, 0.0),
        };
        let size = tree.size();
        let fit = scale * px as f32 / size.width().max(size.height());
        let transform = tiny_skia::Transform::from_scale(fit, fit).post_translate(offset, offset);
        resvg::render(&tree, transform, &mut pixmap.as_mut());
        let path = dir.join(name);
        let png = pixmap
            .encode_png()
            .with_context(|| format!("encoding {name}"))?;
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// `cargo x icons`: trunk's pre-build hook (Trunk.toml) renders the icons into the site being
/// built (`TRUNK_STAGING_DIR`), so `trunk build` and `trunk serve` have them too.
pub fn icons(paths: &Paths, out: Option<PathBuf>) -> Result<()> {
    let out = match out.or_else(|| std::env::var_os("TRUNK_STAGING_DIR").map(PathBuf::from)) {
        Some(dir) => dir,
        None => bail!("say where the icons go: --out DIR (trunk's hook sets TRUNK_STAGING_DIR)"),
    };
    let svg = paths.repo.join("app/icon.svg");
    for f in render_icons(&svg, &out)? {
        eprintln!("icon: {}", f.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icons_are_rendered_at_their_sizes_from_the_svg() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = render_icons(&repo.join("app/icon.svg"), dir.path()).unwrap();
        assert_eq!(files.len(), ICONS.len());
        for ((name, px, maskable), file) in ICONS.iter().zip(&files) {
            assert!(
                file.ends_with(format!("icons/{name}")),
                "{}",
                file.display()
            );
            let png = resvg::tiny_skia::Pixmap::load_png(file).unwrap();
            assert_eq!((png.width(), png.height()), (*px, *px), "{name}");
            // Opaque everywhere: the corner is the background, the middle the orange sun.
            let at = |x: u32, y: u32| png.pixel(x, y).unwrap().demultiply();
            let corner = at(1, 1);
            assert_eq!(
                (corner.red(), corner.green(), corner.blue(), corner.alpha()),
                (0x0b, 0x0e, 0x14, 255),
                "{name}"
            );
            let sun = at(px / 2, px * 7 / 20);
            assert!(sun.red() > 200 && sun.blue() < 140, "{name}: {sun:?}");
            if *maskable {
                // The picture sits inside the safe zone: the sun's top is lower than in the
                // plain icon.
                let top = |p: &resvg::tiny_skia::Pixmap| {
                    (0..p.height())
                        .find(|y| p.pixel(p.width() / 2, *y).unwrap().demultiply().red() > 200)
                };
                let plain = resvg::tiny_skia::Pixmap::load_png(&files[1]).unwrap();
                assert!(top(&png) > top(&plain), "{name}");
            }
        }
    }
}
