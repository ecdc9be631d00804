//! `cargo x doctor`: checks every prerequisite and installs what is missing when it can
//! (apt as root or with passwordless sudo; cargo install; npm), else prints the command.

use crate::paths::Paths;
use crate::ui::Ui;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Command, Stdio};

/// A Debian package and a file or command that proves it is installed.
struct AptTool {
    package: &'static str,
    probe: Probe,
}

enum Probe {
    Command(&'static str),
    File(&'static str),
}

const APT_TOOLS: &[AptTool] = &[
    AptTool {
        package: "clang-19",
        probe: Probe::Command("clang-19"),
    },
    AptTool {
        package: "lld-19",
        probe: Probe::Command("wasm-ld-19"),
    },
    AptTool {
        package: "llvm-19",
        probe: Probe::Command("llvm-ar-19"),
    },
    AptTool {
        package: "libclang-rt-19-dev-wasm32",
        probe: Probe::File(crate::steps::toolchain::BUILTINS),
    },
    AptTool {
        package: "make",
        probe: Probe::Command("make"),
    },
    AptTool {
        package: "flex",
        probe: Probe::Command("flex"),
    },
    AptTool {
        package: "bison",
        probe: Probe::Command("bison"),
    },
    AptTool {
        package: "bc",
        probe: Probe::Command("bc"),
    },
    AptTool {
        package: "rsync",
        probe: Probe::Command("rsync"),
    },
    AptTool {
        package: "libelf-dev",
        probe: Probe::File("/usr/include/libelf.h"),
    },
    AptTool {
        package: "libssl-dev",
        probe: Probe::File("/usr/include/openssl/ssl.h"),
    },
    AptTool {
        package: "pkg-config",
        probe: Probe::Command("pkg-config"),
    },
    AptTool {
        package: "git",
        probe: Probe::Command("git"),
    },
    AptTool {
        package: "gpgv",
        probe: Probe::Command("gpgv"),
    },
    AptTool {
        package: "debian-archive-keyring",
        probe: Probe::File(crate::sources::mirror::DEBIAN_KEYRING),
    },
    AptTool {
        package: "cpio",
        probe: Probe::Command("cpio"),
    },
    // Packages (`cargo x pkg`, docs/packages.md): current config.sub/config.guess, the
    // build systems recipes use, autoreconf for orig tarballs without configure, and
    // tclsh, with which SQLite generates its amalgamation.
    AptTool {
        package: "autotools-dev",
        probe: Probe::File("/usr/share/misc/config.sub"),
    },
    AptTool {
        package: "autoconf",
        probe: Probe::Command("autoreconf"),
    },
    AptTool {
        package: "automake",
        probe: Probe::Command("automake"),
    },
    AptTool {
        package: "libtool",
        probe: Probe::File("/usr/share/aclocal/libtool.m4"),
    },
    AptTool {
        package: "cmake",
        probe: Probe::Command("cmake"),
    },
    AptTool {
        package: "meson",
        probe: Probe::Command("meson"),
    },
    AptTool {
        package: "ninja-build",
        probe: Probe::Command("ninja"),
    },
    AptTool {
        package: "tcl",
        probe: Probe::Command("tclsh"),
    },
    // The tests of the package formats and of the guest's apk: Python's tarfile/zlib and the
    // OpenSSL command line read what the Rust writer makes (formats/apk/tests.rs), and apk is
    // also built natively against Debian's zlib and mbedtls (tests/apk_client.rs).
    AptTool {
        package: "python3",
        probe: Probe::Command("python3"),
    },
    AptTool {
        package: "openssl",
        probe: Probe::Command("openssl"),
    },
    AptTool {
        package: "zlib1g-dev",
        probe: Probe::File("/usr/include/zlib.h"),
    },
    AptTool {
        package: "libmbedtls-dev",
        probe: Probe::File("/usr/include/mbedtls/pk.h"),
    },
    // mke2fs makes the first disk's ext4 file system (build/src/rootfs/disk.rs).
    AptTool {
        package: "e2fsprogs",
        probe: Probe::File("/usr/sbin/mke2fs"),
    },
    AptTool {
        package: "wabt",
        probe: Probe::Command("wasm-objdump"),
    },
    AptTool {
        package: "chromium",
        probe: Probe::Command("chromium"),
    },
    AptTool {
        package: "chromium-driver",
        probe: Probe::Command("chromedriver"),
    },
    // The second browser of the end-to-end tests (WebDriver BiDi is built in).
    AptTool {
        package: "firefox-esr",
        probe: Probe::Command("firefox-esr"),
    },
    AptTool {
        package: "npm",
        probe: Probe::Command("npm"),
    },
];

/// trunk 0.22.1 needs a newer rustc than stable 1.95 (see TOOLCHAIN-NOTES): built with nightly.
pub const TRUNK_VERSION: &str = "0.22.1";

fn have_command(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn present(t: &AptTool) -> bool {
    match t.probe {
        Probe::Command(c) => have_command(c),
        Probe::File(f) => Path::new(f).exists(),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn can_sudo() -> bool {
    Command::new("sudo")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

fn run_visible(ui: &Ui, cmd: &mut Command) -> Result<()> {
    ui.info(&format!("$ {cmd:?}"));
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// The wasm-bindgen version locked in Cargo.lock (the CLI must match it exactly).
pub fn locked_wasm_bindgen(repo: &Path) -> Result<String> {
    let lock = std::fs::read_to_string(repo.join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines
                .next()
                .and_then(|v| v.trim().strip_prefix("version = "))
            {
                return Ok(v.trim_matches('"').to_string());
            }
        }
    }
    bail!("Cargo.lock has no wasm-bindgen package")
}

fn tool_version(cmd: &str) -> Option<String> {
    let out = Command::new(cmd).arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Checks everything; installs what is missing when it can. `install = false` only reports.
pub fn run(ui: &Ui, paths: &Paths, install: bool) -> Result<()> {
    let step = ui.step("doctor");
    let mut problems: Vec<String> = Vec::new();

    let missing: Vec<&str> = APT_TOOLS
        .iter()
        .filter(|t| !present(t))
        .map(|t| t.package)
        .collect();
    if !missing.is_empty() {
        let cmd = format!(
            "apt-get -o DPkg::Lock::Timeout=600 install -y {}",
            missing.join(" ")
        );
        let prefix = if is_root() {
            Some("")
        } else if can_sudo() {
            Some("sudo -n ")
        } else {
            None
        };
        match (install, prefix) {
            (true, Some(p)) => {
                ui.info(&format!("installing {}", missing.join(" ")));
                let sh =
                    format!("{p}apt-get -o DPkg::Lock::Timeout=600 update -qq && {p}{cmd} -qq");
                run_visible(
                    ui,
                    Command::new("sh")
                        .arg("-c")
                        .arg(&sh)
                        .env("DEBIAN_FRONTEND", "noninteractive"),
                )?;
            }
            _ => problems.push(format!("missing Debian packages; run as root: {cmd}")),
        }
    }

    let targets = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    if !targets.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-unknown-unknown"))
    {
        let mut c = Command::new("rustup");
        c.args(["target", "add", "wasm32-unknown-unknown"]);
        if install {
            run_visible(ui, &mut c)?;
        } else {
            problems
                .push("missing rust target; run: rustup target add wasm32-unknown-unknown".into());
        }
    }

    let wb = locked_wasm_bindgen(&paths.repo)?;
    let have_wb = tool_version("wasm-bindgen").is_some_and(|v| v.ends_with(&wb));
    if !have_wb {
        let mut c = Command::new("cargo");
        c.args(["install", "wasm-bindgen-cli", "--version", &wb, "--force"]);
        if install {
            ui.info(&format!(
                "building wasm-bindgen-cli {wb} (about 6 minutes on 2 cores)"
            ));
            run_visible(ui, &mut c)?;
        } else {
            problems.push(format!(
                "wasm-bindgen-cli {wb} missing; run: cargo install wasm-bindgen-cli --version {wb}"
            ));
        }
    }

    let have_trunk = tool_version("trunk").is_some_and(|v| v.contains(TRUNK_VERSION));
    if !have_trunk {
        let mut c = Command::new("cargo");
        c.args([
            "+nightly",
            "install",
            "trunk",
            "--locked",
            "--version",
            TRUNK_VERSION,
        ]);
        if install {
            let nightly = Command::new("rustup")
                .args(["run", "nightly", "rustc", "--version"])
                .output();
            if !nightly.is_ok_and(|o| o.status.success()) {
                run_visible(
                    ui,
                    Command::new("rustup").args([
                        "toolchain",
                        "install",
                        "nightly",
                        "--profile",
                        "minimal",
                    ]),
                )?;
            }
            ui.info(&format!(
                "building trunk {TRUNK_VERSION} with nightly rustc (about 20 minutes on 2 cores)"
            ));
            run_visible(ui, &mut c)?;
        } else {
            problems.push(format!("trunk {TRUNK_VERSION} missing; run: cargo +nightly install trunk --locked --version {TRUNK_VERSION}"));
        }
    }

    let app = paths.repo.join("app");
    if app.join("package.json").exists() && !app.join("node_modules").exists() {
        let mut c = Command::new("npm");
        c.args(["ci", "--no-audit", "--no-fund"]).current_dir(&app);
        if install {
            run_visible(ui, &mut c)?;
        } else {
            problems.push("app/node_modules missing; run: (cd app && npm ci)".into());
        }
    }

    if !problems.is_empty() {
        bail!("prerequisites missing:\n  - {}", problems.join("\n  - "));
    }
    step.done("all prerequisites present");
    Ok(())
}
