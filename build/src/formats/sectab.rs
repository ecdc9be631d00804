//! The kernel's section table (`.alpenglow.sectab`) and the post-link that fills it with
//! the address range of each named data segment. See docs/build.md, "Post-link: the
//! section table".
//!
//! `wasm-ld` has no linker scripts, so the kernel cannot get `__start`/`__stop` symbols for
//! dotted section names; the table lists the names and this post-link writes each range,
//! found by `formats::wasm_segments`. The table is a data segment: an 8-byte header (magic
//! "STAB", entry count) then entries of a 32-byte NUL-padded name and the start and end
//! addresses, all little-endian u32.

use std::fmt::Write as _;

use anyhow::{anyhow, bail, Result};

use crate::formats::wasm_segments::{ModuleLayout, INIT_MEMORY_FN};

/// Name of the data segment holding the table.
pub const SECTAB_SEGMENT: &str = ".alpenglow.sectab";
/// "STAB" read as a little-endian u32.
pub const SECTAB_MAGIC: u32 = 0x4241_5453;
const HEADER_LEN: usize = 8;
const NAME_LEN: usize = 32;
const ENTRY_LEN: usize = NAME_LEN + 8;

/// One table entry after patching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectabEntry {
    pub name: String,
    pub start: u32,
    pub end: u32,
    /// False when no segment has this name (start = end = 0).
    pub found: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostlinkReport {
    /// Address of the table itself, if known.
    pub table_addr: Option<u32>,
    pub entries: Vec<SectabEntry>,
    /// `memory.fill` ranges `(start, end)` in `__wasm_init_memory`: zero-filled
    /// segments, which cannot be mapped to names (see `formats::wasm_segments`).
    pub fills: Vec<(u32, u32)>,
}

impl PostlinkReport {
    /// Human-readable lines for the build log.
    pub fn to_log(&self) -> String {
        let mut s = String::new();
        for e in &self.entries {
            let _ = if e.found {
                writeln!(
                    s,
                    "{:<32} {:#010x}..{:#010x} ({} bytes)",
                    e.name,
                    e.start,
                    e.end,
                    e.end - e.start
                )
            } else {
                writeln!(s, "{:<32} (no segment: empty range)", e.name)
            };
        }
        s
    }
}

/// A parsed (unpatched) table entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RawEntry {
    name: String,
    /// Offset of the entry within the segment.
    offset: usize,
}

fn parse_table(bytes: &[u8]) -> Result<Vec<RawEntry>> {
    let u32_at = |at: usize| -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&bytes[at..at + 4]);
        u32::from_le_bytes(b)
    };
    if bytes.len() < HEADER_LEN {
        bail!(
            "{SECTAB_SEGMENT} is {} bytes, too short for its 8-byte header",
            bytes.len()
        );
    }
    let magic = u32_at(0);
    if magic != SECTAB_MAGIC {
        bail!(
            "bad magic {magic:#010x} in {SECTAB_SEGMENT} (expected {SECTAB_MAGIC:#010x}, \"STAB\")"
        );
    }
    let count = u32_at(4);
    let needed = HEADER_LEN as u64 + u64::from(count) * ENTRY_LEN as u64;
    if needed > bytes.len() as u64 {
        bail!(
            "table count {count} exceeds segment size {} ({needed} bytes needed)",
            bytes.len()
        );
    }
    (0..count as usize)
        .map(|i| {
            let offset = HEADER_LEN + i * ENTRY_LEN;
            let raw = &bytes[offset..offset + NAME_LEN];
            let len = raw.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
            let name = std::str::from_utf8(&raw[..len]).map_err(|_| {
                anyhow!(
                    "table entry {i}: name is not valid UTF-8: {:?}",
                    &raw[..len]
                )
            })?;
            Ok(RawEntry {
                name: name.to_owned(),
                offset,
            })
        })
        .collect()
}

