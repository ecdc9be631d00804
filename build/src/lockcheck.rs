//! `cargo x lockcheck`: the kernel built with Linux's own lock, RCU and sleep checking
//! (`arch/wasm/configs/lockcheck.config`: lockdep, `DEBUG_ATOMIC_SLEEP`, `PROVE_RCU`) booted
//! in a headless browser with several CPUs, a workload typed at its shell, then the kernel's
//! verdict read back: lockdep must still be on (`debug_locks: 1`, it turns itself off at its
//! first report) and the kernel log must hold no report.

use crate::browser::page::{self, strip_escapes, with_param, Headless};
use crate::browser::Kind;
use crate::formats::manifest::Manifest;
use crate::pipeline::Ctx;
use crate::sources::fetch::sha256_file;
use crate::steps::kernel;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Duration;

/// What is typed before the verdict: file system, processes on every CPU, pipes, signals,
/// the network and the disk, so that their locks are taken in their usual orders.
const WORKLOAD: &[&str] = &[
    "ls -lR /usr /etc > /dev/null",
    "for i in 1 2 3 4; do sha256sum /bin/busybox > /dev/null & done; wait",
    "seq 2000 | sort -rn | tail -n 1",
    "sleep 30 & kill %1; wait",
    "ping -c 1 10.0.2.2 > /dev/null",
    "dd if=/dev/zero of=/root/lockcheck bs=64k count=16 2> /dev/null && sync && rm /root/lockcheck",
];

/// Lines of the kernel log that are a report of one of the enabled checks (or of anything
/// else going wrong).
const REPORT_MARKERS: &[&str] = &[
    "WARNING:",
    "BUG:",
    "INFO: possible",
    "INFO: inconsistent",
    "INFO: task ",
    "INFO: trying to register non-static key",
    "possible circular locking",
    "possible recursive locking",
    "inconsistent lock state",
    "DEBUG_LOCKS_WARN_ON",
    "turning off the locking correctness validator",
    "suspicious RCU usage",
    "sleeping function called from invalid context",
    "scheduling while atomic",
    "Kernel panic",
];

/// The lines of `dmesg` that report a problem.
pub fn reports(dmesg: &str) -> Vec<&str> {
    dmesg
        .lines()
        .filter(|l| REPORT_MARKERS.iter().any(|m| l.contains(m)))
        .collect()
}

/// `debug_locks` and `lock-classes` of `/proc/lockdep_stats`.
pub fn lockdep_state(stats: &str) -> (Option<u64>, Option<u64>) {
    let value = |name: &str| {
        stats.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.split_whitespace().next()?.parse().ok())?
        })
    };
    (value("debug_locks"), value("lock-classes"))
}

pub fn run(ctx: &mut Ctx, cpus: u32, kind: Kind) -> Result<()> {
    let vmlinux = kernel::build_lockcheck(ctx)?;
    page::artifacts_ready(ctx)?;
    let stage = page::stage_site(&ctx.paths)?;
    stage_kernel(&stage, &ctx.paths.dist(), &vmlinux)?;

    let step = ctx.ui.step(&format!(
        "lock checking: booting it in headless {kind} with {cpus} CPU{}",
        if cpus == 1 { "" } else { "s" }
    ));
    let mut h = Headless::open_site(&stage, None, kind)?;
    h.page.url = with_param(&h.page.url, "cpus", &cpus.to_string());
    h.page.boot().context("booting the lock-checking kernel")?;
    let quiet = Duration::from_secs(180);
    for line in WORKLOAD {
        let tag = h.page.next_tag();
        let (_, exit) = h
            .page
            .run_tagged(tag, line, quiet, |_| {})
            .with_context(|| format!("typing `{line}`"))?;
        if exit != 0 {
            bail!("`{line}` exited with status {exit} on the lock-checking kernel");
        }
    }
    let mut read = |line: &str| -> Result<String> {
        let tag = h.page.next_tag();
        let (text, _) = h.page.run_tagged(tag, line, quiet, |_| {})?;
        Ok(strip_escapes(&text))
    };
    let dmesg = read("dmesg")?;
    let stats = read("cat /proc/lockdep_stats")?;

    let found = reports(&dmesg);
    let (debug_locks, classes) = lockdep_state(&stats);
    if !found.is_empty() {
        bail!(
            "the kernel reported {} problem line(s):\n{}\n\n---- dmesg ----\n{dmesg}",
            found.len(),
            found.join("\n")
        );
    }
    if debug_locks != Some(1) {
        bail!(
            "lockdep is off (debug_locks: {debug_locks:?}) without a report in the log:\n{stats}\n\n---- dmesg ----\n{dmesg}"
        );
    }
    step.done(&format!(
        "lockdep on, {} lock classes seen, no report in the kernel log",
        classes.unwrap_or(0)
    ));
    Ok(())
}

