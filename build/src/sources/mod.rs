//! The sources: from the pins of `build/sources.toml` to a patched source tree per
//! component. `pins` says which release of which origin to use, `mirror` finds this
//! machine's Debian mirror and checks its signed index, `fetch` downloads and verifies the
//! tarballs, `tree` unpacks one into a git tree with `patches/<component>/` applied.

pub mod fetch;
pub mod mirror;
pub mod pins;
pub mod tree;
