//! What the page shows: the boot card (manifest, downloads with progress, verification,
//! compilation), the error screens, the machine card and the terminal once the kernel is
//! compiled (booting, running, halted, crashed — with Reboot), and the status bar with the
//! component versions and an "about" panel.

use crate::artifacts::{LoadError, Manifest};
use crate::kernel::{describe_memory, grouped, human_bytes, KernelSummary};
use crate::offline::Offline;
use crate::panel::SettingsPanel;
use crate::terminal::{Console, Look};
use crate::{
    machine, start, uptime_text, AppState, Crash, Phase, Row, RowState, RunState, MACHINE,
};
use leptos::prelude::*;
use std::cell::RefCell;
use wasm_bindgen::JsCast;

thread_local! {
    static CONSOLE: RefCell<Option<Console>> = const { RefCell::new(None) };
}

/// Runs `f` on the terminal if it is open.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub fn with_console(f: impl FnOnce(&Console)) {
    CONSOLE.with(|c| {
        if let Some(c) = c.borrow().as_ref() {
            f(c)
        }
    });
}

/// How the terminal should look now.
fn look(s: AppState) -> Look {
    s.settings.with(|c| Look {
        theme: c.theme,
        font_size: c.font_size,
    })
}

/// The terminal's size in characters, if it is open.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub fn console_size() -> Option<(u16, u16)> {
    CONSOLE.with(|c| c.borrow().as_ref().map(Console::size))
}

#[component]
pub fn Page(s: AppState) -> impl IntoView {
    // Theme and font size apply at once.
    Effect::new(move |_| {
        let l = look(s);
        with_console(|c| c.set_look(l));
    });
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
            <main class="stage">{move || stage(s)}</main>
            <Show when=move || !s.embed>
                <StatusBar s=s />
            </Show>
        </div>
    }
}

fn stage(s: AppState) -> AnyView {
    match s.phase.get() {
        Phase::Checking => view! {
            <section class="card" aria-live="polite">
                <h1>"Starting"</h1>
                <p class="muted">"Checking what this browser supports…"</p>
            </section>
        }
        .into_any(),
        Phase::NotIsolated {
            isolated,
            shared_memory,
            why,
        } => not_isolated(isolated, shared_memory, why).into_any(),
        Phase::Loading => view! {
            <section class="card" aria-live="polite" aria-busy="true">
                <h1>"Loading the kernel"</h1>
                <p class="step">{move || s.step.get()} <span class="dots" aria-hidden="true"></span></p>
                <Artifacts s=s />
            </section>
        }
        .into_any(),
        Phase::Failed(err) => failed(s, err).into_any(),
        Phase::Compiled(summary) => compiled(s, summary).into_any(),
    }
}

#[component]
fn Artifacts(s: AppState) -> impl IntoView {
    view! {
        <ul class="artifacts">
            {move || s.rows.get().into_iter().map(artifact_row).collect_view()}
        </ul>
    }
}

fn artifact_row(r: Row) -> impl IntoView {
    let pct = if r.size == 0 {
        100.0
    } else {
        (r.received as f64 / r.size as f64 * 100.0).clamp(0.0, 100.0)
    };
    let (state, badge) = match r.state {
        RowState::Waiting => ("waiting", "waiting"),
        RowState::Downloading => ("downloading", "downloading"),
        RowState::Verified => ("verified", "sha256 verified"),
        RowState::Failed => ("failed", "failed"),
    };
    let detail = match r.state {
        RowState::Verified => format!("{} bytes", grouped(r.size)),
        _ => format!("{} of {} bytes", grouped(r.received), grouped(r.size)),
    };
    view! {
        <li class="artifact" data-name=r.name.clone() data-state=state data-bytes=r.size.to_string()>
            <div class="artifact-head">
                <span class="artifact-name">{r.name.clone()}</span>
                <span class="badge">{badge}</span>
            </div>
            <div
                class="bar"
                role="progressbar"
                aria-label=format!("{} download", r.name)
                aria-valuemin="0"
                aria-valuemax=r.size.to_string()
                aria-valuenow=r.received.to_string()
            >
                <div class="bar-fill" style:width=format!("{pct:.1}%")></div>
            </div>
            <div class="artifact-detail">
                <span class="bytes">{detail}</span>
                <span class="human">{human_bytes(r.size)}</span>
            </div>
        </li>
    }
}

