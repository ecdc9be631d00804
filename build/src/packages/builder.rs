//! One recipe's build: a fresh copy of its patched source, a sysroot with its
//! dependencies' `-dev` files, the build system run through the cross environment, the
//! install into a staging tree, the checks on every program (valid module, lint), and the
//! split into (sub)packages with their `meta.json`.

use super::cross::{Cross, TRIPLE};
use super::recipe::{Kind, Recipe};
use super::{lint, split, BuiltPackage};
use crate::pipeline::Ctx;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Builds `r` from the source tree `src` into `dir` (`dir/<package>/{root,meta.json}` and
/// `dir/built.json`).
pub fn build_one(
    ctx: &Ctx,
    cross: &Cross,
    r: &Recipe,
    src: &Path,
    dir: &Path,
    recipes: &BTreeMap<String, Recipe>,
) -> Result<Vec<BuiltPackage>> {
    let work = dir.join("_work");
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let (srcdir, builddir, dest, sysroot) = (
        work.join("src"),
        work.join("build"),
        work.join("dest"),
        work.join("sysroot"),
    );
    for d in [&srcdir, &builddir, &dest, &sysroot] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let log = ctx.new_log(&format!("pkg-{}", r.name));
    // The source without its git metadata, so a build can write into it freely.
    copy_tree(src, &srcdir, &[".git"])?;
    make_sysroot(ctx, r, &sysroot, recipes)?;

    let out_of_tree = r.build.out_of_tree.unwrap_or(true)
        && matches!(r.build.kind, Kind::Autoconf | Kind::Cmake | Kind::Meson);
    let bdir = if out_of_tree { &builddir } else { &srcdir };
    let jobs = ctx.jobs.min(2).to_string();
    let mut env = cross.env(&sysroot);
    env.extend([
        ("DESTDIR".to_string(), dest.display().to_string()),
        ("PKG_SRCDIR".to_string(), srcdir.display().to_string()),
        ("PKG_BUILDDIR".to_string(), bdir.display().to_string()),
        ("JOBS".to_string(), jobs.clone()),
        ("TRIPLE".to_string(), TRIPLE.to_string()),
        ("PKG_CROSS".to_string(), cross.dir.display().to_string()),
        ("PKGNAME".to_string(), r.name.clone()),
        ("PKGVER".to_string(), r.version.clone()),
    ]);
    for (k, v) in &r.build.env {
        // `$VAR` in a value is the cross environment's (e.g. `CFLAGS = "$CFLAGS -DX"`).
        let val = expand(v, &env);
        env.retain(|(ek, _)| ek != k);
        env.push((k.clone(), val));
    }
    let expand_all = |v: &[String]| v.iter().map(|a| expand(a, &env)).collect::<Vec<_>>();
    let (configure, make_args, install_args) = (
        expand_all(&r.build.configure),
        expand_all(&r.build.make),
        expand_all(&r.build.install),
    );
    let run = |what: &str, dir: &Path, argv: &[String]| -> Result<()> {
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]).current_dir(dir).env_clear();
        for key in ["HOME", "TERM", "TMPDIR", "USER"] {
            if let Some(v) = std::env::var_os(key) {
                c.env(key, v);
            }
        }
        c.envs(env.iter().map(|(k, v)| (k, v)));
        ctx.ui.run(&format!("{}: {what}", r.name), &mut c, &log)
    };
    let sh = |what: &str, dir: &Path, script: &str| -> Result<()> {
        run(what, dir, &["sh".into(), "-ec".into(), script.into()])
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    if let Some(p) = &r.build.prepare {
        sh("prepare", &srcdir, p)?;
    } else if r.build.kind == Kind::Autoconf && !srcdir.join("configure").exists() {
        // Debian's orig of many projects is a git archive without the generated script.
        sh("autoreconf", &srcdir, "autoreconf -fi")?;
    }
    // What autoconf, CMake and plain-make builds end with.
    let make_and_install = || -> Result<()> {
        let mut m = s(&["make", &format!("-j{jobs}")]);
        m.extend(make_args.iter().cloned());
        run("make", bdir, &m)?;
        let mut i = s(&["make", "install", &format!("DESTDIR={}", dest.display())]);
        i.extend(install_args.iter().cloned());
        run("make install", bdir, &i)
    };
    // After `prepare`: autoreconf installs automake's copies.
    refresh_config_scripts(cross, &srcdir)?;
    match r.build.kind {
        Kind::Autoconf => {
            let mut argv = vec![srcdir.join("configure").display().to_string()];
            argv.extend(s(&[
                &format!("--host={TRIPLE}"),
                "--build=x86_64-pc-linux-gnu",
                "--prefix=/usr",
                "--sysconfdir=/etc",
                "--localstatedir=/var",
                "--mandir=/usr/share/man",
                "--infodir=/usr/share/info",
                "--disable-shared",
                "--enable-static",
                "--disable-nls",
            ]));
            argv.extend(configure.iter().cloned());
            run("configure", bdir, &argv)?;
            make_and_install()?;
        }
        Kind::Make => {
            make_and_install()?;
        }
        Kind::Cmake => {
            let mut argv = s(&["cmake", "-S"]);
            argv.push(srcdir.display().to_string());
            argv.push("-B".into());
            argv.push(bdir.display().to_string());
            argv.extend(s(&[
                "-G",
                "Unix Makefiles",
                &format!(
                    "-DCMAKE_TOOLCHAIN_FILE={}",
                    cross.cmake_toolchain().display()
                ),
                "-DCMAKE_INSTALL_PREFIX=/usr",
                "-DCMAKE_INSTALL_LIBDIR=lib",
                "-DCMAKE_BUILD_TYPE=MinSizeRel",
                "-DBUILD_SHARED_LIBS=OFF",
            ]));
            argv.extend(configure.iter().cloned());
            run("cmake", bdir, &argv)?;
            make_and_install()?;
        }
        Kind::Meson => {
            let mut argv = s(&["meson", "setup"]);
            argv.push(format!("--cross-file={}", cross.meson_cross().display()));
            argv.extend(s(&[
                "--prefix=/usr",
                "--libdir=lib",
                "--buildtype=minsize",
                "--default-library=static",
                "--wrap-mode=nodownload",
            ]));
            argv.extend(configure.iter().cloned());
            argv.push(bdir.display().to_string());
            argv.push(srcdir.display().to_string());
            run("meson setup", bdir, &argv)?;
            run(
                "ninja",
                bdir,
                &s(&["ninja", "-j", &jobs, "-C", &bdir.display().to_string()]),
            )?;
            run(
                "meson install",
                bdir,
                &s(&[
                    "meson",
                    "install",
                    "--no-rebuild",
                    "-C",
                    &bdir.display().to_string(),
                ]),
            )?;
        }
        Kind::Script => {
            let script = r.build.script.as_deref().context("build.script")?;
            sh("build script", bdir, script)?;
        }
    }
    if let Some(p) = &r.build.post_install {
        sh("post-install", &dest, p)?;
    }
    tidy(&dest)?;
    check_programs(r, &dest)?;
    split_and_describe(r, &dest, dir)
}

