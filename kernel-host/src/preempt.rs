//! Preemption points in user programs.
//!
//! The kernel runs only when a program calls it: a loop that makes no system call would keep
//! the CPU forever, and with it the shell, Ctrl-C and every other process. So before a program
//! module is compiled (`user_create`), every loop header gets a check of the process's
//! *attention word*, a 32-bit cell at [`ATTENTION_ADDR`] in the program's own memory (shown
//! here in line; `hoist_calls` keeps the call itself out of the loop):
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
//! stack reaches). Bodies are copied byte for byte except for the code added around loops and
//! the depths of branches that cross it.

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

/// The code a preemption point adds, encoded once per module (it names the module's syscall
/// import).
struct Checks {
    /// After a loop header, the whole check: `(if (load) (then (call)))`.
    inline: Vec<u8>,
    /// After a hoisted loop's header: `(br_if 1 (load))`.
    hoisted_check: Vec<u8>,
    /// Where the hinted branch (`if`, `br_if`) is in either check: after the load.
    at_branch: usize,
    /// Before a hoisted loop's header: `block loop block`.
    hoisted_head: Vec<u8>,
    /// After a hoisted loop's `end`: `br 2 end (call) br 0 end end`.
    hoisted_tail: Vec<u8>,
}

impl Checks {
    fn new(syscall: u32) -> Checks {
        let word = MemArg {
            offset: ATTENTION_ADDR.into(),
            align: 2,
            memory_index: 0,
        };
        let encode = |code: &[Instruction]| {
            let mut out = Vec::new();
            for i in code {
                i.encode(&mut out);
            }
            out
        };
        let load = encode(&[Instruction::I32Const(0), Instruction::I32Load(word)]);
        // Clear the word, then enter the kernel with a system call that changes nothing.
        let mut call = vec![
            Instruction::I32Const(0),
            Instruction::I32Const(0),
            Instruction::I32Store(word),
            Instruction::I32Const(NR_GETPID),
        ];
        call.extend((0..6).map(|_| Instruction::I32Const(0)));
        call.extend([Instruction::Call(syscall), Instruction::Drop]);

        let mut inline = load.clone();
        inline.extend(encode(&[Instruction::If(BlockType::Empty)]));
        inline.extend(encode(&call));
        inline.extend(encode(&[Instruction::End]));

        let mut hoisted_check = load.clone();
        hoisted_check.extend(encode(&[Instruction::BrIf(1)]));
        let hoisted_head = encode(&[
            Instruction::Block(BlockType::Empty),
            Instruction::Loop(BlockType::Empty),
            Instruction::Block(BlockType::Empty),
        ]);
        let mut hoisted_tail = encode(&[Instruction::Br(2), Instruction::End]);
        hoisted_tail.extend(encode(&call));
        hoisted_tail.extend(encode(&[
            Instruction::Br(0),
            Instruction::End,
            Instruction::End,
        ]));
        Checks {
            inline,
            hoisted_check,
            at_branch: load.len(),
            hoisted_head,
            hoisted_tail,
        }
    }
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

/// A function body with its checks, and the offsets of their hinted branches in it.
type Spliced = (Vec<u8>, Vec<u32>);

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
    let mut checks = None;
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
                checks = Some(Checks::new(syscall));
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
                let checks = checks
                    .as_ref()
                    .ok_or("a function body before the code section")?;
                let (body, ifs) = splice_checks(bytes, body, checks).map_err(err)?;
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

/// The body of one function with a preemption point in each loop, and the offsets of the
/// checks' hinted branches in it (one per loop). A function with an instruction whose labels
/// this does not rewrite (`try_table`, the `br_on_*` family) gets the checks in line.
fn splice_checks(
    bytes: &[u8],
    body: &wasmparser::FunctionBody,
    checks: &Checks,
) -> Result<Spliced, wasmparser::BinaryReaderError> {
    match hoist_calls(bytes, body, checks)? {
        Some(done) => Ok(done),
        None => inline_calls(bytes, body, checks),
    }
}

/// Whether every label this operator names is one `hoist_calls` rewrites.
fn labels_known(op: &Operator) -> bool {
    !matches!(
        op,
        Operator::TryTable { .. }
            | Operator::BrOnNull { .. }
            | Operator::BrOnNonNull { .. }
            | Operator::BrOnCast { .. }
            | Operator::BrOnCastFail { .. }
    )
}

/// A function body being rewritten: what is written so far, how far the original is copied,
/// and the offsets of the checks' hinted branches.
struct Splice<'a> {
    bytes: &'a [u8],
    out: Vec<u8>,
    copied: usize,
    hinted: Vec<u32>,
}

