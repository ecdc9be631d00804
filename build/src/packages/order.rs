//! Which recipes a request needs and in what order: every dependency (build-time
//! `makedepends` and runtime `depends`, which may name a subpackage) before its dependents.

use super::recipe::Recipe;
use anyhow::{bail, Result};
use std::collections::BTreeMap;

/// The origin (recipe) of every package name a recipe produces.
pub fn origins(recipes: &BTreeMap<String, Recipe>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for r in recipes.values() {
        m.insert(r.name.clone(), r.name.clone());
        for s in &r.subpackages {
            m.insert(s.name.clone(), r.name.clone());
        }
    }
    m
}

/// The package name of a dependency (`so:`/`cmd:` names and versions stripped):
/// `foo>=1.2` → `foo`.
pub fn dep_name(dep: &str) -> &str {
    let end = dep.find(['<', '>', '=', '~']).unwrap_or(dep.len());
    &dep[..end]
}

/// Recipes a recipe needs built first (its makedepends, and the origins of its depends
/// that are ours; others, like `so:libc.musl…`, are not built here).
pub fn needs(r: &Recipe, origins: &BTreeMap<String, String>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for d in &r.makedepends {
        let Some(o) = origins.get(dep_name(d)) else {
            bail!("{}: makedepends `{d}` has no recipe", r.name);
        };
        out.push(o.clone());
    }
    for d in r
        .depends
        .iter()
        .chain(r.subpackages.iter().flat_map(|s| &s.depends))
    {
        if let Some(o) = origins.get(dep_name(d)) {
            if o != &r.name {
                out.push(o.clone());
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The recipes `wanted` needs, dependencies first (ties in name order, so the order is
/// stable). Unknown names and cycles are errors that name them.
pub fn build_order(recipes: &BTreeMap<String, Recipe>, wanted: &[String]) -> Result<Vec<String>> {
    let origins = origins(recipes);
    let mut order = Vec::new();
    let mut state: BTreeMap<String, bool> = BTreeMap::new(); // false: visiting, true: done
    fn visit(
        name: &str,
        recipes: &BTreeMap<String, Recipe>,
        origins: &BTreeMap<String, String>,
        state: &mut BTreeMap<String, bool>,
        order: &mut Vec<String>,
        path: &mut Vec<String>,
    ) -> Result<()> {
        match state.get(name) {
            Some(true) => return Ok(()),
            Some(false) => {
                path.push(name.to_string());
                bail!("dependency cycle: {}", path.join(" -> "));
            }
            None => {}
        }
        state.insert(name.to_string(), false);
        path.push(name.to_string());
        for dep in needs(&recipes[name], origins)? {
            visit(&dep, recipes, origins, state, order, path)?;
        }
        path.pop();
        state.insert(name.to_string(), true);
        order.push(name.to_string());
        Ok(())
    }
    for w in wanted {
        let Some(origin) = origins.get(w.as_str()) else {
            bail!(
                "no recipe makes `{w}` (recipes: {})",
                recipes.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        };
        visit(
            origin,
            recipes,
            &origins,
            &mut state,
            &mut order,
            &mut Vec::new(),
        )?;
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn recipe(name: &str, depends: &[&str], makedepends: &[&str]) -> Recipe {
        let text = format!(
            "name = \"{name}\"\nversion = \"1\"\ndescription = \"d\"\nurl = \"u\"\nlicense = \"MIT\"\n\
             depends = {depends:?}\nmakedepends = {makedepends:?}\n\
             [source]\ndebian_package = \"{name}\"\ndebian_version = \"1\"\norig = \"{name}_1.orig.tar.gz\"\n\
             sha256 = \"{}\"\n[build]\nkind = \"make\"\n[[subpackage]]\nname = \"{name}-dev\"\n",
            "a".repeat(64)
        );
        Recipe::parse(&text, Path::new(&format!("{name}.toml"))).unwrap()
    }

    fn set(rs: Vec<Recipe>) -> BTreeMap<String, Recipe> {
        rs.into_iter().map(|r| (r.name.clone(), r)).collect()
    }

    #[test]
    fn dependencies_come_first_and_only_what_is_needed() {
        let rs = set(vec![
            recipe("jq", &["oniguruma"], &["oniguruma-dev"]),
            recipe("oniguruma", &[], &[]),
            recipe("htop", &["ncurses-terminfo>=6"], &["ncurses-dev"]),
            recipe("ncurses", &[], &[]),
            recipe("zlib", &[], &[]),
        ]);
        let o = build_order(&rs, &["jq".into()]).unwrap();
        assert_eq!(o, ["oniguruma", "jq"]);
        let mut rs2 = rs.clone();
        rs2.get_mut("ncurses")
            .unwrap()
            .subpackages
            .push(super::super::recipe::Subpackage {
                name: "ncurses-terminfo".into(),
                description: None,
                paths: Some(vec!["usr/share/terminfo/**".into()]),
                depends: vec![],
            });
        let o = build_order(&rs2, &["htop".into(), "jq-dev".into(), "zlib".into()]).unwrap();
        assert_eq!(o, ["ncurses", "htop", "oniguruma", "jq", "zlib"]);
    }

    #[test]
    fn cycles_and_unknown_names_are_named() {
        let rs = set(vec![recipe("a", &["b"], &[]), recipe("b", &[], &["a-dev"])]);
        let err = build_order(&rs, &["a".into()]).unwrap_err().to_string();
        assert!(err.contains("a -> b -> a"), "{err}");
        let err = build_order(&rs, &["nope".into()]).unwrap_err().to_string();
        assert!(err.contains("`nope`") && err.contains("a, b"), "{err}");
        let rs = set(vec![recipe("c", &[], &["missing-dev"])]);
        let err = build_order(&rs, &["c".into()]).unwrap_err().to_string();
        assert!(err.contains("missing-dev"), "{err}");
    }

    #[test]
    fn dependency_names_lose_their_constraints() {
        assert_eq!(dep_name("foo>=1.2"), "foo");
        assert_eq!(dep_name("cmd:lua5.4"), "cmd:lua5.4");
        assert_eq!(dep_name("bar~1"), "bar");
    }
}
