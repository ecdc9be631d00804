//! Preemption points in user programs.
//!
//! The kernel runs only when a program calls it: a loop that makes no system call would keep
//! the CPU forever, and with it the shell, Ctrl-C and every other process. So before a program
//! module is compiled (`user_create`), every loop header gets a check of the process's
//! *attention word*, a 32-bit cell at [`ATTENTION_ADDR`] in the program's own memory:
//!
//! ```text
//! loop ...
//!   (if (i32.load offset=ATTENTION_ADDR (i32.const 0))
//!     (then (i32.store offset=ATTENTION_ADDR (i32.const 0) (i32.const 0))
//!           (drop (call $linux.syscall (i32.const __NR_getpid) 0 0 0 0 0 0))))
//!   ...
//! ```
//!
//! The host sets the word when the kernel has something to do (the timer interrupt is due);
//! the program then enters the kernel through its own syscall import with a system call that
//! changes nothing, and the kernel's system call path does the rest: it takes the pending
//! interrupts on entry, and on the way out reschedules (the time slice is over, or a woken task
//! should run) and delivers signals (Ctrl-C, `kill`), exactly as after any system call. The
//! check reads only the process's own memory, so programs stay isolated.
//!
//! The word lies at the bottom of the stack region (programs are linked `--stack-first`, so
//! the lowest addresses are the deepest stack, which only a program about to overflow its
//! stack reaches). Bodies are copied byte for byte with the check spliced in after each
//! `loop` instruction: the inserted block is closed at once, so no branch depth changes.

use std::borrow::Cow;
use wasm_encoder::{
    BlockType, CodeSection, CustomSection, Encode, Instruction, MemArg, Module, RawSection,
};
use wasmparser::{Operator, Parser, Payload, TypeRef};

/// Where the attention word is in every process memory.
pub const ATTENTION_ADDR: u32 = 16;

/// The system call a preemption point makes: getpid (asm-generic numbering), which changes
/// nothing; its entry and exit are what matter.
const NR_GETPID: i32 = 172;

/// The check spliced in after each loop header, and where its `if` is in it.
fn check(syscall: u32) -> (Vec<u8>, usize) {
    let word = MemArg {
        offset: ATTENTION_ADDR.into(),
        align: 2,
        memory_index: 0,
    };
    let mut c = Vec::with_capacity(40);
    Instruction::I32Const(0).encode(&mut c);
    Instruction::I32Load(word).encode(&mut c);
    let at_if = c.len();
    let mut call = vec![
        Instruction::If(BlockType::Empty),
        Instruction::I32Const(0),
        Instruction::I32Const(0),
        Instruction::I32Store(word),
        Instruction::I32Const(NR_GETPID),
    ];
    call.extend((0..6).map(|_| Instruction::I32Const(0)));
    call.extend([
        Instruction::Call(syscall),
        Instruction::Drop,
        Instruction::End,
    ]);
    for i in call {
        i.encode(&mut c);
    }
    (c, at_if)
}

/// The custom section that marks every check's `if` as unlikely (the branch hinting
/// proposal): V8 then lays the call out of the loop and spills around it only there; without
/// it, the registers a loop keeps live are spilled on every iteration (the call clobbers them
/// all), which doubled a tight integer loop. Engines that do not know the section skip it.
const BRANCH_HINTS: &str = "metadata.code.branch_hint";

/// `(function index, offsets of the hinted instructions in its body)`, encoded.
fn branch_hints(hints: &[(u32, Vec<u32>)]) -> Vec<u8> {
    let mut out = Vec::new();
    (hints.len() as u32).encode(&mut out);
    for (func, offsets) in hints {
        func.encode(&mut out);
        (offsets.len() as u32).encode(&mut out);
        for offset in offsets {
            offset.encode(&mut out);
            out.extend([1, 0]); // one byte of hint: 0, unlikely
        }
    }
    out
}

/// What [`instrument`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Instrumented {
    pub functions: u32,
    pub loops: u32,
}

