//! The Alpenglow build: pinned sources → patched trees → kernel, musl, BusyBox, initramfs.

pub mod bbtest;
pub mod bench;
pub mod browser;
pub mod doctor;
pub mod formats;
pub mod lockcheck;
pub mod packages;
pub mod paths;
pub mod pipeline;
pub mod pkgtest;
pub mod relay;
pub mod repository;
pub mod rootfs;
pub mod serve;
pub mod sources;
pub mod stamp;
pub mod steps;
pub mod ui;
