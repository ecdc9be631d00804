//! The kernel worker: one Web Worker per kernel task (DESIGN decision 3). It instantiates
//! `vmlinux.wasm` over the shared kernel memory with the host imports of
//! `kernel_host::abi`, then runs its role — `wasm_boot(fdt)` for the boot CPU or
//! `wasm_task_entry(task)` for a new task. Neither returns while the machine runs; a trap is
//! caught and reported to the main thread. One worker has the device role instead
//! (`devices.rs`): console input and size for the virtio console, the files channel's
//! input, the network and the disk. The protocol is in `kernel_host::browser::protocol`.
//!
//! Files, each using only those listed after it:
//! - `messages.rs`: the message loop, dispatching each `ToWorker`.
//! - `fetches.rs`: the page's `fetch()` for the guest's HTTP requests (gateway's web service).
//! - `starts.rs`: taking a task from this worker's mailbox in the pool (without the main thread).
//! - `toplevel.rs`: the top-level loop, which every call into wasm starts from.
//! - `vmlinux.rs`: instantiating vmlinux and its host imports.
//! - `mmio.rs`: the device imports (register reads and writes).
//! - `state.rs`: the worker's state, one struct in one thread-local.
//! - `devices.rs`: the device role's state and requests.
//! - `relay.rs`: the WebSocket to the relay (wrapped; its events go to `messages.rs`).
//! - `disk.rs`: the disk's backing store, a file in the origin's private file system.
//! - `memories.rs`: the process memories, spares and compiled programs.
//! - `effects.rs`: the one handler for device effects, for both roles.
//! - `js.rs`, `outbox.rs`: import objects; messages to the main thread.

#[cfg(target_arch = "wasm32")]
mod devices;
#[cfg(target_arch = "wasm32")]
mod disk;
#[cfg(target_arch = "wasm32")]
mod effects;
#[cfg(target_arch = "wasm32")]
mod fetches;
#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(target_arch = "wasm32")]
mod memories;
#[cfg(target_arch = "wasm32")]
mod messages;
#[cfg(target_arch = "wasm32")]
mod mmio;
#[cfg(target_arch = "wasm32")]
mod outbox;
#[cfg(target_arch = "wasm32")]
mod relay;
#[cfg(target_arch = "wasm32")]
mod starts;
#[cfg(target_arch = "wasm32")]
mod state;
#[cfg(target_arch = "wasm32")]
mod toplevel;
#[cfg(target_arch = "wasm32")]
mod vmlinux;

#[cfg(target_arch = "wasm32")]
fn main() {
    messages::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the kernel worker runs in a browser: build the site with trunk");
    std::process::exit(2);
}
