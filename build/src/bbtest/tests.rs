use super::*;
use crate::formats::testsuite_tar::pack_testsuite;
use std::path::Path;

const LOG: &str = "\
busybox-testsuite: testing BusyBox v1.37.0 multi-call binary.\r
PASS: awk -F case 0\r
FAIL: awk printf('%c') can output NUL\r
SKIPPED: busybox --help\r
UNTESTED: cpio-extracts-in-existing-dir\r
PASS: cat -e\r
some diff output\r
hostname:/# echo FAIL: typed\r
FAIL: tar-handles-empty-include-and-exclude-lists\r
PASS 2 / FAIL 2 / SKIP 2\r
";

#[test]
fn parse_counts_result_lines_only() {
    let s = Summary::parse(LOG);
    assert_eq!((s.pass, s.fail, s.skip), (2, 2, 2));
    assert_eq!(
        s.failures,
        [
            "awk printf('%c') can output NUL",
            "tar-handles-empty-include-and-exclude-lists"
        ]
    );
    assert_eq!(s.line(), "PASS 2 / FAIL 2 / SKIP 2");
    assert_eq!(Summary::find_line(LOG), Some((2, 2, 2)));
}

#[test]
fn report_parses_back() {
    let s = Summary::parse(LOG);
    let r = s.report();
    assert_eq!(
        r,
        "PASS 2 / FAIL 2 / SKIP 2\nFAIL: awk printf('%c') can output NUL\n\
         FAIL: tar-handles-empty-include-and-exclude-lists\n"
    );
    assert_eq!(Summary::from_output(&r), s);
    assert_eq!(Summary::from_output(&format!("# header\n{r}")), s);
}

#[test]
fn script_output_counts_once() {
    // What the guest terminal shows: the streamed results, then the summary, which
    // repeats the failures; the summary is what counts.
    let s = Summary::parse(LOG);
    let shown = format!("{LOG}{}hostname:~# \r\n", s.report().replace('\n', "\r\n"));
    assert_eq!(Summary::from_output(&shown), s);
    assert_eq!(Summary::parse(&shown).fail, 4);
    // Cut short before the summary: count what ran.
    assert_eq!(
        Summary::from_output("PASS: a\nFAIL: b\n").line(),
        "PASS 1 / FAIL 1 / SKIP 0"
    );
}

#[test]
fn find_line_takes_the_last_and_rejects_garbage() {
    assert_eq!(Summary::find_line("PASS x / FAIL 1 / SKIP 2\n"), None);
    assert_eq!(Summary::find_line("PASS 1 / FAIL 1\n"), None);
    assert_eq!(
        Summary::find_line("PASS 1 / FAIL 1 / SKIP 1\nPASS 5 / FAIL 0 / SKIP 3\n"),
        Some((5, 0, 3))
    );
    assert_eq!(Summary::parse(""), Summary::default());
}

#[test]
fn native_config_drops_wasm_flags_only() {
    let cfg = "CONFIG_STATIC=y\nCONFIG_NOMMU=y\n\
               CONFIG_EXTRA_CFLAGS=\"-matomics\"\nCONFIG_EXTRA_LDFLAGS=\"-Wl,--import-memory\"\n\
               CONFIG_BUSYBOX_EXEC_PATH=\"/bin/busybox\"\nCONFIG_HUSH=y\n# CONFIG_ASH is not set\n";
    let n = native_config(cfg).unwrap();
    assert_eq!(
        n,
        "CONFIG_STATIC=y\nCONFIG_NOMMU=y\nCONFIG_EXTRA_CFLAGS=\"\"\nCONFIG_EXTRA_LDFLAGS=\"\"\n\
         CONFIG_BUSYBOX_EXEC_PATH=\"/proc/self/exe\"\nCONFIG_HUSH=y\n# CONFIG_ASH is not set\n"
    );
    let err = native_config("CONFIG_STATIC=y\nCONFIG_NOMMU=y\n").unwrap_err();
    assert!(format!("{err}").contains("CONFIG_EXTRA_CFLAGS"), "{err}");
    let mmu = cfg.replace("CONFIG_NOMMU=y\n", "");
    let err = native_config(&mmu).unwrap_err();
    assert!(format!("{err}").contains("CONFIG_NOMMU=y"), "{err}");
}

#[test]
fn shipped_config_adapts() {
    // The committed configuration lives in the BusyBox patch series.
    let patch = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../patches/busybox/0003-configs-add-alpenglow_defconfig.patch"),
    )
    .unwrap();
    let config: String = patch
        .lines()
        .filter_map(|l| l.strip_prefix('+'))
        .filter(|l| !l.starts_with("++"))
        .map(|l| format!("{l}\n"))
        .collect();
    let n = native_config(&config).unwrap();
    assert!(n.contains("\nCONFIG_SH_IS_HUSH=y\n"));
    assert!(n.contains("\nCONFIG_EXTRA_CFLAGS=\"\"\n"));
}

#[test]
fn compare_lists_differences() {
    let g = Summary::parse("FAIL: a\nFAIL: b\nPASS: c\n");
    let n = Summary::parse("FAIL: b\nFAIL: d\n");
    assert_eq!(
        compare(&g, &n),
        Comparison {
            guest_only: vec!["a".into()],
            native_only: vec!["d".into()],
        }
    );
}

#[test]
fn testsuite_tarball_is_reproducible_and_complete() {
    let src = tempfile::tempdir().unwrap();
    let ts = src.path().join("testsuite");
    std::fs::create_dir_all(ts.join("cat")).unwrap();
    std::fs::write(ts.join("runtest"), "#!/bin/sh\n").unwrap();
    std::fs::write(ts.join("cat/cat-prints"), "x\n").unwrap();
    std::os::unix::fs::symlink("runtest", ts.join("link")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(ts.join("runtest"), std::fs::Permissions::from_mode(0o775)).unwrap();
    let config = src.path().join("config");
    std::fs::write(&config, "CONFIG_CAT=y\n").unwrap();
    let a = src.path().join("a.tar.gz");
    let b = src.path().join("b.tar.gz");
    pack_testsuite(src.path(), &config, &a).unwrap();
    // Another mtime on the inputs must not change the archive.
    std::fs::write(ts.join("cat/cat-prints"), "x\n").unwrap();
    pack_testsuite(src.path(), &config, &b).unwrap();
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(&b).unwrap());

    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    let entries: Vec<(String, u32, u64, u64)> = ar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().display().to_string(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.mtime().unwrap(),
            )
        })
        .collect();
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        [
            ".config",
            "testsuite",
            "testsuite/cat",
            "testsuite/cat/cat-prints",
            "testsuite/link",
            "testsuite/runtest"
        ]
    );
    let mode = |n: &str| entries.iter().find(|e| e.0 == n).unwrap().1;
    assert_eq!(mode("testsuite/runtest"), 0o755);
    assert_eq!(mode("testsuite/cat/cat-prints"), 0o644);
    assert!(entries.iter().all(|e| e.2 == 0 && e.3 == 1731801600));
}

#[test]
fn missing_testsuite_is_an_error() {
    let src = tempfile::tempdir().unwrap();
    let config = src.path().join("config");
    std::fs::write(&config, "").unwrap();
    let err = pack_testsuite(src.path(), &config, &src.path().join("t.tar.gz")).unwrap_err();
    assert!(format!("{err:#}").contains("testsuite"), "{err:#}");
}
