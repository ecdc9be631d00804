//! The numbers the page prints — sizes, byte counts, uptimes, memory limits — and the transfer
//! line's texts, as pure functions of their values.
//!
//! Architecture invariant: this file uses nothing but `std` (no `crate::`, no web-sys, js-sys
//! or leptos), so that native test code elsewhere can compare with exactly what the page
//! prints by including it: `#[path = "…/app/src/format.rs"] mod format;` (build/tests/e2e does).

/// Bytes as a short human size: 1 KiB = 1024 bytes. `1536` → `1.5 KiB`, `16 << 20` → `16 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else if v >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `12345678` → `12,345,678`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let first = match digits.len() % 3 {
        0 => 3.min(digits.len()),
        r => r,
    };
    let mut out = digits[..first].to_string();
    let mut rest = &digits[first..];
    while !rest.is_empty() {
        let (group, tail) = rest.split_at(3.min(rest.len()));
        out.push(',');
        out.push_str(group);
        rest = tail;
    }
    out
}

/// An exact byte count: `12345678` → `12,345,678 bytes`.
pub fn grouped_bytes(n: u64) -> String {
    format!("{} bytes", grouped(n))
}

/// How far a download is: `1,024 of 12,345,678 bytes`.
pub fn grouped_progress(received: u64, size: u64) -> String {
    format!("{} of {} bytes", grouped(received), grouped(size))
}

/// `3725` → `1:02:05`, `65` → `1:05`.
pub fn uptime_text(s: u64) -> String {
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A memory's limits in bytes: `576 KiB, up to 1 GiB, shared`.
pub fn memory_limits(initial: u64, maximum: Option<u64>, shared: bool) -> String {
    let max = match maximum {
        Some(max) => format!("up to {}", human_bytes(max)),
        None => "no maximum".to_string(),
    };
    let shared = if shared { "shared" } else { "not shared" };
    format!("{}, {max}, {shared}", human_bytes(initial))
}

/// The terminal's line as a machine boots: `booting vmlinux.wasm: 128 MiB of RAM, 2 CPUs,
/// command line "…"`.
pub fn boot_line(ram_bytes: u64, cpus: u32, bootargs: &str) -> String {
    format!(
        "booting vmlinux.wasm: {} of RAM, {cpus} CPU{}, command line \"{bootargs}\"",
        human_bytes(ram_bytes),
        if cpus == 1 { "" } else { "s" }
    )
}

/// "uploaded notes.txt to /root (12 KiB)"; says so when the guest had to pick another name.
pub fn stored_text(name: &str, path: &str, size: u64) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let dir = path.strip_suffix(base).unwrap_or("").trim_end_matches('/');
    if Some(base) == name.rsplit('/').next() {
        format!("uploaded {name} to {dir} ({})", human_bytes(size))
    } else {
        format!(
            "uploaded {name} as {path} ({}): a file named {name} was there already",
            human_bytes(size)
        )
    }
}

/// "uploading notes.txt: 45% (9 MiB of 20 MiB)", and how far (0..=1; none for an empty file).
pub fn progress_text(verb: &str, name: &str, done: u64, size: u64) -> (String, Option<f64>) {
    if size == 0 {
        return (format!("{verb} {name}…"), None);
    }
    let f = (done as f64 / size as f64).clamp(0.0, 1.0);
    (
        format!(
            "{verb} {name}: {:.0}% ({} of {})",
            f * 100.0,
            human_bytes(done),
            human_bytes(size)
        ),
        Some(f),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(0), "0 bytes");
        assert_eq!(human_bytes(1023), "1023 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(16 * 1024 * 1024), "16 MiB");
        assert_eq!(human_bytes(1 << 30), "1 GiB");
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(12345678), "12,345,678");
    }

    #[test]
    fn byte_counts_and_memory_limits_read_well() {
        assert_eq!(grouped_bytes(12345678), "12,345,678 bytes");
        assert_eq!(
            grouped_progress(1024, 1_000_000),
            "1,024 of 1,000,000 bytes"
        );
        assert_eq!(
            memory_limits(9 << 16, Some(1 << 30), true),
            "576 KiB, up to 1 GiB, shared"
        );
        assert_eq!(
            memory_limits(1 << 20, None, false),
            "1 MiB, no maximum, not shared"
        );
        assert_eq!(
            boot_line(96 << 20, 1, "console=hvc0"),
            "booting vmlinux.wasm: 96 MiB of RAM, 1 CPU, command line \"console=hvc0\""
        );
        assert_eq!(
            boot_line(128 << 20, 2, "quiet"),
            "booting vmlinux.wasm: 128 MiB of RAM, 2 CPUs, command line \"quiet\""
        );
    }

    #[test]
    fn uptime_reads_like_a_clock() {
        assert_eq!(uptime_text(0), "0:00");
        assert_eq!(uptime_text(65), "1:05");
        assert_eq!(uptime_text(3725), "1:02:05");
    }

    #[test]
    fn the_message_says_where_the_file_went() {
        assert_eq!(
            stored_text("notes.txt", "/root/notes.txt", 12 * 1024),
            "uploaded notes.txt to /root (12 KiB)"
        );
        assert_eq!(
            stored_text("notes.txt", "/root/notes-1.txt", 5),
            "uploaded notes.txt as /root/notes-1.txt (5 bytes): a file named notes.txt was there already"
        );
        let (t, p) = progress_text("uploading", "big.bin", 9 << 20, 20 << 20);
        assert_eq!(t, "uploading big.bin: 45% (9 MiB of 20 MiB)");
        assert_eq!(p, Some(0.45));
        assert_eq!(progress_text("uploading", "e", 0, 0).1, None);
    }
}
