//! The machine that hosts the wasm kernel: the kernel↔host ABI, the boot memory layout, the
//! device tree and the console log. Pure logic here is tested natively; the browser side (the
//! `Machine` on the main thread and the worker protocol) is in `browser`, built for wasm32.

pub mod abi;
pub mod boot;
pub mod console;
pub mod fdt;
pub mod files;
pub mod handles;
pub mod layout;
pub mod user;
pub mod virtio;

#[cfg(target_arch = "wasm32")]
pub mod browser;
