//! The Packages panel: what the guest's repository offers (with a search box) and what is
//! installed; Install and Remove run the guest's own `apk` (`packages.rs`), whose output and
//! outcome the panel shows.

use crate::app::AppHandle;
use leptos::prelude::*;

#[component]
pub fn PackagesPanel(app: AppHandle) -> impl IntoView {
    let s = app.s;
    let query = RwSignal::new(String::new());
    let search = NodeRef::<leptos::html::Input>::new();
    search.on_load(|el| {
        let _ = el.focus();
    });
    app.refresh_packages();
    let rows = move || {
        let q = query.get().trim().to_lowercase();
        s.packages.with(|p| {
            p.offered
                .iter()
                .filter(|o| {
                    q.is_empty()
                        || o.name.to_lowercase().contains(&q)
                        || o.description.to_lowercase().contains(&q)
                })
                .map(|o| (o.clone(), p.installed.contains(&o.name)))
                .collect::<Vec<_>>()
        })
    };
    let busy = move || s.packages.with(|p| p.busy.is_some());
    view! {
        <section id="packages" class="packages" aria-label="Packages">
            <h2>"Packages"</h2>
            <p class="packages-note">
                "From the repository in the guest's /etc/apk/repositories, installed by the guest's own apk."
            </p>
            <input
                node_ref=search
                class="packages-search"
                type="search"
                placeholder="Search packages"
                aria-label="Search packages"
                prop:value=move || query.get()
                on:input=move |ev| query.set(event_target_value(&ev))
            />
            <p class="packages-status" data-busy=move || busy().to_string()>
                {move || s.packages.with(|p| match (&p.busy, p.loaded) {
                    (Some(what), _) => format!("running {what}…"),
                    (None, false) => String::new(),
                    (None, true) => format!(
                        "{} packages, {} installed",
                        p.offered.len(),
                        p.installed.len()
                    ),
                })}
            </p>
            <ul class="package-list">
                {move || {
                    rows()
                        .into_iter()
                        .map(|(o, installed)| {
                            let name = o.name.clone();
                            let label = if installed { "Remove" } else { "Install" };
                            view! {
                                <li
                                    class="package"
                                    data-package=o.name.clone()
                                    data-installed=installed.to_string()
                                >
                                    <span class="package-name">{o.name.clone()}</span>
                                    " "
                                    <span class="package-version">{o.version.clone()}</span>
                                    <span class="package-description">{o.description.clone()}</span>
                                    <button
                                        class="package-action"
                                        disabled=busy
                                        on:click=move |_| app.change_package(name.clone(), !installed)
                                    >
                                        {label}
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
            {move || s.packages.with(|p| p.outcome.clone()).map(|(ok, text)| view! {
                <p class="packages-outcome" data-ok=ok.to_string() role="status">{text}</p>
            })}
            <Show when=move || s.packages.with(|p| !p.log.is_empty())>
                <pre class="packages-log">{move || s.packages.with(|p| p.log.clone())}</pre>
            </Show>
        </section>
    }
}
