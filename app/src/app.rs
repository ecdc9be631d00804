//! The page's controller. `App::start` (called by `main` as the page mounts) creates the one
//! owner of each concern, wires them together and starts loading; the views get the returned
//! `AppHandle` and act only through it.
//!
//! Owners: the terminal owns the console (`terminal.rs`), `Machine` the compiled kernel and
//! the running machine (`machine.rs`), `Files` the files session (`files.rs`), `Link` the
//! embedding page's channel (`embed.rs`). None of them knows the controller: the machine
//! reports to the `on_event` it is booted with, the link acts through `embed::Host`, the
//! console's input goes where `open_terminal` wires it. The first boot is decided here, not
//! in a view: once the kernel is compiled and the terminal is open.

use crate::embed::{self, Host, Link};
use crate::files::Files;
use crate::machine::Machine;
use crate::packages::Packages;
use crate::ports::Ports;
use crate::settings;
use crate::state::{now_ms, AppState, Crash, DiskState, MachineStats, Phase, RunState};
use crate::terminal::{Look, Terminal};
use crate::{offline, startup};
use kernel_host::abi::Shutdown;
use kernel_host::browser::Event;
use leptos::prelude::*;
use std::cell::RefCell;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// The page's owners, for as long as the page lives.
pub struct App {
    s: AppState,
    terminal: &'static Terminal,
    machine: &'static Machine,
    files: &'static Files,
    packages: &'static Packages,
    link: &'static Link,
    ports: &'static Ports,
    /// Refreshes the machine's counters twice a second, once started.
    stats_timer: RefCell<Option<Closure<dyn FnMut()>>>,
}

/// The views' handle on the controller, with what they may ask of it. Leptos moves view
/// closures as if they could cross threads (`Send + Sync`), which the owners' `RefCell`s
/// cannot: the handle holds an index into the page's reactive arena instead, and is `Copy`.
#[derive(Clone, Copy)]
pub struct AppHandle {
    pub s: AppState,
    app: StoredValue<&'static App, LocalStorage>,
}

impl AppHandle {
    fn app(self) -> &'static App {
        self.app.get_value()
    }

    /// Boots a fresh machine (Reboot); `reboot` clears the terminal first.
    pub fn boot(self, reboot: bool) {
        self.app().boot(reboot)
    }

    /// Stops the machine, erases the disk and boots with a fresh one (Settings → Disk). The
    /// terminal says how it went; the machine boots again either way.
    pub fn erase_disk(self) {
        let app = self.app();
        app.machine.stop();
        app.stopped();
        app.s.disk.set(DiskState::Busy("erasing".into()));
        app.terminal.host_status("erasing the disk…");
        leptos::task::spawn_local(async move {
            let disk = kernel_host::browser::DiskOptions::default();
            match crate::disk::erase(&disk).await {
                Ok(()) => {
                    app.boot(true);
                    app.terminal
                        .host_status("the disk was erased: this boot makes a fresh one");
                }
                Err(e) => {
                    app.boot(false);
                    app.terminal
                        .host_status(&format!("the disk was not erased: {e}"));
                }
            }
        });
    }

    /// Settings → Disk → "Download disk image": stops the machine, copies the disk under its
    /// lock, boots again and hands the copy to the browser as a download.
    pub fn download_disk(self) {
        let app = self.app();
        let s = app.s;
        app.machine.stop();
        app.stopped();
        s.disk
            .set(DiskState::Busy("copying for the download".into()));
        s.disk_note.set(Some(Ok("Copying the disk…".into())));
        app.terminal
            .host_status("copying the disk for the download (the machine restarts)…");
        leptos::task::spawn_local(async move {
            let disk = kernel_host::browser::DiskOptions::default();
            let copied = crate::disk::copy_for_download(&disk).await;
            app.boot(true);
            match copied.and_then(|f| download(&f, "alpenglow-disk.img").map(|()| f.size())) {
                Ok(bytes) => {
                    let note = format!(
                        "alpenglow-disk.img ({}) is downloading: a copy of the disk as it was \
                         when the machine stopped",
                        crate::format::human_bytes(bytes as u64)
                    );
                    app.terminal.host_status(&note);
                    s.disk_note.set(Some(Ok(note)));
                }
                Err(e) => {
                    let note = format!("the disk image was not downloaded: {e}");
                    app.terminal.host_status(&note);
                    s.disk_note.set(Some(Err(note)));
                }
            }
        });
    }

    /// Settings → Disk → "Restore from image…": checks `image` first (a refusal changes
    /// nothing and says why), then stops the machine, writes the image as the disk under its
    /// lock and boots on it.
    pub fn restore_disk(self, image: web_sys::File) {
        let app = self.app();
        let s = app.s;
        let name = image.name();
        s.disk_note.set(Some(Ok(format!("Checking {name}…"))));
        leptos::task::spawn_local(async move {
            if let Err(why) = crate::disk::check(&image).await {
                let note = format!("{name} was not restored: {why}. The disk is unchanged.");
                app.terminal.host_status(&note);
                s.disk_note.set(Some(Err(note)));
                return;
            }
            app.machine.stop();
            app.stopped();
            s.disk.set(DiskState::Busy("restoring".into()));
            app.terminal
                .host_status(&format!("restoring the disk from {name}…"));
            let disk = kernel_host::browser::DiskOptions::default();
            match crate::disk::restore(&disk, image).await {
                Ok(()) => {
                    app.boot(true);
                    let note = format!("the disk was restored from {name}");
                    app.terminal.host_status(&note);
                    s.disk_note.set(Some(Ok(note)));
                }
                Err(e) => {
                    app.boot(false);
                    let note = format!("the disk was not restored ({e}); it is as it was");
                    app.terminal.host_status(&note);
                    s.disk_note.set(Some(Err(note)));
                }
            }
        });
    }

    /// Asks the running machine for the disk's figures (`DiskState::Open`'s `fs`).
    pub fn disk_usage(self) {
        self.app().machine.disk_usage()
    }

    /// Loads the kernel again (Retry).
    pub fn load(self) {
        self.app().load()
    }

    /// Gives the terminal the keyboard.
    pub fn focus_terminal(self) {
        self.app().terminal.focus()
    }

    /// The terminal view's element is on the page (see `App::open_terminal`).
    pub fn open_terminal(self, el: web_sys::HtmlElement) {
        self.app().open_terminal(el)
    }

    /// The Packages panel opened: read the repository's index and what is installed.
    pub fn refresh_packages(self) {
        self.app().packages.refresh(true)
    }

    /// Installs (or removes) package `name` with the guest's apk (the Packages panel).
    pub fn change_package(self, name: String, install: bool) {
        self.app().packages.change(name, install)
    }

    /// Files dropped on the terminal or picked: to the guest's /root.
    pub fn upload_files(self, list: &web_sys::FileList) {
        self.app().upload_files(list)
    }
}

