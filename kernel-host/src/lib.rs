//! The machine that hosts the wasm kernel: the kernel↔host ABI (`abi`), the boot memory
//! layout and device tree (`layout`, `fdt`, `boot`), the console log, console output put
//! back in order (`in_order`), the process-memory handles and the task workers' pool
//! (`pool`), the program-module check
//! (`user`) and its preemption points (`preempt`), the virtio devices (`virtio`), the
//! real-time clock (`rtc`), the host's side of the guest's network (`net`) and the files
//! protocol (`files`), the check of a disk image (`disk_image`). Pure logic here is tested natively; the browser side (the `Machine` on
//! the main thread, the worker protocol, the devices on browser objects) is in `browser`,
//! built for wasm32.
//!
//! Architecture invariants: only `browser` uses js-sys, web-sys and wasm-bindgen (they are
//! wasm32-only dependencies, so the native `cargo test` keeps the rest pure); `abi` is the
//! only ABI table; no two files import each other.

pub mod abi;
pub mod boot;
pub mod console;
pub mod disk_image;
pub mod fdt;
pub mod files;
pub mod handles;
pub mod in_order;
pub mod layout;
pub mod net;
pub mod pool;
pub mod preempt;
pub mod rtc;
pub mod user;
pub mod virtio;

#[cfg(target_arch = "wasm32")]
pub mod browser;
