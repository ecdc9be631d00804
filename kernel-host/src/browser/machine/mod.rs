//! The machine on the main thread: puts the boot data into kernel memory, starts the boot
//! worker, keeps warm workers for new tasks, and turns the workers' requests into actions —
//! console bytes to the page, `spawn_task` to a pool worker, each CPU's `timer_set` to a
//! `setTimeout` that raises that CPU's timer interrupt, `shutdown` and traps to the page.
//!
//! Console input and terminal resizes (`input`, `resize`) go to the device worker, which
//! serves the virtio console's receive side; typed bytes wait there until the driver has
//! posted receive buffers. The files channel (hvc1) is the same: `files_send` bytes wait in
//! the device worker, which reports how many the guest has taken, so the page sends more only
//! as the guest reads (`files_in_flight`); what the guest writes there comes back as
//! `Event::Files`.
//!
//! The main thread never blocks: it only posts messages, sets timeouts and, to raise a timer
//! interrupt, does an atomic or and a notify on that CPU's pending-IRQ word.
//!
//! Split by concern: the worker pool is `workers.rs` (a pool worker `slot.rs`), the timeouts
//! `timers.rs`; this file holds the state, the public face and the message dispatch.

use super::devices::SharedCells;
use super::error::js_error_message;
use super::protocol::{self, DiskFs, FromWorker, Role, ToWorker};
use crate::abi::Shutdown;
use crate::boot::{self, BootRequest};
use crate::console::ConsoleLog;
use crate::in_order::InOrder;
use crate::{handles, pool, rtc, virtio};
use js_sys::{Reflect, SharedArrayBuffer, Uint8Array, WebAssembly};
use slot::{Phase, Slot, UserMemory};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

mod slot;
mod timers;
mod workers;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineOptions {
    pub bootargs: String,
    /// CPUs, 1 to `abi::MAX_CPUS` (`boot::plan` refuses others): one `cpu@i` node each in
    /// the device tree, one timer each, and each secondary CPU's idle task takes a worker of
    /// its own for as long as the machine runs.
    pub cpus: u32,
    /// Workers kept instantiated and idle, so a new task starts without a cold worker start.
    pub spare_workers: usize,
    /// Spare workers started with the machine: the boot makes about 20 kernel threads and
    /// processes in its first second, faster than workers start one after another (each
    /// creation then waited 100–150 ms for a worker), so they are started together up front.
    pub boot_workers: usize,
    /// Workers whose task ended are kept for the next tasks while fewer than this many are
    /// idle (their vmlinux instance is reused: `wasm_task_entry` sets up all a task needs);
    /// beyond that they are ended.
    pub kept_workers: usize,
    /// The worker script: `worker/worker_loader.js`, which loads the `worker` binary.
    pub worker_url: String,
    /// The `worker` binary (`worker_bg.wasm`) compiled by the page, sent to every new worker
    /// as its first message so that it only instantiates it; without it each worker fetches
    /// and compiles its own copy, which made a worker start cost 80–170 ms.
    pub worker_module: Option<WebAssembly::Module>,
    /// Console lines kept for the crash report.
    pub console_lines: usize,
    /// The disk: its file in the origin's private file system and its size (docs/disk.md);
    /// None boots without one.
    pub disk: Option<DiskOptions>,
    /// Whether every program gets preemption points (`crate::preempt`); off only to measure
    /// what they cost, since a loop without system calls then holds the CPU.
    pub preempt_points: bool,
    /// Whether a claimed worker takes its task from its mailbox in the pool (`crate::pool`)
    /// instead of waiting for the main thread's `Run`; used where the browser has
    /// `Atomics.waitAsync`.
    pub direct_starts: bool,
}

/// A new disk's size when nothing else is asked for: 1 GiB (the build's first file system
/// has this size too, `build/src/steps/08_initramfs.rs`).
pub const DEFAULT_DISK_BYTES: u64 = 1 << 30;

