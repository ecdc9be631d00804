//! The Alpenglow build: pinned sources → patched trees → kernel, musl, BusyBox, initramfs.

pub mod apt;
pub mod bbtest;
pub mod bench;
pub mod browser;
pub mod busybox;
pub mod cpio;
pub mod debian;
pub mod doctor;
pub mod fetch;
pub mod guest;
pub mod initramfs;
pub mod kernel;
pub mod manifest;
pub mod musl;
pub mod paths;
pub mod pipeline;
pub mod postlink;
pub mod rootfs;
pub mod serve;
pub mod site;
pub mod sources;
pub mod stamp;
pub mod toolchain;
pub mod tree;
pub mod ui;

/// The page helpers' old path (they live in the browser driver now).
pub use browser::page;