/// Hands `file` to the browser as a download named `name`.
fn download(file: &web_sys::File, name: &str) -> Result<(), String> {
    let err = |e: JsValue| kernel_host::browser::js_error_message(&e);
    // Typed, so that no browser sniffs the content for another name.
    let blob = file
        .slice_with_f64_and_f64_and_content_type(0.0, file.size(), "application/octet-stream")
        .map_err(err)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(err)?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|_| "cannot make a link")?
        .unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    // The browser reads the file after the click; the URL goes with the page.
    Ok(())
}

/// The page lives as long as the tab, and so do its owners: they are never dropped, which
/// lets callbacks from JavaScript hold them.
fn keep<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

impl App {
    /// Reads the settings and the embedding config, creates the owners, starts listening to
    /// an embedding page and starts loading the kernel. Returns the views' handle.
    pub fn start() -> AppHandle {
        let query = settings::query_pairs();
        let pairs = || query.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let (saved, saved_problem) = settings::load();
        let (overrides, mut notices) = settings::Overrides::from_query(pairs());
        notices.extend(saved_problem);
        let embed_config = embed::config(pairs(), embed::page_origins().as_deref());
        notices.extend(embed_config.errors.iter().cloned());
        for n in &notices {
            web_sys::console::warn_1(&format!("alpenglow: {n}").into());
        }
        let s = AppState::new(
            overrides.apply(&saved),
            overrides.fields(),
            notices,
            embed_config.embed,
        );
        let machine = keep(Machine::new());
        let link = keep(Link::new(s));
        let files = keep(Files::new(s, machine, link));
        let app = keep(App {
            s,
            terminal: keep(Terminal::new()),
            machine,
            files,
            packages: keep(Packages::new(s, files)),
            link,
            ports: keep(Ports::new()),
            stats_timer: RefCell::new(None),
        });
        link.listen(embed_config, app);
        app.ports.listen(machine);

        // Theme and font size apply at once.
        Effect::new(move |_| {
            let look = app.look();
            app.terminal.with(|c| c.set_look(look));
        });
        // The relay applies at once, to the running machine (and each new one at its boot).
        Effect::new(move |last: Option<String>| {
            let relay = s.settings.with(|c| c.relay.trim().to_string());
            if last.as_ref().is_some_and(|l| *l != relay) {
                app.machine.set_relay(
                    s.settings
                        .with_untracked(|c| c.relay_url().map(str::to_string))
                        .as_deref(),
                );
            }
            relay
        });
        // The first boot: once the terminal is open, nothing the kernel prints can be lost.
        Effect::new(move |_| {
            let open = app.terminal.is_open();
            if open && s.run.with_untracked(|r| *r == RunState::NotStarted) {
                untrack(|| app.boot(false));
            }
        });

        let isolation = startup::isolation();
        leptos::task::spawn_local(async move {
            if startup::prepare(s, isolation).await {
                app.load();
            }
        });
        AppHandle {
            s,
            app: StoredValue::new_local(app),
        }
    }