/// Where the machine's disk lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskOptions {
    pub file: String,
    /// The size the disk should have: a new disk is made this large, a smaller one grows
    /// to it (the guest grows its file system), a larger one keeps its size (a disk never
    /// shrinks).
    pub bytes: u64,
}

impl DiskOptions {
    /// The Web Lock that the device worker holds while it uses the file, and the page takes
    /// to change the file while no machine runs.
    pub fn lock_name(&self) -> String {
        disk_lock_name(&self.file)
    }
}

/// The Web Lock of the disk file `file` (see [`DiskOptions::lock_name`]).
pub fn disk_lock_name(file: &str) -> String {
    format!("alpenglow-disk:{file}")
}

impl Default for DiskOptions {
    fn default() -> Self {
        DiskOptions {
            file: "disk.img".to_string(),
            bytes: DEFAULT_DISK_BYTES,
        }
    }
}

impl Default for MachineOptions {
    fn default() -> Self {
        MachineOptions {
            bootargs: boot::DEFAULT_BOOTARGS.to_string(),
            cpus: 1,
            spare_workers: 2,
            boot_workers: 24,
            kept_workers: 4,
            worker_url: "./worker_loader.js".to_string(),
            worker_module: None,
            console_lines: 40,
            disk: Some(DiskOptions::default()),
            preempt_points: true,
            direct_starts: true,
        }
    }
}

/// What the machine tells the page.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Bytes the kernel wrote to its console (UTF-8, `\n` line ends).
    Console(Vec<u8>),
    /// Bytes the guest wrote to hvc1, the files channel (`kernel_host::files` frames).
    Files(Vec<u8>),
    /// The guest took files bytes: fewer are in flight now (`Machine::files_in_flight`).
    FilesTaken,
    /// The answer to `Machine::forward` `id`: the guest server's response or the gateway's
    /// error response.
    Forwarded {
        id: u32,
        status: u16,
        reason: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// The disk is open (`bytes` bytes), or the machine boots without one: `problem` says
    /// why, None when no disk was asked for. `fs`: its file system's size and use, when it
    /// has one.
    Disk {
        bytes: u64,
        problem: Option<String>,
        fs: Option<DiskFs>,
    },
    /// The answer to `Machine::disk_usage`.
    DiskUsage(Option<DiskFs>),
    /// `start_kernel` is done: the kernel has started its first task.
    Running,
    /// The kernel asked to halt, power off or restart; the workers are stopped.
    Shutdown(Shutdown),
    /// The machine stopped on an error: a trap in a worker, a worker that failed, or a kernel
    /// panic (which otherwise spins forever).
    Crashed {
        message: String,
        detail: Option<String>,
        last_lines: Vec<String>,
    },
}

/// Counters for the page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Workers of this machine (not counting those whose task exited).
    pub workers: usize,
    /// Workers running the boot CPU or a task.
    pub busy: usize,
    /// Timer interrupts raised.
    pub timer_irqs: u64,
    /// The network's counters, as the device worker last told them.
    pub net: crate::net::NetCounters,
}

struct State {
    stopped: bool,
    next_id: u32,
    slots: Vec<Slot>,
    irq_pending: Option<u32>,
    /// Each CPU's timer (a `setTimeout`), by CPU.
    timers: Vec<Option<i32>>,
    /// The real-time clock's alarm (a `setTimeout`).
    alarm: Option<i32>,
    timer_irqs: u64,
    net: crate::net::NetCounters,
    running: bool,
    log: ConsoleLog,
    /// The terminal's and the files channel's output, put back in the order it was written.
    console_order: InOrder,
    files_order: InOrder,
    /// While output waits for a missing chunk: the timeout that gives up on it.
    gap_timer: Option<i32>,
    /// While spare workers are starting: the timeout that looks for one the browser never
    /// starts.
    spare_timer: Option<i32>,
    /// When a worker last became idle (`Date.now()`): spares still starting while others
    /// start are slow, not held back.
    last_ready_ms: f64,
    /// The live process memories, by handle.
    users: BTreeMap<u32, UserMemory>,
    /// Program files compiled lately, with their modules, oldest first: every worker gets
    /// them (`ToWorker::Program`), so a program is compiled once per page.
    programs: Vec<(SharedArrayBuffer, WebAssembly::Module)>,
    /// Messages for the device worker from before it runs, in order.
    device_backlog: Vec<ToWorker>,
    /// Files bytes sent to the device worker, and how many of them the guest has taken.
    files_sent: u64,
    files_taken: u64,
    /// The boot CPU waits for the disk (`DiskReady`): the driver reads its size at probe.
    boot_held: bool,
    /// `WantUser` asked for a handle given out but not yet registered (its `UserCreated`
    /// is on its way from another worker): the asking worker's id and the handle.
    wanted: Vec<(u32, u32)>,
}

