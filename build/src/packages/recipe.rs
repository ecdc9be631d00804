//! Recipes: one declarative `build/packages/<name>.toml` per package, aports-style (see
//! docs/packages.md for every field).

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Alpine's name of the main package (also the origin of its subpackages).
    pub name: String,
    /// Upstream version as Alpine writes it (`5.4.7`).
    pub version: String,
    /// Alpine's `pkgrel`: the `N` of `-rN`.
    #[serde(default)]
    pub pkgrel: u32,
    pub description: String,
    pub url: String,
    pub license: String,
    /// Runtime dependencies of the main package (Alpine names).
    #[serde(default)]
    pub depends: Vec<String>,
    /// Recipes whose `-dev` output this build needs (installed into its sysroot).
    #[serde(default)]
    pub makedepends: Vec<String>,
    /// Extra `provides` of the main package (`cmd:` names are found by themselves).
    #[serde(default)]
    pub provides: Vec<String>,
    pub source: Source,
    pub build: Build,
    /// Subpackages, split off the installed tree by path globs before the main package
    /// takes the rest.
    #[serde(default, rename = "subpackage")]
    pub subpackages: Vec<Subpackage>,
    /// A shell command that runs in the guest and exits 0 when the package works.
    pub check: Option<String>,
    /// Functions the lint would refuse (ENOSYS here) with the reason the call cannot
    /// happen, e.g. `{ fork = "only in --daemon mode, which the check does not use" }`.
    #[serde(default)]
    pub lint_allow: BTreeMap<String, String>,
    /// Scripts of the main package: `post-install = "…"` (run through /bin/sh).
    #[serde(default)]
    pub scripts: BTreeMap<String, String>,
    /// The upstream test suite `cargo x pkgtest` runs in the guest and natively.
    pub suite: Option<Suite>,
}

/// An upstream test suite that can run in the guest: its files from the source tree, the
/// shell that runs it, and how to build the same programs for this machine to compare.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Globs relative to the source tree (`tests/*.test`, `tests/modules/**`): the files
    /// the suite reads, unpacked at the same paths in a scratch directory.
    pub files: Vec<String>,
    /// Shell run (by `sh`) in that directory with the package's programs on PATH; exits 0
    /// when the suite passed, and its last line of output is the summary for the table
    /// (`452 of 452 tests passed`).
    pub run: String,
    /// Shell run in a copy of the source tree that builds the programs for this machine
    /// and copies them into `$NATIVE_BIN`, which comes first on PATH for the native run
    /// (`$SOURCES/pkg-<recipe>` are the other recipes' patched trees, for a library).
    pub native: String,
    /// Packages the suite runs with in the guest (`make`), installed with the package.
    #[serde(default)]
    pub needs: Vec<String>,
}

/// The Debian source package the orig tarball comes from (verified through the mirror's
/// signed index, like the kernel's).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub debian_package: String,
    /// The upstream part of Debian's version (`1.3.dfsg+really1.3.1`).
    pub debian_version: String,
    /// The orig tarball's file name.
    pub orig: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Autoconf,
    Cmake,
    Meson,
    Make,
    Script,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    pub kind: Kind,
    /// Arguments to configure / cmake / meson setup (after the cross ones).
    #[serde(default)]
    pub configure: Vec<String>,
    /// Arguments to the build's make (or ninja) run.
    #[serde(default)]
    pub make: Vec<String>,
    /// Arguments to `make install` (after `DESTDIR=…`).
    #[serde(default)]
    pub install: Vec<String>,
    /// Shell run in the build tree before configuring (e.g. `autoreconf -fi`).
    pub prepare: Option<String>,
    /// For `kind = "script"`: the whole build and install (into `$DESTDIR`).
    pub script: Option<String>,
    /// Shell run in `$DESTDIR` after installing (remove, move, add files).
    pub post_install: Option<String>,
    /// Extra environment (CFLAGS here replace the default `-Os`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Build in a separate directory (autoconf/cmake/meson); default true.
    pub out_of_tree: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subpackage {
    pub name: String,
    pub description: Option<String>,
    /// Globs relative to the root (`usr/include/**`, `usr/lib/*.a`); for names ending in
    /// `-dev` or `-doc`, the standard ones when omitted.
    pub paths: Option<Vec<String>>,
    #[serde(default)]
    pub depends: Vec<String>,
}

