//! End-to-end tests: a headless browser (Chromium through chromedriver, or Firefox ESR), driven
//! through WebDriver BiDi by `alpenglow_build::browser`, opens the built site, served with the
//! cross-origin isolation headers, and the tests check what a person sees.
//!
//! They need the built site in `target/site` (`cargo x all` then `trunk build --release`, or
//! simply `cargo x test`), `/usr/bin/chromedriver`, `/usr/bin/chromium` and
//! `/usr/bin/firefox-esr`. Plain `cargo test` skips them; run them with
//! `cargo test -p alpenglow-build --test e2e -- --ignored --test-threads=1` (add a name, or
//! `chromium` / `firefox`, to pick some).
//!
//! A test is written once, as `fn name(kind: Kind)`, and `in_browsers!` makes one `#[test]`
//! per browser it runs in: `theme::name::chromium`, `theme::name::firefox`. Where a test runs
//! in Chromium only, its module says why.
//!
//! Timeouts only bound how long a test waits for the page to reach a state; nothing is timed.

/// `in_browsers!(name: chromium, firefox)`: a module `name` with one ignored `#[test]` per
/// browser, each calling `name(Kind)` of the module it is written in.
macro_rules! in_browsers {
    ($name:ident: $($browser:ident),+) => {
        mod $name {
            $(
                #[test]
                #[ignore = "needs the built site: run by cargo x test"]
                fn $browser() {
                    let kind = stringify!($browser).parse().expect("a browser");
                    super::$name(kind)
                }
            )+
        }
    };
}

mod boot;
mod common;
mod disk;
mod files;
/// The page's own text formatting, so a test expects exactly what the page prints.
#[allow(dead_code)]
#[path = "../../../app/src/format.rs"]
mod format;
mod layout;
mod machine;
mod network;
mod offline;
mod packages;
mod servers;
mod settings;
mod shell;
mod terminal;
