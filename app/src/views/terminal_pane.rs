//! The terminal's box: the element the console opens in (`App::open_terminal`), files dropped
//! on it or picked with the hidden file input go to the guest's /root, and the transfer line.

use super::transfer::TransferLine;
use crate::app::AppHandle;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// The id of the hidden file input the status bar's Upload button opens.
const UPLOAD_INPUT: &str = "upload-input";

#[component]
pub fn TerminalPane(app: AppHandle) -> impl IntoView {
    let s = app.s;
    let term_ref = NodeRef::<leptos::html::Div>::new();
    // The console opens once its element is on the page.
    term_ref.on_load(move |el| app.open_terminal(el.into()));
    // Nested elements fire enter/leave pairs of their own: count to know when the drag left.
    let drag_depth = RwSignal::new(0u32);
    view! {
        <section
            class="terminal-wrap"
            aria-label="Terminal"
            data-drop=move || (drag_depth.get() > 0).then_some("")
            on:click=move |_| app.focus_terminal()
            on:dragenter=move |ev: web_sys::DragEvent| {
                if carries_files(&ev) {
                    ev.prevent_default();
                    drag_depth.update(|d| *d += 1);
                }
            }
            on:dragover=move |ev: web_sys::DragEvent| {
                if carries_files(&ev) {
                    // Without this the browser opens the file instead of dropping it here.
                    ev.prevent_default();
                    if let Some(dt) = ev.data_transfer() {
                        dt.set_drop_effect("copy");
                    }
                }
            }
            on:dragleave=move |_| drag_depth.update(|d| *d = d.saturating_sub(1))
            on:drop=move |ev: web_sys::DragEvent| {
                ev.prevent_default();
                drag_depth.set(0);
                if let Some(list) = ev.data_transfer().and_then(|dt| dt.files()) {
                    app.upload_files(&list);
                }
                app.focus_terminal();
            }
        >
            <div class="terminal" id="terminal" node_ref=term_ref></div>
            <div class="drop-hint" aria-hidden="true">
                <span>"Drop files to upload them to "<code>"/root"</code></span>
            </div>
            <input
                type="file"
                multiple
                id=UPLOAD_INPUT
                class="upload-input"
                tabindex="-1"
                aria-label="Files to upload to /root"
                on:change=move |ev| {
                    let input: web_sys::HtmlInputElement = event_target(&ev);
                    if let Some(list) = input.files() {
                        app.upload_files(&list);
                    }
                    // The same file can be picked again.
                    input.set_value("");
                    app.focus_terminal();
                }
            />
            <TransferLine s=s />
        </section>
    }
}

/// A drag carries files (not text or a link from the page).
fn carries_files(ev: &web_sys::DragEvent) -> bool {
    ev.data_transfer()
        .map(|dt| {
            dt.types()
                .iter()
                .any(|t| t.as_string().as_deref() == Some("Files"))
        })
        .unwrap_or(false)
}

/// Opens the file picker of the terminal's upload input.
pub fn pick_files() {
    let input = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(UPLOAD_INPUT));
    if let Some(input) = input.and_then(|i| i.dyn_into::<web_sys::HtmlElement>().ok()) {
        input.click();
    }
}