/// Adds a preemption point to every loop of the program module `bytes` (already checked by
/// `user::check_program`: it imports `linux.syscall`). Returns the new module.
pub fn instrument(bytes: &[u8]) -> Result<(Vec<u8>, Instrumented), String> {
    let err = |e: wasmparser::BinaryReaderError| format!("at byte {}: {}", e.offset(), e.message());
    let mut module = Module::new();
    let mut syscall = None;
    let mut imported_functions = 0;
    let mut check_bytes = (Vec::new(), 0);
    let mut code: Option<(CodeSection, u32)> = None;
    let mut hints: Vec<(u32, Vec<u32>)> = Vec::new();
    let mut done = Instrumented::default();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(err)?;
        match &payload {
            Payload::ImportSection(imports) => {
                let mut functions = 0;
                for import in imports.clone() {
                    let import = import.map_err(err)?;
                    if let TypeRef::Func(_) = import.ty {
                        if (import.module, import.name) == ("linux", "syscall") {
                            syscall = Some(functions);
                        }
                        functions += 1;
                    }
                }
                imported_functions = functions;
            }
            Payload::CodeSectionStart { count, .. } => {
                let syscall = syscall.ok_or("the module does not import linux.syscall")?;
                check_bytes = check(syscall);
                code = Some((CodeSection::new(), *count));
                if *count == 0 {
                    module.section(&CodeSection::new());
                    code = None;
                }
                continue;
            }
            Payload::CodeSectionEntry(body) => {
                let (section, left) = code
                    .as_mut()
                    .ok_or("a function body outside the code section")?;
                let (body, ifs) = splice_checks(bytes, body, &check_bytes).map_err(err)?;
                section.raw(&body);
                if !ifs.is_empty() {
                    done.loops += ifs.len() as u32;
                    hints.push((imported_functions + done.functions, ifs));
                }
                done.functions += 1;
                *left -= 1;
                if *left == 0 {
                    let (section, _) = code.take().expect("just used");
                    // The hints go before the code they describe.
                    module.section(&CustomSection {
                        name: Cow::Borrowed(BRANCH_HINTS),
                        data: Cow::Owned(branch_hints(&hints)),
                    });
                    module.section(&section);
                }
                continue;
            }
            _ => {}
        }
        if let Some((id, range)) = payload.as_section() {
            module.section(&RawSection {
                id,
                data: &bytes[range],
            });
        }
    }
    if code.is_some() {
        return Err("the code section ends early".into());
    }
    Ok((module.finish(), done))
}

