//! The kernel↔host ABI, defined once on this side. The kernel declares its imports in
//! `arch/wasm/include/asm/wasm_imports.h`; `tests/abi.rs` reads the built `vmlinux.wasm` and
//! checks that both sides agree, both ways.
//!
//! Architecture invariant: this is the only ABI table. The names and signatures of the
//! kernel's imports and exports are listed here and nowhere else; the worker that implements
//! an import binds it by name and refuses a name that is not in [`IMPORTS`]. (What a user
//! program imports and exports is the program-module contract, checked in `user.rs`.)

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
    // task_claim() -> 0 | -EAGAIN: promise a started, idle worker to a task about to be
    // created (waits while the pool starts one; -EAGAIN once the browser refuses more).
    Func {
        name: "task_claim",
        params: &[],
        results: &[Val::I32],
    },
    // task_unclaim(): give back a claim whose task was not created.
    Func {
        name: "task_unclaim",
        params: &[],
        results: &[],
    },
    // spawn_task(task): the claimed worker calls wasm_task_entry(task).
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
    // user_create(image, len, pages_out) -> handle | -ENOEXEC | -ENOMEM: compile a program
    // module and create its process memory; the initial size in pages goes to pages_out.
    Func {
        name: "user_create",
        params: &[Val::I32, Val::I32, Val::I32],
        results: &[Val::I32],
    },
    // user_select(handle): this worker's process memory for the copy and grow imports.
    Func {
        name: "user_select",
        params: &[Val::I32],
        results: &[],
    },
    // user_release(handle): the kernel no longer refers to the handle.
    Func {
        name: "user_release",
        params: &[Val::I32],
        results: &[],
    },
    // user_enter(handle, p): never returns; the worker's top level calls _start(p).
    Func {
        name: "user_enter",
        params: &[Val::I32, Val::I32],
        results: &[],
    },
    // user_read(kdst, usrc, n) -> bytes not copied.
    Func {
        name: "user_read",
        params: &[Val::I32, Val::I32, Val::I32],
        results: &[Val::I32],
    },
    // user_write(udst, ksrc, n) -> bytes not copied.
    Func {
        name: "user_write",
        params: &[Val::I32, Val::I32, Val::I32],
        results: &[Val::I32],
    },
    // user_clear(udst, n) -> bytes not zeroed.
    Func {
        name: "user_clear",
        params: &[Val::I32, Val::I32],
        results: &[Val::I32],
    },
    // user_strnlen(s, n) -> length with the NUL, n + 1 if none in n bytes, 0 past the end.
    Func {
        name: "user_strnlen",
        params: &[Val::I32, Val::I32],
        results: &[Val::I32],
    },
    // user_grow(pages) -> old size in pages | -ENOMEM.
    Func {
        name: "user_grow",
        params: &[Val::I32],
        results: &[Val::I32],
    },
    // user_enter_thread(handle, sp): never returns; the top level instantiates the program
    // anew in this worker and calls __wasm_thread_start(sp) with its stack pointer at sp.
    Func {
        name: "user_enter_thread",
        params: &[Val::I32, Val::I32],
        results: &[],
    },
    // user_sp() -> the running program's __stack_pointer in this worker, 0 if none.
    Func {
        name: "user_sp",
        params: &[],
        results: &[Val::I32],
    },
    // user_call(fn, sp, a0, a1, a2) -> 0 | -EFAULT: call the running program's function-table
    // entry fn(a0, a1, a2) on its stack from sp down (signal handlers); exceptions pass through.
    Func {
        name: "user_call",
        params: &[Val::I32; 5],
        results: &[Val::I32],
    },
    // mmio_read(addr, size) -> value: a device register read in the MMIO window (virtio).
    Func {
        name: "mmio_read",
        params: &[Val::I32, Val::I32],
        results: &[Val::I32],
    },
    // mmio_write(addr, size, value): a device register write (virtio; may notify a queue).
    Func {
        name: "mmio_write",
        params: &[Val::I32, Val::I32, Val::I32],
        results: &[],
    },
    // task_exit(): never returns; the task is dead, its worker ends.
    Func {
        name: "task_exit",
        params: &[],
        results: &[],
    },
];

