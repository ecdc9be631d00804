//! The C toolchain every component is built with: Debian's LLVM 19.

use anyhow::{bail, Context, Result};
use std::process::Command;

pub const CC: &str = "clang-19";
pub const LD: &str = "wasm-ld-19";
pub const AR: &str = "llvm-ar-19";
pub const RANLIB: &str = "llvm-ranlib-19";
pub const NM: &str = "llvm-nm-19";

/// Target flags shared by the kernel and the userland: wasm32 with the proposals every
/// browser we support ships (threads/atomics for the shared memory, bulk memory, EH for
/// setjmp/longjmp).
pub const WASM_CFLAGS: &[&str] = &[
    "--target=wasm32-unknown-unknown",
    "-matomics",
    "-mbulk-memory",
    "-mmutable-globals",
    "-msign-ext",
    "-mnontrapping-fptoint",
];

/// `clang-19 --version` and `wasm-ld-19 --version`, so a toolchain upgrade rebuilds.
pub fn identity() -> Result<String> {
    let mut s = String::new();
    for tool in [CC, LD] {
        let out = Command::new(tool)
            .arg("--version")
            .output()
            .with_context(|| format!("running {tool} --version (run `cargo x doctor`)"))?;
        if !out.status.success() {
            bail!("{tool} --version failed");
        }
        s.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    Ok(s)
}