fn not_isolated(isolated: bool, shared_memory: bool, why: String) -> impl IntoView {
    let what = match (isolated, shared_memory) {
        (false, _) => "This page is not cross-origin isolated, so the browser does not allow the shared memory the kernel runs in.",
        (true, _) => "This page is cross-origin isolated, but this browser does not provide SharedArrayBuffer, which the kernel's memory needs.",
    };
    view! {
        <section class="card error" role="alert">
            <h1>"This page cannot run here"</h1>
            <p>{what}</p>
            <p>"To fix it:"</p>
            <ul class="fixes">
                <li>
                    "Serve the site with the headers "
                    <code>"Cross-Origin-Opener-Policy: same-origin"</code> " and "
                    <code>"Cross-Origin-Embedder-Policy: require-corp"</code>
                    " — " <code>"cargo x up"</code> " and " <code>"trunk serve"</code>
                    " both do — or serve "<code>"sw.js"</code>" next to "<code>"index.html"</code>
                    " in a browser with service workers, which adds them."
                </li>
                <li>"Open it over http://localhost or https:// (a secure context), not from a file."</li>
                <li>"Use a current Chrome, Edge, Firefox or Safari."</li>
            </ul>
            <p class="muted small">
                {format!(
                    "crossOriginIsolated: {isolated} · SharedArrayBuffer: {} · service worker: {why}",
                    if shared_memory { "available" } else { "missing" },
                )}
            </p>
        </section>
    }
}

