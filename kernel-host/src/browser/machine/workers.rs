//! The machine's worker pool: starting workers, giving them roles, keeping spares warm,
//! and noticing when the browser refuses one more (docs/abi.md, "How many tasks").

use super::slot::{Phase, Slot, UserMemory};
use super::{ctx, Inner, State};
use crate::browser::protocol::{self, Role, ToWorker};
use crate::pool;
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

/// Spares still starting with no worker started for this long are held back by the browser.
const SPARE_START_MS: f64 = 10_000.0;
/// How often spares still starting are looked at.
const SPARE_CHECK_MS: i32 = 1_000;
/// A spare whose script has not loaded after this long, while other workers became ready
/// meanwhile, is stuck: it is ended and another started. Seen in Firefox on a busy machine:
/// one or two of the boot's 26 workers waited a minute for their script while the rest
/// loaded in under 2 s, and the boot's `fork`s failed with EAGAIN meanwhile.
const SPARE_STUCK_MS: f64 = 4_000.0;

impl Inner {
    pub(super) fn spawn(
        inner: &Rc<Inner>,
        st: &mut State,
        role: Option<Role>,
    ) -> Result<(), String> {
        let id = st.next_id;
        let member = (0..pool::MEMBERS)
            .find(|m| st.slots.iter().all(|s| s.member != *m))
            .ok_or_else(|| format!("more than {} kernel workers", pool::MEMBERS))?;
        st.next_id += 1;
        let opts = WorkerOptions::new();
        opts.set_type(WorkerType::Classic);
        opts.set_name(&match role {
            Some(Role::Boot { .. }) => "alpenglow boot".to_string(),
            Some(Role::Devices) => "alpenglow devices".to_string(),
            _ => format!("alpenglow task worker {id}"),
        });
        let worker =
            Worker::new_with_options(&inner.options.worker_url, &opts).map_err(ctx(&format!(
                "cannot start a kernel worker ({})",
                inner.options.worker_url
            )))?;

        let weak: Weak<Inner> = Rc::downgrade(inner);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            if let Some(inner) = weak.upgrade() {
                Inner::message(&inner, id, ev.data());
            }
        });
        let weak: Weak<Inner> = Rc::downgrade(inner);
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |ev: ErrorEvent| {
            ev.prevent_default();
            if let Some(inner) = weak.upgrade() {
                let message = match ev.message() {
                    m if m.is_empty() => "the worker failed to load or run".to_string(),
                    m => m,
                };
                let at = match ev.filename() {
                    f if f.is_empty() => None,
                    f => Some(format!("at {f}:{}:{}", ev.lineno(), ev.colno())),
                };
                let mut st = inner.state.borrow_mut();
                if st.stopped || Inner::spare_failed(&inner, &mut st, id, &message) {
                    return;
                }
                let event = st.crash(format!("kernel worker {id}: {message}"), at);
                drop(st);
                inner.emit(vec![event]);
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        // The loader's first message: the compiled worker module, or null to fetch its own.
        let module = inner
            .options
            .worker_module
            .as_ref()
            .map_or(JsValue::NULL, |m| m.into());
        worker
            .post_message(&module)
            .map_err(ctx("cannot send a kernel worker its module"))?;
        let slot = Slot {
            id,
            member,
            worker,
            phase: Phase::Loading,
            started_ms: js_sys::Date::now(),
            role,
            _on_message: on_message,
            _on_error: on_error,
        };
        // `Init` and the compiled programs go now, not when the worker says `Loaded`: the
        // loader keeps them until the worker's own handler runs, so instantiating vmlinux
        // does not wait for a round trip through this (at boot, busy) thread.
        Inner::post(&slot, &inner.init_message())?;
        if slot.runs_programs() {
            for (file, module) in &st.programs {
                Inner::post(&slot, &Inner::program_message(file, module))?;
            }
        }
        st.slots.push(slot);
        Ok(())
    }

    pub(super) fn post(slot: &Slot, msg: &ToWorker) -> Result<(), String> {
        let value = protocol::encode(msg)?;
        slot.worker
            .post_message(&value)
            .map_err(ctx(&format!("cannot post to kernel worker {}", slot.id)))
    }

    /// Starts `role` on an idle worker. A task may be a user task whose process memory was
    /// made on another worker: the worker gets every live one first. The device worker gets
    /// what was sent for it before it ran.
    pub(super) fn run(
        slot: &mut Slot,
        role: Role,
        users: &BTreeMap<u32, UserMemory>,
        backlog: &mut Vec<ToWorker>,
    ) -> Result<(), String> {
        slot.role = Some(role);
        slot.phase = Phase::Running;
        if let Role::Task { .. } = role {
            for (handle, u) in users {
                Inner::post(slot, &Inner::user_message(*handle, u))?;
            }
        }
        Inner::post(slot, &ToWorker::Run(role))?;
        if role == Role::Devices {
            for msg in backlog.drain(..) {
                Inner::post(slot, &msg)?;
            }
        }
        Ok(())
    }

    /// An idle worker may be claimed for a task. With direct starts the worker counts itself
    /// as idle and waits for its task in the pool (`ToWorker::Pool`); else the main thread
    /// counts it and gives it its task.
    pub(super) fn join_pool(inner: &Inner, slot: &Slot) -> Result<(), String> {
        if inner.direct_starts {
            return Inner::post(
                slot,
                &ToWorker::Pool {
                    member: slot.member,
                },
            );
        }
        pool::add_ready(&inner.pool);
        inner.pool.notify(pool::WAIT_CELL);
        Ok(())
    }

    /// Sends `msg` to the device worker, or keeps it until that worker runs.
    pub(super) fn to_devices(st: &mut State, msg: ToWorker) -> Result<(), String> {
        match st
            .slots
            .iter()
            .find(|s| s.role == Some(Role::Devices) && s.phase == Phase::Running)
        {
            Some(slot) => Inner::post(slot, &msg),
            None => {
                st.device_backlog.push(msg);
                Ok(())
            }
        }
    }

    /// What a worker needs to instantiate vmlinux: the first message after its module.
    pub(super) fn init_message(&self) -> ToWorker {
        ToWorker::Init {
            module: self.module.clone(),
            memory: self.memory.clone(),
            clock: self.clock.clone(),
            epoch_ms: self.epoch_ms,
            wall_skew_ms: self.wall_skew_ms,
            handles: self.handles.clone(),
            devices: self.devices.clone(),
            preempt_points: self.options.preempt_points,
            direct_starts: self.direct_starts,
        }
    }

    pub(super) fn user_message(handle: u32, u: &UserMemory) -> ToWorker {
        ToWorker::User {
            handle,
            module: u.module.clone(),
            memory: u.memory.clone(),
        }
    }

    pub(super) fn program_message(
        file: &js_sys::SharedArrayBuffer,
        module: &js_sys::WebAssembly::Module,
    ) -> ToWorker {
        ToWorker::Program {
            file: file.clone(),
            module: module.clone(),
        }
    }

    /// A worker compiled a program file (`Compiled`): keep it, unless another worker compiled
    /// the same bytes first, and send it to every other worker that runs programs (each got
    /// `Init` when it was started).
    pub(super) fn compiled(
        st: &mut State,
        from: u32,
        file: js_sys::SharedArrayBuffer,
        module: js_sys::WebAssembly::Module,
    ) -> Result<(), String> {
        let bytes = js_sys::Uint8Array::new(&file).to_vec();
        let known = st
            .programs
            .iter()
            .any(|(f, _)| protocol::same_file(&js_sys::Uint8Array::new(f), &bytes));
        if known {
            return Ok(());
        }
        let msg = Inner::program_message(&file, &module);
        crate::user::remember(&mut st.programs, (file, module));
        for slot in st
            .slots
            .iter()
            .filter(|s| s.id != from && s.runs_programs())
        {
            Inner::post(slot, &msg)?;
        }
        Ok(())
    }

    /// Gives `role` to a warm worker, or to one still starting, or to a new one; then tops
    /// the pool up again.
    pub(super) fn assign(inner: &Rc<Inner>, st: &mut State, role: Role) -> Result<(), String> {
        if let Some(slot) = st
            .slots
            .iter_mut()
            .find(|s| s.role.is_none() && s.phase == Phase::Idle)
        {
            Inner::run(slot, role, &st.users, &mut st.device_backlog)?;
        } else if let Some(slot) = st.slots.iter_mut().find(|s| s.role.is_none()) {
            slot.role = Some(role);
        } else {
            Inner::spawn(inner, st, Some(role))?;
        }
        Inner::top_up(inner, st)
    }

    /// Starts spare workers until `spare_workers` have no role (idle, claimed or starting) —
    /// unless the browser refused the last one. A claimed worker counts: its task comes soon
    /// (`Started` or `SpawnTask`), and starting workers for nothing costs every fork a worker start.
    pub(super) fn top_up(inner: &Rc<Inner>, st: &mut State) -> Result<(), String> {
        let have = st.slots.iter().filter(|s| s.role.is_none()).count();
        Inner::start_spares(inner, st, inner.options.spare_workers.saturating_sub(have))
    }

    /// A claim found no idle worker (`WorkerWanted`): start one unless one is starting.
    pub(super) fn want_worker(inner: &Rc<Inner>, st: &mut State) -> Result<(), String> {
        let starting = st.slots.iter().any(Slot::is_starting_spare);
        Inner::start_spares(inner, st, usize::from(!starting))
    }

    pub(super) fn start_spares(inner: &Rc<Inner>, st: &mut State, n: usize) -> Result<(), String> {
        if n == 0 || st.stopped || pool::is_exhausted(&inner.pool) {
            return Ok(());
        }
        if st.slots.len() + n > pool::MEMBERS as usize {
            // Past what any browser gives a page: as if it had refused one.
            Inner::exhausted(inner, true);
            return Ok(());
        }
        for _ in 0..n {
            Inner::spawn(inner, st, None)?;
        }
        if st.spare_timer.is_none() {
            st.spare_timer =
                Inner::reschedule(&inner.on_spare_check, None, Some(SPARE_STUCK_MS as i32))?;
        }
        Ok(())
    }

    /// A worker that failed before it had a role is the browser refusing one more (the usual
    /// cause: no address space for its wasm memory). The pool is exhausted: a new task gets
    /// EAGAIN until a task ends. Returns false for a worker with a role (the machine stops).
    pub(super) fn spare_failed(inner: &Rc<Inner>, st: &mut State, id: u32, message: &str) -> bool {
        let Some(i) = st
            .slots
            .iter()
            .position(|s| s.id == id && s.is_starting_spare())
        else {
            return false;
        };
        st.slots.remove(i).end();
        web_sys::console::warn_1(
            &format!(
                "alpenglow: no worker for new tasks ({} workers live): {message}",
                st.slots.len()
            )
            .into(),
        );
        Inner::exhausted(inner, true);
        true
    }

    /// Says whether the browser refuses more workers, and wakes tasks waiting for one.
    pub(super) fn exhausted(inner: &Inner, exhausted: bool) {
        pool::set_exhausted(&inner.pool, exhausted);
        inner.pool.notify(pool::WAIT_CELL);
    }

    /// A spare still starting after `SPARE_START_MS`, with no other worker started meanwhile,
    /// is one the browser holds back (Firefox queues workers past its per-site limit): treat
    /// the pool as exhausted until it starts. Spares that start one by one are only slow (a
    /// busy machine starting the boot's workers together): the pool waits for them.
    pub(super) fn spare_check(inner: &Rc<Inner>) {
        let mut st = inner.state.borrow_mut();
        st.spare_timer = None;
        if st.stopped {
            return;
        }
        if let Err(e) = Inner::check_spares(inner, &mut st) {
            let event = st.crash(e, None);
            drop(st);
            inner.emit(vec![event]);
        }
    }

    /// Replaces the spares stuck loading, takes the pool as exhausted when no worker became
    /// ready for `SPARE_START_MS` while one was starting, and looks again in
    /// `SPARE_CHECK_MS` while any spare is starting.
    fn check_spares(inner: &Rc<Inner>, st: &mut State) -> Result<(), String> {
        Inner::replace_stuck(inner, st)?;
        let Some(oldest) = st
            .slots
            .iter()
            .filter(|s| s.is_starting_spare())
            .map(|s| s.started_ms)
            .reduce(f64::min)
        else {
            return Ok(());
        };
        if js_sys::Date::now() - oldest.max(st.last_ready_ms) >= SPARE_START_MS {
            if !pool::is_exhausted(&inner.pool) {
                web_sys::console::warn_1(
                    &format!(
                        "alpenglow: a new worker has not started in {} s ({} workers live)",
                        SPARE_START_MS / 1000.0,
                        st.slots.len()
                    )
                    .into(),
                );
            }
            Inner::exhausted(inner, true);
        }
        st.spare_timer = Inner::reschedule(&inner.on_spare_check, None, Some(SPARE_CHECK_MS))?;
        Ok(())
    }

    /// Ends each spare stuck loading its script (`SPARE_STUCK_MS`) and starts another.
    fn replace_stuck(inner: &Rc<Inner>, st: &mut State) -> Result<(), String> {
        let now = js_sys::Date::now();
        let last_ready = st.last_ready_ms;
        let stuck = |s: &Slot| {
            s.role.is_none()
                && s.phase == Phase::Loading
                && now - s.started_ms >= SPARE_STUCK_MS
                && last_ready > s.started_ms
        };
        while let Some(i) = st.slots.iter().position(stuck) {
            let slot = st.slots.remove(i);
            slot.end();
            web_sys::console::warn_1(
                &format!(
                    "alpenglow: kernel worker {} did not load in {} s while others did: \
                     starting another",
                    slot.id,
                    (now - slot.started_ms) / 1000.0
                )
                .into(),
            );
            Inner::spawn(inner, st, None)?;
        }
        Ok(())
    }

    /// The answer for `handle` (its memory, or `NoUser`) to every worker that asked for it while
    /// it was in flight (`State::wanted`).
    pub(super) fn answer_wanted(st: &mut State, handle: u32, msg: &ToWorker) -> Result<(), String> {
        for (id, _) in st.wanted.extract_if(.., |w| w.1 == handle) {
            if let Some(s) = st.slots.iter().find(|s| s.id == id) {
                Inner::post(s, msg)?;
            }
        }
        Ok(())
    }

    /// A task ended or a process memory was let go: a worker the browser refused before may
    /// fit now.
    pub(super) fn freed(inner: &Rc<Inner>, st: &mut State) -> Result<(), String> {
        if pool::is_exhausted(&inner.pool) {
            Inner::exhausted(inner, false);
            Inner::top_up(inner, st)?;
        }
        Ok(())
    }
}
