//! The worker's top level: calls the kernel (or a program) and catches what unwinds to here.
//! Every call into wasm starts here, with the worker's state not lent out.

use crate::memories::{instantiate_program, Program};
use crate::outbox::{post, trap};
use crate::state;
use js_sys::{Function, Object, Reflect, WebAssembly};
use kernel_host::browser::protocol::FromWorker;
use kernel_host::browser::{js_error_message, js_error_stack};
use kernel_host::{abi, user};
use wasm_bindgen::{JsCast, JsValue};

/// What the top level calls next.
pub enum Entry {
    Boot(u32),
    Task(u32),
    /// A program's `_start(p)`.
    Start(Function, u32),
    /// A new thread: `__wasm_thread_start(sp)` with the instance's stack pointer at `sp`.
    Thread(Program, u32),
    /// `wasm_user_trap(kind)`.
    UserTrap(i32),
    /// Nothing until the main thread answers `WantUser`.
    Wait,
}

/// What the next step is after `user_enter(handle, p)` reached the top level: the program's
/// `_start`, instantiated in this worker if it was not yet; for `user_enter_thread(handle,
/// sp)` (`thread`), its `__wasm_thread_start`.
pub fn enter(handle: u32, p: u32, thread: bool) -> Entry {
    let Some(syscall) = state::with(|w| w.kernel.as_ref().map(|k| k.syscall.clone())) else {
        trap("user_enter before vmlinux was instantiated".into(), None);
        return Entry::UserTrap(0);
    };
    let Some((module, memory, instance)) = state::with(|w| w.memories.get(handle)) else {
        state::with(|w| w.waiting = Some((handle, p, thread)));
        post(&FromWorker::WantUser { handle });
        return Entry::Wait;
    };
    let program = match instance {
        Some(program) => Ok(program),
        // Outside `state::with`: instantiating may run the program's start function.
        None => instantiate_program(&module, &memory, &syscall)
            .inspect(|program| state::with(|w| w.memories.entered(handle, program))),
    };
    match program {
        Ok(program) if thread => Entry::Thread(program, p),
        Ok(program) => Entry::Start(program.start, p),
        Err(e) => {
            web_sys::console::error_1(&format!("kernel worker: user_enter({handle}): {e}").into());
            Entry::UserTrap(0)
        }
    }
}

/// Runs `entry` and what follows it: catches what unwinds to the top level — `user_enter`
/// (call `_start`), `task_exit` (the worker is done), a trap in user code
/// (`wasm_user_trap(0)`), `_start` returning (`wasm_user_trap(1)`). Returns when the worker
/// has nothing more to run, or waits for a process memory from the main thread.
pub fn drive(mut entry: Entry) {
    loop {
        let kernel = state::with(|w| {
            w.kernel.as_ref().map(|k| {
                (
                    k.boot.clone(),
                    k.task_entry.clone(),
                    k.user_trap.clone(),
                    k.tag.clone(),
                )
            })
        });
        let Some((boot, task_entry, user_trap, tag)) = kernel else {
            trap("told to run before vmlinux was instantiated".into(), None);
            return;
        };
        let (name, result) = match &entry {
            Entry::Boot(a) => (abi::BOOT_EXPORT, boot.call1(&JsValue::NULL, &(*a).into())),
            Entry::Task(t) => (
                abi::TASK_ENTRY_EXPORT,
                task_entry.call1(&JsValue::NULL, &(*t).into()),
            ),
            Entry::Start(start, p) => ("_start", start.call1(&JsValue::NULL, &(*p).into())),
            Entry::Thread(program, sp) => {
                program.stack_pointer.set_value(&(*sp as i32).into());
                let result = match &program.thread_start {
                    Some(f) => f.call1(&JsValue::NULL, &(*sp).into()),
                    // Reported as a trap in user code: the program cannot run threads.
                    None => Err(WebAssembly::RuntimeError::new(&format!(
                        "the program does not export {}",
                        user::THREAD_START_EXPORT
                    ))
                    .into()),
                };
                (user::THREAD_START_EXPORT, result)
            }
            Entry::Wait => return,
            Entry::UserTrap(kind) => (
                abi::USER_TRAP_EXPORT,
                user_trap.call1(&JsValue::NULL, &(*kind).into()),
            ),
        };
        let in_user = matches!(entry, Entry::Start(..) | Entry::Thread(..));
        let e = match result {
            Ok(_) if in_user => {
                entry = Entry::UserTrap(1);
                continue;
            }
            Ok(_) => {
                trap(format!("{name} returned"), None);
                return;
            }
            Err(e) => e,
        };
        if state::with(|w| w.shutting_down) {
            return;
        }
        let ours = Reflect::get(&e, &"tag".into()).is_ok_and(|t| Object::is(&t, &tag));
        if ours {
            let field = |k: &str| {
                Reflect::get(&e, &k.into())
                    .ok()
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0) as u32
            };
            match Reflect::get(&e, &"kind".into())
                .ok()
                .and_then(|k| k.as_string())
                .as_deref()
            {
                Some(kind @ ("enter" | "thread")) => {
                    entry = enter(field("handle"), field("p"), kind == "thread");
                    continue;
                }
                _ => {
                    state::with(|w| {
                        w.memories.forget_all();
                        w.has_task = false;
                    });
                    post(&FromWorker::TaskExit);
                    return;
                }
            }
        }
        if in_user && e.is_instance_of::<WebAssembly::RuntimeError>() {
            web_sys::console::warn_1(
                &format!(
                    "kernel worker: user program trapped: {}\n{}",
                    js_error_message(&e),
                    js_error_stack(&e).unwrap_or_default()
                )
                .into(),
            );
            entry = Entry::UserTrap(0);
            continue;
        }
        trap(js_error_message(&e), js_error_stack(&e));
        return;
    }
}