/// The body of one function with the check after each `loop` instruction, and the offsets of
/// the checks' `if`s in it (one per loop).
fn splice_checks(
    bytes: &[u8],
    body: &wasmparser::FunctionBody,
    (check, at_if): &(Vec<u8>, usize),
) -> Result<(Vec<u8>, Vec<u32>), wasmparser::BinaryReaderError> {
    let range = body.range();
    let mut out = Vec::with_capacity(range.len());
    let mut copied = range.start;
    let mut ifs = Vec::new();
    let mut ops = body.get_operators_reader()?;
    while !ops.eof() {
        if let Operator::Loop { .. } = ops.read()? {
            let after = ops.original_position();
            out.extend_from_slice(&bytes[copied..after]);
            ifs.push((out.len() + at_if) as u32);
            out.extend_from_slice(check);
            copied = after;
        }
    }
    out.extend_from_slice(&bytes[copied..range.end]);
    Ok((out, ifs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A program as `user::check_program` wants it, with `body` as its `_start`.
    fn program(body: &str) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(module
                (import "env" "memory" (memory 1 1 shared))
                (import "linux" "syscall"
                  (func $syscall (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
                (func $helper (result i32) (i32.const 7))
                (func (export "_start") (param i32) {body})
                (data (i32.const 1024) "data stays"))"#
        ))
        .expect("valid text")
    }

    fn validate(bytes: &[u8]) {
        let features = wasmparser::WasmFeatures::default() | wasmparser::WasmFeatures::THREADS;
        wasmparser::Validator::new_with_features(features)
            .validate_all(bytes)
            .expect("the instrumented module validates");
    }

    /// The operators of function `index` (defined functions only).
    fn ops_of(bytes: &[u8], index: usize) -> Vec<String> {
        let mut bodies = Vec::new();
        for p in Parser::new(0).parse_all(bytes) {
            if let Payload::CodeSectionEntry(b) = p.unwrap() {
                bodies.push(b);
            }
        }
        let mut r = bodies[index].get_operators_reader().unwrap();
        let mut out = Vec::new();
        while !r.eof() {
            out.push(format!("{:?}", r.read().unwrap()));
        }
        out
    }

    #[test]
    fn every_loop_gets_a_check_and_nothing_else_changes() {
        let before = program(
            "(loop $a (br_if $a (i32.const 0)))
             (block $out (loop $b (br_if $out (call $helper)) (br $b)))
             (drop (call $syscall (i32.const 1) (i32.const 0) (i32.const 0)
                   (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))",
        );
        let (after, done) = instrument(&before).unwrap();
        validate(&after);
        assert_eq!(
            done,
            Instrumented {
                functions: 2,
                loops: 2
            }
        );
        // The helper has no loop: its body is as it was.
        assert_eq!(ops_of(&after, 0), ops_of(&before, 0));
        let ops = ops_of(&after, 1);
        let loads = ops
            .iter()
            .filter(|o| o.contains("I32Load") && o.contains(&format!("offset: {ATTENTION_ADDR}")))
            .count();
        assert_eq!(loads, 2, "{ops:#?}");
        // Each check follows its loop header directly and calls the syscall import (0).
        let first_loop = ops.iter().position(|o| o.starts_with("Loop")).unwrap();
        assert!(ops[first_loop + 2].starts_with("I32Load"), "{ops:#?}");
        assert!(ops.iter().any(|o| o == "Call { function_index: 0 }"));
        assert!(ops.iter().any(|o| o == "I32Const { value: 172 }"));
        // Data and the rest of the module are untouched.
        assert!(after.windows(10).any(|w| w == b"data stays"));
    }

    #[test]
    fn each_check_is_hinted_unlikely_before_the_code() {
        let before =
            program("(loop $a (br_if $a (i32.const 0))) (loop $b (br_if $b (i32.const 0)))");
        let (after, _) = instrument(&before).unwrap();
        let mut hints = None;
        let mut bodies = Vec::new();
        for p in Parser::new(0).parse_all(&after) {
            match p.unwrap() {
                Payload::CustomSection(c) if c.name() == BRANCH_HINTS => {
                    assert!(bodies.is_empty(), "the hints must come before the code");
                    hints = Some(c.data().to_vec());
                }
                Payload::CodeSectionEntry(b) => bodies.push(b),
                _ => {}
            }
        }
        let hints = hints.expect("a branch hint section");
        let mut r = wasmparser::BinaryReader::new(&hints, 0);
        assert_eq!(r.read_var_u32().unwrap(), 1, "one function has loops");
        // Function 2: one import, then the helper (0 loops), then _start.
        assert_eq!(r.read_var_u32().unwrap(), 2);
        assert_eq!(r.read_var_u32().unwrap(), 2, "two hints");
        let body = &after[bodies[1].range()];
        for _ in 0..2 {
            let offset = r.read_var_u32().unwrap() as usize;
            assert_eq!(body[offset], 0x04, "an if at {offset}");
            assert_eq!(
                (r.read_var_u32().unwrap(), r.read_u8().unwrap()),
                (1, 0),
                "unlikely"
            );
        }
        assert!(r.eof());
    }

    #[test]
    fn a_loop_with_parameters_keeps_its_stack() {
        let before = program(
            "(i32.const 3)
             (loop $l (param i32) (result i32)
               (i32.sub (i32.const 1))
               (local.tee 0)
               (br_if $l (local.get 0)))
             (drop)",
        );
        let (after, done) = instrument(&before).unwrap();
        validate(&after);
        assert_eq!(done.loops, 1);
    }

    #[test]
    fn a_module_without_the_syscall_import_is_refused() {
        let bytes =
            wat::parse_str(r#"(module (func (export "_start") (param i32) (loop)))"#).unwrap();
        let e = instrument(&bytes).unwrap_err();
        assert!(e.contains("linux.syscall"), "{e}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut bytes = program("(loop)");
        let n = bytes.len();
        bytes.truncate(n - 12);
        assert!(instrument(&bytes).is_err());
        assert!(instrument(b"\0asm\x01\0\0\0\x0a\x05\x01").is_err());
    }
}
