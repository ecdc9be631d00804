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
    // timer_set(cpu, delta_ns): one timer interrupt on CPU cpu after delta_ns; each CPU has
    // its own timer; negative cancels that CPU's.
    Func {
        name: "timer_set",
        params: &[Val::I32, Val::I64],
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
    // user_cmpxchg(uaddr, old, new) -> the u32 that was at uaddr | -EFAULT: an atomic
    // compare-and-exchange on the selected memory (futexes; the process's threads may run on
    // other CPUs).
    Func {
        name: "user_cmpxchg",
        params: &[Val::I32, Val::I32, Val::I32],
        results: &[Val::I64],
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
    // user_grow_to(pages) -> 0 | -ENOMEM: the selected memory at least `pages` long.
    Func {
        name: "user_grow_to",
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
/// CPUs' pending-interrupt words, one u32 per possible CPU (`MAX_CPUS`), CPU i's at
/// `address + 4 * i` ([`irq_pending_word`]): an interrupt sets its line's bit in one CPU's
/// word with an atomic or and notifies that word (`arch/wasm/kernel/irq.c`).
pub const GLOBAL_EXPORTS: &[&str] = &[IRQ_PENDING_EXPORT];
pub const IRQ_PENDING_EXPORT: &str = "wasm_irq_pending";

/// The kernel's `CONFIG_NR_CPUS`: a machine has at most this many CPUs, and
/// `wasm_irq_pending` points at this many words. `cargo x kernel` checks that they agree.
pub const MAX_CPUS: u32 = 8;

/// The CPU whose pending word the devices' interrupts (virtio, the RTC) go to.
pub const DEVICE_IRQ_CPU: u32 = 0;

/// Interrupt lines are the low bits of a pending word (`arch/wasm/include/asm/irq.h`), an irq
/// domain on the device tree's interrupt controller. Line 0 is the timer, raised on CPU
/// `cpu` once `timer_set(cpu, …)`'s delay has passed; the devices' lines are in
/// `virtio::DEVICES` and go to [`DEVICE_IRQ_CPU`]. The bits above are the kernel's own
/// inter-processor interrupts, which the host never raises. `cargo x kernel` checks this
/// against the kernel's `WASM_NR_IRQ_LINES`.
pub const IRQ_LINES: u32 = 24;
pub const IRQ_BIT_TIMER: u32 = 0;

/// The address of CPU `cpu`'s pending word, given `wasm_irq_pending`'s value `base` and the
/// machine's `cpus`. An error for a CPU the machine does not have: a kernel that names one
/// is broken, and its word may be something else's memory.
pub fn irq_pending_word(base: u32, cpu: u32, cpus: u32) -> Result<u32, String> {
    if cpu >= cpus.min(MAX_CPUS) {
        return Err(format!(
            "an interrupt for CPU {cpu}, but the machine has {cpus} CPU{}",
            if cpus == 1 { "" } else { "s" }
        ));
    }
    base.checked_add(cpu * 4).ok_or_else(|| {
        format!("CPU {cpu}'s pending word is past the end of memory (wasm_irq_pending {base:#x})")
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_set_names_the_cpu() {
        let f = import("timer_set").expect("timer_set is an import");
        assert_eq!(f.params, &[Val::I32, Val::I64]);
        assert!(f.results.is_empty());
    }

    #[test]
    fn each_cpu_has_its_pending_word_and_devices_use_cpu_0s() {
        let base = 0x1_2340;
        assert_eq!(irq_pending_word(base, DEVICE_IRQ_CPU, 1), Ok(base));
        assert_eq!(irq_pending_word(base, 1, 2), Ok(base + 4));
        assert_eq!(irq_pending_word(base, 7, MAX_CPUS), Ok(base + 28));
        let e = irq_pending_word(base, 2, 2).unwrap_err();
        assert!(e.contains("CPU 2") && e.contains("2 CPUs"), "{e}");
        assert!(irq_pending_word(base, 1, 1)
            .unwrap_err()
            .ends_with("has 1 CPU"));
        // A machine that claims more CPUs than the kernel has words for.
        assert!(irq_pending_word(base, MAX_CPUS, MAX_CPUS + 1).is_err());
        assert!(irq_pending_word(u32::MAX - 2, 1, 2).is_err());
    }
}