struct Inner {
    module: WebAssembly::Module,
    memory: WebAssembly::Memory,
    clock: SharedArrayBuffer,
    /// The process-memory handle cells and the worker pool's cells (`pool`), which the
    /// workers share.
    handles: SharedArrayBuffer,
    pool: SharedCells,
    /// The devices' register cells (virtio's, then the clock's: `rtc::cells_bytes`).
    devices: SharedArrayBuffer,
    epoch_ms: f64,
    wall_skew_ms: f64,
    options: MachineOptions,
    /// `options.direct_starts`, where the browser can (`Atomics.waitAsync`).
    direct_starts: bool,
    state: RefCell<State>,
    on_event: RefCell<Box<dyn FnMut(Event)>>,
    /// One callback per CPU, so a timeout knows whose timer it was.
    on_timer: RefCell<Vec<Closure<dyn FnMut()>>>,
    on_alarm: RefCell<Option<Closure<dyn FnMut()>>>,
    on_gap: RefCell<Option<Closure<dyn FnMut()>>>,
    on_spare_check: RefCell<Option<Closure<dyn FnMut()>>>,
}

/// A running machine. Dropping it stops every worker.
pub struct Machine {
    inner: Rc<Inner>,
}

fn window() -> Result<web_sys::Window, String> {
    web_sys::window().ok_or_else(|| "the machine must be started from a window".to_string())
}

fn ctx(what: &str) -> impl Fn(JsValue) -> String + '_ {
    move |e| format!("{what}: {}", js_error_message(&e))
}

