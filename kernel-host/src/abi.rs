//! The kernel↔host ABI, defined once on this side. The kernel declares its imports in
//! `arch/wasm/include/asm/wasm_imports.h`; `tests/abi.rs` reads the built `vmlinux.wasm` and
//! checks that both sides agree, both ways.

/// A wasm value type at the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val {
    I32,
    I64,
}

/// A function signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Func {
    pub name: &'static str,
    pub params: &'static [Val],
    pub results: &'static [Val],
}

/// The import module the kernel's host functions come from.
pub const IMPORT_MODULE: &str = "host";

/// Functions the host gives the kernel.
pub const IMPORTS: &[Func] = &[
    // console_write(buf, len): bytes for the boot console.
    Func {
        name: "console_write",
        params: &[Val::I32, Val::I32],
        results: &[],
    },
    // clock_ns() -> monotonic nanoseconds, the same clock in every worker.
    Func {
        name: "clock_ns",
        params: &[],
        results: &[Val::I64],
    },
    // timer_set(delta_ns): one timer interrupt after delta_ns; negative cancels.
    Func {
        name: "timer_set",
        params: &[Val::I64],
        results: &[],
    },
    // spawn_task(task): start a worker that calls wasm_task_entry(task).
    Func {
        name: "spawn_task",
        params: &[Val::I32],
        results: &[],
    },
    // shutdown(how): 0 halt, 1 power off, 2 restart.
    Func {
        name: "shutdown",
        params: &[Val::I32],
        results: &[],
    },
];

/// The kernel's memory: imported, shared between all task instances.
pub const MEMORY_MODULE: &str = "env";
pub const MEMORY_NAME: &str = "memory";

/// Functions the host calls in the kernel.
pub const EXPORTS: &[Func] = &[
    // wasm_boot(fdt): the boot task; runs start_kernel on init_task.
    Func {
        name: "wasm_boot",
        params: &[Val::I32],
        results: &[],
    },
    // wasm_task_entry(task): first thing a new task's worker runs.
    Func {
        name: "wasm_task_entry",
        params: &[Val::I32],
        results: &[],
    },
];

pub fn import(name: &str) -> Option<&'static Func> {
    IMPORTS.iter().find(|f| f.name == name)
}

pub fn export(name: &str) -> Option<&'static Func> {
    EXPORTS.iter().find(|f| f.name == name)
}