    /// Starts (or, after a failure, restarts) loading everything from the manifest on.
    fn load(&'static self) {
        let s = self.s;
        s.phase.set(Phase::Loading);
        leptos::task::spawn_local(async move {
            match startup::load(s).await {
                Ok(loaded) => {
                    let summary = loaded.kernel.summary.clone();
                    self.machine.load(loaded);
                    s.run.set(RunState::NotStarted);
                    s.phase.set(Phase::Compiled(summary));
                    offline::save(s.offline).await;
                }
                Err(e) => {
                    web_sys::console::error_1(&e.to_string().into());
                    s.phase.set(Phase::Failed(e));
                }
            }
        });
    }

    /// How the terminal should look now.
    fn look(&self) -> Look {
        self.s.settings.with(|c| Look {
            theme: c.theme,
            font_size: c.font_size,
        })
    }

    /// The terminal view's element is on the page: opens the console there, its input and
    /// size going to the machine, with the host's account of where it is.
    fn open_terminal(&'static self, el: web_sys::HtmlElement) {
        let s = self.s;
        let lines = self.status_lines();
        self.terminal.open(el, self.look(), |console| {
            // What the person types or pastes goes to the guest's console, and so does the
            // terminal's size whenever it is refitted.
            console.on_input(move |bytes| {
                if let Err(e) = self.machine.input(bytes) {
                    web_sys::console::warn_1(
                        &format!("alpenglow: input not delivered: {e}").into(),
                    );
                }
            });
            console.on_resize(move |cols, rows| self.machine.resize(cols, rows));
            for l in &lines {
                console.host_status(l);
            }
            for n in s.notices.get_untracked() {
                console.host_status(&n);
            }
            console.fit();
            // The terminal is what the page is for: it gets the keyboard, unless the person
            // is busy in the settings.
            if !s.panel.get_untracked() {
                console.focus();
            }
        });
    }

