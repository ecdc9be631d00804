//! The Alpenglow page. On load it checks that the page is cross-origin isolated, fetches
//! `dist/manifest.json`, downloads and verifies every artifact, compiles `vmlinux.wasm`, opens
//! the terminal and boots the kernel (`kernel_host::browser::Machine`), whose console output
//! the terminal shows.
//!
//! Code map: `app.rs` is the controller that owns and wires everything (`terminal.rs` the
//! console, `machine.rs` the machine, `files.rs` the files session, `embed.rs` the embedding
//! page's link) and decides the first boot; `startup.rs` gets the page to a compiled kernel;
//! `state.rs` is what the views show and `views/` shows it; `format.rs` is the text of
//! numbers, pure and shared with the tests. `settings.rs`, `offline.rs`, `artifacts.rs`,
//! `kernel.rs`, `disk.rs` (erasing the disk) and `wasm_imports.rs` serve them.
//!
//! The page and its machine run only in a browser: natively (`cargo test -p app`) only the
//! modules with unit tests and what they need are built.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

#[cfg(target_arch = "wasm32")]
mod app;
mod artifacts;
#[cfg(target_arch = "wasm32")]
mod disk;
mod embed;
#[cfg(target_arch = "wasm32")]
mod files;
mod format;
mod kernel;
#[cfg(target_arch = "wasm32")]
mod machine;
mod offline;
mod packages;
#[cfg(target_arch = "wasm32")]
mod ports;
mod settings;
mod startup;
mod state;
mod terminal;
#[cfg(target_arch = "wasm32")]
mod views;
mod wasm_imports;

#[cfg(target_arch = "wasm32")]
fn main() {
    use leptos::prelude::*;
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(|| {
        // The controller first, under the page's root owner; the views only get its handle.
        let app = app::App::start();
        view! { <views::Page app=app /> }
    });
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the Alpenglow page runs in a browser: serve it with `cargo x up`");
}
