//! A worker of the machine's pool, and the process memories every worker can be given.

use crate::browser::protocol::Role;
use js_sys::WebAssembly;
use wasm_bindgen::closure::Closure;
use web_sys::{ErrorEvent, MessageEvent, Worker};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// The worker script is loading (its `Init` is already sent, and waits in the loader).
    Loading,
    /// Loaded (`Loaded`): the worker instantiates vmlinux.
    Instantiating,
    /// Instantiated, waiting for a role.
    Idle,
    /// Running its role, until its task calls `task_exit` (then it is idle again or ended).
    Running,
}

/// A process memory registered by `user_create` (docs/abi.md, "Process memories and the
/// page's address space"): every worker can get it from here.
pub(super) struct UserMemory {
    pub(super) module: WebAssembly::Module,
    pub(super) memory: WebAssembly::Memory,
}

pub(super) struct Slot {
    pub(super) id: u32,
    /// Its index in the pool (`crate::pool`): the lowest index not taken when it started.
    pub(super) member: u32,
    pub(super) worker: Worker,
    pub(super) phase: Phase,
    /// When it was started (`Date.now()`), to notice a spare the browser never starts.
    pub(super) started_ms: f64,
    pub(super) role: Option<Role>,
    pub(super) _on_message: Closure<dyn FnMut(MessageEvent)>,
    pub(super) _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

impl Slot {
    /// A spare worker the browser has not finished starting.
    pub(super) fn is_starting_spare(&self) -> bool {
        self.role.is_none() && self.phase != Phase::Idle
    }

    /// Whether the worker may run user programs: all but the device worker.
    pub(super) fn runs_programs(&self) -> bool {
        self.role != Some(Role::Devices)
    }

    /// Ends the worker; no message or error of it is heard after.
    pub(super) fn end(&self) {
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.worker.terminate();
    }
}