impl<'a> Splice<'a> {
    fn new(bytes: &'a [u8], body: &wasmparser::FunctionBody, extra: usize) -> Splice<'a> {
        let range = body.range();
        Splice {
            bytes,
            out: Vec::with_capacity(range.len() + extra),
            copied: range.start,
            hinted: Vec::new(),
        }
    }

    /// Copies the original up to `to`.
    fn copy_to(&mut self, to: usize) {
        self.out.extend_from_slice(&self.bytes[self.copied..to]);
        self.copied = to;
    }

    /// Adds `check`, whose hinted branch is at `at_branch` in it.
    fn check(&mut self, check: &[u8], at_branch: usize) {
        self.hinted.push((self.out.len() + at_branch) as u32);
        self.out.extend_from_slice(check);
    }

    /// The whole check in line after the loop header that ends at `after`.
    fn inline_check(&mut self, after: usize, checks: &Checks) {
        self.copy_to(after);
        self.check(&checks.inline, checks.at_branch);
    }

    fn finish(mut self, end: usize) -> Spliced {
        self.copy_to(end);
        (self.out, self.hinted)
    }
}

/// The checks in line: after each `loop` instruction, the whole check. The block is closed
/// at once, so no branch depth changes.
fn inline_calls(
    bytes: &[u8],
    body: &wasmparser::FunctionBody,
    checks: &Checks,
) -> Result<Spliced, wasmparser::BinaryReaderError> {
    let mut splice = Splice::new(bytes, body, 0);
    let mut ops = body.get_operators_reader()?;
    while !ops.eof() {
        if let Operator::Loop { .. } = ops.read()? {
            splice.inline_check(ops.original_position(), checks);
        }
    }
    Ok(splice.finish(body.range().end))
}

/// The checks with their calls out of the loops. A loop without parameters or results
///
/// ```text
/// loop $l            block $done
///   BODY               loop $again
/// end                    block $call
///                          loop $l
///                            (br_if $call (i32.load offset=ATTENTION_ADDR (i32.const 0)))
///                            BODY
///                          end
///                          br $done
///                        end
///                        (the attention call)
///                        br $again
///                      end
///                    end
/// ```
///
/// keeps only a load and a branch in `$l`, so V8 still sees a small loop without calls and
/// unrolls it as it would the original; the call happens between two iterations, which then
/// go on from the loop's start. Branches in `BODY` to labels outside `$l` cross three more
/// labels and are rewritten. Loops with parameters or results get the check in line. None if
/// the body has an instruction whose labels this does not rewrite.
fn hoist_calls(
    bytes: &[u8],
    body: &wasmparser::FunctionBody,
    checks: &Checks,
) -> Result<Option<Spliced>, wasmparser::BinaryReaderError> {
    /// Labels added outside a hoisted loop.
    const WRAPPERS: u32 = 3;
    let mut splice = Splice::new(bytes, body, body.range().len() / 8);
    // One entry per open label (the function's own first): the labels added outside it.
    let mut frames: Vec<u32> = vec![0];
    // The new depth of a branch `depth` labels out from the innermost open frame.
    let remap = |frames: &[u32], depth: u32| -> u32 {
        depth + frames.iter().rev().take(depth as usize).sum::<u32>()
    };
    let mut ops = body.get_operators_reader()?;
    while !ops.eof() {
        let at = ops.original_position();
        let op = ops.read()?;
        let after = ops.original_position();
        let rewritten = match &op {
            Operator::Block { .. } | Operator::If { .. } | Operator::Try { .. } => {
                frames.push(0);
                None
            }
            Operator::Loop { blockty } => {
                if *blockty == wasmparser::BlockType::Empty {
                    splice.copy_to(at);
                    splice.out.extend_from_slice(&checks.hoisted_head);
                    splice.copy_to(after);
                    splice.check(&checks.hoisted_check, checks.at_branch);
                    frames.push(WRAPPERS);
                } else {
                    splice.inline_check(after, checks);
                    frames.push(0);
                }
                None
            }
            Operator::End => {
                if frames.pop() == Some(WRAPPERS) {
                    splice.copy_to(after);
                    splice.out.extend_from_slice(&checks.hoisted_tail);
                }
                None
            }
            Operator::Br { relative_depth } => {
                Some(Instruction::Br(remap(&frames, *relative_depth)))
            }
            Operator::BrIf { relative_depth } => {
                Some(Instruction::BrIf(remap(&frames, *relative_depth)))
            }
            Operator::BrTable { targets } => {
                let mut new = Vec::with_capacity(targets.len() as usize);
                for t in targets.targets() {
                    new.push(remap(&frames, t?));
                }
                let default = remap(&frames, targets.default());
                Some(Instruction::BrTable(new.into(), default))
            }
            Operator::Rethrow { relative_depth } => {
                Some(Instruction::Rethrow(remap(&frames, *relative_depth)))
            }
            // `delegate` ends its `try`; its label counts from outside it.
            Operator::Delegate { relative_depth } => {
                frames.pop();
                Some(Instruction::Delegate(remap(&frames, *relative_depth)))
            }
            op if !labels_known(op) => return Ok(None),
            _ => None,
        };
        if let Some(instruction) = rewritten {
            splice.copy_to(at);
            instruction.encode(&mut splice.out);
            splice.copied = after;
        }
    }
    Ok(Some(splice.finish(body.range().end)))
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
        // Programs use threads, and setjmp uses exceptions (either encoding).
        let features = wasmparser::WasmFeatures::default()
            | wasmparser::WasmFeatures::THREADS
            | wasmparser::WasmFeatures::LEGACY_EXCEPTIONS
            | wasmparser::WasmFeatures::EXCEPTIONS;
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
        // Each loop is wrapped (block, loop, block), its check follows its header directly,
        // and the call to the syscall import (0) is outside it.
        let head = [
            "Block", "Loop", "Block", "Loop", "I32Const", "I32Load", "BrIf",
        ];
        let first = ops.iter().position(|o| o.starts_with("Block")).unwrap();
        for (op, want) in ops[first..].iter().zip(head) {
            assert!(op.starts_with(want), "{want} expected: {ops:#?}");
        }
        assert_eq!(ops[first + 6], "BrIf { relative_depth: 1 }");
        assert!(ops.iter().any(|o| o == "Call { function_index: 0 }"));
        // The branch out of `$b` to `$out` crosses the three new labels.
        assert!(
            ops.iter().any(|o| o == "BrIf { relative_depth: 4 }"),
            "{ops:#?}"
        );
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
            assert_eq!(body[offset], 0x0d, "a br_if at {offset}");
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

    /// The relative depths of the branches (`Br`, `BrIf`, `BrTable`, `Delegate`) of `ops`.
    fn depths(ops: &[String]) -> Vec<String> {
        ops.iter()
            .filter(|o| {
                ["Br ", "BrIf", "BrTable", "Delegate", "Rethrow"]
                    .iter()
                    .any(|b| o.starts_with(b))
            })
            .cloned()
            .collect()
    }

    #[test]
    fn branches_past_a_hoisted_loop_cross_its_three_labels() {
        // Nested loops: $inner's branch to $outer crosses $inner's three labels; the branch
        // to $done crosses both loops' (3 + 3); br_table targets each get theirs.
        let before = program(
            "(block $done
               (loop $outer
                 (loop $inner
                   (br_if $inner (local.get 0))
                   (br_if $outer (local.get 0))
                   (br_table $inner $outer $done (local.get 0)))
                 (br_if $done (local.get 0))
                 (br $outer)))",
        );
        let (after, done) = instrument(&before).unwrap();
        validate(&after);
        assert_eq!(done.loops, 2);
        let got = depths(&ops_of(&after, 1));
        let want = [
            "BrIf { relative_depth: 1 }", // $outer's check
            "BrIf { relative_depth: 1 }", // $inner's check
            "BrIf { relative_depth: 0 }", // to $inner
            "BrIf { relative_depth: 4 }", // to $outer, past $inner's labels
            "BrTable { targets: BrTable { count: 2, default: 8, targets: [0, 4] } }",
            "Br { relative_depth: 2 }", // $inner's wrappers
            "Br { relative_depth: 0 }",
            "BrIf { relative_depth: 4 }", // to $done, past $outer's labels
            "Br { relative_depth: 0 }",   // to $outer
            "Br { relative_depth: 2 }",   // $outer's wrappers
            "Br { relative_depth: 0 }",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_delegate_counts_from_outside_its_try() {
        let before = program(
            "(block $out
               (loop $l
                 try $t
                   try
                     call $helper
                     drop
                   delegate $out
                 end
                 (br_if $l (local.get 0))))",
        );
        let (after, _) = instrument(&before).unwrap();
        validate(&after);
        let got = depths(&ops_of(&after, 1));
        // From inside $t, $out is 2 labels out (past $t, $l); now 5 (past $l's three).
        assert!(
            got.contains(&"Delegate { relative_depth: 5 }".to_string()),
            "{got:#?}"
        );
    }

    #[test]
    fn a_function_with_try_table_gets_its_checks_in_line() {
        let before = program(
            "(block $out
               (loop $l
                 (try_table (catch_all $out) (call $helper) (drop))
                 (br_if $l (local.get 0))))",
        );
        let (after, done) = instrument(&before).unwrap();
        validate(&after);
        assert_eq!(done.loops, 1);
        let ops = ops_of(&after, 1);
        let at = ops.iter().position(|o| o.starts_with("Loop")).unwrap();
        assert!(ops[at + 3].starts_with("If"), "{ops:#?}");
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