fn failed(s: AppState, err: LoadError) -> impl IntoView {
    let retry = move |_| start(s);
    let (title, body) = match &err {
        LoadError::Manifest(m) => ("Cannot read the build manifest".to_string(), m.clone()),
        LoadError::Download { file, message } => (
            format!("Cannot download {file}"),
            format!("{message}. Check that the site was built (cargo x all) and is still being served."),
        ),
        LoadError::Size { file, .. } => (
            format!("{file} failed verification"),
            format!("{err}. The file is truncated or comes from a different build."),
        ),
        LoadError::Hash { file, .. } => (
            format!("{file} failed verification"),
            "Its sha256 differs from the one in manifest.json: the download is corrupted, or the site serves files from a different build.".to_string(),
        ),
        LoadError::Kernel(m) => ("The kernel could not be prepared".to_string(), m.clone()),
    };
    let hashes = match &err {
        LoadError::Hash {
            expected, actual, ..
        } => Some(view! {
            <dl class="hashes">
                <dt>"expected (manifest.json)"</dt>
                <dd><code class="hash expected">{expected.clone()}</code></dd>
                <dt>"downloaded"</dt>
                <dd><code class="hash actual">{actual.clone()}</code></dd>
            </dl>
        }),
        LoadError::Size {
            expected, actual, ..
        } => Some(view! {
            <dl class="hashes">
                <dt>"expected (manifest.json)"</dt>
                <dd><code class="hash expected">{format!("{} bytes", grouped(*expected))}</code></dd>
                <dt>"downloaded"</dt>
                <dd><code class="hash actual">{format!("{} bytes", grouped(*actual))}</code></dd>
            </dl>
        }),
        _ => None,
    };
    view! {
        <section class="card error" role="alert">
            <h1 class="error-title">{title}</h1>
            <p class="error-body">{body}</p>
            {hashes}
            <Artifacts s=s />
            <div class="actions">
                <button class="retry" on:click=retry autofocus>"Retry"</button>
            </div>
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

/// Uploads every file of a drop or of the file picker.
fn upload_list(list: &web_sys::FileList) {
    for i in 0..list.length() {
        if let Some(file) = list.get(i) {
            if let Err(e) = upload_file(file) {
                web_sys::console::warn_1(&format!("alpenglow: upload: {e}").into());
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn upload_file(file: web_sys::File) -> Result<(), String> {
    crate::files::upload(file.name(), file.into())
}

#[cfg(not(target_arch = "wasm32"))]
fn upload_file(_file: web_sys::File) -> Result<(), String> {
    Err("the machine runs only in a browser".into())
}

/// Opens the file picker of the terminal's upload input.
fn pick_files() {
    let input = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("upload-input"));
    if let Some(input) = input.and_then(|i| i.dyn_into::<web_sys::HtmlElement>().ok()) {
        input.click();
    }
}

/// The latest upload or download over the terminal: what, where, how far.
#[component]
fn TransferLine(s: AppState) -> impl IntoView {
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

fn compiled(s: AppState, k: KernelSummary) -> impl IntoView {
    let term_ref = NodeRef::<leptos::html::Div>::new();
    // Nested elements fire enter/leave pairs of their own: count to know when the drag left.
    let drag_depth = RwSignal::new(0u32);
    let lines = status_lines(s, &k);
    term_ref.on_load(move |el| {
        let mut console = Console::open(el.into(), look(s));
        // What the person types or pastes goes to the guest's console, and so does the
        // terminal's size whenever it is refitted.
        console.on_input(|bytes| {
            if let Err(e) = machine::input(bytes) {
                web_sys::console::warn_1(&format!("alpenglow: input not delivered: {e}").into());
            }
        });
        console.on_resize(machine::resize);
        for l in &lines {
            console.host_status(l);
        }
        for n in s.notices.get_untracked() {
            console.host_status(&n);
        }
        console.fit();
        // The terminal is what the page is for: it gets the keyboard, unless the person is
        // busy in the settings.
        if !s.panel.get_untracked() {
            console.focus();
        }
        CONSOLE.with(|c| *c.borrow_mut() = Some(console));
        // The terminal is open: nothing the kernel prints can be lost. Boot.
        if s.run.with_untracked(|r| *r == RunState::NotStarted) {
            machine::boot(s, false);
        }
    });
    let memory = format!("{} ({})", k.memory_name, describe_memory(&k.memory));
    let ram = move || {
        s.booted.with(|b| match b {
            Some(b) => format!(
                "{} · command line \"{}\"",
                human_bytes(b.ram_bytes),
                b.bootargs
            ),
            None => "not booted".to_string(),
        })
    };
    view! {
        <section class="card compact" aria-live="polite">
            <div class="compiled-head">
                <span class="ok-dot" aria-hidden="true" data-run=move || s.run.with(RunState::name)></span>
                <h1>{move || headline(&s.run.get())}</h1>
                <span class="spacer"></span>
                <Show when=move || s.run.with(|r| *r != RunState::NotStarted)>
                    <button
                        class="reboot"
                        on:click=move |_| {
                            machine::boot(s, true);
                            // Back to the terminal, not left on the button.
                            with_console(|c| c.focus());
                        }
                    >
                        "Reboot"
                    </button>
                </Show>
            </div>
            <dl class="facts">
                <dt>"vmlinux.wasm"</dt>
                <dd class="kernel-counts">
                    {format!("{} imports · {} exports", k.imports, k.exports)}
                </dd>
                <dt>"kernel memory"</dt>
                <dd class="kernel-memory">{memory}</dd>
                <dt>"RAM"</dt>
                <dd class="kernel-ram">{ram}</dd>
                <dt>"machine"</dt>
                <dd class="machine-state">{move || machine_line(&s.run.get())}</dd>
                <dt>"workers"</dt>
                <dd class="machine-stats">
                    {move || {
                        let st = s.stats.get();
                        format!(
                            "{} started: {} running the kernel, {} warm · {} timer interrupts",
                            st.workers,
                            st.busy,
                            st.workers - st.busy.min(st.workers),
                            st.timer_irqs,
                        )
                    }}
                </dd>
            </dl>
            {move || s.run.with(|r| match r {
                RunState::Crashed(c) => Some(crash_panel(c.clone())),
                _ => None,
            })}
            <Artifacts s=s />
        </section>
        <section
            class="terminal-wrap"
            aria-label="Terminal"
            data-drop=move || (drag_depth.get() > 0).then_some("")
            on:click=move |_| with_console(|c| c.focus())
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
                    upload_list(&list);
                }
                with_console(|c| c.focus());
            }
        >
            <div class="terminal" id="terminal" node_ref=term_ref></div>
            <div class="drop-hint" aria-hidden="true">
                <span>"Drop files to upload them to "<code>"/root"</code></span>
            </div>
            <input
                type="file"
                multiple
                id="upload-input"
                class="upload-input"
                tabindex="-1"
                aria-label="Files to upload to /root"
                on:change=move |ev| {
                    let input: web_sys::HtmlInputElement = event_target(&ev);
                    if let Some(list) = input.files() {
                        upload_list(&list);
                    }
                    // The same file can be picked again.
                    input.set_value("");
                    with_console(|c| c.focus());
                }
            />
            <TransferLine s=s />
        </section>
    }
}

fn headline(r: &RunState) -> &'static str {
    match r {
        RunState::NotStarted => "Kernel compiled",
        RunState::Booting => "Booting",
        RunState::Running => "Running",
        RunState::Halted(_) => "Halted",
        RunState::Crashed(_) => "Crashed",
    }
}

fn machine_line(r: &RunState) -> String {
    match r {
        RunState::NotStarted => "starting the workers".into(),
        RunState::Booting => "start_kernel is running in the boot worker".into(),
        RunState::Running => "start_kernel is done; the kernel runs its tasks".into(),
        RunState::Halted(how) => format!("the kernel {how}"),
        RunState::Crashed(_) => "stopped on an error (below); its workers are terminated".into(),
    }
}

fn crash_panel(c: Crash) -> impl IntoView {
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

/// The host's honest account of where it is, written into the terminal. None of this is kernel
/// output and none of it may look like it.
fn status_lines(s: AppState, k: &KernelSummary) -> Vec<String> {
    let linux = s.manifest.with_untracked(|m| {
        m.as_ref()
            .and_then(|m| m.components.get("linux"))
            .map(|c| c.version.clone())
    });
    let initramfs = MACHINE.with(|m| m.borrow().as_ref().map(|m| m.initramfs.len() as u64));
    let mut lines = vec![
        match linux {
            Some(v) => format!("the kernel is compiled: vmlinux.wasm, Linux {v}"),
            None => "the kernel is compiled: vmlinux.wasm".to_string(),
        },
        format!(
            "{} imports, {} exports; sha256 verified",
            k.imports, k.exports
        ),
        format!(
            "kernel memory {}: {}",
            k.memory_name,
            describe_memory(&k.memory)
        ),
    ];
    if let Some(n) = initramfs {
        lines.push(format!("initramfs.cpio.gz verified ({})", human_bytes(n)));
    }
    lines
}

#[component]
fn StatusBar(s: AppState) -> impl IntoView {
    let versions = move || {
        s.manifest.with(|m| match m {
            Some(m) => versions(m),
            None => vec![("page".to_string(), env!("CARGO_PKG_VERSION").to_string())],
        })
    };
    view! {
        <footer class="statusbar" aria-label="Status">
            <span
                class="phase"
                title=move || s.run.with(|r| match r {
                    RunState::Crashed(c) => c.message.clone(),
                    _ => String::new(),
                })
            >
                {move || {
                    // How the machine stopped, in words ("powered off"), else the state.
                    match (s.state_name(), s.run.get()) {
                        ("halted", RunState::Halted(how)) => how,
                        (name, _) => name.to_string(),
                    }
                }}
            </span>
            <MachineFacts s=s />
            <ul class="versions">
                {move || {
                    versions()
                        .into_iter()
                        .map(|(k, v)| {
                            let component = k.clone();
                            view! {
                                <li data-component=component>
                                    <span class="k">{k}</span>
                                    " "
                                    <span class="v">{v}</span>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
            <span class="spacer"></span>
            <span
                class="offline"
                data-offline=move || s.offline.with(Offline::name)
                title=move || s.offline.with(|o| match o {
                    Offline::Unavailable(why) => format!("Not available offline: {why}"),
                    _ => String::new(),
                })
            >
                {move || s.offline.with(|o| match o {
                    Offline::Ready => "available offline",
                    Offline::Saving => "saving for offline use…",
                    _ => "",
                })}
            </span>
            <Show when=move || s.run.with(|r| matches!(r, RunState::Booting | RunState::Running))>
                <button
                    class="upload-toggle"
                    title="Upload files to /root in the guest (or drop them on the terminal)"
                    on:click=move |_| pick_files()
                >
                    "Upload"
                </button>
            </Show>
            <button
                class="settings-toggle"
                aria-expanded=move || s.panel.get().to_string()
                aria-controls="settings"
                on:click=move |_| {
                    let open = !s.panel.get_untracked();
                    s.panel.set(open);
                    if !open {
                        with_console(|c| c.focus());
                    }
                }
            >
                "Settings"
            </button>
            <button
                class="about-toggle"
                aria-expanded=move || s.about.get().to_string()
                aria-controls="about"
                on:click=move |_| s.about.update(|a| *a = !*a)
            >
                "About"
            </button>
        </footer>
        <Show when=move || s.panel.get()>
            <SettingsPanel s=s />
        </Show>
        <Show when=move || s.about.get()>
            <aside class="about" id="about" aria-label="About Alpenglow">
                <p>
                    "Alpenglow runs the Linux kernel itself, compiled to WebAssembly (arch/wasm), "
                    "in this tab: no emulator. Every kernel task is a Web Worker with its own "
                    "instance of vmlinux.wasm over one shared memory; this page only relays the "
                    "console, timers and new tasks, and never blocks."
                </p>
            </aside>
        </Show>
    }
}

/// The machine at a glance: uptime, memory, CPUs, workers.
#[component]
fn MachineFacts(s: AppState) -> impl IntoView {
    move || {
        s.booted.get().map(|b| {
            let up = uptime_text(b.uptime_s(s.now.get()));
            let workers = s.stats.with(|st| st.workers);
            view! {
                <ul class="machine-facts" aria-label="Machine">
                    <li class="uptime" title="Time since the machine booted">
                        <span class="k">"up"</span> " " <span class="v">{up}</span>
                    </li>
                    <li class="ram" title="Kernel memory">
                        <span class="k">"memory"</span> " " <span class="v">{human_bytes(b.ram_bytes)}</span>
                    </li>
                    <li class="cpus">
                        <span class="k">"CPUs"</span> " " <span class="v">{b.cpus}</span>
                    </li>
                    <li class="workers" title="Web Workers of this machine: one per kernel task, plus warm spares">
                        <span class="k">"workers"</span> " " <span class="v">{workers}</span>
                    </li>
                </ul>
            }
        })
    }
}

fn versions(m: &Manifest) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let name = if m.name.is_empty() {
        "alpenglow"
    } else {
        &m.name
    };
    if !m.version.is_empty() {
        out.push((name.to_string(), m.version.clone()));
    }
    // Kernel first, then the userland, then anything else the manifest lists.
    let order = ["linux", "musl", "busybox"];
    for k in order {
        if let Some(c) = m.components.get(k) {
            out.push((k.to_string(), c.version.clone()));
        }
    }
    for (k, c) in &m.components {
        if !order.contains(&k.as_str()) {
            out.push((k.clone(), c.version.clone()));
        }
    }
    out
}
