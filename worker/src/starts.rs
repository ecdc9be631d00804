//! A pool member takes its next task from its mailbox in the pool's cells
//! (`kernel_host::pool`), not from the main thread: the kernel's `spawn_task` in another
//! worker gives the task to the idle member with the lowest index and wakes that member.
//! Members wait with `Atomics.waitAsync`, so their message loop stays free for process
//! memories and compiled programs meanwhile.

use crate::outbox::{post, trap};
use crate::state;
use crate::toplevel::{drive, Entry};
use js_sys::{Function, Reflect};
use kernel_host::browser::js_error_message;
use kernel_host::browser::protocol::FromWorker;
use kernel_host::pool;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// `ToWorker::Pool`: this worker is idle, as pool member `member`. It counts itself as idle
/// (which wakes the claims waiting for a worker), then runs the task it is given.
pub fn join(member: u32) {
    let Some(cells) = state::with(|w| {
        w.member = Some(member);
        w.pool.clone()
    }) else {
        trap("Pool before Init".into(), None);
        return;
    };
    if member >= pool::MEMBERS {
        trap(format!("pool member {member} is out of range"), None);
        return;
    }
    pool::join(&cells, member);
    cells.notify(pool::WAIT_CELL);
    serve();
}

/// Runs the task in this member's mailbox, now or once one is given.
fn serve() {
    let Some((cells, member)) = state::with(|w| w.pool.clone().zip(w.member)) else {
        trap("a pool member without its cells".into(), None);
        return;
    };
    loop {
        if let Some(task) = pool::take(&cells, member) {
            post(&FromWorker::Started { task });
            state::with(|w| w.has_task = true);
            drive(Entry::Task(task));
            return;
        }
        let woken = match cells.wait_async(pool::mailbox(member), 0) {
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
        // The mailbox was filled between the look and the wait: look again.
    }
}
