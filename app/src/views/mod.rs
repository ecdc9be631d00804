//! What the page shows, split by what each part shows. Every view gets the controller's
//! `AppHandle` (`app.rs`): it reads `AppState` through it and acts only through it. `Page` is
//! the root: the top bar, the stage (the boot card while loading, then the terminal, with the
//! machine card over it or above it when it is open) and the status bar.

mod about;
mod boot_card;
mod crash;
mod disk_tools;
mod machine_card;
mod packages_panel;
mod settings_panel;
mod status_bar;
mod terminal_pane;
mod transfer;

use crate::app::AppHandle;
use crate::state::Phase;
use leptos::prelude::*;
use machine_card::MachineCard;
use status_bar::StatusBar;
use terminal_pane::TerminalPane;

#[component]
pub fn Page(app: AppHandle) -> impl IntoView {
    let s = app.s;
    view! {
        <div
            class="app"
            data-state=move || s.state_name()
            data-theme=move || s.settings.with(|c| c.theme.name())
            data-embed=s.embed.then_some("")
            data-refused-messages=move || s.refused.get().to_string()
        >
            <Show when=move || !s.embed>
                <header class="topbar">
                    <span class="logo" aria-hidden="true"></span>
                    <span class="title">"Alpenglow"</span>
                    <span class="tagline">"Linux and BusyBox, compiled to WebAssembly, in this tab"</span>
                </header>
            </Show>
            <main class="stage">{move || stage(app)}</main>
            <Show when=move || !s.embed>
                <StatusBar app=app />
            </Show>
        </div>
    }
}

/// The card for where the page is: starting, loading, an error, or the machine.
fn stage(app: AppHandle) -> AnyView {
    match app.s.phase.get() {
        Phase::Checking => boot_card::starting().into_any(),
        Phase::NotIsolated {
            isolated,
            shared_memory,
            why,
        } => boot_card::not_isolated(isolated, shared_memory, why).into_any(),
        Phase::Loading => boot_card::loading(app.s).into_any(),
        Phase::Failed(err) => boot_card::failed(app, err).into_any(),
        Phase::Compiled(summary) => {
            let s = app.s;
            // An embedding page has chrome of its own: the terminal only, always.
            view! {
                <Show when=move || !s.embed && s.card_open()>
                    <MachineCard app=app k=summary.clone() />
                </Show>
                <TerminalPane app=app />
            }
            .into_any()
        }
    }
}
