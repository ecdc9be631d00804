//! Where each data segment of a linked wasm module lands in memory, read from the module
//! itself: what the post-link (`formats::sectab`) needs.
//!
//! Linked with `--no-merge-data-segments`, each dotted section is one output data segment
//! whose name is in the "name" custom section. Its address is the offset expression of an
//! active segment or, with shared memory (passive segments), the destination of the
//! `i32.const dest; i32.const 0; i32.const size; memory.init seg` sequence that wasm-ld
//! emits in `__wasm_init_memory`.
//!
//! `memory.fill` ranges (zero-filled `.bss*` segments with shared memory) are reported but
//! cannot be named: wasm-ld leaves zero-fill segments out of the data section and the name
//! section, so nothing links a fill to a section name. Zero-initialised data in a non-`.bss`
//! section (e.g. `.data..percpu`) stays an ordinary data segment and is resolved like any
//! other.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use wasmparser::{DataKind, KnownCustom, Name, Operator, Parser, Payload, TypeRef};

/// The function wasm-ld emits to copy passive segments into a shared memory.
pub const INIT_MEMORY_FN: &str = "__wasm_init_memory";

/// One data segment of the linked module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub index: u32,
    pub name: Option<String>,
    pub size: u32,
    /// Load address, when it is a constant the module states.
    pub addr: Option<u32>,
    pub passive: bool,
    /// File offset of the segment's bytes.
    pub data_offset: usize,
}

/// Every data segment of the module, and the zero-filled ranges.
#[derive(Debug, Clone, Default)]
pub struct ModuleLayout {
    pub segments: Vec<Segment>,
    pub fills: Vec<(u32, u32)>,
}

