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

#[cfg(test)]
mod tests {
    use super::*;

    fn leb(mut n: u32, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn section(id: u8, body: Vec<u8>, out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len() as u32, out);
        out.extend(body);
    }

    fn name(s: &str, out: &mut Vec<u8>) {
        leb(s.len() as u32, out);
        out.extend(s.as_bytes());
    }

    /// A module importing one function (index 0) and defining `funcs` (name, callees),
    /// with a name section unless `names` is false.
    fn module(funcs: &[(&str, &[u32])], names: bool) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        section(1, vec![1, 0x60, 0, 0], &mut m);
        let mut imp = vec![1];
        name("linux", &mut imp);
        name("syscall", &mut imp);
        imp.extend([0, 0]);
        section(2, imp, &mut m);
        let mut f = Vec::new();
        leb(funcs.len() as u32, &mut f);
        f.extend(std::iter::repeat_n(0, funcs.len()));
        section(3, f, &mut m);
        let mut code = Vec::new();
        leb(funcs.len() as u32, &mut code);
        for (_, callees) in funcs {
            let mut body = vec![0];
            for c in *callees {
                body.push(0x10);
                leb(*c, &mut body);
            }
            body.push(0x0b);
            leb(body.len() as u32, &mut code);
            code.extend(body);
        }
        section(10, code, &mut m);
        if names {
            let mut map = Vec::new();
            leb(funcs.len() as u32 + 1, &mut map);
            leb(0, &mut map);
            name("syscall", &mut map);
            for (i, (n, _)) in funcs.iter().enumerate() {
                leb(i as u32 + 1, &mut map);
                name(n, &mut map);
            }
            let mut body = Vec::new();
            name("name", &mut body);
            body.push(1);
            leb(map.len() as u32, &mut body);
            body.extend(map);
            section(0, body, &mut m);
        }
        m
    }

    // Indices: 0 syscall (imported), 1 main, 2 daemon, 3 fork, 4 system, 5 _Fork.
    const LIBC: [(&str, &[u32]); 5] = [
        ("main", &[2, 4]),
        ("daemon", &[3]),
        ("fork", &[5]),
        ("system", &[0]),
        ("_Fork", &[0]),
    ];

    #[test]
    fn a_call_is_reported_at_the_outermost_forbidden_function() {
        let found = scan(&module(&LIBC, true)).unwrap();
        assert_eq!(
            found,
            [Finding {
                function: "daemon".into(),
                callers: vec!["main".into()]
            }]
        );
        let mut direct = LIBC;
        direct[0] = ("main", &[3, 4]);
        direct[3] = ("system", &[0]);
        let found = scan(&module(&direct, true)).unwrap();
        assert_eq!(found[0].function, "fork");
    }

    #[test]
    fn check_refuses_unless_the_recipe_gives_a_reason() {
        let wasm = module(&LIBC, true);
        let err = check("/usr/bin/x", &wasm, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/usr/bin/x")
                && err.contains("daemon (called by main)")
                && err.contains("fork is ENOSYS"),
            "{err}"
        );
        let allow = BTreeMap::from([("daemon".to_string(), "only with -d".to_string())]);
        check("/usr/bin/x", &wasm, &allow).unwrap();
        // No forbidden call at all: fine without any allowance.
        let clean = module(&[("main", &[2]), ("system", &[0])], true);
        check("/usr/bin/y", &clean, &BTreeMap::new()).unwrap();
    }

    #[test]
    fn a_module_without_names_cannot_pass() {
        let err = check("/usr/bin/z", &module(&LIBC, false), &BTreeMap::new()).unwrap_err();
        assert!(format!("{err:#}").contains("no name section"), "{err:#}");
        assert!(check("/usr/bin/z", b"\0asm\x02", &BTreeMap::new()).is_err());
    }
}
