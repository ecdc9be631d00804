//! The kernel worker: one Web Worker per kernel task (DESIGN decision 3). It instantiates
//! `vmlinux.wasm` over the shared kernel memory with the host imports of
//! `kernel_host::abi`, then runs its role — `wasm_boot(fdt)` for the boot CPU or
//! `wasm_task_entry(task)` for a new task. Neither returns while the machine runs; a trap is
//! caught and reported to the main thread. One worker has the device role instead
//! (`devices.rs`): console input and size for the virtio console. The protocol is in
//! `kernel_host::browser::protocol`.

#[cfg(target_arch = "wasm32")]
mod devices;
#[cfg(target_arch = "wasm32")]
mod kernel;

#[cfg(target_arch = "wasm32")]
fn main() {
    kernel::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the kernel worker runs in a browser: build the site with trunk");
    std::process::exit(2);
}