impl ModuleLayout {
    /// Parses `wasm` and works out each data segment's name, size and address.
    pub fn parse(wasm: &[u8]) -> Result<Self> {
        let mut imported_funcs = 0u32;
        let mut bodies = Vec::new();
        let mut segments = Vec::new();
        let mut data_names = BTreeMap::new();
        let mut func_names = BTreeMap::new();
        let mut saw_names = false;

        for payload in Parser::new(0).parse_all(wasm) {
            match payload.context("parsing the wasm module")? {
                Payload::ImportSection(reader) => {
                    for import in reader {
                        if matches!(import.context("reading imports")?.ty, TypeRef::Func(_)) {
                            imported_funcs += 1;
                        }
                    }
                }
                Payload::CodeSectionEntry(body) => bodies.push(body),
                Payload::DataSection(reader) => {
                    for (index, data) in (0u32..).zip(reader) {
                        let data = data.with_context(|| format!("reading data segment {index}"))?;
                        let size = u32::try_from(data.data.len())
                            .with_context(|| format!("data segment {index} is over 4 GiB"))?;
                        let (addr, passive) = match data.kind {
                            DataKind::Passive => (None, true),
                            DataKind::Active { offset_expr, .. } => {
                                (const_i32(offset_expr.get_operators_reader()), false)
                            }
                        };
                        segments.push(Segment {
                            index,
                            name: None,
                            size,
                            addr,
                            passive,
                            // The segment's bytes end its entry.
                            data_offset: data.range.end - data.data.len(),
                        });
                    }
                }
                Payload::CustomSection(reader) => {
                    if let KnownCustom::Name(names) = reader.as_known() {
                        saw_names = true;
                        for sub in names {
                            match sub.context("reading the name section")? {
                                Name::Data(map) => collect_names(map, &mut data_names)?,
                                Name::Function(map) => collect_names(map, &mut func_names)?,
                                _ => {}
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if !saw_names {
            bail!("module has no \"name\" section (was it stripped? link without --strip-all/--strip-debug)");
        }
        for (index, name) in data_names {
            let seg = segments.get_mut(index as usize).ok_or_else(|| {
                anyhow!("name section names data segment {index}, which does not exist")
            })?;
            seg.name = Some(name);
        }

        let mut fills = Vec::new();
        if segments.iter().any(|s| s.passive) {
            let init = func_names
                .iter()
                .find(|(_, n)| n.as_str() == INIT_MEMORY_FN)
                .map(|(&i, _)| i);
            // Without __wasm_init_memory passive segments simply stay unresolved.
            if let Some(func) = init {
                let body = func
                    .checked_sub(imported_funcs)
                    .and_then(|i| bodies.get(i as usize))
                    .ok_or_else(|| anyhow!("{INIT_MEMORY_FN} (function {func}) has no body"))?;
                let ops = body
                    .get_operators_reader()
                    .with_context(|| format!("reading {INIT_MEMORY_FN}"))?;
                fills = scan_init_memory(ops, &mut segments)
                    .with_context(|| format!("scanning {INIT_MEMORY_FN}"))?;
            }
        }
        Ok(ModuleLayout { segments, fills })
    }

    /// The single segment called `name`; errors if more than one has it.
    pub fn segment(&self, name: &str) -> Result<Option<&Segment>> {
        let mut found = self
            .segments
            .iter()
            .filter(|s| s.name.as_deref() == Some(name));
        let first = found.next();
        if let (Some(a), Some(b)) = (first, found.next()) {
            bail!(
                "segment {name} appears twice (data segments {} and {}); link with --no-merge-data-segments from one wasm-ld run",
                a.index,
                b.index
            );
        }
        Ok(first)
    }
}

fn collect_names(map: wasmparser::NameMap<'_>, out: &mut BTreeMap<u32, String>) -> Result<()> {
    for naming in map {
        let naming = naming.context("reading the name section")?;
        out.insert(naming.index, naming.name.to_owned());
    }
    Ok(())
}

/// Value of a constant expression that is exactly `i32.const v; end`.
pub(crate) fn const_i32(mut ops: wasmparser::OperatorsReader<'_>) -> Option<u32> {
    let value = match ops.read().ok()? {
        Operator::I32Const { value } => value as u32,
        _ => return None,
    };
    matches!(ops.read().ok()?, Operator::End).then_some(value)
}

/// Records the destination of each `memory.init` whose three operands are
/// `i32.const`s pushed just before it, and the ranges of constant `memory.fill`s.
fn scan_init_memory(
    mut ops: wasmparser::OperatorsReader<'_>,
    segments: &mut [Segment],
) -> Result<Vec<(u32, u32)>> {
    // The last three operators, as i32 constants (None: something else).
    let mut window: [Option<u32>; 3] = [None; 3];
    let mut fills = Vec::new();
    while !ops.eof() {
        let op = ops.read()?;
        let mut push = None;
        match op {
            Operator::I32Const { value } => push = Some(value as u32),
            Operator::MemoryInit { data_index, mem: 0 } => {
                let seg = segments
                    .get_mut(data_index as usize)
                    .ok_or_else(|| anyhow!("memory.init of missing data segment {data_index}"))?;
                if let [Some(dest), Some(0), Some(size)] = window {
                    let name = seg.name.as_deref().unwrap_or("(unnamed)");
                    if size != seg.size {
                        bail!(
                            "memory.init copies {size} bytes of segment {data_index} ({name}), which has {}",
                            seg.size
                        );
                    }
                    if let Some(prev) = seg.addr {
                        if prev != dest {
                            bail!("segment {data_index} ({name}) is copied to both {prev:#x} and {dest:#x}");
                        }
                    }
                    seg.addr = Some(dest);
                }
            }
            Operator::MemoryFill { mem: 0 } => {
                if let [Some(dest), Some(0), Some(size)] = window {
                    let end = dest
                        .checked_add(size)
                        .ok_or_else(|| anyhow!("memory.fill {dest:#x}+{size:#x} overflows"))?;
                    fills.push((dest, end));
                }
            }
            _ => {}
        }
        window = [window[1], window[2], push];
    }
    Ok(fills)
}