impl Machine {
    /// Boots `module` over `memory`: copies the initramfs and the device tree to the top of
    /// the memory, then starts the boot worker and the spare workers. `image_end` is where the
    /// kernel image ends (its memory import's minimum size in bytes). Events arrive through
    /// `on_event`, always from a fresh task of the main thread's event loop.
    pub fn boot(
        module: &WebAssembly::Module,
        memory: &WebAssembly::Memory,
        image_end: u32,
        initramfs: &[u8],
        options: MachineOptions,
        on_event: impl FnMut(Event) + 'static,
    ) -> Result<Machine, String> {
        let window = window()?;
        let buffer = memory.buffer();
        let ram_bytes = buffer
            .dyn_ref::<SharedArrayBuffer>()
            .ok_or("the kernel memory is not shared")?
            .byte_length();

        let mut rng_seed = vec![0u8; boot::RNG_SEED_BYTES];
        window
            .crypto()
            .map_err(ctx("no crypto for the RNG seed"))?
            .get_random_values_with_u8_array(&mut rng_seed)
            .map_err(ctx("crypto.getRandomValues"))?;
        let plan = boot::plan(&BootRequest {
            ram_bytes,
            image_end,
            initramfs_len: initramfs.len(),
            bootargs: &options.bootargs,
            cpus: options.cpus,
            rng_seed,
        })
        .map_err(|e| e.to_string())?;
        let ram = Uint8Array::new(&buffer);
        let put = |start: u32, bytes: &[u8]| {
            // plan() keeps both regions inside RAM; the length fits u32 by construction.
            ram.subarray(start, start + bytes.len() as u32)
                .copy_from(bytes);
        };
        if !initramfs.is_empty() {
            put(plan.layout.initrd.start, initramfs);
        }
        put(plan.layout.fdt.start, &plan.fdt);

        let performance = window.performance().ok_or("no performance clock")?;
        let epoch_ms = performance.time_origin() + performance.now();
        let wall_skew_ms = js_sys::Date::now() - epoch_ms;
        let handles = SharedArrayBuffer::new(pool::cells_bytes());
        let direct_starts = options.direct_starts
            && Reflect::get(&js_sys::global(), &"Atomics".into())
                .is_ok_and(|a| a.is_object() && Reflect::has(&a, &"waitAsync".into()) == Ok(true));
        let inner = Rc::new(Inner {
            module: module.clone(),
            memory: memory.clone(),
            clock: SharedArrayBuffer::new(8),
            pool: SharedCells::new(&handles),
            handles,
            devices: SharedArrayBuffer::new(rtc::cells_bytes()),
            epoch_ms,
            wall_skew_ms,
            state: RefCell::new(State {
                stopped: false,
                next_id: 0,
                slots: Vec::new(),
                irq_pending: None,
                timers: vec![None; options.cpus as usize],
                alarm: None,
                timer_irqs: 0,
                net: Default::default(),
                running: false,
                log: ConsoleLog::new(options.console_lines),
                console_order: InOrder::new(),
                files_order: InOrder::new(),
                gap_timer: None,
                spare_timer: None,
                last_ready_ms: 0.0,
                users: BTreeMap::new(),
                programs: Vec::new(),
                device_backlog: Vec::new(),
                files_sent: 0,
                files_taken: 0,
                boot_held: options.disk.is_some(),
                wanted: Vec::new(),
            }),
            options,
            direct_starts,
            on_event: RefCell::new(Box::new(on_event)),
            on_timer: RefCell::new(Vec::new()),
            on_alarm: RefCell::new(None),
            on_gap: RefCell::new(None),
            on_spare_check: RefCell::new(None),
        });
        *inner.on_timer.borrow_mut() = (0..inner.options.cpus)
            .map(|cpu| {
                let weak = Rc::downgrade(&inner);
                Closure::new(move || {
                    if let Some(inner) = weak.upgrade() {
                        Inner::timer_fired(&inner, cpu);
                    }
                })
            })
            .collect();
        let weak = Rc::downgrade(&inner);
        *inner.on_alarm.borrow_mut() = Some(Closure::new(move || {
            if let Some(inner) = weak.upgrade() {
                Inner::alarm_fired(&inner);
            }
        }));
        let weak = Rc::downgrade(&inner);
        *inner.on_gap.borrow_mut() = Some(Closure::new(move || {
            if let Some(inner) = weak.upgrade() {
                Inner::gap_timed_out(&inner);
            }
        }));
        let weak = Rc::downgrade(&inner);
        *inner.on_spare_check.borrow_mut() = Some(Closure::new(move || {
            if let Some(inner) = weak.upgrade() {
                Inner::spare_check(&inner);
            }
        }));

        {
            let mut st = inner.state.borrow_mut();
            Inner::spawn(
                &inner,
                &mut st,
                Some(Role::Boot {
                    fdt_addr: plan.layout.fdt.start,
                }),
            )?;
            Inner::spawn(&inner, &mut st, Some(Role::Devices))?;
            if let Some(disk) = &inner.options.disk {
                Inner::to_devices(
                    &mut st,
                    ToWorker::OpenDisk {
                        name: disk.file.clone(),
                        bytes: disk.bytes as f64,
                    },
                )?;
            }
            // Each secondary CPU's idle task claims a worker at boot and keeps it.
            let n = inner.options.boot_workers.max(inner.options.spare_workers)
                + (inner.options.cpus as usize).saturating_sub(1);
            Inner::start_spares(&inner, &mut st, n)?;
        }
        Ok(Machine { inner })
    }

