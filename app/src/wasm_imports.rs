//! A small reader for the import section of a WebAssembly binary.
//!
//! `WebAssembly.Module.imports()` names the imports but not their limits, and the page has to
//! create the shared `WebAssembly.Memory` the kernel imports with exactly the limits the module
//! declares. This reads them from the binary. It never panics: malformed input is an error.

use std::fmt;

/// Limits of an imported memory, in 64 KiB pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryType {
    pub initial: u64,
    pub maximum: Option<u64>,
    pub shared: bool,
    pub memory64: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportKind {
    Function,
    Table,
    Memory(MemoryType),
    Global,
    Tag,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub kind: ImportKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, ParseError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| ParseError("unexpected end of module".into()))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| ParseError("unexpected end of module".into()))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn leb_u64(&mut self) -> Result<u64, ParseError> {
        let mut result: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            result |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(result);
            }
        }
        err("LEB128 number too long")
    }

    fn leb_u32(&mut self) -> Result<u32, ParseError> {
        let v = self.leb_u64()?;
        u32::try_from(v).or_else(|_| err("LEB128 number out of range"))
    }

    /// A signed LEB128 (s33 heap types); only its length matters here.
    fn skip_sleb(&mut self) -> Result<(), ParseError> {
        for _ in 0..10 {
            if self.byte()? & 0x80 == 0 {
                return Ok(());
            }
        }
        err("LEB128 number too long")
    }

    fn name(&mut self) -> Result<String, ParseError> {
        let len = self.leb_u32()? as usize;
        let raw = self.take(len)?;
        String::from_utf8(raw.to_vec()).or_else(|_| err("import name is not UTF-8"))
    }

    fn limits(&mut self) -> Result<MemoryType, ParseError> {
        let flags = self.byte()?;
        if flags & !0x07 != 0 {
            return err(format!("unknown limits flags {flags:#04x}"));
        }
        let memory64 = flags & 0x04 != 0;
        let read = |r: &mut Self| {
            if memory64 {
                r.leb_u64()
            } else {
                r.leb_u32().map(u64::from)
            }
        };
        let initial = read(self)?;
        let maximum = if flags & 0x01 != 0 {
            Some(read(self)?)
        } else {
            None
        };
        Ok(MemoryType {
            initial,
            maximum,
            shared: flags & 0x02 != 0,
            memory64,
        })
    }

    /// A value or reference type; reference types may carry a heap type.
    fn skip_valtype(&mut self) -> Result<(), ParseError> {
        match self.byte()? {
            0x7f | 0x7e | 0x7d | 0x7c | 0x7b | 0x70 | 0x6f | 0x6e | 0x6d | 0x6c | 0x6b | 0x6a
            | 0x69 | 0x71 | 0x72 | 0x73 | 0x74 => Ok(()),
            0x63 | 0x64 => self.skip_sleb(),
            other => err(format!("unknown value type {other:#04x}")),
        }
    }
}

/// Returns every import of the module, in order.
pub fn imports(bytes: &[u8]) -> Result<Vec<Import>, ParseError> {
    let mut r = Reader { bytes, pos: 0 };
    if r.take(4).ok() != Some(b"\0asm".as_slice()) {
        return err("not a WebAssembly module (bad magic number)");
    }
    if r.take(4)? != [1, 0, 0, 0] {
        return err("unsupported WebAssembly binary version");
    }
    while r.pos < bytes.len() {
        let id = r.byte()?;
        let size = r.leb_u32()? as usize;
        let body = r.take(size)?;
        if id == 2 {
            return import_section(body);
        }
    }
    Ok(Vec::new())
}

fn import_section(body: &[u8]) -> Result<Vec<Import>, ParseError> {
    let mut r = Reader {
        bytes: body,
        pos: 0,
    };
    let count = r.leb_u32()?;
    let mut out = Vec::with_capacity(count.min(65_536) as usize);
    for _ in 0..count {
        let module = r.name()?;
        let name = r.name()?;
        let kind = match r.byte()? {
            0x00 => {
                r.leb_u32()?;
                ImportKind::Function
            }
            0x01 => {
                r.skip_valtype()?;
                r.limits()?;
                ImportKind::Table
            }
            0x02 => ImportKind::Memory(r.limits()?),
            0x03 => {
                r.skip_valtype()?;
                r.byte()?;
                ImportKind::Global
            }
            0x04 => {
                r.byte()?;
                r.leb_u32()?;
                ImportKind::Tag
            }
            other => {
                return err(format!(
                    "import {module}.{name} has unknown kind {other:#04x}"
                ))
            }
        };
        out.push(Import { module, name, kind });
    }
    Ok(out)
}

/// The module's imported memory (a module imports at most one here), with its name.
pub fn memory_import(bytes: &[u8]) -> Result<Option<(String, String, MemoryType)>, ParseError> {
    Ok(imports(bytes)?.into_iter().find_map(|i| match i.kind {
        ImportKind::Memory(m) => Some((i.module, i.name, m)),
        _ => None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_with_imports(section: &[u8]) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        // A type section (id 1) first, as a linker would emit: one `() -> ()` type.
        m.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]);
        m.push(2);
        m.push(section.len() as u8);
        m.extend_from_slice(section);
        m
    }

    #[test]
    fn reads_shared_memory_limits_and_other_kinds() {
        let section = [
            3, // three imports
            4, b'h', b'o', b's', b't', 3, b'f', b'o', b'o', 0x00,
            0x00, // host.foo: func type 0
            3, b'e', b'n', b'v', 6, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 0x03, 0x11, 0x80,
            0x80, 0x01, // env.memory: shared, initial 17, max 16384
            3, b'e', b'n', b'v', 1, b'g', 0x03, 0x7f, 0x01, // env.g: mutable i32 global
        ];
        let bytes = module_with_imports(&section);
        let all = imports(&bytes).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].kind, ImportKind::Function);
        assert_eq!(all[2].kind, ImportKind::Global);
        let (module, name, mem) = memory_import(&bytes).unwrap().unwrap();
        assert_eq!((module.as_str(), name.as_str()), ("env", "memory"));
        assert_eq!(
            mem,
            MemoryType {
                initial: 17,
                maximum: Some(16384),
                shared: true,
                memory64: false
            }
        );
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(imports(b"").is_err());
        assert!(imports(b"\0asm").is_err());
        assert!(imports(b"GIF89a\0\0").is_err());
        let bytes = module_with_imports(&[1, 3, b'e', b'n', b'v', 0xff]);
        assert!(imports(&bytes).is_err());
        let mut truncated =
            module_with_imports(&[1, 3, b'e', b'n', b'v', 1, b'm', 0x02, 0x01, 0x01, 0x02]);
        truncated.truncate(truncated.len() - 2);
        assert!(imports(&truncated).is_err());
        // No import section at all is fine.
        assert_eq!(imports(b"\0asm\x01\0\0\0").unwrap(), vec![]);
    }
}