    /// The host's honest account of where it is, written into the terminal. None of this is
    /// kernel output and none of it may look like it.
    fn status_lines(&self) -> Vec<String> {
        let s = self.s;
        let Some(k) = s.phase.with_untracked(|p| match p {
            Phase::Compiled(k) => Some(k.clone()),
            _ => None,
        }) else {
            return Vec::new();
        };
        let linux = s.manifest.with_untracked(|m| {
            m.as_ref()
                .and_then(|m| m.components.get("linux"))
                .map(|c| c.version.clone())
        });
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
                crate::kernel::describe_memory(&k.memory)
            ),
        ];
        if let Some(n) = self.machine.initramfs_len() {
            lines.push(format!(
                "initramfs.cpio.gz verified ({})",
                crate::format::human_bytes(n)
            ));
        }
        lines
    }

    /// Boots the compiled kernel on a fresh machine, stopping the previous one first;
    /// `reboot` clears the terminal first.
    fn boot(&'static self, reboot: bool) {
        // The old machine, if any, will not answer what it was asked.
        self.ports.abandon_all();
        let s = self.s;
        let settings = s.settings.get_untracked();
        match self.machine.boot(&settings, move |ev| self.on_event(ev)) {
            Ok(started) => {
                self.terminal.with(|c| {
                    if reboot {
                        c.reset();
                    }
                    c.host_status(&started.line);
                });
                // The console knows the terminal's size before the kernel first asks.
                if let Some((cols, rows)) = self.terminal.size() {
                    self.machine.resize(cols, rows);
                }
                if let Some(url) = settings.relay_url() {
                    self.machine.set_relay(Some(url));
                }
                self.files.reset();
                s.now.set(started.booted.at_ms);
                s.booted.set(Some(started.booted));
                s.stats.set(MachineStats::default());
                s.run.set(RunState::Booting);
                s.disk.set(if settings.ram_only {
                    DiskState::Off
                } else {
                    DiskState::Opening
                });
                self.watch_stats();
            }
            Err(message) => {
                self.terminal
                    .host_status(&format!("the machine did not start: {message}"));
                self.stopped();
                s.run.set(RunState::Crashed(Crash {
                    message,
                    detail: None,
                    last_lines: Vec::new(),
                }));
            }
        }
    }

    /// Uploads every file of a drop or of the file picker.
    fn upload_files(&'static self, list: &web_sys::FileList) {
        for i in 0..list.length() {
            if let Some(file) = list.get(i) {
                if let Err(e) = self.files.upload(file.name(), file.into()) {
                    web_sys::console::warn_1(&format!("alpenglow: upload: {e}").into());
                }
            }
        }
    }

    /// What the machine reports, routed to its owners.
    fn on_event(&'static self, ev: Event) {
        let s = self.s;
        match ev {
            Event::Console(bytes) => {
                self.terminal.with(|c| c.write_bytes(&bytes));
                self.link.output(&bytes);
            }
            Event::Files(bytes) => self.files.receive(&bytes),
            Event::FilesTaken => self.files.taken(),
            Event::Forwarded {
                id,
                status,
                reason,
                headers,
                body,
            } => self.ports.answer(id, status, &reason, &headers, &body),
            Event::Disk { bytes, problem, fs } => match problem {
                // A disk used all the same (e.g. one that could not grow).
                Some(note) if bytes > 0 => {
                    self.terminal.host_status(&format!("the disk: {note}"));
                    s.disk.set(DiskState::Open { bytes, fs });
                }
                Some(why) => {
                    self.terminal.host_status(&format!(
                        "no disk this time ({why}): files live in memory only"
                    ));
                    s.disk.set(DiskState::Refused(why));
                }
                None if bytes == 0 => s.disk.set(DiskState::Off),
                None => s.disk.set(DiskState::Open { bytes, fs }),
            },
            Event::DiskUsage(fs) => s.disk.update(|d| {
                if let DiskState::Open { fs: old, .. } = d {
                    *old = fs;
                }
            }),
            Event::Running => s.run.set(RunState::Running),
            Event::Shutdown(Shutdown::Restart) => {
                self.terminal.host_status("the kernel asked to restart");
                // Not from inside the machine's own callback: from a fresh task.
                leptos::task::spawn_local(async move { self.boot(true) });
            }
            Event::Shutdown(kind) => {
                self.terminal
                    .host_status(&format!("the kernel {}", kind.describe()));
                self.stopped();
                s.run.set(RunState::Halted(kind.describe().to_string()));
            }
            Event::Crashed {
                message,
                detail,
                last_lines,
            } => {
                self.terminal
                    .host_status(&format!("the machine stopped: {message}"));
                self.stopped();
                web_sys::console::error_1(
                    &format!(
                        "alpenglow: the machine stopped: {message}{}",
                        detail
                            .as_deref()
                            .map(|d| format!("\n{d}"))
                            .unwrap_or_default()
                    )
                    .into(),
                );
                s.run.set(RunState::Crashed(Crash {
                    message,
                    detail,
                    last_lines,
                }));
            }
        }
    }

    /// The machine stopped: its uptime stops too.
    fn stopped(&self) {
        self.ports.abandon_all();
        self.s.booted.update(|b| {
            if let Some(b) = b.as_mut().filter(|b| b.stopped_ms.is_none()) {
                b.stopped_ms = Some(now_ms());
            }
        });
    }

    fn refresh_stats(&self) {
        let s = self.s;
        if let Some(stats) = self.machine.stats() {
            if s.stats.get_untracked() != stats {
                s.stats.set(stats);
            }
        }
        // The uptime moves only while a machine runs.
        if s.booted
            .with_untracked(|b| b.as_ref().is_some_and(|b| b.stopped_ms.is_none()))
        {
            s.now.set(now_ms());
        }
    }

    /// Refreshes the counters twice a second (once per page).
    fn watch_stats(&'static self) {
        let mut timer = self.stats_timer.borrow_mut();
        if timer.is_some() {
            return;
        }
        let tick = Closure::<dyn FnMut()>::new(move || self.refresh_stats());
        let set = web_sys::window().map(|w| {
            w.set_interval_with_callback_and_timeout_and_arguments_0(
                tick.as_ref().unchecked_ref(),
                500,
            )
        });
        if let Some(Ok(_)) = set {
            *timer = Some(tick);
        }
    }
}

/// What an embedding page may ask, done as the page's own controls do it.
impl Host for App {
    fn type_text(&'static self, text: &str) -> Result<(), String> {
        self.machine.input(text.as_bytes())
    }

    fn upload(&'static self, name: String, blob: web_sys::Blob) -> Result<(), String> {
        self.files.upload(name, blob)
    }

    fn reboot(&'static self) {
        self.boot(true);
    }

    fn focus(&'static self) {
        self.terminal.focus();
    }
}
