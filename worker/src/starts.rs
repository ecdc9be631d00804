//! A pool member takes its next task from the pool's start ring (`kernel_host::pool`), not
//! from the main thread: the kernel's `spawn_task` in another worker puts the task there and
//! wakes one member. Members wait with `Atomics.waitAsync`, so their message loop stays free
//! for process memories and compiled programs meanwhile.

use crate::outbox::{post, trap};
use crate::state;
use crate::toplevel::{drive, Entry};
use js_sys::{Function, Reflect};
use kernel_host::browser::js_error_message;
use kernel_host::browser::protocol::FromWorker;
use kernel_host::pool;
use kernel_host::virtio::Cells;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// `ToWorker::Pool`: runs the next task put into the start ring, now or once one is.
pub fn serve() {
    let Some(cells) = state::with(|w| w.pool.clone()) else {
        trap("Pool before Init".into(), None);
        return;
    };
    loop {
        let signal = cells.load(pool::START_SIGNAL);
        if let Some(task) = pool::take_start(&cells) {
            if pool::starts_pending(&cells) {
                // The wake-up for those may have gone to this worker.
                pool::signal_start(&cells);
                cells.notify_one(pool::START_SIGNAL);
            }
            post(&FromWorker::Started { task });
            state::with(|w| w.has_task = true);
            drive(Entry::Task(task));
            return;
        }
        let woken = match cells.wait_async(pool::START_SIGNAL, signal) {
            Ok(woken) => woken,
            Err(e) => {
                trap(format!("waiting for a task: {e}"), None);
                return;
            }
        };
        if let Some(woken) = woken {
            // A closure that frees itself once called: a member waits once per idle spell.
            let again = Closure::once_into_js(|_: JsValue| serve());
            let then =
                Reflect::get(&woken, &"then".into()).map(JsValue::unchecked_into::<Function>);
            if let Err(e) = then.and_then(|then| then.call1(&woken, &again)) {
                trap(
                    format!("waiting for a task: {}", js_error_message(&e)),
                    None,
                );
            }
            return;
        }
        // The signal moved since it was read: look again.
    }
}