/// Fills in `.alpenglow.sectab` and returns the patched module (same size) and
/// what was written.
pub fn patch_sectab(wasm: &[u8]) -> Result<(Vec<u8>, PostlinkReport)> {
    let layout = ModuleLayout::parse(wasm)?;
    let table = layout
        .segment(SECTAB_SEGMENT)?
        .ok_or_else(|| anyhow!("no data segment named {SECTAB_SEGMENT}"))?;
    let table_range = table.data_offset..table.data_offset + table.size as usize;
    let raw = parse_table(&wasm[table_range])?;

    let mut out = wasm.to_vec();
    let mut entries = Vec::with_capacity(raw.len());
    for e in raw {
        let (start, end, found) = if e.name.is_empty() {
            (0, 0, false)
        } else {
            match layout.segment(&e.name)? {
                None => (0, 0, false),
                Some(seg) => {
                    let start = seg.addr.ok_or_else(|| {
                        if seg.passive {
                            anyhow!(
                                "segment {} is passive and {INIT_MEMORY_FN} does not copy it to a constant address",
                                e.name
                            )
                        } else {
                            anyhow!("segment {} has a non-constant offset expression", e.name)
                        }
                    })?;
                    let end = start
                        .checked_add(seg.size)
                        .ok_or_else(|| anyhow!("segment {} ends beyond 4 GiB", e.name))?;
                    (start, end, true)
                }
            }
        };
        let at = table.data_offset + e.offset + NAME_LEN;
        out[at..at + 4].copy_from_slice(&start.to_le_bytes());
        out[at + 4..at + 8].copy_from_slice(&end.to_le_bytes());
        entries.push(SectabEntry {
            name: e.name,
            start,
            end,
            found,
        });
    }
    Ok((
        out,
        PostlinkReport {
            table_addr: table.addr,
            entries,
            fills: layout.fills,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::wasm_segments::{const_i32, Segment};
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::process::Command;
    use wasmparser::{Parser, Payload, TypeRef};

    // ---- hand-encoded modules, for the error paths ----

    fn leb(mut v: u32, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn sleb(mut v: i32, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
            out.push(if done { byte } else { byte | 0x80 });
            if done {
                return;
            }
        }
    }

    fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len() as u32, out);
        out.extend_from_slice(body);
    }

    fn name_bytes(s: &str, out: &mut Vec<u8>) {
        leb(s.len() as u32, out);
        out.extend_from_slice(s.as_bytes());
    }

    /// A module with only a data section and a name section. `addr: None`
    /// makes the segment passive.
    fn module(segs: &[(&str, Option<i32>, &[u8])], with_names: bool) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        let mut data = Vec::new();
        leb(segs.len() as u32, &mut data);
        for (_, addr, bytes) in segs {
            match addr {
                Some(a) => {
                    data.push(0);
                    data.push(0x41);
                    sleb(*a, &mut data);
                    data.push(0x0b);
                }
                None => data.push(1),
            }
            leb(bytes.len() as u32, &mut data);
            data.extend_from_slice(bytes);
        }
        section(11, &data, &mut m);
        if with_names {
            let mut map = Vec::new();
            leb(segs.len() as u32, &mut map);
            for (i, (name, _, _)) in segs.iter().enumerate() {
                leb(i as u32, &mut map);
                name_bytes(name, &mut map);
            }
            let mut custom = Vec::new();
            name_bytes("name", &mut custom);
            custom.push(9);
            leb(map.len() as u32, &mut custom);
            custom.extend_from_slice(&map);
            section(0, &custom, &mut m);
        }
        m
    }

    fn table(magic: u32, count: u32, names: &[&str]) -> Vec<u8> {
        let mut t = magic.to_le_bytes().to_vec();
        t.extend_from_slice(&count.to_le_bytes());
        for n in names {
            let mut e = [0u8; ENTRY_LEN];
            e[..n.len()].copy_from_slice(n.as_bytes());
            e[NAME_LEN..].copy_from_slice(&[0xaa; 8]);
            t.extend_from_slice(&e);
        }
        t
    }

    fn err_of(wasm: &[u8]) -> String {
        format!("{:#}", patch_sectab(wasm).unwrap_err())
    }

    fn read_entry(wasm: &[u8], seg: &Segment, i: usize) -> (u32, u32) {
        let at = seg.data_offset + HEADER_LEN + i * ENTRY_LEN + NAME_LEN;
        let word = |o: usize| u32::from_le_bytes(wasm[o..o + 4].try_into().unwrap());
        (word(at), word(at + 4))
    }

    #[test]
    fn patches_hand_made_module() {
        let t = table(SECTAB_MAGIC, 3, &["a", "missing", "b"]);
        let wasm = module(
            &[
                (SECTAB_SEGMENT, Some(64), &t),
                ("a", Some(1000), &[1; 12]),
                ("b", Some(0x7fff_fff0), &[2; 3]),
            ],
            true,
        );
        let (out, report) = patch_sectab(&wasm).unwrap();
        assert_eq!(out.len(), wasm.len());
        let layout = ModuleLayout::parse(&out).unwrap();
        let seg = layout.segment(SECTAB_SEGMENT).unwrap().unwrap();
        assert_eq!(read_entry(&out, seg, 0), (1000, 1012));
        assert_eq!(read_entry(&out, seg, 1), (0, 0));
        assert_eq!(read_entry(&out, seg, 2), (0x7fff_fff0, 0x7fff_fff3));
        assert_eq!(report.table_addr, Some(64));
        assert_eq!(
            report.entries[1],
            SectabEntry {
                name: "missing".into(),
                start: 0,
                end: 0,
                found: false
            }
        );
        // Only the eight words of the three entries change.
        let changed = wasm.iter().zip(&out).filter(|(a, b)| a != b).count();
        assert!(changed <= 24, "{changed} bytes changed");
        assert!(report.to_log().contains("(no segment: empty range)"));
        // Patching is idempotent.
        assert_eq!(patch_sectab(&out).unwrap().0, out);
    }

    #[test]
    fn full_length_name_without_nul() {
        let long = "x".repeat(NAME_LEN);
        let t = table(SECTAB_MAGIC, 1, &[&long]);
        let wasm = module(
            &[(SECTAB_SEGMENT, Some(0), &t), (&long, Some(8), &[0; 4])],
            true,
        );
        let (_, report) = patch_sectab(&wasm).unwrap();
        assert_eq!((report.entries[0].start, report.entries[0].end), (8, 12));
    }

    #[test]
    fn error_messages() {
        let good = table(SECTAB_MAGIC, 1, &["a"]);
        let e = err_of(&module(&[("other", Some(0), &good)], true));
        assert!(e.contains("no data segment named .alpenglow.sectab"), "{e}");

        let e = err_of(&module(
            &[(SECTAB_SEGMENT, Some(0), &table(0x1234_5678, 0, &[]))],
            true,
        ));
        assert!(e.contains("bad magic 0x12345678"), "{e}");

        let e = err_of(&module(
            &[(SECTAB_SEGMENT, Some(0), &table(SECTAB_MAGIC, 12, &["a"]))],
            true,
        ));
        assert!(e.contains("table count 12 exceeds segment size 48"), "{e}");

        let e = err_of(&module(
            &[(SECTAB_SEGMENT, Some(0), &table(SECTAB_MAGIC, u32::MAX, &[]))],
            true,
        ));
        assert!(e.contains("exceeds segment size 8"), "{e}");

        let e = err_of(&module(&[(SECTAB_SEGMENT, Some(0), &[0x53, 0x54])], true));
        assert!(e.contains("too short"), "{e}");

        let e = err_of(&module(
            &[
                (SECTAB_SEGMENT, Some(0), &good),
                ("a", Some(100), &[0]),
                ("a", Some(200), &[0]),
            ],
            true,
        ));
        assert!(
            e.contains("segment a appears twice (data segments 1 and 2)"),
            "{e}"
        );

        let e = err_of(&module(
            &[(SECTAB_SEGMENT, Some(0), &good), ("a", None, &[0])],
            true,
        ));
        assert!(e.contains("segment a is passive"), "{e}");

        let e = err_of(&module(&[(SECTAB_SEGMENT, Some(0), &good)], false));
        assert!(e.contains("no \"name\" section"), "{e}");

        let mut bad_utf8 = table(SECTAB_MAGIC, 1, &["a"]);
        bad_utf8[8] = 0xff;
        let e = err_of(&module(&[(SECTAB_SEGMENT, Some(0), &bad_utf8)], true));
        assert!(e.contains("table entry 0: name is not valid UTF-8"), "{e}");

        let e = err_of(b"\0asm\x01\0\0\0\x0b\x05\x01");
        assert!(e.contains("parsing the wasm module"), "{e}");
        assert!(err_of(b"not wasm").contains("parsing"));
    }

    // ---- modules linked by the real toolchain ----

    const SECTAB_C: &str = r#"
struct ent { char name[32]; unsigned start, end; };
struct tab { unsigned magic, count; struct ent e[5]; };
__attribute__((section(".alpenglow.sectab"), used)) struct tab sectab = {
    0x42415453, 5,
    {{".initcall6.init"}, {"nosuch"}, {".init.setup"}, {"cident"}, {".data..percpu"}}
};
static int f(void) { return 1; }
__attribute__((section(".initcall6.init"), used)) int (*ic_a)(void) = f;
__attribute__((section(".init.setup"), used)) int setup_arr[4] = {1, 2, 3, 4};
/* A C-identifier name: wasm-ld defines __start_cident/__stop_cident, the ground truth. */
__attribute__((section("cident"), used)) int cident_arr[3] = {1, 2, 3};
/* Zero-initialised but not .bss: stays a data segment. */
__attribute__((section(".data..percpu"), used)) int percpu_arr[8];
int big[100];
"#;

    const SECOND_C: &str = r#"
static int g(void) { return 2; }
__attribute__((section(".initcall6.init"), used)) int (*ic_b)(void) = g;
"#;

    fn run(cmd: &mut Command) {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn require_tool(tool: &str) {
        let ok = Command::new(tool)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            ok,
            "`{tool}` not found: the post-link tests link a real wasm module with clang-19 and \
             wasm-ld-19 (Debian packages clang-19 and lld-19)"
        );
    }

    fn link(dir: &Path, shared: bool) -> Vec<u8> {
        require_tool("clang-19");
        require_tool("wasm-ld-19");
        let mut objs = Vec::new();
        for (name, src) in [("a", SECTAB_C), ("b", SECOND_C)] {
            let c = dir.join(format!("{name}.c"));
            let o = dir.join(format!("{name}.o"));
            std::fs::write(&c, src).unwrap();
            run(Command::new("clang-19")
                .args([
                    "--target=wasm32-unknown-unknown",
                    "-O1",
                    "-c",
                    "-matomics",
                    "-mbulk-memory",
                    "-fdata-sections",
                ])
                .arg(&c)
                .arg("-o")
                .arg(&o));
            objs.push(o);
        }
        let out = dir.join(if shared { "shared.wasm" } else { "plain.wasm" });
        let mut ld = Command::new("wasm-ld-19");
        ld.args([
            "--no-entry",
            "--export-all",
            "--no-merge-data-segments",
            "--no-gc-sections",
        ]);
        if shared {
            ld.args(["--import-memory", "--shared-memory", "--max-memory=1048576"]);
        }
        run(ld.args(&objs).arg("-o").arg(&out));
        std::fs::read(out).unwrap()
    }

    /// Values of exported i32 globals: the addresses of exported data symbols.
    fn exported_addrs(wasm: &[u8]) -> BTreeMap<String, u32> {
        let mut imported_globals = 0;
        let mut globals = Vec::new();
        let mut exports = Vec::new();
        for payload in Parser::new(0).parse_all(wasm) {
            match payload.unwrap() {
                Payload::ImportSection(r) => {
                    for i in r {
                        if matches!(i.unwrap().ty, TypeRef::Global(_)) {
                            imported_globals += 1;
                        }
                    }
                }
                Payload::GlobalSection(r) => {
                    for g in r {
                        globals.push(const_i32(g.unwrap().init_expr.get_operators_reader()));
                    }
                }
                Payload::ExportSection(r) => {
                    for e in r {
                        let e = e.unwrap();
                        if e.kind == wasmparser::ExternalKind::Global {
                            exports.push((e.name.to_owned(), e.index));
                        }
                    }
                }
                _ => {}
            }
        }
        exports
            .into_iter()
            .filter_map(|(name, idx)| {
                let value = globals.get(idx.checked_sub(imported_globals)? as usize)?;
                Some((name, (*value)?))
            })
            .collect()
    }

    fn check_linked(shared: bool) {
        let dir = tempfile::tempdir().unwrap();
        let wasm = link(dir.path(), shared);
        let addr = exported_addrs(&wasm);
        let sym = |n: &str| {
            *addr
                .get(n)
                .unwrap_or_else(|| panic!("{n} not exported: {addr:?}"))
        };

        let layout = ModuleLayout::parse(&wasm).unwrap();
        let table = layout.segment(SECTAB_SEGMENT).unwrap().unwrap();
        assert_eq!(table.passive, shared);
        assert_eq!(table.addr, Some(sym("sectab")));

        let (out, report) = patch_sectab(&wasm).unwrap();
        assert_eq!(out.len(), wasm.len());
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&out)
            .expect("patched module validates");

        // Two input segments from two objects form one output segment.
        let (a, b) = (sym("ic_a"), sym("ic_b"));
        let expected = [
            (".initcall6.init", a.min(b), a.max(b) + 4),
            ("nosuch", 0, 0),
            (".init.setup", sym("setup_arr"), sym("setup_arr") + 16),
            ("cident", sym("__start_cident"), sym("__stop_cident")),
            (".data..percpu", sym("percpu_arr"), sym("percpu_arr") + 32),
        ];
        let got: Vec<(&str, u32, u32)> = report
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.start, e.end))
            .collect();
        assert_eq!(got, expected);
        assert!(!report.entries[1].found);
        assert_ne!(a, 0);

        // The bytes in the module say the same.
        let seg = ModuleLayout::parse(&out).unwrap();
        let seg = seg.segment(SECTAB_SEGMENT).unwrap().unwrap().clone();
        for (i, (_, start, end)) in expected.iter().enumerate() {
            assert_eq!(read_entry(&out, &seg, i), (*start, *end));
        }

        let big = sym("big");
        if shared {
            // .bss is zero-filled by __wasm_init_memory.
            assert!(
                report
                    .fills
                    .iter()
                    .any(|&(s, e)| s <= big && big + 400 <= e),
                "no fill covers big at {big:#x}: {:?}",
                report.fills
            );
        } else {
            assert!(report.fills.is_empty());
        }
    }

    #[test]
    fn linked_active_segments() {
        check_linked(false);
    }

    #[test]
    fn linked_shared_memory_passive_segments() {
        check_linked(true);
    }
}
