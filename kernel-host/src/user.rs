//! User programs: the check `user_create` makes on a program module before it creates the
//! process memory (docs/userland.md, "What a program module must look like"). Pure parsing of
//! the module's type, import and export sections, so it is tested natively.

/// Pages when the memory import has no maximum (4 GiB).
pub const DEFAULT_MAX_PAGES: u32 = 65536;

/// The program's function table export (`wasm-ld --export-table`): signal handlers are indices
/// into it.
pub const FUNCTION_TABLE_EXPORT: &str = "__indirect_function_table";

/// A new thread's entry, `(i32 sp) -> ()`, exported by programs that can create threads (musl's
/// `__clone`); the host calls it with the instance's `__stack_pointer` set to `sp`.
pub const THREAD_START_EXPORT: &str = "__wasm_thread_start";

/// The process memory a program module asks for, in 64 KiB pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramMemory {
    pub initial: u32,
    pub maximum: u32,
}

/// Released process memories a worker keeps for its next exec rather than making a new one:
/// every new `WebAssembly.Memory` takes about 10 GiB of the page's address space (V8's guard
/// regions, out of about 1 TiB) until the garbage collector finds it dead, which in a worker
/// that runs wasm without a break can take very long. A shell's worker makes the memory of
/// every program it starts (a vfork child execs in its parent's worker), so fewer spares than
/// a pipeline has programs would drop a memory, and with it 10 GiB, at every pipeline.
pub const SPARE_MEMORIES: usize = 4;
/// Larger memories are not kept: they hold RAM, and zeroing them costs more than a new one.
pub const SPARE_MAX_PAGES: u32 = 256;

/// Program modules the page keeps compiled, with the file they came from, and sends to every
/// worker: an exec of the same file (BusyBox, again and again from a shell) in any worker
/// reuses the module, and with it the code V8 has compiled and optimised for it so far.
pub const CACHED_PROGRAMS: usize = 8;

/// Adds `entry` to a most-recent-last list of at most `CACHED_PROGRAMS`, dropping the oldest.
pub fn remember<T>(list: &mut Vec<T>, entry: T) {
    if list.len() >= CACHED_PROGRAMS {
        list.drain(..=list.len() - CACHED_PROGRAMS);
    }
    list.push(entry);
}

/// The export of [`zeroing_module`]: `zero(at, len)`.
pub const ZERO_EXPORT: &str = "zero";

/// A module that zeroes part of a process memory with wasm's `memory.fill`, which is a
/// memset: a typed array's `fill` of a shared buffer is a loop of relaxed atomic stores,
/// several times slower (16 MiB: about 18 ms against 2–6 ms in V8). It imports `env.memory`
/// as any shared 32-bit memory (0 to [`DEFAULT_MAX_PAGES`] pages), so one compiled module
/// serves every process memory; `zero(at, len)` traps outside the memory.
pub fn zeroing_module() -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, EntityType, ExportKind, ExportSection, Function, FunctionSection,
        ImportSection, Instruction, MemoryType, Module, TypeSection, ValType,
    };
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32, ValType::I32], []);
    let mut imports = ImportSection::new();
    imports.import(
        "env",
        "memory",
        EntityType::Memory(MemoryType {
            minimum: 0,
            maximum: Some(DEFAULT_MAX_PAGES.into()),
            memory64: false,
            shared: true,
            page_size_log2: None,
        }),
    );
    let mut functions = FunctionSection::new();
    functions.function(0);
    let mut exports = ExportSection::new();
    exports.export(ZERO_EXPORT, ExportKind::Func, 0);
    let mut zero = Function::new([]);
    for i in [
        Instruction::LocalGet(0),
        Instruction::I32Const(0),
        Instruction::LocalGet(1),
        Instruction::MemoryFill(0),
        Instruction::End,
    ] {
        zero.instruction(&i);
    }
    let mut code = CodeSection::new();
    code.function(&zero);
    let mut module = Module::new();
    module
        .section(&types)
        .section(&imports)
        .section(&functions)
        .section(&exports)
        .section(&code);
    module.finish()
}

