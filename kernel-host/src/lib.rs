//! The machine that hosts the wasm kernel: the kernel↔host ABI, the boot memory layout and
//! the device tree. Pure logic here is tested natively; the browser side (memory, workers)
//! builds on it.

pub mod abi;
pub mod fdt;
pub mod layout;