    /// Stops every worker and the timer. Idempotent; no events follow.
    pub fn stop(&self) {
        if let Ok(mut st) = self.inner.state.try_borrow_mut() {
            st.stop();
        }
    }

    /// Bytes the user typed (or pasted) for the guest's console, hvc0. They wait, in order,
    /// until the driver has buffers for them; nothing is dropped.
    pub fn input(&self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.to_devices(ToWorker::Input {
                bytes: Uint8Array::from(bytes),
            });
        }
    }

    /// The terminal is `cols` x `rows` characters: the guest's console gets the size (and its
    /// foreground programs SIGWINCH).
    pub fn resize(&self, cols: u16, rows: u16) {
        self.to_devices(ToWorker::Resize { cols, rows });
    }

    /// Bytes for the guest's file helper on hvc1. Like typed input they wait, in order, until
    /// the driver has buffers for them; nothing is dropped. Send more only while
    /// [`Machine::files_in_flight`] is small: the guest reads at its own pace.
    pub fn files_send(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Ok(mut st) = self.inner.state.try_borrow_mut() {
            st.files_sent += bytes.len() as u64;
        }
        self.to_devices(ToWorker::FilesInput {
            bytes: Uint8Array::from(bytes),
        });
    }

    /// Asks the guest's TCP port `port` for `path` by HTTP (the page's `/_port/N/…`): the
    /// answer comes as `Event::Forwarded` with the same `id`.
    pub fn forward(
        &self,
        id: u32,
        port: u16,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) {
        self.to_devices(ToWorker::Forward {
            id,
            port,
            method: method.to_string(),
            path: path.to_string(),
            headers,
            body: Uint8Array::from(body),
        });
    }

    /// Asks the device worker for the disk's figures; they come as `Event::DiskUsage`.
    pub fn disk_usage(&self) {
        self.to_devices(ToWorker::DiskUsage);
    }

    /// The relay the guest's TCP to ports other than 80 goes through from now on (a Wisp
    /// server's `ws://` or `wss://` URL), or None: such connections are refused.
    pub fn set_relay(&self, url: Option<&str>) {
        self.to_devices(ToWorker::Relay {
            url: url.map(str::to_string),
        });
    }

    /// Files bytes sent that the guest has not taken yet.
    pub fn files_in_flight(&self) -> u64 {
        match self.inner.state.try_borrow() {
            Ok(st) => st.files_sent.saturating_sub(st.files_taken),
            Err(_) => 0,
        }
    }

    fn to_devices(&self, msg: ToWorker) {
        let mut events = Vec::new();
        if let Ok(mut st) = self.inner.state.try_borrow_mut() {
            if st.stopped {
                return;
            }
            if let Err(e) = Inner::to_devices(&mut st, msg) {
                events.push(st.crash(e, None));
            }
        }
        self.inner.emit(events);
    }

    pub fn stats(&self) -> Stats {
        match self.inner.state.try_borrow() {
            Ok(st) => Stats {
                workers: st.slots.len(),
                busy: st.slots.iter().filter(|s| s.role.is_some()).count(),
                timer_irqs: st.timer_irqs,
                net: st.net,
            },
            Err(_) => Stats::default(),
        }
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.stop();
    }
}

impl State {
    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if let Some(w) = web_sys::window() {
            let others = [
                self.alarm.take(),
                self.gap_timer.take(),
                self.spare_timer.take(),
            ];
            let timers = self.timers.iter_mut().map(Option::take).chain(others);
            for handle in timers.flatten() {
                w.clear_timeout_with_handle(handle);
            }
        }
        for slot in &self.slots {
            slot.end();
        }
    }

    /// A task's worker has it (`SpawnTask` or `Started`): the first is the kernel running.
    fn task_started(&mut self, events: &mut Vec<Event>) {
        if !self.running {
            self.running = true;
            events.push(Event::Running);
        }
    }

    /// Console chunks, in order, to the page and the crash log.
    fn console_out(&mut self, chunks: Vec<Vec<u8>>, events: &mut Vec<Event>) {
        for bytes in chunks {
            let panic = self.log.push(&bytes);
            events.push(Event::Console(bytes));
            if let Some(message) = panic {
                events.push(self.crash(message, None));
            }
        }
    }

    fn crash(&mut self, message: String, detail: Option<String>) -> Event {
        self.stop();
        Event::Crashed {
            message,
            detail,
            last_lines: self.log.last_lines(),
        }
    }
}

