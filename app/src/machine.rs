//! Starting, watching and rebooting the kernel machine (`kernel_host::browser::Machine`):
//! its console goes to the terminal, its state to `AppState::run`.

use crate::{AppState, RunState};
use leptos::prelude::Set;

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;
    use crate::boot_screen::with_console;
    use crate::kernel::{self, human_bytes};
    use crate::{Crash, MachineStats, MACHINE};
    use kernel_host::abi::Shutdown;
    use kernel_host::browser::{Event, Machine, MachineOptions};
    use leptos::prelude::GetUntracked;
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
        let started = MACHINE.with(|m| {
            let mut m = m.borrow_mut();
            let loaded = m.as_mut().ok_or("the kernel is not loaded")?;
            let k = &mut loaded.kernel;
            // The memory made at compile time serves the first boot; every later boot gets a
            // fresh one (the kernel's data is initialised once per memory).
            let memory = match (reboot, k.memory.take()) {
                (false, Some(memory)) => memory,
                _ => kernel::create_memory(&k.summary.memory)?,
            };
            let options = MachineOptions::default();
            let line = format!(
                "booting vmlinux.wasm: {} of RAM, command line \"{}\"",
                human_bytes(k.summary.ram_bytes),
                options.bootargs
            );
            let machine = Machine::boot(
                &k.module,
                &memory,
                k.summary.image_end(),
                &loaded.initramfs,
                options,
                move |ev| on_event(s, ev),
            )?;
            Ok::<_, String>((machine, line))
        });
        match started {
            Ok((machine, line)) => {
                with_console(|c| {
                    if reboot {
                        c.reset();
                    }
                    c.host_status(&line);
                });
                RUNNING.with(|r| *r.borrow_mut() = Some(machine));
                s.stats.set(MachineStats::default());
                s.run.set(RunState::Booting);
                watch_stats(s);
            }
            Err(e) => crashed(s, e),
        }
    }

    fn on_event(s: AppState, ev: Event) {
        match ev {
            Event::Console(bytes) => with_console(|c| c.write_bytes(&bytes)),
            Event::Running => s.run.set(RunState::Running),
            Event::Shutdown(Shutdown::Restart) => {
                with_console(|c| c.host_status("the kernel asked to restart"));
                // Not from inside the machine's own callback: from a fresh task.
                leptos::task::spawn_local(async move { boot(s, true) });
            }
            Event::Shutdown(kind) => {
                with_console(|c| c.host_status(&format!("the kernel {}", kind.describe())));
                s.run.set(RunState::Halted(kind.describe().to_string()));
            }
            Event::Crashed {
                message,
                detail,
                last_lines,
            } => {
                with_console(|c| c.host_status(&format!("the machine stopped: {message}")));
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
pub use imp::boot;

/// The machine runs only in a browser; natively (unit tests) there is nothing to start.
#[cfg(not(target_arch = "wasm32"))]
pub fn boot(s: AppState, _reboot: bool) {
    s.run.set(RunState::Crashed(crate::Crash {
        message: "the machine runs only in a browser".into(),
        detail: None,
        last_lines: Vec::new(),
    }));
}
