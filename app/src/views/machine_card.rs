//! The machine card once the kernel is compiled: its state (booting, running, halted,
//! crashed), the kernel's and the machine's facts, the crash if there was one, and the
//! verified artifacts. While the machine starts or runs it is folded into the status bar,
//! whose Machine button opens it as a panel over the terminal; once the machine stopped it
//! unfolds by itself, above the terminal (`AppState::card_open`). Reboot is in the status bar.

use super::boot_card::Artifacts;
use super::crash::crash_panel;
use crate::app::AppHandle;
use crate::format::human_bytes;
use crate::kernel::{describe_memory, KernelSummary};
use crate::state::RunState;
use leptos::prelude::*;

#[component]
pub fn MachineCard(app: AppHandle, k: KernelSummary) -> impl IntoView {
    let s = app.s;
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
    // Opened by the person while the machine runs, the panel takes the keyboard (so that
    // Escape folds it); unfolded by a stop, it leaves the keyboard where it is.
    let card = NodeRef::<leptos::html::Section>::new();
    card.on_load(move |el| {
        if !s.stopped_untracked() {
            let _ = el.focus();
        }
    });
    view! {
        <section
            node_ref=card
            class="card compact machine-card"
            id="machine"
            aria-label="Machine"
            aria-live="polite"
            tabindex="-1"
            // Over the terminal while the machine runs, in the page once it stopped.
            data-panel=move || (!s.stopped()).then_some("")
            on:keydown=move |ev| {
                // Escape folds the card and gives the terminal the keyboard back.
                if ev.key() == "Escape" {
                    s.set_card_open(false);
                    app.focus_terminal();
                }
            }
        >
            <div class="compiled-head">
                <span class="ok-dot" aria-hidden="true" data-run=move || s.run.with(RunState::name)></span>
                <h1>{move || headline(&s.run.get())}</h1>
            </div>
            <dl class="facts">
                // One row for the kernel module and its memory, so that the card (and the
                // terminal under it) keeps its height with the network row.
                <dt>"vmlinux.wasm"</dt>
                <dd>
                    <span class="kernel-counts">
                        {format!("{} imports · {} exports", k.imports, k.exports)}
                    </span>
                    " · memory "
                    <span class="kernel-memory">{memory}</span>
                </dd>
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
                <dt>"network"</dt>
                <dd class="machine-network">{move || network_line(&s.stats.get().net)}</dd>
            </dl>
            {move || s.run.with(|r| match r {
                RunState::Crashed(c) => Some(crash_panel(c.clone())),
                _ => None,
            })}
            <Artifacts s=s />
        </section>
    }
}

fn network_line(n: &kernel_host::net::NetCounters) -> String {
    let mut line = format!(
        "eth0: {} frames in · {} out · {} dropped · {} HTTP requests ({} reset)",
        n.frames_in, n.frames_out, n.drops, n.requests, n.resets
    );
    if n.relayed > 0 {
        line += &format!(" · {} relayed ({} failed)", n.relayed, n.relay_failed);
    }
    line
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
