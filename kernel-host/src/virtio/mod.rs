//! The machine's devices: virtio over MMIO (DESIGN decision 6), device side.
//!
//! The kernel's unmodified `virtio_mmio` driver reads and writes device registers in a window
//! above kernel memory; `arch/wasm` turns those accesses into the `mmio_read`/`mmio_write`
//! imports, which land in [`Bus`]. The virtqueues themselves are in kernel memory, shared by
//! every worker, so the device side works on them from wherever it is called:
//!
//! * a register access or a queue notification runs synchronously in the worker of the task
//!   that made it (console and files output, RNG requests);
//! * console and files input and terminal resizes come from the page through the device
//!   worker ([`console::Inbox`], [`console::resize`]), which never blocks: it fills receive
//!   buffers the driver has posted and raises an interrupt;
//! * both network queues are served by the device worker, where the host's network runs
//!   (`crate::net`): their notifies reach it as [`Effect::Notify`]; so are the disk's
//!   requests ([`blk`]), since the device worker holds the disk's backing store.
//!
//! Each queue has one device-side user — the receive queues the device worker, the others the
//! kernel's own CPU — so the queues need no lock. Register state is in a small shared array of
//! 32-bit cells ([`Cells`]) so that every worker sees the same device.
//!
//! Layers, one way (as in Firecracker and rust-vmm: transport → device → queue); each file
//! uses only those above it in this list:
//!
//! 1. [`state`] — which devices there are, their register cells and the cell layout, and
//!    the [`Effect`]s a device asks for; [`memory`] — kernel memory as [`GuestMemory`].
//! 2. [`queue`] — a split virtqueue in kernel memory. It knows no transport and no device.
//! 3. The devices: [`console`] (hvc0 and hvc1, with the [`console::Inbox`] both use for
//!    input), [`files`] (what hvc1 has of its own), [`rng`], [`net`] (eth0) and [`blk`] (vda). Each says what it is (ID,
//!    queues, features, configuration) and serves its queues.
//! 4. [`mmio`] — the virtio-mmio transport: decodes register accesses into the register state
//!    and a queue notification into a call of the device ([`Bus`]).
//!
//! This file only names the layers and re-exports what the rest of the crate and its users
//! reach as `virtio::…`.
//!
//! Architecture invariant: `virtio/` uses no js-sys, web-sys or wasm-bindgen (they are
//! wasm32-only dependencies, so `cargo test` natively would not build); the browser's cells,
//! memory and entropy are implementations of its traits in `browser::devices`.

pub mod blk;
pub mod console;
pub mod files;
pub mod memory;
pub mod mmio;
pub mod net;
pub mod queue;
pub mod rng;
pub mod state;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_blk;

pub use memory::{Fault, GuestMemory};
pub use mmio::{mmio_address, Bus, MMIO_BASE, MMIO_STRIDE};
pub use rng::Entropy;
pub use state::{
    cells_bytes, next_output, Cells, Device, Effect, Kind, BLK, CELLS_PER_DEVICE, CONSOLE, DEVICES,
    FILES, NET,
};
