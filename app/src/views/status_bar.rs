//! The status bar: the page's state, the machine at a glance, the component versions, whether
//! the page works offline, the Machine button (the machine card, folded here while the machine
//! runs), Reboot, and the Upload, Packages, Settings and About buttons (with their panels).

use super::about::About;
use super::packages_panel::PackagesPanel;
use super::settings_panel::SettingsPanel;
use super::terminal_pane::pick_files;
use crate::app::AppHandle;
use crate::artifacts::Manifest;
use crate::format::{human_bytes, uptime_text};
use crate::offline::Offline;
use crate::state::{AppState, DiskState, Phase, RunState};
use leptos::prelude::*;

#[component]
pub fn StatusBar(app: AppHandle) -> impl IntoView {
    let s = app.s;
    let versions = move || {
        s.manifest.with(|m| match m {
            Some(m) => versions(m),
            None => vec![("page".to_string(), env!("CARGO_PKG_VERSION").to_string())],
        })
    };
    let compiled = move || s.phase.with(|p| matches!(p, Phase::Compiled(_)));
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
            <span
                class="disk"
                data-disk=move || s.disk.with(disk_state_name)
                title=move || s.disk.with(disk_title)
            >
                {move || s.disk.with(disk_text)}
            </span>
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
            <Show when=compiled>
                <button
                    class="machine-toggle"
                    title="The machine: its state, the kernel, workers, network counters and the verified artifacts"
                    aria-expanded=move || s.card_open().to_string()
                    aria-controls="machine"
                    on:click=move |_| {
                        let open = !untrack(|| s.card_open());
                        s.set_card_open(open);
                        if !open {
                            app.focus_terminal();
                        }
                    }
                >
                    "Machine"
                </button>
            </Show>
            <Show when=move || compiled() && s.run.with(|r| *r != RunState::NotStarted)>
                <button
                    class="reboot"
                    title="Stop this machine and boot a new one"
                    on:click=move |_| {
                        app.boot(true);
                        // Back to the terminal, not left on the button.
                        app.focus_terminal();
                    }
                >
                    "Reboot"
                </button>
            </Show>
            <Show when=move || s.run.with(|r| matches!(r, RunState::Booting | RunState::Running))>
                <button
                    class="upload-toggle"
                    title="Upload files to /root in the guest (or drop them on the terminal)"
                    on:click=move |_| pick_files()
                >
                    "Upload"
                </button>
                <button
                    class="packages-toggle"
                    title="Install and remove packages with the guest's apk"
                    aria-expanded=move || s.packages_open.get().to_string()
                    aria-controls="packages"
                    on:click=move |_| s.packages_open.update(|o| *o = !*o)
                >
                    "Packages"
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
                        app.focus_terminal();
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
            <SettingsPanel app=app />
        </Show>
        <Show when=move || s.about.get()>
            <About />
        </Show>
        <Show when=move || s.packages_open.get()>
            <PackagesPanel app=app />
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
                    <li class="cpus" title="The kernel's CPUs: this many tasks run at once, each in its own Web Worker">
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

fn disk_state_name(d: &DiskState) -> &'static str {
    match d {
        DiskState::Opening => "opening",
        DiskState::Open { .. } => "open",
        DiskState::Off => "off",
        DiskState::Refused(_) => "refused",
        DiskState::Busy(_) => "busy",
    }
}

/// The disk in a few words: the status bar stays one line, the reason is in the title (and
/// on the terminal, and in Settings → Disk).
fn disk_text(d: &DiskState) -> String {
    match d {
        DiskState::Opening => "disk …".into(),
        DiskState::Open { bytes, .. } => format!("disk {}", human_bytes(*bytes)),
        DiskState::Off => "RAM only".into(),
        DiskState::Refused(why) if why.contains("in use by another tab") => {
            "disk in use by another tab".into()
        }
        DiskState::Refused(_) => "disk refused: RAM only".into(),
        DiskState::Busy(what) => format!("disk: {what}…"),
    }
}

fn disk_title(d: &DiskState) -> String {
    match d {
        DiskState::Opening => "The machine is opening its disk".into(),
        DiskState::Open { fs: Some(fs), .. } => format!(
            "Files in /root, /home, /etc, /usr, /var and /opt are kept on this disk: {} used \
             of {} (the file system's superblock, as ext4 last wrote it)",
            human_bytes(fs.used as u64),
            human_bytes(fs.bytes as u64)
        ),
        DiskState::Open { .. } => "A new disk: the machine makes its file system".into(),
        DiskState::Off => "?disk=none: files live in memory only this visit".into(),
        DiskState::Refused(why) => format!("No disk this time: {why}. Files live in memory only."),
        DiskState::Busy(what) => format!("The machine is stopped: {what} the disk"),
    }
}

/// The manifest's name and version, then its components: kernel, userland, the rest.
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
