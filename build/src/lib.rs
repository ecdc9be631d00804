//! The Alpenglow build: pinned sources → patched trees → kernel, musl, BusyBox, initramfs.

pub mod bbtest;
pub mod bench;
pub mod doctor;
pub mod formats;
pub mod page;
pub mod paths;
pub mod pipeline;
pub mod rootfs;
pub mod serve;
pub mod sources;
pub mod stamp;
pub mod steps;
pub mod ui;
pub mod webdriver;

// The flat paths of before `sources/` and `steps/`, still used by bench, bbtest and page.
pub use sources::tree;
pub use steps::{busybox, guest, initramfs, kernel, manifest, site, toolchain};
