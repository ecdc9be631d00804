//! The browser side of the machine (wasm32 only): the `Machine` that runs on the main thread,
//! the message protocol between it and the kernel's workers, the virtio device side on
//! browser objects (`devices`) and the text of JS exceptions (`error`).

pub mod devices;
pub mod error;
pub mod locks;
pub mod machine;
pub mod protocol;

pub use error::{js_error_message, js_error_stack};
pub use locks::lock_manager;
pub use machine::{
    disk_lock_name, DiskOptions, Event, Machine, MachineOptions, Stats, DEFAULT_DISK_BYTES,
};
pub use protocol::DiskFs;
