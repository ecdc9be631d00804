//! The worker's state, in one place. The imports are called from wasm with no context, so
//! the state lives in one thread-local; `with` lends it for one step at a time.
//!
//! Invariant: nothing calls into the kernel or a program while the state is lent out, since
//! the imports that run then need it too (a nested `with` panics). The types held here come
//! from files that cannot reach `with` (they do not import this file).

use crate::devices::Devices;
use crate::memories::Memories;
use js_sys::{Function, SharedArrayBuffer, WebAssembly};
use kernel_host::browser::devices::SharedCells;
use std::cell::RefCell;
use wasm_bindgen::JsValue;

/// The instantiated kernel: its entry points, the tag of the host-private exceptions its
/// `user_enter` and `task_exit` imports throw to the top level, and its pending-IRQ word.
pub struct Kernel {
    pub boot: Function,
    pub task_entry: Function,
    /// `wasm_syscall` itself: every program instance's `linux.syscall`.
    pub syscall: JsValue,
    pub user_trap: Function,
    pub tag: JsValue,
    /// The value of `wasm_irq_pending`: the address of the CPUs' pending-IRQ words, CPU 0's
    /// first (the devices' interrupts go there).
    pub irq_word: u32,
}

#[derive(Default)]
pub struct Worker {
    /// vmlinux, once `Init` instantiated it.
    pub kernel: Option<Kernel>,
    /// The kernel memory and the device cells from `Init`, for `Run(Devices)`.
    pub shared: Option<(WebAssembly::Memory, SharedArrayBuffer)>,
    /// Set once the kernel asked to shut down: the trap that follows is expected.
    pub shutting_down: bool,
    pub memories: Memories,
    /// A `user_enter(handle, p)` (or `user_enter_thread`, true) waiting for the main thread
    /// to send the handle.
    pub waiting: Option<(u32, u32, bool)>,
    /// The device role, from `Run(Devices)`.
    pub devices: Option<Devices>,
    /// The pool's cells (`kernel_host::pool`, after the handle cells), from `Init`.
    pub pool: Option<SharedCells>,
    /// This worker's index in the pool (`ToWorker::Pool`), once it joined.
    pub member: Option<u32>,
    /// Tasks start through the pool's mailboxes (`Init`'s `direct_starts`, `crate::starts`).
    pub direct_starts: bool,
    /// Whether a task runs here (from its start to `task_exit`).
    pub has_task: bool,
}

thread_local! {
    static WORKER: RefCell<Worker> = RefCell::new(Worker::default());
}

/// Runs `f` on the worker's state. `f` must not call into wasm (see the invariant above).
pub fn with<R>(f: impl FnOnce(&mut Worker) -> R) -> R {
    WORKER.with(|w| f(&mut w.borrow_mut()))
}