/// Makes the staged site's `dist/` the usual artifacts with `vmlinux` as the kernel, and a
/// manifest that lists it (the page checks every artifact's sha256).
fn stage_kernel(stage: &Path, dist: &Path, vmlinux: &Path) -> Result<()> {
    let staged = stage.join("dist");
    std::fs::remove_file(&staged).with_context(|| format!("removing {}", staged.display()))?;
    std::fs::create_dir(&staged).with_context(|| format!("creating {}", staged.display()))?;
    for e in std::fs::read_dir(dist).with_context(|| format!("reading {}", dist.display()))? {
        let name = e?.file_name();
        if name == "vmlinux.wasm" || name == "manifest.json" {
            continue;
        }
        std::os::unix::fs::symlink(dist.join(&name), staged.join(&name))
            .with_context(|| format!("linking {}", dist.join(&name).display()))?;
    }
    std::os::unix::fs::symlink(vmlinux, staged.join("vmlinux.wasm"))
        .with_context(|| format!("linking {}", vmlinux.display()))?;

    let path = dist.join("manifest.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut manifest: Manifest =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let artifact = manifest
        .artifacts
        .get_mut("vmlinux.wasm")
        .with_context(|| format!("{} lists no vmlinux.wasm", path.display()))?;
    artifact.size = std::fs::metadata(vmlinux)
        .with_context(|| format!("reading {}", vmlinux.display()))?
        .len();
    artifact.sha256 = sha256_file(vmlinux)?;
    let out = staged.join("manifest.json");
    std::fs::write(&out, serde_json::to_string_pretty(&manifest)?)
        .with_context(|| format!("writing {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_found_and_quiet_lines_are_not() {
        let dmesg = "[    0.000000] Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar\n\
                     [    0.000000] ... MAX_LOCKDEP_SUBCLASSES:  8\n\
                     [    1.200000] WARNING: possible circular locking dependency detected\n\
                     [    1.300000] BUG: sleeping function called from invalid context at mm/slub.c:1\n\
                     [    1.400000] Running RCU synchronous self tests\n";
        assert_eq!(
            reports(dmesg),
            vec![
                "[    1.200000] WARNING: possible circular locking dependency detected",
                "[    1.300000] BUG: sleeping function called from invalid context at mm/slub.c:1",
            ]
        );
        assert!(reports("[    0.1] rcu: Hierarchical RCU implementation.\n").is_empty());
    }

    #[test]
    fn lockdep_stats_are_read() {
        let stats = " lock-classes:                          612 [max: 8192]\n \
                     direct dependencies:                  3021 [max: 32768]\n \
                     debug_locks:                             1\n";
        assert_eq!(lockdep_state(stats), (Some(1), Some(612)));
        assert_eq!(lockdep_state(" debug_locks: 0\n"), (Some(0), None));
        assert_eq!(lockdep_state("nothing"), (None, None));
    }

    #[test]
    fn the_staged_dist_has_the_lock_checking_kernel_and_a_manifest_that_lists_it() {
        let dir = tempfile::tempdir().unwrap();
        let (dist, stage) = (dir.path().join("dist"), dir.path().join("stage"));
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::create_dir_all(&stage).unwrap();
        std::os::unix::fs::symlink(&dist, stage.join("dist")).unwrap();
        std::fs::write(dist.join("vmlinux.wasm"), b"product").unwrap();
        std::fs::write(dist.join("initramfs.cpio.gz"), b"image").unwrap();
        let artifact = |bytes: &[u8]| crate::formats::manifest::Artifact {
            size: bytes.len() as u64,
            sha256: "0".repeat(64),
        };
        let manifest = Manifest {
            name: "alpenglow".into(),
            version: "0".into(),
            components: Default::default(),
            artifacts: [
                ("vmlinux.wasm".to_string(), artifact(b"product")),
                ("initramfs.cpio.gz".to_string(), artifact(b"image")),
            ]
            .into(),
            build_seconds: Default::default(),
        };
        std::fs::write(
            dist.join("manifest.json"),
            serde_json::to_string(&manifest).unwrap(),
        )
        .unwrap();
        let lockcheck = dir.path().join("vmlinux-lockcheck.wasm");
        std::fs::write(&lockcheck, b"lock-checking kernel").unwrap();

        stage_kernel(&stage, &dist, &lockcheck).unwrap();

        let staged = stage.join("dist");
        assert_eq!(
            std::fs::read(staged.join("vmlinux.wasm")).unwrap(),
            b"lock-checking kernel"
        );
        assert_eq!(
            std::fs::read(staged.join("initramfs.cpio.gz")).unwrap(),
            b"image"
        );
        let listed: Manifest =
            serde_json::from_slice(&std::fs::read(staged.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(listed.artifacts["vmlinux.wasm"].size, 20);
        assert_eq!(
            listed.artifacts["vmlinux.wasm"].sha256,
            sha256_file(&lockcheck).unwrap()
        );
        assert_eq!(listed.artifacts["initramfs.cpio.gz"], artifact(b"image"));
        // The product's dist/ is untouched.
        assert_eq!(
            std::fs::read(dist.join("vmlinux.wasm")).unwrap(),
            b"product"
        );
    }
}