/// Replaces `$NAME` by the value of the build environment's variable NAME (longest names
/// first, so `$CFLAGS` is not read as `$CC` followed by `FLAGS`).
pub fn expand(value: &str, env: &[(String, String)]) -> String {
    let mut vars: Vec<&(String, String)> = env.iter().collect();
    vars.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    let mut out = value.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("${k}"), v);
    }
    out
}

/// Copies a directory tree (symlinks as symlinks), leaving out top-level `skip` names.
pub(crate) fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> Result<()> {
    let mut c = Command::new("cp");
    c.arg("-a").arg("--reflink=auto");
    let mut any = false;
    for e in std::fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let e = e.with_context(|| format!("listing {}", from.display()))?;
        if skip.iter().any(|s| e.file_name() == *s) {
            continue;
        }
        c.arg(e.path());
        any = true;
    }
    if !any {
        return Ok(());
    }
    c.arg(to);
    let out = c.output().context("running cp")?;
    if !out.status.success() {
        bail!(
            "copying {} to {}: {}",
            from.display(),
            to.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Replaces every config.sub/config.guess of the source with the refreshed ones (as
/// Debian's dh_update_autotools_config does): older ones refuse the wasm32 triple.
fn refresh_config_scripts(cross: &Cross, dir: &Path) -> Result<()> {
    for e in split::entries(dir)? {
        let name = e.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let with = match name {
            "config.sub" => cross.config_sub(),
            "config.guess" => cross.config_guess(),
            _ => continue,
        };
        let target = dir.join(&e);
        if std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_file()) {
            std::fs::copy(&with, &target)
                .with_context(|| format!("refreshing {}", target.display()))?;
        }
    }
    Ok(())
}

/// The build's sysroot: musl's, plus the `-dev` trees of the recipe's makedepends.
fn make_sysroot(
    ctx: &Ctx,
    r: &Recipe,
    sysroot: &Path,
    recipes: &BTreeMap<String, Recipe>,
) -> Result<()> {
    copy_tree(&ctx.paths.sysroot(), sysroot, &[])?;
    let origins = super::order::origins(recipes);
    for dep in &r.makedepends {
        let name = super::order::dep_name(dep);
        let origin = origins
            .get(name)
            .with_context(|| format!("makedepends `{dep}` has no recipe"))?;
        let root = super::out_dir(ctx).join(origin).join(name).join("root");
        if !root.exists() {
            bail!(
                "makedepends `{dep}`: {} is missing (was `{origin}` built?)",
                root.display()
            );
        }
        copy_tree(&root, sysroot, &[])?;
    }
    Ok(())
}

/// What no package ships: libtool archives, info's shared `dir`, empty directories left
/// by the split's rules are kept (a package may own an empty directory).
fn tidy(dest: &Path) -> Result<()> {
    for e in split::entries(dest)? {
        let s = e.to_string_lossy();
        if s.ends_with(".la") || s == "usr/share/info/dir" {
            std::fs::remove_file(dest.join(&e))
                .with_context(|| format!("removing {}", dest.join(&e).display()))?;
        }
    }
    Ok(())
}

/// Every wasm file installed must be a program the kernel accepts and pass the lint.
fn check_programs(r: &Recipe, dest: &Path) -> Result<()> {
    for e in split::entries(dest)? {
        let path = dest.join(&e);
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        if !meta.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if !lint::is_wasm(&bytes) {
            continue;
        }
        let shown = format!("/{}", e.display());
        // The browser validates every function before it runs a program; a module that
        // does not validate would only fail at exec, with ENOEXEC.
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&bytes)
            .map_err(|err| anyhow::anyhow!("{shown} is not valid WebAssembly: {err}"))?;
        kernel_host::user::check_program(&bytes)
            .map_err(|err| anyhow::anyhow!("{shown} is not a valid program module: {err}"))?;
        lint::check(&shown, &bytes, &r.lint_allow)?;
    }
    Ok(())
}

/// Splits the installed tree and writes each package's `meta.json` and `built.json`.
fn split_and_describe(r: &Recipe, dest: &Path, dir: &Path) -> Result<Vec<BuiltPackage>> {
    let mut parts = Vec::new();
    for s in &r.subpackages {
        parts.push((s.name.clone(), s.globs()?));
    }
    parts.push((r.name.clone(), Vec::new()));
    split::split_into(dest, &parts, dir)?;
    let version = r.full_version();
    let mut out = Vec::new();
    // Main package first: subpackages are described after it.
    let main_root = dir.join(&r.name).join("root");
    let mut main_provides: Vec<String> = split::commands(&main_root)?
        .into_iter()
        .map(|c| format!("{c}={version}"))
        .collect();
    main_provides.extend(r.provides.iter().cloned());
    let mut scripts = Vec::new();
    for (name, body) in &r.scripts {
        let path = dir.join(&r.name).join("scripts").join(format!(".{name}"));
        std::fs::create_dir_all(path.parent().context("script dir")?)
            .with_context(|| format!("creating {}", path.display()))?;
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
        scripts.push((format!(".{name}"), path));
    }
    out.push(BuiltPackage {
        name: r.name.clone(),
        version: version.clone(),
        description: r.description.clone(),
        url: r.url.clone(),
        license: r.license.clone(),
        origin: r.name.clone(),
        depends: r.depends.clone(),
        provides: main_provides,
        installed_size: split::installed_size(&main_root)?,
        root: main_root,
        scripts,
        check: r.check.clone(),
    });
    for s in &r.subpackages {
        let root = dir.join(&s.name).join("root");
        if split::entries(&root)?.is_empty() {
            // Nothing matched (e.g. a program without man pages): no package.
            std::fs::remove_dir_all(dir.join(&s.name)).ok();
            continue;
        }
        let mut depends = s.depends.clone();
        if s.name.ends_with("-dev") {
            depends.insert(0, format!("{}={version}", r.name));
        }
        let kind = s.name.rsplit('-').next().unwrap_or("");
        out.push(BuiltPackage {
            name: s.name.clone(),
            version: version.clone(),
            description: s.description.clone().unwrap_or_else(|| match kind {
                "dev" => format!("{} (development files)", r.description),
                "doc" => format!("{} (documentation)", r.description),
                _ => r.description.clone(),
            }),
            url: r.url.clone(),
            license: r.license.clone(),
            origin: r.name.clone(),
            depends,
            provides: split::commands(&root)?
                .into_iter()
                .map(|c| format!("{c}={version}"))
                .collect(),
            installed_size: split::installed_size(&root)?,
            root,
            scripts: Vec::new(),
            check: None,
        });
    }
    for p in &out {
        let meta = dir.join(&p.name).join("meta.json");
        let json = serde_json::to_string_pretty(p).context("serialising meta.json")?;
        std::fs::write(&meta, json).with_context(|| format!("writing {}", meta.display()))?;
    }
    // The build's scratch trees go; the staged packages stay.
    std::fs::remove_dir_all(dir.join("_work")).ok();
    let index = dir.join("built.json");
    let json = serde_json::to_string_pretty(&out).context("serialising built.json")?;
    std::fs::write(&index, json).with_context(|| format!("writing {}", index.display()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_expand_longest_name_first() {
        let env = vec![
            ("CC".to_string(), "cc".to_string()),
            ("CFLAGS".to_string(), "-Os".to_string()),
        ];
        assert_eq!(expand("$CFLAGS -DX $CC", &env), "-Os -DX cc");
        assert_eq!(expand("$NOPE", &env), "$NOPE");
    }

    #[test]
    fn packages_get_alpine_metadata() {
        let text = r#"
name = "lua5.4"
version = "5.4.7"
description = "Lua"
url = "https://www.lua.org/"
license = "MIT"
depends = ["ncurses-terminfo-base"]
provides = ["lua"]
check = "lua5.4 -v"
scripts = { post-install = "echo hi" }
[source]
debian_package = "lua5.4"
debian_version = "5.4.7"
orig = "lua5.4_5.4.7.orig.tar.gz"
sha256 = "9fbf5e28ef86c69858f6d3d34eccc32e911c1a28b4120ff3e84aaa70cfbf1e30"
[build]
kind = "make"
[[subpackage]]
name = "lua5.4-dev"
[[subpackage]]
name = "lua5.4-doc"
"#;
        let r = Recipe::parse(text, Path::new("lua5.4.toml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("_work/dest");
        for (f, body) in [("usr/bin/lua5.4", "12345"), ("usr/include/lua.h", "h")] {
            let p = dest.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let out = split_and_describe(&r, &dest, dir.path()).unwrap();
        // No documentation was installed: no -doc package.
        let names: Vec<&str> = out.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["lua5.4", "lua5.4-dev"]);
        let (main, dev) = (&out[0], &out[1]);
        assert_eq!(main.version, "5.4.7-r0");
        assert_eq!(main.provides, ["cmd:lua5.4=5.4.7-r0", "lua"]);
        assert_eq!(main.depends, ["ncurses-terminfo-base"]);
        assert_eq!(main.installed_size, 5);
        assert_eq!(main.check.as_deref(), Some("lua5.4 -v"));
        assert_eq!(main.scripts[0].0, ".post-install");
        assert!(std::fs::read_to_string(&main.scripts[0].1)
            .unwrap()
            .contains("echo hi"));
        assert_eq!(dev.depends, ["lua5.4=5.4.7-r0"]);
        assert_eq!(dev.description, "Lua (development files)");
        assert!(dev.root.join("usr/include/lua.h").exists());
        assert!(dev.check.is_none());
        let meta: BuiltPackage = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("lua5.4-dev/meta.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(&meta, dev);
        let index: Vec<BuiltPackage> =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("built.json")).unwrap())
                .unwrap();
        assert_eq!(index, out);
        assert!(!dir.path().join("_work").exists());
    }
}
