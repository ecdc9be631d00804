//! BusyBox's own testsuite, in the guest and natively, counted the same way.
//!
//! The image carries the testsuite as `/usr/share/busybox/testsuite.tar.gz` (made by the
//! busybox step from its source tree and `.config`) and the runner script
//! `build/rootfs/busybox-testsuite` as `/usr/bin/busybox-testsuite`. `cargo x bbtest native`
//! builds the same source with the same configuration for the build machine (gcc instead of
//! the wasm toolchain, `$CACHE/out/busybox-native`) and runs the same script against it: as
//! root in the image's own files under chroot (the same /etc, applets and /bin/sh = hush as
//! the guest), else on the build machine with BusyBox's hush bound over `/bin/sh` in a
//! mount namespace, else with the host's shell (the results say which).
//! `cargo x bbtest compare LOG` reads what the guest printed and compares it with the
//! native results.
//!
//! `summary` counts a run, `native` packs the testsuite and runs it on the build machine,
//! `guest` runs it in the page and compares.

mod guest;
mod native;
mod summary;
#[cfg(test)]
mod tests;

pub use guest::{compare_with_native, guest};
pub use native::{native, native_config, native_dir, SCRIPT};
pub use summary::{compare, Comparison, Summary};