/// Whether `a` and `b` hold the same bytes, compared a `u64` at a time where both are
/// aligned alike. `==` on byte slices is `memcmp`, which wasm32's compiler-builtins does a
/// byte at a time, and the release build is optimised for size: comparing BusyBox's 1.2 MB
/// with the kept copy took 0.5 ms of every exec.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (ah, aw, at) = bytemuck::pod_align_to::<u8, u64>(a);
    let (bh, bw, bt) = bytemuck::pod_align_to::<u8, u64>(b);
    if ah.len() != bh.len() {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    ah.iter().zip(bh).all(|(x, y)| x == y)
        && aw.iter().zip(bw).all(|(x, y)| x == y)
        && at.iter().zip(bt).all(|(x, y)| x == y)
}

/// Whether a released memory of `pages` is worth keeping when `spares` are kept already.
pub fn keep_as_spare(pages: u32, spares: usize) -> bool {
    pages <= SPARE_MAX_PAGES && spares < SPARE_MEMORIES
}

/// Whether a spare memory of `pages` with the maximum `max` can serve a program asking for
/// `want`: the pages it must grow by first. Its maximum must be the program's (an imported
/// memory's limits must match the declared ones).
pub fn spare_fits(pages: u32, max: u32, want: ProgramMemory) -> Option<u32> {
    (max == want.maximum && want.initial <= want.maximum)
        .then(|| want.initial.saturating_sub(pages))
}

