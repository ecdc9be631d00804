use super::machine::utc;
use super::report::*;
use super::stats::*;
use super::workload::*;
use serde_json::{json, Value};

#[test]
fn stats_take_median_min_max() {
    let s = Stats::of(&[5.0, 1.0, 3.0]).unwrap();
    assert_eq!((s.min, s.median, s.max), (1.0, 3.0, 5.0));
    let s = Stats::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
    assert_eq!(s.median, 2.5);
    assert_eq!(
        s.samples,
        vec![4.0, 1.0, 3.0, 2.0],
        "samples keep their order"
    );
    assert!((s.spread() - 1.2).abs() < 1e-9);
    assert!(Stats::of(&[]).is_none());
    assert!(Stats::of(&[1.0, f64::NAN]).is_none());
    let one = Stats::of(&[7.0]).unwrap();
    assert_eq!(
        (one.min, one.median, one.max, one.spread()),
        (7.0, 7.0, 7.0, 0.0)
    );
}

#[test]
fn ratio_is_guest_over_native() {
    let g = Stats::of(&[30.0]).unwrap();
    let n = Stats::of(&[10.0]).unwrap();
    assert_eq!(ratio(&g, &n), Some(3.0));
    assert_eq!(ratio(&g, &Stats::of(&[0.0]).unwrap()), None);
}

#[test]
fn output_lines_are_found_in_a_terminal_stream() {
    // What the terminal receives: the echoed command (with the prompt), escapes, CRs.
    let stream = "alpenglow:~# alpenglow-bench -t 7 cpu 1; echo @@\"\"7 exit $?\r\n\
                  \x1b[1m@@7 cpu-hash ms=61.2 work=20M-steps check=00d73830\x1b[0m\r\n\
                  @@7 cpu-qsort ms=119.8 work=500k-ints check=801d634d\r\n\
                  @@70 cpu-hash ms=1\r\n\
                  @@7 end\r\n@@7 exit 0\r\n\x1b]0;title\x07alpenglow:~# ";
    let out = parse_output(stream, 7).unwrap();
    assert!(out.ended);
    assert_eq!(out.exit, Some(0));
    assert_eq!(out.records.len(), 2);
    assert_eq!(out.records[0].name, "cpu-hash");
    assert_eq!(out.records[0].figure(), Some((61.2, "ms")));
    assert_eq!(out.records[1].fields["check"], "801d634d");
}

#[test]
fn a_wrapped_echo_is_not_an_exit_line_and_errors_are_reported() {
    let out = parse_output("@@3 exit $?\n@@3 syscall ns=812.5 n=100\n", 3).unwrap();
    assert_eq!(out.exit, None);
    assert!(!out.ended);
    assert_eq!(out.records[0].figure(), Some((812.5, "ns")));
    let e = parse_output("@@4 error /tmp/x: No space left on device\n", 4).unwrap_err();
    assert!(e.to_string().contains("No space left on device"), "{e}");
    assert!(
        parse_output("@@5 spawn us\n", 5).is_err(),
        "a field without a value"
    );
}

#[test]
fn figures_prefer_ms_then_us_then_ns() {
    let r = Record {
        name: "x".into(),
        fields: [
            ("n".to_string(), "5".to_string()),
            ("us".into(), "2.5".into()),
        ]
        .into(),
    };
    assert_eq!(r.figure(), Some((2.5, "us")));
    assert_eq!(r.num("n"), Some(5.0));
    let none = Record {
        name: "meminfo".into(),
        fields: [("MemTotal".to_string(), "1".to_string())].into(),
    };
    assert_eq!(none.figure(), None);
}

#[test]
fn shell_quoting() {
    assert_eq!(sh_quote("/tmp/z"), "/tmp/z");
    assert_eq!(sh_quote("i=0; done"), "'i=0; done'");
    assert_eq!(sh_quote("it's"), r"'it'\''s'");
    assert_eq!(sh_quote(""), "''");
}

