//! The kernel↔host ABI check: the imports and exports of the built `dist/vmlinux.wasm` must
//! be exactly what `kernel_host::abi` implements, both ways.

use kernel_host::abi::{self, Val};
use wasmparser::{CompositeInnerType, ExternalKind, Parser, Payload, TypeRef, ValType};

fn val(v: ValType) -> Option<Val> {
    match v {
        ValType::I32 => Some(Val::I32),
        ValType::I64 => Some(Val::I64),
        _ => None,
    }
}

#[test]
#[ignore = "needs dist/vmlinux.wasm: run by cargo x test"]
fn vmlinux_imports_and_exports_match_the_host() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/vmlinux.wasm");
    let wasm = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo x kernel`)", path.display()));

    let mut types: Vec<(Vec<Val>, Vec<Val>)> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut global_exports = Vec::new();
    let mut memory = None;
    for payload in Parser::new(0).parse_all(&wasm) {
        match payload.unwrap() {
            Payload::TypeSection(r) => {
                for rec in r {
                    for sub in rec.unwrap().into_types() {
                        if let CompositeInnerType::Func(f) = &sub.composite_type.inner {
                            let conv = |vs: &[ValType]| {
                                vs.iter()
                                    .map(|v| val(*v).expect("only i32/i64 at the ABI"))
                                    .collect()
                            };
                            types.push((conv(f.params()), conv(f.results())));
                        } else {
                            types.push((vec![], vec![]));
                        }
                    }
                }
            }
            Payload::ImportSection(r) => {
                for imp in r {
                    let imp = imp.unwrap();
                    match imp.ty {
                        TypeRef::Func(t) => {
                            func_types.push(t);
                            imports.push((imp.module.to_string(), imp.name.to_string(), t));
                        }
                        TypeRef::Memory(m) => {
                            memory = Some((imp.module.to_string(), imp.name.to_string(), m))
                        }
                        other => panic!("unexpected import {}.{}: {other:?}", imp.module, imp.name),
                    }
                }
            }
            Payload::FunctionSection(r) => func_types.extend(r.into_iter().map(|t| t.unwrap())),
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e.unwrap();
                    match e.kind {
                        ExternalKind::Func => exports.push((e.name.to_string(), e.index)),
                        ExternalKind::Global => global_exports.push(e.name.to_string()),
                        _ => panic!("unexpected export {}: {:?}", e.name, e.kind),
                    }
                }
            }
            _ => {}
        }
    }

    let (m_mod, m_name, mem) = memory.expect("vmlinux imports its memory");
    assert_eq!(
        (m_mod.as_str(), m_name.as_str()),
        (abi::MEMORY_MODULE, abi::MEMORY_NAME)
    );
    assert!(
        mem.shared && mem.maximum.is_some(),
        "kernel memory must be shared with a maximum: {mem:?}"
    );

    for (module, name, t) in &imports {
        assert_eq!(
            module,
            abi::IMPORT_MODULE,
            "import {module}.{name} is from an unknown module"
        );
        let f = abi::import(name).unwrap_or_else(|| {
            panic!("the kernel imports host.{name}, which the host does not implement")
        });
        let (p, r) = &types[*t as usize];
        assert_eq!(
            (p.as_slice(), r.as_slice()),
            (f.params, f.results),
            "signature of host.{name}"
        );
    }
    for f in abi::IMPORTS {
        assert!(
            imports.iter().any(|(_, n, _)| n == f.name),
            "the host implements host.{} but the kernel does not import it",
            f.name
        );
    }
    for (name, _) in &exports {
        assert!(
            abi::export(name).is_some(),
            "the kernel exports {name}, which the host does not know"
        );
    }
    for name in &global_exports {
        assert!(
            abi::GLOBAL_EXPORTS.contains(&name.as_str()),
            "the kernel exports global {name}, which the host does not know"
        );
    }
    for name in abi::GLOBAL_EXPORTS {
        assert!(
            global_exports.iter().any(|n| n == name),
            "the host reads the global {name}, which the kernel does not export"
        );
    }
    for f in abi::EXPORTS {
        let (_, idx) = exports
            .iter()
            .find(|(n, _)| n == f.name)
            .unwrap_or_else(|| panic!("the kernel does not export {}", f.name));
        let (p, r) = &types[func_types[*idx as usize] as usize];
        assert_eq!(
            (p.as_slice(), r.as_slice()),
            (f.params, f.results),
            "signature of export {}",
            f.name
        );
    }
}
