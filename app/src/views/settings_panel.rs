//! The settings panel: kernel memory, CPUs, command line and disk size (next boot), the
//! network relay, theme and font size (at once). Save keeps them in localStorage; "Reboot now" saves and boots with them.
//! Under them, the disk's figures and tools (`disk_tools.rs`).

use super::disk_tools::DiskTools;
use crate::app::AppHandle;
use crate::format::human_bytes;
use crate::settings::{self, CmdlineMode, Field, Settings, Theme};
use crate::state::{AppState, DiskState, Phase};
use leptos::prelude::*;

/// What the form holds: text as typed, checked on Save.
#[derive(Clone, Debug, PartialEq)]
struct Draft {
    memory: String,
    /// Empty: automatic.
    cpus: String,
    mode: CmdlineMode,
    cmdline: String,
    disk_size: String,
    relay: String,
    theme: Theme,
    font_size: String,
    /// `?disk=none` and `?preempt=off` stay for the visit: the form has no field for them.
    ram_only: bool,
    no_preempt: bool,
}

impl Draft {
    fn of(s: &Settings) -> Draft {
        Draft {
            memory: s.memory_mib.to_string(),
            cpus: s.cpus.map(|n| n.to_string()).unwrap_or_default(),
            mode: s.cmdline_mode,
            cmdline: s.cmdline.clone(),
            disk_size: s.disk_gib.to_string(),
            relay: s.relay.clone(),
            theme: s.theme,
            font_size: s.font_size.to_string(),
            ram_only: s.ram_only,
            no_preempt: s.no_preempt,
        }
    }

    /// The settings, or every problem by field.
    fn check(&self) -> Result<Settings, Vec<(Field, String)>> {
        let mut errors = Vec::new();
        let memory =
            settings::parse_memory(&self.memory).map_err(|e| errors.push((Field::Memory, e)));
        let cpus = match self.cpus.trim() {
            "" => Ok(None),
            t => settings::parse_cpus(t),
        }
        .map_err(|e| errors.push((Field::Cpus, e)));
        let disk = settings::parse_disk_size(&self.disk_size)
            .map_err(|e| errors.push((Field::DiskSize, e)));
        let font = settings::parse_font_size(&self.font_size)
            .map_err(|e| errors.push((Field::FontSize, e)));
        let s = Settings {
            memory_mib: memory.unwrap_or_default(),
            cpus: cpus.unwrap_or_default(),
            cmdline_mode: self.mode,
            cmdline: self.cmdline.trim().to_string(),
            disk_gib: disk.unwrap_or_default(),
            relay: self.relay.trim().to_string(),
            theme: self.theme,
            font_size: font.unwrap_or_default(),
            ram_only: self.ram_only,
            no_preempt: self.no_preempt,
        };
        for (field, e) in s.problems() {
            if matches!(field, Field::Cmdline | Field::Relay) {
                errors.push((field, e));
            }
        }
        if errors.is_empty() {
            Ok(s)
        } else {
            Err(errors)
        }
    }
}

/// Whether the machine that runs now was booted with other memory, CPUs or command line, or
/// has a disk smaller than the setting (it grows at the next boot).
fn reboot_pending(s: AppState) -> bool {
    let cores = settings::hardware_concurrency();
    let want = s
        .settings
        .with(|c| (c.ram_bytes(), c.cpu_count(cores), c.bootargs()));
    let booted_otherwise = s.booted.with(|b| {
        b.as_ref()
            .is_some_and(|b| (b.ram_bytes, b.cpus, b.bootargs.clone()) != want)
    });
    booted_otherwise || disk_grows(s)
}

/// Whether the setting asks for a larger disk than the one open now.
fn disk_grows(s: AppState) -> bool {
    let want = s.settings.with(|c| c.disk_bytes());
    s.disk
        .with(|d| matches!(d, DiskState::Open { bytes, .. } if *bytes < want))
}