#[test]
fn workloads_are_the_same_command_on_both_sides() {
    let native = Side {
        tmp: "/dev/shm/x".into(),
        true_path: "/c/bin/true".into(),
        web: "http://127.0.0.1:4321".into(),
        disk: "/repo/target/bench/disk-1".into(),
        drop_caches: ":".into(),
        big: "/c/bench-native/alpenglow-big".into(),
        fetch_big: false,
    };
    let g = workloads(&Side::guest(), false);
    let n = workloads(&native, false);
    assert_eq!(g.len(), n.len());
    for (a, b) in g.iter().zip(&n) {
        let norm = |w: &Workload, s: &Side| {
            w.args
                .iter()
                .map(|x| {
                    x.replace(&s.big, "BIG")
                        .replace(&s.tmp, "TMP")
                        .replace(&s.true_path, "TRUE")
                        .replace(&s.web, "WEB")
                        .replace(&s.disk, "DISK")
                        .replace(&s.drop_caches, "DROP")
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(norm(a, &Side::guest()), norm(b, &native));
    }
    let quick = workloads(&Side::guest(), true);
    assert!(quick.iter().any(|w| w.args.contains(&"20000".to_string())));
    // Only what runs BusyBox (a shell, its `true`) needs the native BusyBox.
    let needs_busybox = |w: &Workload| w.args.iter().any(|a| a == "/bin/true" || a == "sh");
    assert!(g.iter().all(|w| w.busybox == needs_busybox(w)));
}

#[test]
fn table_lines_up_and_shows_ratios() {
    let f = |name: &str, g: &[f64], n: Option<&[f64]>| Figure {
        name: name.into(),
        group: "system".into(),
        unit: "us".into(),
        guest: Stats::of(g),
        native: n.and_then(Stats::of),
        native_note: None,
    };
    let report = Report {
        meta: json!({ "date": "2025-01-01T00:00:00Z", "reps": 3 }),
        figures: vec![
            f(
                "spawn",
                &[1500.0, 1400.0, 1600.0],
                Some(&[500.0, 490.0, 510.0]),
            ),
            f("pipe", &[20.0], None),
        ],
        sizes: vec![Size {
            name: "busybox (wasm)".into(),
            raw: 1 << 20,
            gzip: 512 << 10,
            native: Some((2 << 20, 1 << 20)),
        }],
    };
    let t = report.table();
    assert!(t.contains("1500 [1400–1600]"), "{t}");
    assert!(t.contains("500 [490–510]"), "{t}");
    assert!(t.contains("3.00×"), "{t}");
    assert!(t.contains("0.50×"), "{t}");
    let lines: Vec<&str> = t.lines().collect();
    // Header, rule, then rows whose ratio column ends at the same place.
    assert!(lines[1].chars().all(|c| c == '-'));
    let col = |l: &str, pat: &str| l.find(pat).map(|i| l[..i].chars().count());
    let ratio_end = col(lines[0], "ratio").unwrap() + "ratio".len() - 1;
    assert_eq!(col(lines[2], "×"), Some(ratio_end));
    let last_dash = lines[3].rfind('–').map(|i| lines[3][..i].chars().count());
    assert_eq!(
        last_dash,
        Some(ratio_end),
        "no ratio without a native figure"
    );
    let md = report.markdown();
    assert!(
        md.contains("| system/spawn | us | 1500 [1400–1600] | 500 [490–510] | 3.00× |"),
        "{md}"
    );
    let j = report.to_json();
    assert_eq!(j["figures"][0]["ratio"], json!(3.0));
    assert_eq!(j["figures"][1]["native"], Value::Null);
    assert_eq!(j["sizes"][0]["native_raw"], json!(2 << 20));
}

#[test]
fn compare_shows_the_change_of_each_figure() {
    let mk = |g: f64, r: f64| {
        json!({ "meta": { "quick": false }, "figures": [
            { "group": "system", "name": "pipe", "guest": { "median": g }, "ratio": r },
        ]})
    };
    let c = compare(&mk(20.0, 4.0), &mk(15.0, 3.0)).unwrap();
    assert!(c.contains("system/pipe"), "{c}");
    assert!(c.contains("-25.0%"), "{c}");
    assert!(c.contains("4.00×") && c.contains("3.00×"), "{c}");
    assert!(compare(&json!({}), &mk(1.0, 1.0)).is_err());
}

#[test]
fn numbers_and_dates() {
    assert_eq!(num(1234.56), "1235");
    assert_eq!(num(12.345), "12.3");
    assert_eq!(num(1.2345), "1.23");
    assert_eq!(num(0.01234), "0.012");
    assert_eq!(bytes(1536), "1.5 KiB");
    assert_eq!(bytes(3 << 20), "3.00 MiB");
    assert_eq!(utc(0), "1970-01-01T00:00:00Z");
    assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(utc(1_763_772_663), "2025-11-22T00:51:03Z");
}
