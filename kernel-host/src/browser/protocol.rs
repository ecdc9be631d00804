//! Messages between the main thread and a kernel worker (`ToWorker`, `FromWorker`), carried
//! by `postMessage` and encoded with serde-wasm-bindgen; the kernel's `Module` and the shared
//! memories and cells travel as themselves (`serde_wasm_bindgen::preserve`), never copied.
//! The protocol — roles, a worker's start-up, what each message means, the rules — is
//! written once, in `docs/worker-protocol.md`.

use js_sys::{SharedArrayBuffer, Uint8Array, WebAssembly};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use wasm_bindgen::JsValue;

pub use crate::disk_image::DiskFs;

/// What a worker runs once it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// The boot CPU: `wasm_boot(fdt_addr)`.
    Boot { fdt_addr: u32 },
    /// A new kernel task: `wasm_task_entry(task)`.
    Task { task: u32 },
    /// The device worker: serves what comes from the page (console input, terminal size)
    /// on the shared virtqueues, so the main thread never touches them. It runs no kernel
    /// code; it is instantiated like the others only to learn `wasm_irq_pending`.
    Devices,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum ToWorker {
    Init {
        #[serde(with = "serde_wasm_bindgen::preserve")]
        module: WebAssembly::Module,
        #[serde(with = "serde_wasm_bindgen::preserve")]
        memory: WebAssembly::Memory,
        /// 8 bytes: the largest `clock_ns` any worker has returned, so the clock never goes
        /// backwards when the kernel moves from one worker to another.
        #[serde(with = "serde_wasm_bindgen::preserve")]
        clock: SharedArrayBuffer,
        /// `performance.timeOrigin + performance.now()` on the main thread at boot.
        epoch_ms: f64,
        /// `Date.now()` less `epoch_ms`, at that moment: how far the wall clock runs ahead
        /// of the monotonic one (`boot::slept_ms`).
        wall_skew_ms: f64,
        /// The shared process-memory handle cells (`crate::handles`): the last handle given
        /// out (`Atomics.add`, so handles are unique across workers), then the ring of
        /// released handles.
        #[serde(with = "serde_wasm_bindgen::preserve")]
        handles: SharedArrayBuffer,
        /// The virtio devices' register cells (`virtio::cells_bytes()` bytes).
        #[serde(with = "serde_wasm_bindgen::preserve")]
        devices: SharedArrayBuffer,
        /// Whether programs get preemption points (`MachineOptions::preempt_points`).
        preempt_points: bool,
        /// Whether claimed workers get their task through their mailbox in the pool
        /// (`crate::pool`, needs `Atomics.waitAsync`) rather than `SpawnTask` and `Run`.
        direct_starts: bool,
    },
    /// A live process memory from the registry: in answer to `WantUser`, and (without
    /// `direct_starts`) before `Run(Task)` for every live handle.
    User {
        handle: u32,
        #[serde(with = "serde_wasm_bindgen::preserve")]
        module: WebAssembly::Module,
        #[serde(with = "serde_wasm_bindgen::preserve")]
        memory: WebAssembly::Memory,
    },
    /// A program file compiled in another worker (`Compiled`), sent to every worker so that
    /// an exec of the same bytes there reuses the module: a program is compiled once per page
    /// and its optimised code is shared. Sent after `Init` and before any `Run`.
    Program {
        /// The file's bytes (never written after it is shared).
        #[serde(with = "serde_wasm_bindgen::preserve")]
        file: SharedArrayBuffer,
        #[serde(with = "serde_wasm_bindgen::preserve")]
        module: WebAssembly::Module,
    },
    /// The answer to `WantUser` for a handle the registry does not hold and will not.
    NoUser {
        handle: u32,
    },
    Run(Role),
    /// An idle worker joins the pool as member `member` (`crate::pool`): it counts itself as
    /// idle, takes the task a claim gives it, and says so with `Started`. Only with
    /// `direct_starts`; without, the main thread counts it.
    Pool {
        member: u32,
    },
    /// To the device worker, right after `Run(Devices)`: open the disk file `name` in the
    /// origin's private file system, made with `bytes` bytes if it does not exist and grown
    /// to them if it is smaller
    /// (`virtio::blk`, docs/disk.md); answered by `DiskReady`.
    OpenDisk {
        name: String,
        bytes: f64,
    },
    /// To the device worker: how full is the disk? Answered by `DiskUsage`.
    DiskUsage,
    /// To the device worker: bytes typed or pasted for the console.
    Input {
        #[serde(with = "serde_wasm_bindgen::preserve")]
        bytes: Uint8Array,
    },
    /// To the device worker: the terminal is now `cols` x `rows`.
    Resize {
        cols: u16,
        rows: u16,
    },
    /// To the device worker: the page asks the guest's TCP port `port` for `path` (a request
    /// of `/_port/N/…` that the service worker passed on); answered by `Forwarded`.
    Forward {
        id: u32,
        port: u16,
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        #[serde(with = "serde_wasm_bindgen::preserve")]
        body: Uint8Array,
    },
    /// To the device worker: bytes for the guest's file helper (frames of
    /// `kernel_host::files`), kept until the driver has room for them.
    FilesInput {
        #[serde(with = "serde_wasm_bindgen::preserve")]
        bytes: Uint8Array,
    },
    /// To the device worker: the relay for TCP to ports other than 80 (a `ws://` or `wss://`
    /// URL of a Wisp server), or None for no relay. Streams through an earlier one end.
    Relay {
        url: Option<String>,
    },
    /// To the device worker: the driver notified queue `queue` of device `device`, one the
    /// device worker serves (relayed from the kernel worker whose register write it was).
    Notify {
        device: u32,
        queue: u32,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum FromWorker {
    Loaded,
    /// From the device worker, in answer to `OpenDisk`: the disk has `bytes` bytes (0: no
    /// disk this time, and `problem` says why; otherwise `problem` is a note on a disk that
    /// is used all the same, e.g. one that could not grow). The boot CPU starts after this.
    DiskReady {
        bytes: f64,
        problem: Option<String>,
        /// The file system's size and use, from its superblock (None: a blank disk, which
        /// the guest formats, or no disk).
        fs: Option<DiskFs>,
    },
    /// From the device worker, in answer to `DiskUsage`: the superblock's figures now (None:
    /// no disk, or no file system on it yet).
    DiskUsage {
        fs: Option<DiskFs>,
    },
    /// vmlinux is instantiated: `irq_pending` is `wasm_irq_pending`, the address of the CPUs'
    /// pending words (`abi::irq_pending_word`).
    Ready {
        irq_pending: u32,
    },
    /// Bytes for the terminal: output chunk `seq` of hvc0 (`virtio::next_output`; the
    /// page puts chunks from different workers back in order).
    Console {
        seq: u32,
        #[serde(with = "serde_wasm_bindgen::preserve")]
        bytes: Uint8Array,
    },
    /// `timer_set(cpu, delta_ns)`: CPU `cpu`'s timer fires after `delta_ns`; negative
    /// cancels it.
    TimerSet {
        cpu: u32,
        delta_ns: i64,
    },
    /// The guest armed the real-time clock's alarm (`crate::rtc`) for `delay_ns` from now,
    /// or cancelled it (None).
    RtcAlarm {
        delay_ns: Option<f64>,
    },
    /// The driver notified queue `queue` of virtio device `device`, which the device worker
    /// serves (`virtio::Effect::Notify`): a console's receive queue, either network queue.
    Notify {
        device: u32,
        queue: u32,
    },
    /// Bytes the guest wrote to hvc1, the files channel (copied out, transferred): output
    /// chunk `seq` of that device.
    Files {
        seq: u32,
        #[serde(with = "serde_wasm_bindgen::preserve")]
        bytes: Uint8Array,
    },
    /// From the device worker: the guest has taken `total` bytes of files input in all
    /// (a count, so messages in flight cannot confuse the page's flow control).
    FilesTaken {
        total: f64,
    },
    /// From the device worker: the answer to `Forward` `id` — the guest server's response,
    /// or the gateway's error response (502, 504) that says why there is none.
    Forwarded {
        id: u32,
        status: u16,
        reason: String,
        headers: Vec<(String, String)>,
        #[serde(with = "serde_wasm_bindgen::preserve")]
        body: Uint8Array,
    },
    /// From the device worker, when they changed (at most once a second): the network's
    /// counters.
    NetCounters(crate::net::NetCounters),
    /// `task_claim` took an idle worker (`crate::pool`): keep the spares topped up.
    Claimed,
    /// `task_claim` found no idle worker and waits for one: start one now.
    WorkerWanted,
    /// A claimed worker is to run `task` (without `direct_starts`).
    SpawnTask {
        task: u32,
    },
    /// This worker, a pool member, took `task` from its mailbox and runs it.
    Started {
        task: u32,
    },
    Shutdown {
        how: i32,
    },
    /// `user_create` made a process memory: register it. Another worker may ask for it
    /// (`WantUser`) before this arrives: a vfork child that took its start from the ring.
    UserCreated {
        handle: u32,
        #[serde(with = "serde_wasm_bindgen::preserve")]
        module: WebAssembly::Module,
        #[serde(with = "serde_wasm_bindgen::preserve")]
        memory: WebAssembly::Memory,
    },
    /// `user_create` compiled a program file this worker had not seen (before its
    /// `UserCreated`): the page keeps it and sends it to the other workers (`Program`).
    Compiled {
        #[serde(with = "serde_wasm_bindgen::preserve")]
        file: SharedArrayBuffer,
        #[serde(with = "serde_wasm_bindgen::preserve")]
        module: WebAssembly::Module,
    },
    /// `user_release`: drop the registry entry.
    UserReleased {
        handle: u32,
    },
    /// `user_enter` for a handle this worker does not know: answer with `User` or `NoUser`
    /// (a handle given out but not yet registered is answered when its `UserCreated`
    /// arrives).
    WantUser {
        handle: u32,
    },
    /// `task_exit`: the task is dead; the worker is done and may be terminated.
    TaskExit,
    /// The worker could not start (`Init`) or the kernel call threw.
    Trap {
        message: String,
        stack: Option<String>,
    },
}

/// Whether a program file shared in `Compiled` or `Program` (`shared`, a view of its whole
/// buffer) holds exactly `file`: the one test for reusing a module, on both sides. Compared a
/// piece at a time, so no second whole copy is made.
pub fn same_file(shared: &Uint8Array, file: &[u8]) -> bool {
    const PIECE: usize = 64 * 1024;
    if shared.length() as usize != file.len() {
        return false;
    }
    let mut piece = vec![0u8; PIECE.min(file.len())];
    file.chunks(PIECE).enumerate().all(|(i, want)| {
        let at = (i * PIECE) as u32;
        let got = &mut piece[..want.len()];
        shared.subarray(at, at + want.len() as u32).copy_to(got);
        crate::user::same_bytes(got, want)
    })
}

pub fn encode<T: Serialize>(msg: &T) -> Result<JsValue, String> {
    serde_wasm_bindgen::to_value(msg).map_err(|e| format!("cannot encode a worker message: {e}"))
}

pub fn decode<T: DeserializeOwned>(v: JsValue) -> Result<T, String> {
    serde_wasm_bindgen::from_value(v).map_err(|e| format!("malformed worker message: {e}"))
}
