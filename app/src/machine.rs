//! Starting, watching and rebooting the kernel machine (`kernel_host::browser::Machine`):
//! its console goes to the terminal, its state to `AppState::run`.

use crate::{AppState, RunState};
use leptos::prelude::Set;

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;
    use crate::boot_screen::{console_size, with_console};
    use crate::kernel::{self, human_bytes};
    use crate::{embed, files, now_ms, Booted, Crash, MachineStats, MACHINE};
    use kernel_host::abi::Shutdown;
    use kernel_host::browser::{Event, Machine, MachineOptions};
    use leptos::prelude::{GetUntracked, Update, WithUntracked};
    use std::cell::RefCell;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    thread_local! {
        static RUNNING: RefCell<Option<Machine>> = const { RefCell::new(None) };
        static STATS_TIMER: RefCell<Option<Closure<dyn FnMut()>>> = const { RefCell::new(None) };
    }

    fn refresh_stats(s: AppState) {
        let stats = RUNNING.with(|r| {
            r.borrow().as_ref().map(|m| {
                let st = m.stats();
                MachineStats {
                    workers: st.workers,
                    busy: st.busy,
                    timer_irqs: st.timer_irqs,
                }
            })
        });
        if let Some(stats) = stats {
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

    /// The machine stopped: its uptime stops too.
    fn stopped(s: AppState) {
        s.booted.update(|b| {
            if let Some(b) = b.as_mut().filter(|b| b.stopped_ms.is_none()) {
                b.stopped_ms = Some(now_ms());
            }
        });
    }

    /// Refreshes the counters twice a second (once per page).
    fn watch_stats(s: AppState) {
        STATS_TIMER.with(|t| {
            if t.borrow().is_some() {
                return;
            }
            let tick = Closure::<dyn FnMut()>::new(move || refresh_stats(s));
            let set = web_sys::window().map(|w| {
                w.set_interval_with_callback_and_timeout_and_arguments_0(
                    tick.as_ref().unchecked_ref(),
                    500,
                )
            });
            if let Some(Ok(_)) = set {
                *t.borrow_mut() = Some(tick);
            }
        });
    }

    fn crashed(s: AppState, message: String) {
        with_console(|c| c.host_status(&format!("the machine did not start: {message}")));
        stopped(s);
        s.run.set(RunState::Crashed(Crash {
            message,
            detail: None,
            last_lines: Vec::new(),
        }));
    }

    /// Boots the compiled kernel on a fresh machine, stopping the previous one first.
    pub fn boot(s: AppState, reboot: bool) {
        if let Some(old) = RUNNING.with(|r| r.borrow_mut().take()) {
            old.stop();
        }
        let settings = s.settings.get_untracked();
        let started = MACHINE.with(|m| {
            let m = m.borrow();
            let loaded = m.as_ref().ok_or("the kernel is not loaded")?;
            let k = &loaded.kernel;
            if let Some((_, why)) = settings.problems().into_iter().next() {
                return Err(format!("{why}; change it in Settings"));
            }
            // A fresh memory for every boot: the kernel's data is initialised once per memory.
            let memory = kernel::create_memory(&k.summary.memory, settings.ram_bytes())?;
            let options = MachineOptions {
                bootargs: settings.bootargs(),
                ..MachineOptions::default()
            };
            let ram_bytes = memory
                .buffer()
                .unchecked_into::<js_sys::SharedArrayBuffer>()
                .byte_length();
            let line = format!(
                "booting vmlinux.wasm: {} of RAM, command line \"{}\"",
                human_bytes(ram_bytes.into()),
                options.bootargs
            );
            let booted = Booted {
                ram_bytes: ram_bytes.into(),
                bootargs: options.bootargs.clone(),
                cpus: 1,
                at_ms: now_ms(),
                stopped_ms: None,
            };
            let machine = Machine::boot(
                &k.module,
                &memory,
                k.summary.image_end(),
                &loaded.initramfs,
                options,
                move |ev| on_event(s, ev),
            )?;
            Ok::<_, String>((machine, line, booted))
        });
        match started {
            Ok((machine, line, booted)) => {
                with_console(|c| {
                    if reboot {
                        c.reset();
                    }
                    c.host_status(&line);
                });
                // The console knows the terminal's size before the kernel first asks.
                if let Some((cols, rows)) = console_size() {
                    machine.resize(cols, rows);
                }
                RUNNING.with(|r| *r.borrow_mut() = Some(machine));
                files::reset(s);
                s.now.set(booted.at_ms);
                s.booted.set(Some(booted));
                s.stats.set(MachineStats::default());
                s.run.set(RunState::Booting);
                watch_stats(s);
            }
            Err(e) => crashed(s, e),
        }
    }

    /// Bytes typed into the terminal (or sent by an embedding page) for the guest's console
    /// (hvc0). The machine keeps them, in order, until the kernel's driver takes them.
    pub fn input(bytes: &[u8]) -> Result<(), String> {
        RUNNING.with(|r| match r.borrow().as_ref() {
            Some(m) => {
                m.input(bytes);
                Ok(())
            }
            None => Err("no machine is running".to_string()),
        })
    }

    /// Bytes for the guest's file helper on hvc1 (`files.rs`).
    pub fn files_send(bytes: &[u8]) -> Result<(), String> {
        RUNNING.with(|r| match r.borrow().as_ref() {
            Some(m) => {
                m.files_send(bytes);
                Ok(())
            }
            None => Err("no machine is running".to_string()),
        })
    }

    /// Files bytes the guest has not taken yet.
    pub fn files_in_flight() -> u64 {
        RUNNING.with(|r| r.borrow().as_ref().map_or(0, |m| m.files_in_flight()))
    }

    /// The terminal's size in characters, for the guest's console (`stty size`, SIGWINCH).
    pub fn resize(cols: u16, rows: u16) {
        RUNNING.with(|r| {
            if let Some(m) = r.borrow().as_ref() {
                m.resize(cols, rows);
            }
        });
    }

    fn on_event(s: AppState, ev: Event) {
        match ev {
            Event::Console(bytes) => {
                with_console(|c| c.write_bytes(&bytes));
                embed::output(&bytes);
            }
            Event::Files(bytes) => files::from_guest(&bytes),
            Event::FilesTaken => files::taken(),
            Event::Running => s.run.set(RunState::Running),
            Event::Shutdown(Shutdown::Restart) => {
                with_console(|c| c.host_status("the kernel asked to restart"));
                // Not from inside the machine's own callback: from a fresh task.
                leptos::task::spawn_local(async move { boot(s, true) });
            }
            Event::Shutdown(kind) => {
                with_console(|c| c.host_status(&format!("the kernel {}", kind.describe())));
                stopped(s);
                s.run.set(RunState::Halted(kind.describe().to_string()));
            }
            Event::Crashed {
                message,
                detail,
                last_lines,
            } => {
                with_console(|c| c.host_status(&format!("the machine stopped: {message}")));
                stopped(s);
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
}

#[cfg(target_arch = "wasm32")]
pub use imp::{boot, files_in_flight, files_send, input, resize};

/// Bytes typed into the terminal (or sent by an embedding page) for the guest's console.
#[cfg(not(target_arch = "wasm32"))]
pub fn input(_bytes: &[u8]) -> Result<(), String> {
    Err("the machine runs only in a browser".into())
}

#[cfg(not(target_arch = "wasm32"))]
pub fn resize(_cols: u16, _rows: u16) {}

/// The machine runs only in a browser; natively (unit tests) there is nothing to start.
#[cfg(not(target_arch = "wasm32"))]
pub fn boot(s: AppState, _reboot: bool) {
    s.run.set(RunState::Crashed(crate::Crash {
        message: "the machine runs only in a browser".into(),
        detail: None,
        last_lines: Vec::new(),
    }));
}