/// The globs of a standard `-dev` subpackage: headers, static libraries, pkg-config and
/// aclocal files, `*-config` scripts.
pub const DEV_GLOBS: &[&str] = &[
    "usr/include/**",
    "usr/lib/*.a",
    "usr/lib/*.la",
    "usr/lib/pkgconfig/**",
    "usr/share/pkgconfig/**",
    "usr/share/aclocal/**",
    "usr/lib/cmake/**",
    "usr/bin/*-config",
];
/// The globs of a standard `-doc` subpackage.
pub const DOC_GLOBS: &[&str] = &["usr/share/man/**", "usr/share/info/**", "usr/share/doc/**"];

impl Subpackage {
    pub fn globs(&self) -> Result<Vec<String>> {
        if let Some(p) = &self.paths {
            return Ok(p.clone());
        }
        let std = if self.name.ends_with("-dev") {
            DEV_GLOBS
        } else if self.name.ends_with("-doc") {
            DOC_GLOBS
        } else {
            bail!("subpackage {} lists no paths", self.name)
        };
        Ok(std.iter().map(|s| s.to_string()).collect())
    }
}

impl Recipe {
    /// Parses and checks a recipe; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Self> {
        let r: Recipe =
            toml::from_str(text).with_context(|| format!("parsing recipe {}", file.display()))?;
        r.validate()
            .with_context(|| format!("recipe {}", file.display()))?;
        if let Some(stem) = file.file_stem().and_then(|s| s.to_str()) {
            if stem != r.name {
                bail!(
                    "recipe {}: name `{}` differs from the file name",
                    file.display(),
                    r.name
                );
            }
        }
        Ok(r)
    }

    fn validate(&self) -> Result<()> {
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-._".contains(c))
        };
        if !name_ok(&self.name) {
            bail!("bad package name `{}`", self.name);
        }
        if self.version.is_empty()
            || !self.version.starts_with(|c: char| c.is_ascii_digit())
            || self.version.contains('-')
        {
            bail!(
                "version `{}`: Alpine versions start with a digit and have no `-`",
                self.version
            );
        }
        let sha = &self.source.sha256;
        if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            bail!("source.sha256 `{sha}` is not a sha256");
        }
        if !self.source.orig.contains(".orig.tar.") {
            bail!(
                "source.orig `{}` is not a Debian orig tarball",
                self.source.orig
            );
        }
        match (self.build.kind, &self.build.script) {
            (Kind::Script, None) => bail!("build.kind = \"script\" needs build.script"),
            (Kind::Script, Some(_)) => {}
            (_, Some(_)) => bail!("build.script is only for build.kind = \"script\""),
            _ => {}
        }
        let mut seen = vec![self.name.clone()];
        for s in &self.subpackages {
            if !name_ok(&s.name) || seen.contains(&s.name) {
                bail!("subpackage name `{}` is bad or repeated", s.name);
            }
            seen.push(s.name.clone());
            s.globs()?;
        }
        for k in self.scripts.keys() {
            const KNOWN: [&str; 7] = [
                "pre-install",
                "post-install",
                "pre-upgrade",
                "post-upgrade",
                "pre-deinstall",
                "post-deinstall",
                "trigger",
            ];
            if !KNOWN.contains(&k.as_str()) {
                bail!("unknown script `{k}` (known: {})", KNOWN.join(", "));
            }
        }
        for (sym, why) in &self.lint_allow {
            if why.trim().is_empty() {
                bail!("lint_allow.{sym} gives no reason");
            }
        }
        if let Some(suite) = &self.suite {
            if suite.files.is_empty() || suite.run.trim().is_empty() {
                bail!("suite needs files and a run command");
            }
        }
        Ok(())
    }

    /// `5.4.7-r0`.
    pub fn full_version(&self) -> String {
        format!("{}-r{}", self.version, self.pkgrel)
    }
}

