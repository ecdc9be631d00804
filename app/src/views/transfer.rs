//! The line over the terminal about the latest upload or download: what, where, how far.

use crate::state::AppState;
use leptos::prelude::*;

#[component]
pub fn TransferLine(s: AppState) -> impl IntoView {
    move || {
        s.transfer.get().map(|t| {
            view! {
                <div class="transfer" data-state=t.state role="status">
                    <span class="transfer-text">{t.text}</span>
                    {t.progress.map(|p| view! {
                        <div class="transfer-bar" aria-hidden="true">
                            <div class="transfer-fill" style:width=format!("{:.1}%", p * 100.0)></div>
                        </div>
                    })}
                </div>
            }
        })
    }
}
