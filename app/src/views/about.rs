//! The status bar's "about" panel.

use leptos::prelude::*;

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
        </aside>
    }
}
