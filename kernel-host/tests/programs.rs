//! Every program in the built initramfs (`dist/initramfs.cpio.gz`) gets its preemption points
//! and still validates: the rewrite of real compiler output (nested loops, `br_table`s, the
//! `try`/`delegate` of setjmp), not only of the unit tests' small modules.

use flate2::read::GzDecoder;
use std::io::Read;

/// `(name, contents)` of the regular files in a cpio archive ("newc" format).
fn files(cpio: &[u8]) -> Vec<(String, &[u8])> {
    let hex = |b: &[u8]| u32::from_str_radix(std::str::from_utf8(b).unwrap(), 16).unwrap();
    let pad = |n: usize| (n + 3) & !3;
    let mut out = Vec::new();
    let mut at = 0;
    while at + 110 <= cpio.len() {
        let h = &cpio[at..at + 110];
        assert_eq!(&h[..6], b"070701", "a newc header at {at}");
        let mode = hex(&h[14..22]);
        let size = hex(&h[54..62]) as usize;
        let name_len = hex(&h[94..102]) as usize;
        let name = String::from_utf8_lossy(&cpio[at + 110..at + 110 + name_len - 1]).into_owned();
        let data = pad(at + 110 + name_len);
        if name == "TRAILER!!!" {
            break;
        }
        if mode & 0o170000 == 0o100000 {
            out.push((name, &cpio[data..data + size]));
        }
        at = pad(data + size);
    }
    out
}

#[test]
#[ignore = "needs dist/initramfs.cpio.gz: run by cargo x test"]
fn every_program_in_the_initramfs_instruments_and_validates() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/initramfs.cpio.gz");
    let gz = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo x initramfs`)", path.display()));
    let mut cpio = Vec::new();
    GzDecoder::new(&gz[..]).read_to_end(&mut cpio).unwrap();
    let features = wasmparser::WasmFeatures::all();
    let mut programs = Vec::new();
    for (name, bytes) in files(&cpio) {
        if !bytes.starts_with(b"\0asm") {
            continue;
        }
        let (after, done) =
            kernel_host::preempt::instrument(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        wasmparser::Validator::new_with_features(features)
            .validate_all(&after)
            .unwrap_or_else(|e| panic!("{name} after instrumenting: {e}"));
        assert!(done.loops > 0, "{name} has no loop?");
        programs.push(name);
    }
    assert!(
        programs.iter().any(|p| p == "bin/busybox"),
        "no BusyBox among {programs:?}"
    );
}
