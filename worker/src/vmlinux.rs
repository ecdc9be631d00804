//! Instantiating `vmlinux.wasm` over the shared kernel memory with its host imports
//! (`kernel_host::abi`): the console, the clock, timers, tasks, shutdown, the process-memory
//! imports (over `memories.rs`), the throwers that end at the top level (`toplevel.rs`) and
//! the signal-handler calls. The device imports are in `mmio.rs`.

use crate::js::{export, set};
use crate::mmio;
use crate::outbox::{post, post_with, scope, trap};
use crate::state::{self, Kernel};
use js_sys::{Array, Atomics, BigInt64Array, Function, Object, Uint8Array, WebAssembly};
use kernel_host::boot::{clock_ns, slept_ms};
use kernel_host::browser::devices::SharedCells;
use kernel_host::browser::js_error_message;
use kernel_host::browser::protocol::FromWorker;
use kernel_host::{abi, pool};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// Where the machine's clock starts (`ToWorker::Init`).
pub struct Epoch {
    pub epoch_ms: f64,
    pub wall_skew_ms: f64,
}

/// Instantiates vmlinux with the host imports; returns its entry points and the address of
/// its pending-IRQ word.
pub fn instantiate(
    module: &WebAssembly::Module,
    memory: &WebAssembly::Memory,
    clock: &BigInt64Array,
    epoch: Epoch,
    pool: SharedCells,
    cells: SharedCells,
) -> Result<Kernel, String> {
    let host = Object::new();
    // into_js_value(): each import is owned by the JS function object, which the instance
    // keeps alive.
    let add = |name: &str, f: JsValue| -> Result<(), String> {
        if abi::import(name).is_none() {
            return Err(format!("host.{name} is not in the ABI table"));
        }
        set(&host, name, &f)
    };

    let mem = memory.clone();
    let console_cells = cells.clone();
    add(
        "console_write",
        Closure::<dyn FnMut(u32, u32)>::new(move |ptr: u32, len: u32| {
            console_write(&mem, &console_cells, ptr, len)
        })
        .into_js_value(),
    )?;

    let performance = scope()
        .performance()
        .ok_or("this worker has no performance clock")?;
    let origin = performance.time_origin();
    let clock = clock.clone();
    add(
        "clock_ns",
        Closure::<dyn FnMut() -> i64>::new(move || {
            let now = performance.now();
            // The time the computer slept counts: the kernel's clock (and with it the wall
            // clock) catches up after a laptop's lid was closed.
            let slept = slept_ms(js_sys::Date::now(), origin, now, epoch.wall_skew_ms);
            monotonic(&clock, clock_ns(origin, now, epoch.epoch_ms - slept))
        })
        .into_js_value(),
    )?;
    // A negative cpu arrives as a large u32, which the main thread refuses.
    add(
        "timer_set",
        Closure::<dyn FnMut(u32, i64)>::new(|cpu: u32, delta_ns: i64| {
            post(&FromWorker::TimerSet { cpu, delta_ns })
        })
        .into_js_value(),
    )?;
    let claim_cells = pool.clone();
    let start_cells = pool.clone();
    add(
        "task_claim",
        Closure::<dyn FnMut() -> i32>::new(move || task_claim(&claim_cells)).into_js_value(),
    )?;
    add(
        "task_unclaim",
        Closure::<dyn FnMut()>::new(move || {
            pool::unclaim(&pool);
            pool.notify(pool::WAIT_CELL);
        })
        .into_js_value(),
    )?;
    add(
        "spawn_task",
        Closure::<dyn FnMut(u32)>::new(move |task: u32| spawn_task(&start_cells, task))
            .into_js_value(),
    )?;
    add(
        "shutdown",
        Closure::<dyn FnMut(i32)>::new(|how: i32| {
            state::with(|w| w.shutting_down = true);
            post(&FromWorker::Shutdown { how });
        })
        .into_js_value(),
    )?;

    add_user_imports(&add, memory)?;
    mmio::add_imports(&add, memory, cells)?;
    // user_enter and task_exit never return: they throw a host-private exception (marked
    // with `tag`, an object only this worker holds) through every wasm frame to the top
    // level. Plain JS functions, so no Rust frame is abandoned.
    let tag: JsValue = Object::new().into();
    let throwers: Array = Function::new_with_args(
        "tag",
        "return [function user_enter(handle, p) { throw { tag, kind: 'enter', handle: handle >>> 0, p: p >>> 0 }; }, \
         function task_exit() { throw { tag, kind: 'exit' }; }, \
         function user_enter_thread(handle, sp) { throw { tag, kind: 'thread', handle: handle >>> 0, p: sp >>> 0 }; }];",
    )
    .call1(&JsValue::NULL, &tag)
    .map_err(|e| format!("building the imports: {}", js_error_message(&e)))?
    .unchecked_into();
    add("user_enter", throwers.get(0))?;
    add("task_exit", throwers.get(1))?;
    add("user_enter_thread", throwers.get(2))?;

    // user_call runs a signal handler as a nested call. Plain JS as well: a longjmp out of the
    // handler is a wasm exception that must pass through to the program's frames below (the
    // kernel's wasm_syscall repairs its own stack pointer on the way).
    let running = Closure::<dyn Fn() -> JsValue>::new(|| state::with(|w| w.memories.running()))
        .into_js_value();
    let calls: Array = Function::new_with_args(
        "running, efault",
        "return [function user_sp() { const r = running(); return r ? r[1].value : 0; }, \
         function user_call(fn, sp, a0, a1, a2) { \
           const r = running(); \
           if (!r) return -efault; \
           fn >>>= 0; \
           const f = fn < r[0].length ? r[0].get(fn) : null; \
           if (typeof f !== 'function') return -efault; \
           const old = r[1].value; \
           r[1].value = sp; \
           try { f(a0, a1, a2); } finally { r[1].value = old; } \
           return 0; \
         }];",
    )
    .call2(&JsValue::NULL, &running, &abi::EFAULT.into())
    .map_err(|e| format!("building the imports: {}", js_error_message(&e)))?
    .unchecked_into();
    add("user_sp", calls.get(0))?;
    add("user_call", calls.get(1))?;

    let env = Object::new();
    set(&env, abi::MEMORY_NAME, memory)?;
    let imports = Object::new();
    set(&imports, abi::MEMORY_MODULE, &env)?;
    set(&imports, abi::IMPORT_MODULE, &host)?;

    let instance = WebAssembly::Instance::new(module, &imports)
        .map_err(|e| format!("cannot instantiate vmlinux.wasm: {}", js_error_message(&e)))?;
    let exports = instance.exports();
    let get = |name: &str| export(&exports, "vmlinux.wasm", name);
    let function = |name: &str| -> Result<Function, String> {
        get(name)?
            .dyn_into()
            .map_err(|_| format!("vmlinux.wasm's {name} is not a function"))
    };
    let irq: WebAssembly::Global = get(abi::IRQ_PENDING_EXPORT)?
        .dyn_into()
        .map_err(|_| format!("vmlinux.wasm's {} is not a global", abi::IRQ_PENDING_EXPORT))?;
    let irq_word = irq
        .value()
        .as_f64()
        .filter(|a| a.fract() == 0.0 && *a >= 0.0 && *a <= f64::from(u32::MAX))
        .ok_or_else(|| format!("{} is not an i32 address", abi::IRQ_PENDING_EXPORT))?
        as u32;
    Ok(Kernel {
        boot: function(abi::BOOT_EXPORT)?,
        task_entry: function(abi::TASK_ENTRY_EXPORT)?,
        syscall: function(abi::SYSCALL_EXPORT)?.into(),
        user_trap: function(abi::USER_TRAP_EXPORT)?,
        tag,
        irq_word,
    })
}