/// `user_create`'s errors (negated errno).
pub const ENOEXEC: i32 = 8;
/// `task_claim`'s error: no worker can be had for a new task.
pub const EAGAIN: i32 = 11;
pub const ENOMEM: i32 = 12;
/// `user_call`'s error: not a function of the program.
pub const EFAULT: i32 = 14;

/// The kernel's memory: imported, shared between all task instances.
pub const MEMORY_MODULE: &str = "env";
pub const MEMORY_NAME: &str = "memory";

/// The boot entry: `wasm_boot(fdt)`.
pub const BOOT_EXPORT: &str = "wasm_boot";
/// A new task's entry: `wasm_task_entry(task)`.
pub const TASK_ENTRY_EXPORT: &str = "wasm_task_entry";
/// The system call entry, given to user programs as their `linux.syscall` import.
pub const SYSCALL_EXPORT: &str = "wasm_syscall";
/// `wasm_user_trap(kind)`: user code trapped (0) or `_start` returned (1).
pub const USER_TRAP_EXPORT: &str = "wasm_user_trap";

/// Functions the host calls in the kernel.
pub const EXPORTS: &[Func] = &[
    // wasm_boot(fdt): the boot task; runs start_kernel on init_task.
    Func {
        name: BOOT_EXPORT,
        params: &[Val::I32],
        results: &[],
    },
    // wasm_task_entry(task): first thing a new task's worker runs.
    Func {
        name: TASK_ENTRY_EXPORT,
        params: &[Val::I32],
        results: &[],
    },
    // wasm_syscall(nr, a0..a5) -> result: only user code calls it, as linux.syscall.
    Func {
        name: SYSCALL_EXPORT,
        params: &[Val::I32; 7],
        results: &[Val::I32],
    },
    // wasm_user_trap(kind): from the worker's top level; ends the task with SIGSEGV.
    Func {
        name: USER_TRAP_EXPORT,
        params: &[Val::I32],
        results: &[],
    },
];

/// Globals the kernel exports. `wasm_irq_pending` holds the address (in kernel memory) of the
/// CPU's pending-interrupt word: a device sets its line's bit with an atomic or and notifies
/// the word (`arch/wasm/kernel/irq.c`).
pub const GLOBAL_EXPORTS: &[&str] = &[IRQ_PENDING_EXPORT];
pub const IRQ_PENDING_EXPORT: &str = "wasm_irq_pending";

/// Interrupt lines are the bits of the pending word (`arch/wasm/include/asm/irq.h`), an irq
/// domain on the device tree's interrupt controller. Line 0 is the timer, raised once when
/// `timer_set`'s delay has passed; the devices' lines are in `virtio::DEVICES`.
pub const IRQ_LINES: u32 = 32;
pub const IRQ_BIT_TIMER: u32 = 0;

/// `shutdown(how)` (`arch/wasm/include/asm/wasm_imports.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    Halt,
    PowerOff,
    Restart,
}

impl Shutdown {
    pub fn from_code(how: i32) -> Option<Shutdown> {
        match how {
            0 => Some(Shutdown::Halt),
            1 => Some(Shutdown::PowerOff),
            2 => Some(Shutdown::Restart),
            _ => None,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Shutdown::Halt => "halted",
            Shutdown::PowerOff => "powered off",
            Shutdown::Restart => "restarting",
        }
    }
}

pub fn import(name: &str) -> Option<&'static Func> {
    IMPORTS.iter().find(|f| f.name == name)
}

pub fn export(name: &str) -> Option<&'static Func> {
    EXPORTS.iter().find(|f| f.name == name)
}
