//! The lint every built program passes: it must not call a function that is ENOSYS on this
//! target, unless its recipe says why that call cannot happen (`lint_allow`).
//!
//! Which functions (from `patches/musl/`): `fork` and `_Fork` fail with ENOSYS (no MMU to
//! copy an address space with); so do musl's `daemon` and `forkpty`, which fork. `vfork`
//! works only through the `<unistd.h>` macro (`__wasm_vfork_*`); a call to the `vfork`
//! symbol itself bypassed it and gets ENOSYS. `system`, `popen` and `posix_spawn` are fine:
//! musl runs them on `__clone(CLONE_VM|CLONE_VFORK)`, which the port implements.
//!
//! The module's name section names its functions, and its code section says who calls
//! whom: a forbidden function is reported when something outside the forbidden set calls
//! it (so `fork` called only from `daemon` is reported once, as `daemon`).

use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use wasmparser::{Name, Operator, Parser, Payload};

/// The functions that fail with ENOSYS here, with why.
pub const ENOSYS: &[(&str, &str)] = &[
    (
        "fork",
        "fork is ENOSYS: no MMU to copy the address space (use vfork or posix_spawn)",
    ),
    ("_Fork", "_Fork is ENOSYS (fork's implementation)"),
    ("daemon", "daemon() forks, and fork is ENOSYS"),
    ("forkpty", "forkpty() forks, and fork is ENOSYS"),
    (
        "vfork",
        "the vfork symbol is ENOSYS; only the <unistd.h> macro works (include it)",
    ),
];

/// A forbidden call found in a module: the function and who calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub function: String,
    pub callers: Vec<String>,
}

/// The forbidden functions `wasm` calls, from outside the forbidden set.
pub fn scan(wasm: &[u8]) -> Result<Vec<Finding>> {
    let mut imported = 0u32;
    let mut names: BTreeMap<u32, String> = BTreeMap::new();
    let mut calls: Vec<(u32, u32)> = Vec::new(); // (caller, callee)
    let mut body_index = 0u32;
    let mut has_names = false;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.context("not a valid wasm module")? {
            Payload::ImportSection(r) => {
                for imp in r {
                    if matches!(imp?.ty, wasmparser::TypeRef::Func(_)) {
                        imported += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let caller = imported + body_index;
                body_index += 1;
                let mut ops = body.get_operators_reader()?;
                while !ops.eof() {
                    if let Operator::Call { function_index }
                    | Operator::ReturnCall { function_index } = ops.read()?
                    {
                        calls.push((caller, function_index));
                    }
                }
            }
            Payload::CustomSection(c) if c.name() == "name" => {
                has_names = true;
                let reader = wasmparser::NameSectionReader::new(wasmparser::BinaryReader::new(
                    c.data(),
                    c.data_offset(),
                ));
                for n in reader {
                    if let Name::Function(map) = n? {
                        for naming in map {
                            let naming = naming?;
                            names.insert(naming.index, naming.name.to_string());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if !has_names {
        bail!("the module has no name section, so it cannot be linted (was it stripped with --strip-all?)");
    }
    let forbidden: BTreeSet<&str> = ENOSYS.iter().map(|(n, _)| *n).collect();
    let name = |i: u32| {
        names
            .get(&i)
            .cloned()
            .unwrap_or_else(|| format!("func[{i}]"))
    };
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (caller, callee) in calls {
        let callee_name = name(callee);
        let caller_name = name(caller);
        if forbidden.contains(callee_name.as_str()) && !forbidden.contains(caller_name.as_str()) {
            found.entry(callee_name).or_default().insert(caller_name);
        }
    }
    Ok(found
        .into_iter()
        .map(|(function, callers)| Finding {
            function,
            callers: callers.into_iter().collect(),
        })
        .collect())
}

/// Checks a program: an error names the file, each forbidden call, its callers and why,
/// unless `allow` has the function with a reason.
pub fn check(program: &str, wasm: &[u8], allow: &BTreeMap<String, String>) -> Result<()> {
    let findings = scan(wasm).with_context(|| format!("linting {program}"))?;
    let refused: Vec<String> = findings
        .iter()
        .filter(|f| !allow.contains_key(&f.function))
        .map(|f| {
            let why = ENOSYS
                .iter()
                .find(|(n, _)| *n == f.function)
                .map_or("", |(_, w)| *w);
            format!("{} (called by {}): {why}", f.function, f.callers.join(", "))
        })
        .collect();
    if !refused.is_empty() {
        bail!(
            "{program} calls functions that are ENOSYS on this target:\n  - {}\n(fix the program, or say in the recipe's lint_allow why the call cannot happen)",
            refused.join("\n  - ")
        );
    }
    Ok(())
}

/// True if `bytes` is a wasm module (what the lint and the module check apply to).
pub fn is_wasm(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\0asm")
}
