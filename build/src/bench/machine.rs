//! The artifacts' sizes and the machine a run was on (CPU, commit, browser, date).

use super::report::Size;
use crate::paths::Paths;
use crate::pipeline::Ctx;
use crate::steps::guest;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

fn gzip_len(data: &[u8]) -> u64 {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = e.write_all(data);
    e.finish().map_or(0, |v| v.len() as u64)
}

fn file_size(path: &Path) -> Result<(u64, u64)> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok((data.len() as u64, gzip_len(&data)))
}

pub fn sizes(ctx: &Ctx, native_busybox: Option<&Path>, native_bench: &Path) -> Result<Vec<Size>> {
    let dist = ctx.paths.dist();
    let mut out = Vec::new();
    let (raw, gz) = file_size(&dist.join("vmlinux.wasm"))?;
    out.push(Size {
        name: "dist/vmlinux.wasm".into(),
        raw,
        gzip: gz,
        native: None,
    });
    let image = dist.join("initramfs.cpio.gz");
    let gz = std::fs::metadata(&image)
        .with_context(|| format!("reading {}", image.display()))?
        .len();
    let mut cpio = Vec::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(&image).with_context(|| format!("opening {}", image.display()))?,
    )
    .read_to_end(&mut cpio)
    .with_context(|| format!("{} is not gzip", image.display()))?;
    out.push(Size {
        name: "dist/initramfs.cpio.gz".into(),
        raw: cpio.len() as u64,
        gzip: gz,
        native: None,
    });
    let busybox = crate::steps::busybox::output_dir(ctx).join("busybox");
    if busybox.exists() {
        let (raw, gz) = file_size(&busybox)?;
        out.push(Size {
            name: "busybox (wasm)".into(),
            raw,
            gzip: gz,
            native: native_busybox.map(file_size).transpose()?,
        });
    }
    let (raw, gz) = file_size(&guest::output(ctx, "alpenglow-bench"))?;
    out.push(Size {
        name: "alpenglow-bench (wasm)".into(),
        raw,
        gzip: gz,
        native: Some(file_size(native_bench)?),
    });
    // The page's own code: trunk's hashed app module and the kernel worker's module.
    if let Ok(dir) = std::fs::read_dir(ctx.paths.site()) {
        let mut found: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                n.ends_with(".wasm") || (n.ends_with(".js") && n != "sw.js")
            })
            .collect();
        found.sort();
        for p in found {
            let (raw, gz) = file_size(&p)?;
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("?");
            out.push(Size {
                name: format!("site/{name}"),
                raw,
                gzip: gz,
                native: None,
            });
        }
    }
    Ok(out)
}

fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub fn machine(
    paths: &Paths,
    browser: &str,
    reps: usize,
    quick: bool,
    append: Option<&str>,
) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let repo = paths.repo.display().to_string();
    let commit = command_line("git", &["-C", &repo, "rev-parse", "--short=12", "HEAD"])
        .unwrap_or_else(|| "?".into());
    let dirty = command_line(
        "git",
        &["-C", &repo, "status", "--porcelain", "--untracked-files=no"],
    )
    .is_some_and(|s| !s.is_empty());
    json!({
        "date": utc_now(),
        "commit": commit,
        "uncommitted_changes": dirty,
        "cpu": cpu,
        "cores": cores,
        "host_kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "load_average_at_start": std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
            .split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        "browser": browser,
        "native_cc": command_line(crate::steps::toolchain::CC, &["--version"]).and_then(|s| s.lines().next().map(str::to_string)),
        "reps": reps,
        "quick": quick,
        "kernel_append": append,
    })
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm (public domain description of the calendar arithmetic).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for `secs` since the epoch.
pub fn utc(secs: u64) -> String {
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}