/// The recipes directory of the repository.
pub fn dir(repo: &Path) -> PathBuf {
    repo.join("build/packages")
}

/// Every recipe, by name, with the path it came from.
pub fn load_all(dir: &Path) -> Result<BTreeMap<String, (Recipe, PathBuf)>> {
    let mut out = BTreeMap::new();
    let rd = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for e in rd {
        let path = e
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let r = Recipe::parse(&text, &path)?;
        out.insert(r.name.clone(), (r, path));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const LUA: &str = r#"
name = "lua5.4"
version = "5.4.7"
pkgrel = 1
description = "Lua"
url = "https://www.lua.org/"
license = "MIT"
check = "lua5.4 -e 'print(6*7)'"
lint_allow = { system = "os.execute runs through posix_spawn" }

[source]
debian_package = "lua5.4"
debian_version = "5.4.7"
orig = "lua5.4_5.4.7.orig.tar.gz"
sha256 = "9fbf5e28ef86c69858f6d3d34eccc32e911c1a28b4120ff3e84aaa70cfbf1e30"

[build]
kind = "make"
make = ["linux"]

[[subpackage]]
name = "lua5.4-dev"

[[subpackage]]
name = "lua5.4-doc"
"#;

    #[test]
    fn a_recipe_parses_with_defaults() {
        let r = Recipe::parse(LUA, Path::new("build/packages/lua5.4.toml")).unwrap();
        assert_eq!(r.full_version(), "5.4.7-r1");
        assert_eq!(r.build.kind, Kind::Make);
        assert_eq!(r.subpackages[0].globs().unwrap()[0], "usr/include/**");
        assert_eq!(r.subpackages[1].globs().unwrap()[0], "usr/share/man/**");
        assert!(r.depends.is_empty());
        assert!(r.suite.is_none());
        let with_suite = format!(
            "{LUA}\n[suite]\nfiles = [\"testes/**\"]\nrun = \"lua5.4 all.lua\"\nnative = \"make\"\n"
        );
        let r = Recipe::parse(&with_suite, Path::new("build/packages/lua5.4.toml")).unwrap();
        assert_eq!(r.suite.unwrap().files, ["testes/**"]);
    }

    #[test]
    fn bad_recipes_say_what_is_wrong_and_where() {
        let p = Path::new("x/lua5.4.toml");
        let cases = [
            (LUA.replace("5.4.7\"\npkgrel", "5.4-7\"\npkgrel"), "no `-`"),
            (LUA.replace("9fbf5e28", "zzzz5e28"), "not a sha256"),
            (
                LUA.replace("kind = \"make\"", "kind = \"bazel\""),
                "unknown variant",
            ),
            (
                LUA.replace("kind = \"make\"", "kind = \"script\""),
                "needs build.script",
            ),
            (LUA.replace("lua5.4-doc", "lua5.4-extra"), "lists no paths"),
            (
                LUA.replace("os.execute runs through posix_spawn", " "),
                "gives no reason",
            ),
            (LUA.replace("license =", "licence ="), "unknown field"),
            (
                format!("{LUA}\n[suite]\nfiles = []\nrun = \"true\"\nnative = \"true\"\n"),
                "suite needs files",
            ),
        ];
        for (text, want) in cases {
            let err = format!("{:#}", Recipe::parse(&text, p).unwrap_err());
            assert!(
                err.contains(want) && err.contains("x/lua5.4.toml"),
                "{want}: {err}"
            );
        }
        let err = format!(
            "{:#}",
            Recipe::parse(LUA, Path::new("x/lua.toml")).unwrap_err()
        );
        assert!(err.contains("differs from the file name"), "{err}");
    }

    #[test]
    fn the_repository_recipes_parse() {
        let recipes = load_all(&dir(Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()))
        .unwrap();
        assert!(recipes.contains_key("zlib") && recipes.contains_key("mbedtls"));
    }
}