impl Inner {
    fn emit(&self, events: Vec<Event>) {
        for e in events {
            match self.on_event.try_borrow_mut() {
                Ok(mut f) => f(e),
                Err(_) => web_sys::console::error_1(
                    &"alpenglow: machine event dropped (re-entered the event callback)".into(),
                ),
            }
        }
    }

    fn message(inner: &Rc<Inner>, id: u32, data: JsValue) {
        let mut events = Vec::new();
        {
            let mut st = inner.state.borrow_mut();
            if st.stopped {
                return;
            }
            if let Err(e) = Inner::handle(inner, &mut st, id, data, &mut events) {
                events.push(st.crash(e, None));
            }
        }
        inner.emit(events);
    }

    fn handle(
        inner: &Rc<Inner>,
        st: &mut State,
        id: u32,
        data: JsValue,
        events: &mut Vec<Event>,
    ) -> Result<(), String> {
        let msg: FromWorker = protocol::decode(data)?;
        let slot = |st: &mut State| -> Result<usize, String> {
            st.slots
                .iter()
                .position(|s| s.id == id)
                .ok_or_else(|| format!("a message from unknown worker {id}"))
        };
        match msg {
            FromWorker::Loaded => {
                // Its `Init` went with its module (`spawn`): it instantiates vmlinux now.
                let i = slot(st)?;
                st.slots[i].phase = Phase::Instantiating;
            }
            FromWorker::Ready { irq_pending } => {
                match st.irq_pending {
                    Some(a) if a != irq_pending => {
                        return Err(format!(
                            "workers disagree on wasm_irq_pending ({a:#x} and {irq_pending:#x})"
                        ))
                    }
                    _ => st.irq_pending = Some(irq_pending),
                }
                let i = slot(st)?;
                st.last_ready_ms = js_sys::Date::now();
                let s = &mut st.slots[i];
                s.phase = Phase::Idle;
                if matches!(s.role, Some(Role::Boot { .. })) && st.boot_held {
                    // Started by `DiskReady`.
                } else if let Some(role) = s.role {
                    Inner::run(s, role, &st.users, &mut st.device_backlog)?;
                } else {
                    // The browser gave one more worker: whatever refused one before is gone.
                    Inner::join_pool(inner, &st.slots[i])?;
                    Inner::exhausted(inner, false);
                }
            }
            FromWorker::DiskUsage { fs } => events.push(Event::DiskUsage(fs)),
            FromWorker::DiskReady { bytes, problem, fs } => {
                st.boot_held = false;
                events.push(Event::Disk {
                    bytes: bytes as u64,
                    problem,
                    fs,
                });
                if let Some(s) = st
                    .slots
                    .iter_mut()
                    .find(|s| matches!(s.role, Some(Role::Boot { .. })) && s.phase == Phase::Idle)
                {
                    let role = s.role.ok_or("the boot worker lost its role")?;
                    Inner::run(s, role, &st.users, &mut st.device_backlog)?;
                }
            }
            FromWorker::Console { seq, bytes } => {
                let chunks = st.console_order.push(seq, bytes.to_vec());
                st.console_out(chunks, events);
                Inner::watch_gaps(inner, st)?;
            }
            FromWorker::TimerSet { cpu, delta_ns } => Inner::set_timer(inner, st, cpu, delta_ns)?,
            FromWorker::RtcAlarm { delay_ns } => Inner::set_alarm(inner, st, delay_ns)?,
            FromWorker::Notify { device, queue } => {
                if device as usize >= virtio::DEVICES.len() {
                    return Err(format!(
                        "a notify of virtio device {device}, which is not there"
                    ));
                }
                Inner::to_devices(st, ToWorker::Notify { device, queue })?;
            }
            FromWorker::Files { seq, bytes } => {
                let chunks = st.files_order.push(seq, bytes.to_vec());
                events.extend(chunks.into_iter().map(Event::Files));
                Inner::watch_gaps(inner, st)?;
            }
            FromWorker::NetCounters(counters) => st.net = counters,
            FromWorker::Forwarded {
                id,
                status,
                reason,
                headers,
                body,
            } => events.push(Event::Forwarded {
                id,
                status,
                reason,
                headers,
                body: body.to_vec(),
            }),
            FromWorker::FilesTaken { total } => {
                st.files_taken = total as u64;
                events.push(Event::FilesTaken);
            }
            FromWorker::UserCreated {
                handle,
                module,
                memory,
            } => {
                let user = UserMemory { module, memory };
                Inner::answer_wanted(st, handle, &Inner::user_message(handle, &user))?;
                st.users.insert(handle, user);
            }
            FromWorker::Compiled { file, module } => Inner::compiled(st, id, file, module)?,
            FromWorker::UserReleased { handle } => {
                st.users.remove(&handle);
                Inner::answer_wanted(st, handle, &ToWorker::NoUser { handle })?;
                Inner::freed(inner, st)?;
            }
            FromWorker::WantUser { handle } => {
                let i = slot(st)?;
                let msg = match st.users.get(&handle) {
                    Some(u) => Inner::user_message(handle, u),
                    None if handles::in_flight(&inner.pool, handle) => {
                        st.wanted.push((id, handle));
                        return Ok(());
                    }
                    None => ToWorker::NoUser { handle },
                };
                Inner::post(&st.slots[i], &msg)?;
            }
            FromWorker::TaskExit => {
                let i = slot(st)?;
                let idle = st.slots.iter().filter(|s| s.role.is_none()).count();
                if idle < inner.options.kept_workers {
                    let s = &mut st.slots[i];
                    s.role = None;
                    s.phase = Phase::Idle;
                    Inner::join_pool(inner, &st.slots[i])?;
                } else {
                    st.slots.remove(i).end();
                }
                Inner::freed(inner, st)?;
            }
            FromWorker::Claimed => Inner::top_up(inner, st)?,
            FromWorker::WorkerWanted => Inner::want_worker(inner, st)?,
            FromWorker::SpawnTask { task } => {
                Inner::assign(inner, st, Role::Task { task })?;
                st.task_started(events);
            }
            FromWorker::Started { task } => {
                let i = slot(st)?;
                let s = &mut st.slots[i];
                s.role = Some(Role::Task { task });
                s.phase = Phase::Running;
                st.task_started(events);
                // Its claim was counted as a spare until now (see `top_up`).
                Inner::top_up(inner, st)?;
            }
            FromWorker::Shutdown { how } => match Shutdown::from_code(how) {
                Some(kind) => {
                    st.stop();
                    events.push(Event::Shutdown(kind));
                }
                None => {
                    return Err(format!(
                        "the kernel called shutdown({how}), an unknown code"
                    ))
                }
            },
            FromWorker::Trap { message, stack } => {
                let role = st
                    .slots
                    .iter()
                    .find(|s| s.id == id)
                    .and_then(|s| s.role)
                    .map(|r| match r {
                        Role::Boot { .. } => "the boot CPU".to_string(),
                        Role::Task { task } => format!("task {task:#x}"),
                        Role::Devices => "the device worker".to_string(),
                    })
                    .unwrap_or_else(|| format!("worker {id}"));
                events.push(st.crash(format!("{message} (in {role})"), stack));
            }
        }
        Ok(())
    }
}
