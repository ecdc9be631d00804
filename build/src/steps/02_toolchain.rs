//! The C toolchain every component is built with: Debian's LLVM 19.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const CC: &str = "clang-19";
pub const LD: &str = "wasm-ld-19";
pub const AR: &str = "llvm-ar-19";
pub const RANLIB: &str = "llvm-ranlib-19";
pub const NM: &str = "llvm-nm-19";
pub const STRIP: &str = "llvm-strip-19";

/// clang's own headers and Debian's wasm32 compiler-rt builtins (package
/// libclang-rt-19-dev-wasm32, which ships them under the `wasi` name).
const CLANG_INCLUDE: &str = "/usr/lib/llvm-19/lib/clang/19/include";
pub const BUILTINS: &str = "/usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a";

/// A clang resource directory where the wasm32-unknown-unknown driver finds the builtins
/// (128-bit `long double` and multiply need them), so `clang --sysroot=…` links plainly.
pub fn resource_dir(cache: &Path) -> Result<PathBuf> {
    let dir = cache.join("toolchain/clang-19-resource");
    let lib = dir.join("lib/wasm32-unknown-unknown");
    std::fs::create_dir_all(&lib).with_context(|| format!("creating {}", lib.display()))?;
    for (link, target) in [
        (dir.join("include"), CLANG_INCLUDE),
        (lib.join("libclang_rt.builtins.a"), BUILTINS),
    ] {
        if std::fs::read_link(&link).is_ok_and(|t| t == Path::new(target)) {
            continue;
        }
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(target, &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    if !Path::new(BUILTINS).exists() {
        bail!("{BUILTINS} is missing (run `cargo x doctor`: Debian package libclang-rt-19-dev-wasm32)");
    }
    Ok(dir)
}

/// The C compiler command for the wasm32 userland against `sysroot`.
pub fn userland_cc(sysroot: &Path, resource_dir: &Path) -> String {
    format!(
        "{CC} --target=wasm32-unknown-unknown --sysroot={} -resource-dir={}",
        sysroot.display(),
        resource_dir.display()
    )
}

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