/// Checks that `bytes` is a program module: it imports exactly a shared `env.memory` and
/// `linux.syscall: (i32 x 7) -> i32`, and exports `_start: (i32) -> ()`, `__stack_pointer`,
/// `__wasm_init_tls`, `__tls_size`, `__tls_align` and its function table
/// (`__indirect_function_table`, through which the kernel calls signal handlers). Returns its
/// memory's limits.
pub fn check_program(bytes: &[u8]) -> Result<ProgramMemory, String> {
    let mut r = Reader { bytes, pos: 0 };
    if r.take(8)? != b"\0asm\x01\0\0\0" {
        return Err("not a wasm module (version 1)".into());
    }
    let mut types: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut memory = None;
    let mut syscall = false;
    let mut exports: Vec<(String, u8, u32)> = Vec::new();
    while r.pos < bytes.len() {
        let id = r.byte()?;
        let size = r.u32()? as usize;
        let body = r.take(size)?;
        let mut s = Reader {
            bytes: body,
            pos: 0,
        };
        match id {
            1 => {
                for _ in 0..s.u32()? {
                    if s.byte()? != 0x60 {
                        return Err("a type that is not a function".into());
                    }
                    let n = s.u32()? as usize;
                    let params = s.take(n)?.to_vec();
                    let n = s.u32()? as usize;
                    let results = s.take(n)?.to_vec();
                    types.push((params, results));
                }
            }
            2 => {
                for _ in 0..s.u32()? {
                    let module = s.name()?;
                    let field = s.name()?;
                    match (s.byte()?, module.as_str(), field.as_str()) {
                        (0, "linux", "syscall") => {
                            let t = s.u32()?;
                            let ok = types
                                .get(t as usize)
                                .is_some_and(|(p, r)| p == &[0x7f; 7] && r == &[0x7f]);
                            if !ok {
                                return Err("linux.syscall is not (i32 x 7) -> i32".into());
                            }
                            func_types.push(t);
                            syscall = true;
                        }
                        (2, "env", "memory") => {
                            let flags = s.byte()?;
                            let initial = s.u32()?;
                            let maximum = if flags & 1 != 0 {
                                s.u32()?
                            } else {
                                DEFAULT_MAX_PAGES
                            };
                            if flags & 2 == 0 {
                                return Err("env.memory is not shared".into());
                            }
                            if flags & !3 != 0 {
                                return Err("env.memory is not a 32-bit memory".into());
                            }
                            memory = Some(ProgramMemory { initial, maximum });
                        }
                        _ => return Err(format!("imports {module}.{field}")),
                    }
                }
            }
            3 => {
                for _ in 0..s.u32()? {
                    func_types.push(s.u32()?);
                }
            }
            7 => {
                for _ in 0..s.u32()? {
                    let name = s.name()?;
                    let kind = s.byte()?;
                    let index = s.u32()?;
                    exports.push((name, kind, index));
                }
            }
            _ => {}
        }
    }
    let memory = memory.ok_or("does not import env.memory")?;
    if !syscall {
        return Err("does not import linux.syscall".into());
    }
    let start = exports
        .iter()
        .find(|(n, k, _)| n == "_start" && *k == 0)
        .ok_or("does not export the function _start")?;
    let ok = func_types
        .get(start.2 as usize)
        .and_then(|t| types.get(*t as usize))
        .is_some_and(|(p, r)| p == &[0x7f] && r.is_empty());
    if !ok {
        return Err("_start is not (i32) -> ()".into());
    }
    for name in [
        "__stack_pointer",
        "__wasm_init_tls",
        "__tls_size",
        "__tls_align",
    ] {
        if !exports.iter().any(|(n, _, _)| n == name) {
            return Err(format!("does not export {name}"));
        }
    }
    if !exports
        .iter()
        .any(|(n, k, _)| n == FUNCTION_TABLE_EXPORT && *k == 1)
    {
        return Err(format!(
            "does not export its function table ({FUNCTION_TABLE_EXPORT}; link with --export-table)"
        ));
    }
    if memory.initial > memory.maximum {
        return Err("env.memory's minimum is above its maximum".into());
    }
    Ok(memory)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or("truncated module")?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let mut v: u64 = 0;
        for shift in (0..35).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return u32::try_from(v).map_err(|_| "LEB128 value too large".into());
            }
        }
        Err("LEB128 value too long".into())
    }

    fn name(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "a name that is not UTF-8".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zeroing_module_is_valid_and_imports_any_shared_memory() {
        let bytes = zeroing_module();
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&bytes)
            .expect("a valid module");
        let mut imports = Vec::new();
        let mut exports = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
            match payload.expect("parses") {
                wasmparser::Payload::ImportSection(s) => {
                    for i in s {
                        let i = i.expect("an import");
                        imports.push((i.module.to_string(), i.name.to_string(), i.ty));
                    }
                }
                wasmparser::Payload::ExportSection(s) => {
                    for e in s {
                        exports.push(e.expect("an export").name.to_string());
                    }
                }
                _ => {}
            }
        }
        assert_eq!(exports, [ZERO_EXPORT]);
        let [(module, field, wasmparser::TypeRef::Memory(m))] = imports.as_slice() else {
            panic!("one memory import, not {imports:?}");
        };
        assert_eq!((module.as_str(), field.as_str()), ("env", "memory"));
        assert!(m.shared && !m.memory64);
        assert_eq!((m.initial, m.maximum), (0, Some(DEFAULT_MAX_PAGES.into())));
    }

    #[test]
    fn the_program_cache_keeps_the_latest_ones() {
        let mut list = Vec::new();
        for i in 0..CACHED_PROGRAMS + 3 {
            remember(&mut list, i);
        }
        assert_eq!(list.len(), CACHED_PROGRAMS);
        assert_eq!(list.first(), Some(&3));
        assert_eq!(list.last(), Some(&(CACHED_PROGRAMS + 2)));
        // A list grown past the cap some other way is cut back too.
        let mut long: Vec<usize> = (0..CACHED_PROGRAMS + 5).collect();
        remember(&mut long, 99);
        assert_eq!(long.len(), CACHED_PROGRAMS);
        assert_eq!(long.last(), Some(&99));
    }

    #[test]
    fn same_bytes_finds_a_difference_anywhere() {
        let a: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        assert!(same_bytes(&a, &a.clone()));
        assert!(same_bytes(&[], &[]));
        assert!(!same_bytes(&a, &a[..999]));
        // Differently aligned: compared a byte at a time.
        assert!(same_bytes(&a[1..], &a.clone()[1..]));
        assert!(!same_bytes(&a[1..], &a[..999]));
        for at in [0, 7, 8, 500, 991, 992, 999] {
            let mut b = a.clone();
            b[at] ^= 1;
            assert!(!same_bytes(&a, &b), "a difference at {at}");
        }
    }

    #[test]
    fn spares_are_small_few_and_of_the_same_maximum() {
        assert!(keep_as_spare(40, 0));
        assert!(keep_as_spare(SPARE_MAX_PAGES, SPARE_MEMORIES - 1));
        assert!(!keep_as_spare(SPARE_MAX_PAGES + 1, 0));
        assert!(!keep_as_spare(40, SPARE_MEMORIES));
        let want = ProgramMemory {
            initial: 30,
            maximum: DEFAULT_MAX_PAGES,
        };
        assert_eq!(spare_fits(40, DEFAULT_MAX_PAGES, want), Some(0));
        assert_eq!(spare_fits(20, DEFAULT_MAX_PAGES, want), Some(10));
        assert_eq!(spare_fits(40, 1024, want), None);
    }

    fn section(id: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![id, body.len() as u8];
        v.extend_from_slice(body);
        v
    }

    fn name(s: &str) -> Vec<u8> {
        let mut v = vec![s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    /// A minimal program module; `memory_flags` 3 = shared with a maximum.
    fn program(memory_flags: u8, extra_import: bool) -> Vec<u8> {
        program_exporting(memory_flags, extra_import, true)
    }

    fn program_exporting(memory_flags: u8, extra_import: bool, table: bool) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        let mut types = vec![2, 0x60, 7];
        types.extend_from_slice(&[0x7f; 7]);
        types.extend_from_slice(&[1, 0x7f, 0x60, 1, 0x7f, 0]);
        m.extend(section(1, &types));
        let mut imports = vec![if extra_import { 3 } else { 2 }];
        imports.extend(name("env"));
        imports.extend(name("memory"));
        imports.extend_from_slice(&[2, memory_flags, 2]);
        if memory_flags & 1 != 0 {
            imports.push(16);
        }
        imports.extend(name("linux"));
        imports.extend(name("syscall"));
        imports.extend_from_slice(&[0, 0]);
        if extra_import {
            imports.extend(name("env"));
            imports.extend(name("other"));
            imports.extend_from_slice(&[0, 1]);
        }
        m.extend(section(2, &imports));
        m.extend(section(3, &[1, 1]));
        let first_own = if extra_import { 2 } else { 1 };
        let mut list = vec![
            ("_start", 0, first_own),
            ("__stack_pointer", 3, 0),
            ("__wasm_init_tls", 0, first_own),
            ("__tls_size", 3, 1),
            ("__tls_align", 3, 2),
        ];
        if table {
            list.push((FUNCTION_TABLE_EXPORT, 1, 0));
        }
        let mut exports = vec![list.len() as u8];
        for (n, kind, idx) in list {
            exports.extend(name(n));
            exports.extend_from_slice(&[kind, idx]);
        }
        m.extend(section(7, &exports));
        m
    }

    #[test]
    fn accepts_a_program_module() {
        assert_eq!(
            check_program(&program(3, false)),
            Ok(ProgramMemory {
                initial: 2,
                maximum: 16
            })
        );
    }

    #[test]
    fn rejects_other_modules() {
        assert!(check_program(&program(1, false))
            .unwrap_err()
            .contains("not shared"));
        assert!(check_program(&program(3, true))
            .unwrap_err()
            .contains("env.other"));
        assert!(check_program(b"\x7fELF").is_err());
        assert!(check_program(&program_exporting(3, false, false))
            .unwrap_err()
            .contains("function table"));
        let mut truncated = program(3, false);
        truncated.truncate(30);
        assert!(check_program(&truncated).is_err());
    }

    #[test]
    fn a_shared_memory_without_maximum_gets_the_default() {
        assert_eq!(
            check_program(&program(2, false)).map(|m| m.maximum),
            Ok(DEFAULT_MAX_PAGES)
        );
    }
}
