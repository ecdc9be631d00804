//! What the machine card shows when the machine stopped on an error: the message, the stack
//! if there is one, and the console's last lines.

use crate::state::Crash;
use leptos::prelude::*;

pub fn crash_panel(c: Crash) -> impl IntoView {
    let lines = c.last_lines.join("\n");
    let has_lines = !lines.is_empty();
    view! {
        <div class="crash" role="alert">
            <p class="crash-message">{c.message.clone()}</p>
            {c.detail.clone().map(|d| view! {
                <details class="crash-detail">
                    <summary>"Stack"</summary>
                    <pre>{d}</pre>
                </details>
            })}
            <Show when=move || has_lines>
                <p class="muted small">"Last console lines:"</p>
                // column-reverse: the box opens scrolled to its end, the panic.
                <div class="crash-lines"><pre>{lines.clone()}</pre></div>
            </Show>
        </div>
    }
}