/// The process-memory imports (`kernel_host::abi`): each one step on `memories.rs`.
fn add_user_imports(
    add: &dyn Fn(&str, JsValue) -> Result<(), String>,
    kmem: &WebAssembly::Memory,
) -> Result<(), String> {
    let mem = kmem.clone();
    add(
        "user_create",
        Closure::<dyn FnMut(u32, u32, u32) -> i32>::new(
            move |image: u32, len: u32, pages_out: u32| {
                state::with(|w| w.memories.create(&mem, image, len, pages_out))
            },
        )
        .into_js_value(),
    )?;
    add(
        "user_select",
        Closure::<dyn FnMut(u32)>::new(|handle: u32| state::with(|w| w.memories.select(handle)))
            .into_js_value(),
    )?;
    add(
        "user_release",
        Closure::<dyn FnMut(u32)>::new(|handle: u32| state::with(|w| w.memories.release(handle)))
            .into_js_value(),
    )?;
    let mem = kmem.clone();
    add(
        "user_read",
        Closure::<dyn FnMut(u32, u32, u32) -> u32>::new(move |kdst: u32, usrc: u32, n: u32| {
            state::with(|w| w.memories.read(&mem, kdst, usrc, n))
        })
        .into_js_value(),
    )?;
    let mem = kmem.clone();
    add(
        "user_write",
        Closure::<dyn FnMut(u32, u32, u32) -> u32>::new(move |udst: u32, ksrc: u32, n: u32| {
            state::with(|w| w.memories.write(&mem, udst, ksrc, n))
        })
        .into_js_value(),
    )?;
    add(
        "user_cmpxchg",
        Closure::<dyn FnMut(u32, u32, u32) -> i64>::new(|uaddr: u32, old: u32, new: u32| {
            state::with(|w| w.memories.cmpxchg(uaddr, old, new))
        })
        .into_js_value(),
    )?;
    add(
        "user_clear",
        Closure::<dyn FnMut(u32, u32) -> u32>::new(|udst: u32, n: u32| {
            state::with(|w| w.memories.clear(udst, n))
        })
        .into_js_value(),
    )?;
    add(
        "user_strnlen",
        Closure::<dyn FnMut(u32, u32) -> u32>::new(|s: u32, n: u32| {
            state::with(|w| w.memories.strnlen(s, n))
        })
        .into_js_value(),
    )?;
    add(
        "user_grow_to",
        Closure::<dyn FnMut(u32) -> i32>::new(|pages: u32| {
            state::with(|w| w.memories.grow_to(pages))
        })
        .into_js_value(),
    )?;
    Ok(())
}

