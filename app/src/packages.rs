//! The Packages panel's controller: what the guest's repository offers and what is
//! installed, from the guest's own `apk` (run through the files helper, `Files::apk`, never
//! typed into the person's shell), and installing or removing one package at a time.

#[cfg(target_arch = "wasm32")]
pub use controller::Packages;
use std::collections::BTreeSet;

/// A package the repository offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offered {
    pub name: String,
    pub version: String,
    pub description: String,
}

/// What the panel shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PackageList {
    pub offered: Vec<Offered>,
    pub installed: BTreeSet<String>,
    /// What runs now (`apk add tree`), if anything.
    pub busy: Option<String>,
    /// What the last command wrote.
    pub log: String,
    /// How the last command ended: (ok, words).
    pub outcome: Option<(bool, String)>,
    /// The lists have been read at least once.
    pub loaded: bool,
}

/// Splits apk's `name-version` (`lua5.4-5.4.7-r0` → `lua5.4`, `5.4.7-r0`).
pub fn split_name_version(s: &str) -> Option<(&str, &str)> {
    let (rest, release) = s.rsplit_once('-')?;
    if !release.starts_with('r') || !release[1..].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (name, version) = rest.rsplit_once('-')?;
    (!name.is_empty() && version.starts_with(|c: char| c.is_ascii_digit()))
        .then(|| (name, &s[name.len() + 1..]))
}

/// `apk search -v`: one `name-version - description` line per package.
pub fn parse_search(text: &str) -> Vec<Offered> {
    let mut out: Vec<Offered> = text
        .lines()
        .filter_map(|line| {
            let (id, description) = line.split_once(" - ").unwrap_or((line.trim(), ""));
            let (name, version) = split_name_version(id.trim())?;
            Some(Offered {
                name: name.to_string(),
                version: version.to_string(),
                description: description.trim().to_string(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    out
}

/// `apk info`: the installed packages' names, one per line.
pub fn parse_installed(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains(' '))
        .map(str::to_string)
        .collect()
}

/// The panel's controller (in the page only: it runs apk through the files session).
#[cfg(target_arch = "wasm32")]
mod controller {
    use crate::files::{ApkEvent, Files};
    use crate::state::AppState;
    use leptos::prelude::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::{parse_installed, parse_search};

    /// The Packages panel's controller.
    pub struct Packages {
        s: AppState,
        files: &'static Files,
    }

    impl Packages {
        pub fn new(s: AppState, files: &'static Files) -> Packages {
            Packages { s, files }
        }

        fn run(
            &'static self,
            args: &[&str],
            done: impl FnOnce(Result<i32, String>, String) + 'static,
        ) {
            let s = self.s;
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            let label = format!("apk {}", args.join(" "));
            s.packages.update(|p| p.busy = Some(label));
            let out = Rc::new(RefCell::new(String::new()));
            let mut done = Some(done);
            self.files.apk(args, move |event| match event {
                ApkEvent::Output(text) => out.borrow_mut().push_str(&text),
                ApkEvent::Done(status) => {
                    s.packages.update(|p| p.busy = None);
                    if let Some(done) = done.take() {
                        done(status, out.take());
                    }
                }
            });
        }

        /// Reads the index (`apk update`, unless `update` is false), then what is offered and
        /// what is installed.
        pub fn refresh(&'static self, update: bool) {
            let s = self.s;
            let lists = move || {
                self.run(&["search", "-v"], move |status, text| {
                    if let Err(e) | Ok(Err(e)) = status.map(|c| exit_ok("apk search", c)) {
                        s.packages.update(|p| p.outcome = Some((false, e)));
                        return;
                    }
                    let offered = parse_search(&text);
                    self.run(&["info"], move |status, text| {
                        let installed = match status.map(|c| exit_ok("apk info", c)) {
                            Ok(Ok(())) => parse_installed(&text),
                            Err(e) | Ok(Err(e)) => {
                                s.packages.update(|p| p.outcome = Some((false, e)));
                                return;
                            }
                        };
                        s.packages.update(|p| {
                            p.offered = offered;
                            p.installed = installed;
                            p.loaded = true;
                        });
                    });
                });
            };
            if !update {
                lists();
                return;
            }
            self.run(&["update"], move |status, text| {
                s.packages.update(|p| p.log = text.clone());
                match status.map(|c| exit_ok("apk update", c)) {
                    Ok(Ok(())) => lists(),
                    Err(e) | Ok(Err(e)) => s.packages.update(|p| p.outcome = Some((false, e))),
                }
            });
        }

        /// `apk add NAME` (or `apk del NAME`), its output shown as it comes, then the lists again.
        pub fn change(&'static self, name: String, install: bool) {
            let s = self.s;
            let verb = if install { "add" } else { "del" };
            s.packages.update(|p| {
                p.log.clear();
                p.outcome = None;
            });
            let args = [verb, name.as_str()].map(str::to_string);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            self.run(&args, move |status, text| {
                let outcome = match status.map(|c| exit_ok(&format!("apk {verb} {name}"), c)) {
                    Ok(Ok(())) if install => (true, format!("{name} is installed")),
                    Ok(Ok(())) => (true, format!("{name} is removed")),
                    Err(e) | Ok(Err(e)) => (false, e),
                };
                s.packages.update(|p| {
                    p.log = text;
                    p.outcome = Some(outcome);
                });
                self.refresh(false);
            });
        }
    }

    fn exit_ok(what: &str, code: i32) -> Result<(), String> {
        match code {
            0 => Ok(()),
            127 => Err(format!("{what}: the guest has no apk")),
            c if c > 128 => Err(format!("{what} was stopped by signal {}", c - 128)),
            c => Err(format!("{what} failed (exit status {c})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_split_at_the_version() {
        assert_eq!(
            split_name_version("lua5.4-5.4.7-r0"),
            Some(("lua5.4", "5.4.7-r0"))
        );
        assert_eq!(
            split_name_version("py3-foo-bar-1.2_rc1-r10"),
            Some(("py3-foo-bar", "1.2_rc1-r10"))
        );
        assert_eq!(split_name_version("tree"), None);
        assert_eq!(split_name_version("x-1.0"), None);
        assert_eq!(split_name_version("-1.0-r0"), None);
    }

    #[test]
    fn search_output_becomes_a_sorted_list() {
        let text = "zlib-1.3.1-r0 - A compression library\ntree-2.1.3-r0 - List contents of directories in a tree-like format\nfetch http://alpenglow.host/repo/main\n";
        let list = parse_search(text);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name, "tree");
        assert_eq!(list[0].version, "2.1.3-r0");
        assert_eq!(
            list[0].description,
            "List contents of directories in a tree-like format"
        );
    }

    #[test]
    fn installed_names_are_one_per_line() {
        let set = parse_installed("zlib\ntree\n\nWARNING: something\n");
        assert_eq!(set.into_iter().collect::<Vec<_>>(), ["tree", "zlib"]);
    }
}