#[component]
pub fn SettingsPanel(app: AppHandle) -> impl IntoView {
    let s = app.s;
    let draft = RwSignal::new(Draft::of(&s.settings.get_untracked()));
    let errors = RwSignal::new(Vec::<(Field, String)>::new());
    let saved_note = RwSignal::new(None::<String>);
    let from_url = s.url_fields.get_value();
    let auto_cpus = settings::default_cpus(settings::hardware_concurrency());
    // The panel opens with the keyboard in its first field.
    let first = NodeRef::<leptos::html::Input>::new();
    first.on_load(|el| {
        let _ = el.focus();
    });

    let error_of = move |f: Field| {
        move || {
            errors.with(|e| {
                e.iter()
                    .find(|(g, _)| *g == f)
                    .map(|(_, m)| view! { <p class="field-error" role="alert">{m.clone()}</p> })
            })
        }
    };
    let url_tag = move |f: Field| {
        from_url.contains(&f).then(|| {
            view! {
                <span class="from-url" title=format!("Set by the URL parameter {} for this visit", f.param())>
                    "from the URL"
                </span>
            }
        })
    };

    // Checks the form; on success saves and applies. Returns whether it did.
    let save = move || -> bool {
        match draft.with_untracked(Draft::check) {
            Err(e) => {
                errors.set(e);
                saved_note.set(None);
                false
            }
            Ok(new) => {
                errors.set(Vec::new());
                let note = match settings::save(&new) {
                    Ok(()) => "Saved. Memory, CPUs, command line and disk size apply at the next \
                               boot."
                        .to_string(),
                    Err(e) => format!("Applied to this tab only: {e}."),
                };
                saved_note.set(Some(note));
                s.settings.set(new);
                true
            }
        }
    };
    let compiled = move || s.phase.with(|p| matches!(p, Phase::Compiled(_)));
    let reboot_now = move |_| {
        if save() {
            s.panel.set(false);
            app.boot(true);
            app.focus_terminal();
        }
    };
    let reset = move |_| {
        draft.set(Draft::of(&Settings::default()));
        errors.set(Vec::new());
        saved_note.set(None);
    };
    let preview = move || {
        draft.with(|d| {
            let s = Settings {
                cmdline_mode: d.mode,
                cmdline: d.cmdline.clone(),
                ..Settings::default()
            };
            s.bootargs()
        })
    };

    view! {
        <aside
            class="settings"
            id="settings"
            aria-label="Settings"
            on:keydown=move |ev| {
                // Escape closes the panel and gives the terminal the keyboard back.
                if ev.key() == "Escape" {
                    s.panel.set(false);
                    app.focus_terminal();
                }
            }
        >
            <form
                class="settings-form"
                on:submit=move |ev| {
                    ev.prevent_default();
                    save();
                }
            >
                <h2>"Settings"</h2>
                <div class="field">
                    <label for="set-memory">"Kernel memory"</label>
                    {url_tag(Field::Memory)}
                    <div class="with-unit">
                        <input
                            node_ref=first
                            id="set-memory"
                            name="memory"
                            type="text"
                            inputmode="numeric"
                            autocomplete="off"
                            prop:value=move || draft.with(|d| d.memory.clone())
                            on:input=move |ev| draft.update(|d| d.memory = event_target_value(&ev))
                        />
                        <span class="unit">"MiB"</span>
                    </div>
                    <p class="hint">
                        {format!(
                            "{} to {} MiB. Applies at the next boot.",
                            settings::MEMORY_MIB.start(),
                            settings::MEMORY_MIB.end()
                        )}
                    </p>
                    {error_of(Field::Memory)}
                </div>
                <div class="field">
                    <label for="set-cpus">"CPUs"</label>
                    {url_tag(Field::Cpus)}
                    <div class="with-unit">
                        <input
                            id="set-cpus"
                            name="cpus"
                            type="text"
                            inputmode="numeric"
                            autocomplete="off"
                            placeholder=format!("auto ({auto_cpus})")
                            prop:value=move || draft.with(|d| d.cpus.clone())
                            on:input=move |ev| draft.update(|d| d.cpus = event_target_value(&ev))
                        />
                    </div>
                    <p class="hint">
                        {format!(
                            "{} to {}. Empty: automatic, {auto_cpus} here (at most {} for now: \
                             with more, a shell that starts many programs back to back can run \
                             out of memory in Chromium). Applies at the next boot.",
                            settings::CPUS.start(),
                            settings::CPUS.end(),
                            settings::DEFAULT_CPUS_MAX
                        )}
                    </p>
                    {error_of(Field::Cpus)}
                </div>
                <div class="field">
                    <label for="set-cmdline">"Kernel command line"</label>
                    {url_tag(Field::Cmdline)}
                    <div class="with-unit">
                        <select
                            id="set-cmdline-mode"
                            aria-label="How the text is used"
                            on:change=move |ev| {
                                let mode = match event_target_value(&ev).as_str() {
                                    "replace" => CmdlineMode::Replace,
                                    _ => CmdlineMode::Append,
                                };
                                draft.update(|d| d.mode = mode);
                            }
                        >
                            <option value="append" selected=move || draft.with(|d| d.mode == CmdlineMode::Append)>
                                "append to the default"
                            </option>
                            <option value="replace" selected=move || draft.with(|d| d.mode == CmdlineMode::Replace)>
                                "replace it"
                            </option>
                        </select>
                        <input
                            id="set-cmdline"
                            name="cmdline"
                            type="text"
                            spellcheck="false"
                            autocomplete="off"
                            placeholder=move || draft.with(|d| match d.mode {
                                CmdlineMode::Append => "e.g. quiet",
                                CmdlineMode::Replace => "e.g. console=hvc0 loglevel=4",
                            })
                            prop:value=move || draft.with(|d| d.cmdline.clone())
                            on:input=move |ev| draft.update(|d| d.cmdline = event_target_value(&ev))
                        />
                    </div>
                    <p class="hint">"The kernel gets: " <code class="cmdline-preview">{preview}</code></p>
                    {error_of(Field::Cmdline)}
                </div>
                <div class="field">
                    <label for="set-relay">"Network relay"</label>
                    {url_tag(Field::Relay)}
                    <input
                        id="set-relay"
                        name="relay"
                        type="text"
                        autocomplete="off"
                        spellcheck="false"
                        placeholder="none (ws://127.0.0.1:8081/ with cargo x relay)"
                        prop:value=move || draft.with(|d| d.relay.clone())
                        on:input=move |ev| draft.update(|d| d.relay = event_target_value(&ev))
                    />
                    <p class="hint">
                        "A Wisp relay gives the guest real TCP to any port (ssh, git, TLS end to end). "
                        "Without one, only HTTP to port 80 works, through the page's fetch()."
                    </p>
                    {error_of(Field::Relay)}
                </div>
                <div class="field two">
                    <div>
                        <label for="set-theme">"Terminal theme"</label>
                        {url_tag(Field::Theme)}
                        <select
                            id="set-theme"
                            on:change=move |ev| {
                                let theme = settings::parse_theme(&event_target_value(&ev)).unwrap_or_default();
                                draft.update(|d| d.theme = theme);
                            }
                        >
                            <option value="dark" selected=move || draft.with(|d| d.theme == Theme::Dark)>"dark"</option>
                            <option value="light" selected=move || draft.with(|d| d.theme == Theme::Light)>"light"</option>
                        </select>
                    </div>
                    <div>
                        <label for="set-font-size">"Font size"</label>
                        {url_tag(Field::FontSize)}
                        <div class="with-unit">
                            <input
                                id="set-font-size"
                                name="font-size"
                                type="text"
                                inputmode="numeric"
                                autocomplete="off"
                                prop:value=move || draft.with(|d| d.font_size.clone())
                                on:input=move |ev| draft.update(|d| d.font_size = event_target_value(&ev))
                            />
                            <span class="unit">"px"</span>
                        </div>
                    </div>
                </div>
                {error_of(Field::FontSize)}
                <div class="field">
                    <label for="set-disk-size">"Disk size"</label>
                    {url_tag(Field::DiskSize)}
                    <div class="with-unit">
                        <input
                            id="set-disk-size"
                            name="disk-size"
                            type="text"
                            inputmode="numeric"
                            autocomplete="off"
                            prop:value=move || draft.with(|d| d.disk_size.clone())
                            on:input=move |ev| draft.update(|d| d.disk_size = event_target_value(&ev))
                        />
                        <span class="unit">"GiB"</span>
                    </div>
                    <p class="hint disk-size-hint">
                        {move || {
                            let now = s.disk.with(|d| match d {
                                DiskState::Open { bytes, .. } => Some(*bytes),
                                _ => None,
                            });
                            let range = format!(
                                "{} to {} GiB. The disk grows to it at the next boot (its file \
                                 system too); it never shrinks.",
                                settings::DISK_GIB.start(),
                                settings::DISK_GIB.end()
                            );
                            match now {
                                Some(b) => format!("{range} Now {}.", human_bytes(b)),
                                None => range,
                            }
                        }}
                    </p>
                    {error_of(Field::DiskSize)}
                </div>
                <DiskTools app=app />
                {move || s.notices.with(|n| (!n.is_empty()).then(|| view! {
                    <ul class="notices">
                        {n.iter().map(|m| view! { <li>{m.clone()}</li> }).collect_view()}
                    </ul>
                }))}
                {move || saved_note.get().map(|n| view! { <p class="saved-note" role="status">{n}</p> })}
                <div class="settings-actions">
                    <button type="button" class="reset" on:click=reset>"Defaults"</button>
                    <span class="spacer"></span>
                    <button type="submit" class="save">"Save"</button>
                    <Show when=compiled>
                        <button type="button" class="reboot-now" on:click=reboot_now>"Reboot now"</button>
                    </Show>
                </div>
                <Show when=move || reboot_pending(s)>
                    <p class="pending-note muted small">
                        "The running machine was booted with other memory, CPUs, command line or \
                         disk size; the saved ones apply at the next boot."
                    </p>
                </Show>
            </form>
        </aside>
    }
}
