//! The status bar's "about" panel.

use leptos::prelude::*;

/// Where the guest's apk finds packages: its `/etc/apk/repositories` line, which the gateway
/// carries to this site's `/repo/main/` (docs/packages.md).
const GUEST_REPOSITORY: &str = "http://alpenglow.host/repo/main";

/// This site's address of the repository.
fn site_repository() -> String {
    web_sys::window()
        .and_then(|w| w.location().href().ok())
        .and_then(|href| web_sys::Url::new_with_base("repo/main/", &href).ok())
        .map(|u| u.href())
        .unwrap_or_else(|| "repo/main/".into())
}

#[component]
pub fn About() -> impl IntoView {
    view! {
        <aside class="about" id="about" aria-label="About Alpenglow">
            <p>
                "Alpenglow runs the Linux kernel itself, compiled to WebAssembly (arch/wasm), "
                "in this tab: no emulator. Every kernel task is a Web Worker with its own "
                "instance of vmlinux.wasm over one shared memory; this page only relays the "
                "console, timers and new tasks, and never blocks."
            </p>
            <p class="about-repository">
                "Packages: the guest's apk uses " <code>{GUEST_REPOSITORY}</code>
                ", which is this site's " <code>{site_repository()}</code> "."
            </p>
        </aside>
    }
}