/// `console_write(buf, len)`: copies the bytes out of the shared memory (TextDecoder and
/// postMessage's transfer need an unshared buffer) and hands them to the main thread.
fn console_write(memory: &WebAssembly::Memory, cells: &SharedCells, ptr: u32, len: u32) {
    let ram = Uint8Array::new(&memory.buffer());
    let end = u64::from(ptr) + u64::from(len);
    if end > u64::from(ram.length()) {
        trap(
            format!(
                "console_write({ptr:#x}, {len}) reaches past the end of kernel memory ({:#x})",
                ram.length()
            ),
            None,
        );
        return;
    }
    // slice() makes a new, unshared array.
    let bytes = ram.slice(ptr, ptr + len);
    let buffer = bytes.buffer();
    let seq = kernel_host::virtio::next_output(cells, kernel_host::virtio::CONSOLE);
    post_with(&FromWorker::Console { seq, bytes }, Some(&buffer));
}

/// Never lets the clock go backwards across workers: returns the larger of `now` and the
/// largest value any worker has returned, recording it in the shared cell.
fn monotonic(cell: &BigInt64Array, now: i64) -> i64 {
    let Ok(mut last) = Atomics::compare_exchange_bigint(cell, 0, 0, 0) else {
        return now;
    };
    loop {
        if now <= last {
            return last;
        }
        match Atomics::compare_exchange_bigint(cell, 0, last, now) {
            Ok(seen) if seen == last => return now,
            Ok(seen) => last = seen,
            Err(_) => return now,
        }
    }
}

/// `spawn_task(task)`: the claimed worker is to run `task`. Through the pool: the idle member
/// with the lowest index gets it in its mailbox (`crate::starts`); else through the main
/// thread.
fn spawn_task(cells: &SharedCells, task: u32) {
    if !state::with(|w| w.direct_starts) {
        post(&FromWorker::SpawnTask { task });
        return;
    }
    match pool::give(cells, task) {
        Some(member) => cells.notify(pool::mailbox(member)),
        None => trap(
            format!("no idle pool member for claimed task {task:#x}"),
            None,
        ),
    }
}

/// How long `task_claim` waits for the pool to start a worker before it gives up (EAGAIN).
/// The main thread says sooner when the browser refuses one; this only bounds a main thread
/// that stopped answering.
const CLAIM_PATIENCE_MS: f64 = 30_000.0;

/// `task_claim()`: an idle worker for a task about to be created, waiting while the main
/// thread starts one (`kernel_host::pool`). 0, or -EAGAIN.
fn task_claim(cells: &SharedCells) -> i32 {
    let start = js_sys::Date::now();
    let mut asked = false;
    loop {
        match pool::claim(cells) {
            pool::Claim::Taken => {
                post(&FromWorker::Claimed);
                return 0;
            }
            pool::Claim::Refused => return -abi::EAGAIN,
            pool::Claim::Wait => {
                if !asked {
                    post(&FromWorker::WorkerWanted);
                    asked = true;
                }
                let waited = js_sys::Date::now() - start;
                if waited >= CLAIM_PATIENCE_MS {
                    return -abi::EAGAIN;
                }
                cells.wait(pool::WAIT_CELL, 0, (CLAIM_PATIENCE_MS - waited).min(1000.0));
            }
        }
    }
}
