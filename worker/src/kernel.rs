//! The worker's side of the protocol and the kernel's host imports.

use js_sys::{
    Array, Atomics, BigInt64Array, DataView, Function, Int32Array, Object, Reflect,
    SharedArrayBuffer, Uint8Array, WebAssembly,
};
use kernel_host::boot::clock_ns;
use kernel_host::browser::devices::{self, BrowserEntropy, KernelMemory, SharedCells};
use kernel_host::browser::protocol::{self, FromWorker, Role, ToWorker};
use kernel_host::browser::{js_error_message, js_error_stack};
use kernel_host::layout::WASM_PAGE;
use kernel_host::virtio::{self, Bus, Effect};
use kernel_host::{abi, handles, user};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

/// The instantiated kernel: its entry points, and the tag of the host-private exceptions its
/// `user_enter` and `task_exit` imports throw to the top level.
struct Kernel {
    boot: Function,
    task_entry: Function,
    /// `wasm_syscall` itself: every program instance's `linux.syscall`.
    syscall: JsValue,
    user_trap: Function,
    tag: JsValue,
}

/// A process memory this worker knows (ARCHITECTURE.md, "User programs: kernel ↔ host"),
/// with its instance in this worker once entered.
struct UserMemory {
    module: WebAssembly::Module,
    memory: WebAssembly::Memory,
    instance: Option<Program>,
    /// The memory's maximum in pages if this worker made it (only the maker may reuse a
    /// memory once it is released: no two workers can then hand it out twice).
    made_here: Option<u32>,
}

/// A released process memory this worker made, kept for its next exec.
struct Spare {
    memory: WebAssembly::Memory,
    maximum: u32,
}

/// What the host uses of a program instance: its entry, and for `user_sp`/`user_call` (signal
/// handlers) its function table and stack pointer.
#[derive(Clone)]
struct Program {
    start: Function,
    /// `__wasm_thread_start(sp)`, present in programs that can create threads.
    thread_start: Option<Function>,
    table: WebAssembly::Table,
    stack_pointer: WebAssembly::Global,
}

/// What the top level calls next.
enum Entry {
    Boot(u32),
    Task(u32),
    /// A program's `_start(p)`.
    Start(Function, u32),
    /// A new thread: `__wasm_thread_start(sp)` with the instance's stack pointer at `sp`.
    Thread(Program, u32),
    /// `wasm_user_trap(kind)`.
    UserTrap(i32),
    /// Nothing until the main thread answers `WantUser`.
    Wait,
}

thread_local! {
    static KERNEL: RefCell<Option<Kernel>> = const { RefCell::new(None) };
    /// Set once the kernel asked to shut down: the trap that follows is expected.
    static SHUTTING_DOWN: Cell<bool> = const { Cell::new(false) };
    static USERS: RefCell<HashMap<u32, UserMemory>> = RefCell::new(HashMap::new());
    /// `user_select`'s handle (0 = none).
    static SELECTED: Cell<u32> = const { Cell::new(0) };
    static SPARES: RefCell<Vec<Spare>> = const { RefCell::new(Vec::new()) };
    /// Program files this worker compiled lately, with their modules, oldest first.
    static MODULES: RefCell<Vec<(Vec<u8>, WebAssembly::Module)>> = const { RefCell::new(Vec::new()) };
    /// The shared handle cells (`kernel_host::handles`), from `Init`.
    static HANDLES: RefCell<Option<SharedCells>> = const { RefCell::new(None) };
    /// The address of the kernel's pending-IRQ word, once instantiated.
    static IRQ_WORD: Cell<Option<u32>> = const { Cell::new(None) };
    /// The kernel memory and the device cells, for `Run(Devices)`.
    static SHARED: RefCell<Option<(WebAssembly::Memory, SharedArrayBuffer)>> =
        const { RefCell::new(None) };
    /// A `user_enter(handle, p)` (or `user_enter_thread`, true) waiting for the main thread
    /// to send the handle.
    static WAITING: Cell<Option<(u32, u32, bool)>> = const { Cell::new(None) };
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

pub(crate) fn post(msg: &FromWorker) {
    post_with(msg, None);
}

fn post_with(msg: &FromWorker, transfer: Option<&JsValue>) {
    let sent = protocol::encode(msg).and_then(|v| {
        match transfer {
            Some(t) => scope().post_message_with_transfer(&v, &Array::of1(t)),
            None => scope().post_message(&v),
        }
        .map_err(|e| js_error_message(&e))
    });
    if let Err(e) = sent {
        web_sys::console::error_1(&format!("kernel worker: cannot post a message: {e}").into());
    }
}

fn trap(message: String, stack: Option<String>) {
    post(&FromWorker::Trap { message, stack });
}

pub fn start() {
    console_error_panic_hook::set_once();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|ev: MessageEvent| {
        match protocol::decode::<ToWorker>(ev.data()) {
            Ok(ToWorker::Init {
                module,
                memory,
                clock,
                epoch_ms,
                handles,
                devices,
            }) => match instantiate(
                &module,
                &memory,
                &BigInt64Array::new(&clock),
                epoch_ms,
                Int32Array::new(&handles),
                SharedCells::new(&devices),
            ) {
                Ok((kernel, irq_pending)) => {
                    KERNEL.with(|k| *k.borrow_mut() = Some(kernel));
                    HANDLES.with(|h| *h.borrow_mut() = Some(SharedCells::new(&handles)));
                    IRQ_WORD.set(Some(irq_pending));
                    SHARED.with(|s| *s.borrow_mut() = Some((memory, devices)));
                    post(&FromWorker::Ready { irq_pending });
                }
                Err(e) => trap(e, None),
            },
            Ok(ToWorker::User {
                handle,
                module,
                memory,
            }) => {
                USERS.with(|u| {
                    u.borrow_mut().entry(handle).or_insert(UserMemory {
                        module,
                        memory,
                        instance: None,
                        made_here: None,
                    });
                });
                if let Some((h, p, thread)) = WAITING.get() {
                    if h == handle {
                        WAITING.set(None);
                        drive(enter(handle, p, thread));
                    }
                }
            }
            Ok(ToWorker::NoUser { handle }) => trap(
                format!("user_enter({handle}): no such process memory in the registry"),
                None,
            ),
            Ok(ToWorker::Run(Role::Boot { fdt_addr })) => drive(Entry::Boot(fdt_addr)),
            Ok(ToWorker::Run(Role::Task { task })) => drive(Entry::Task(task)),
            Ok(ToWorker::Run(Role::Devices)) => {
                let shared = SHARED.with(|s| s.borrow().clone());
                match (shared, IRQ_WORD.get()) {
                    (Some((memory, cells)), Some(word)) => {
                        crate::devices::start(&memory, &cells, word)
                    }
                    _ => trap("Run(Devices) before Init".into(), None),
                }
            }
            Ok(ToWorker::Input { bytes }) => crate::devices::input(bytes.to_vec()),
            Ok(ToWorker::Resize { cols, rows }) => crate::devices::resize(cols, rows),
            Ok(ToWorker::FilesInput { bytes }) => crate::devices::files_input(bytes.to_vec()),
            Ok(ToWorker::ReceiveBuffers { device }) => crate::devices::receive_buffers(device),
            Err(e) => trap(e, None),
        }
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    post(&FromWorker::Loaded);
}

/// What the next step is after `user_enter(handle, p)` reached the top level: the program's
/// `_start`, instantiated in this worker if it was not yet; for `user_enter_thread(handle,
/// sp)` (`thread`), its `__wasm_thread_start`.
fn enter(handle: u32, p: u32, thread: bool) -> Entry {
    let Some(syscall) = KERNEL.with(|k| k.borrow().as_ref().map(|k| k.syscall.clone())) else {
        trap("user_enter before vmlinux was instantiated".into(), None);
        return Entry::UserTrap(0);
    };
    let known = USERS.with(|u| {
        u.borrow()
            .get(&handle)
            .map(|u| (u.module.clone(), u.memory.clone(), u.instance.clone()))
    });
    let Some((module, memory, instance)) = known else {
        WAITING.set(Some((handle, p, thread)));
        post(&FromWorker::WantUser { handle });
        return Entry::Wait;
    };
    let program = match instance {
        Some(program) => Ok(program),
        None => instantiate_program(&module, &memory, &syscall).inspect(|program| {
            USERS.with(|u| {
                if let Some(u) = u.borrow_mut().get_mut(&handle) {
                    u.instance = Some(program.clone());
                }
            })
        }),
    };
    match program {
        Ok(program) if thread => Entry::Thread(program, p),
        Ok(program) => Entry::Start(program.start, p),
        Err(e) => {
            web_sys::console::error_1(&format!("kernel worker: user_enter({handle}): {e}").into());
            Entry::UserTrap(0)
        }
    }
}

fn instantiate_program(
    module: &WebAssembly::Module,
    memory: &WebAssembly::Memory,
    syscall: &JsValue,
) -> Result<Program, String> {
    let env = Object::new();
    set(&env, "memory", memory)?;
    let linux = Object::new();
    // The exported function object itself: a syscall is a wasm-to-wasm call.
    set(&linux, "syscall", syscall)?;
    let imports = Object::new();
    set(&imports, "env", &env)?;
    set(&imports, "linux", &linux)?;
    let instance = WebAssembly::Instance::new(module, &imports)
        .map_err(|e| format!("cannot instantiate the program: {}", js_error_message(&e)))?;
    let exports = instance.exports();
    let get = |name: &str| {
        Reflect::get(&exports, &name.into())
            .ok()
            .filter(|v| !v.is_undefined())
            .ok_or_else(|| format!("the program does not export {name}"))
    };
    Ok(Program {
        start: get("_start")?
            .dyn_into()
            .map_err(|_| "the program's _start is not a function".to_string())?,
        thread_start: get(user::THREAD_START_EXPORT)
            .ok()
            .and_then(|f| f.dyn_into().ok()),
        table: get(user::FUNCTION_TABLE_EXPORT)?
            .dyn_into()
            .map_err(|_| "the program's function table is not a table".to_string())?,
        stack_pointer: get("__stack_pointer")?
            .dyn_into()
            .map_err(|_| "the program's __stack_pointer is not a global".to_string())?,
    })
}

/// The program instance running in this worker (the selected memory's), as `[table,
/// __stack_pointer]` for the `user_sp` and `user_call` imports; null if there is none.
fn running_program() -> JsValue {
    let handle = SELECTED.get();
    USERS.with(|u| {
        u.borrow()
            .get(&handle)
            .and_then(|u| u.instance.as_ref())
            .map_or(JsValue::NULL, |p| {
                Array::of2(&p.table, &p.stack_pointer).into()
            })
    })
}

/// The worker's top level: calls the kernel (or a program), and catches what unwinds to here
/// — `user_enter` (call `_start`), `task_exit` (the worker is done), a trap in user code
/// (`wasm_user_trap(0)`), `_start` returning (`wasm_user_trap(1)`). Returns when the worker
/// has nothing more to run, or waits for a process memory from the main thread.
fn drive(mut entry: Entry) {
    loop {
        let kernel = KERNEL.with(|k| {
            k.borrow().as_ref().map(|k| {
                (
                    k.boot.clone(),
                    k.task_entry.clone(),
                    k.user_trap.clone(),
                    k.tag.clone(),
                )
            })
        });
        let Some((boot, task_entry, user_trap, tag)) = kernel else {
            trap("told to run before vmlinux was instantiated".into(), None);
            return;
        };
        let (name, result) = match &entry {
            Entry::Boot(a) => (abi::BOOT_EXPORT, boot.call1(&JsValue::NULL, &(*a).into())),
            Entry::Task(t) => (
                abi::TASK_ENTRY_EXPORT,
                task_entry.call1(&JsValue::NULL, &(*t).into()),
            ),
            Entry::Start(start, p) => ("_start", start.call1(&JsValue::NULL, &(*p).into())),
            Entry::Thread(program, sp) => {
                program.stack_pointer.set_value(&(*sp as i32).into());
                let result = match &program.thread_start {
                    Some(f) => f.call1(&JsValue::NULL, &(*sp).into()),
                    // Reported as a trap in user code: the program cannot run threads.
                    None => Err(WebAssembly::RuntimeError::new(&format!(
                        "the program does not export {}",
                        user::THREAD_START_EXPORT
                    ))
                    .into()),
                };
                (user::THREAD_START_EXPORT, result)
            }
            Entry::Wait => return,
            Entry::UserTrap(kind) => (
                abi::USER_TRAP_EXPORT,
                user_trap.call1(&JsValue::NULL, &(*kind).into()),
            ),
        };
        let in_user = matches!(entry, Entry::Start(..) | Entry::Thread(..));
        let e = match result {
            Ok(_) if in_user => {
                entry = Entry::UserTrap(1);
                continue;
            }
            Ok(_) => {
                trap(format!("{name} returned"), None);
                return;
            }
            Err(e) => e,
        };
        if SHUTTING_DOWN.with(Cell::get) {
            return;
        }
        let ours = Reflect::get(&e, &"tag".into()).is_ok_and(|t| Object::is(&t, &tag));
        if ours {
            let field = |k: &str| {
                Reflect::get(&e, &k.into())
                    .ok()
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0) as u32
            };
            match Reflect::get(&e, &"kind".into())
                .ok()
                .and_then(|k| k.as_string())
                .as_deref()
            {
                Some(kind @ ("enter" | "thread")) => {
                    entry = enter(field("handle"), field("p"), kind == "thread");
                    continue;
                }
                _ => {
                    USERS.with(|u| u.borrow_mut().clear());
                    SELECTED.set(0);
                    post(&FromWorker::TaskExit);
                    return;
                }
            }
        }
        if in_user && e.is_instance_of::<WebAssembly::RuntimeError>() {
            web_sys::console::warn_1(
                &format!(
                    "kernel worker: user program trapped: {}\n{}",
                    js_error_message(&e),
                    js_error_stack(&e).unwrap_or_default()
                )
                .into(),
            );
            entry = Entry::UserTrap(0);
            continue;
        }
        trap(js_error_message(&e), js_error_stack(&e));
        return;
    }
}

fn set(obj: &Object, key: &str, value: &JsValue) -> Result<(), String> {
    Reflect::set(obj, &key.into(), value)
        .map(drop)
        .map_err(|e| format!("building the imports: {}", js_error_message(&e)))
}

/// Instantiates vmlinux with the host imports; returns its entry points and the address of
/// its pending-IRQ word.
fn instantiate(
    module: &WebAssembly::Module,
    memory: &WebAssembly::Memory,
    clock: &BigInt64Array,
    epoch_ms: f64,
    handles: Int32Array,
    cells: SharedCells,
) -> Result<(Kernel, u32), String> {
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
    add(
        "console_write",
        Closure::<dyn FnMut(u32, u32)>::new(move |ptr: u32, len: u32| {
            console_write(&mem, ptr, len)
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
            monotonic(&clock, clock_ns(origin, performance.now(), epoch_ms))
        })
        .into_js_value(),
    )?;
    add(
        "timer_set",
        Closure::<dyn FnMut(i64)>::new(|delta_ns: i64| post(&FromWorker::TimerSet { delta_ns }))
            .into_js_value(),
    )?;
    add(
        "spawn_task",
        Closure::<dyn FnMut(u32)>::new(|task: u32| post(&FromWorker::SpawnTask { task }))
            .into_js_value(),
    )?;
    add(
        "shutdown",
        Closure::<dyn FnMut(i32)>::new(|how: i32| {
            SHUTTING_DOWN.with(|s| s.set(true));
            post(&FromWorker::Shutdown { how });
        })
        .into_js_value(),
    )?;

    add_user_imports(&add, memory, handles)?;
    add_device_imports(&add, memory, cells)?;
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
    let running = Closure::<dyn Fn() -> JsValue>::new(running_program).into_js_value();
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
    let get = |name: &str| {
        Reflect::get(&exports, &name.into())
            .ok()
            .filter(|v| !v.is_undefined())
            .ok_or_else(|| format!("vmlinux.wasm does not export {name}"))
    };
    let function = |name: &str| -> Result<Function, String> {
        get(name)?
            .dyn_into()
            .map_err(|_| format!("vmlinux.wasm's {name} is not a function"))
    };
    let irq: WebAssembly::Global = get(abi::IRQ_PENDING_EXPORT)?
        .dyn_into()
        .map_err(|_| format!("vmlinux.wasm's {} is not a global", abi::IRQ_PENDING_EXPORT))?;
    let irq_pending = irq
        .value()
        .as_f64()
        .filter(|a| a.fract() == 0.0 && *a >= 0.0 && *a <= f64::from(u32::MAX))
        .ok_or_else(|| format!("{} is not an i32 address", abi::IRQ_PENDING_EXPORT))?
        as u32;
    Ok((
        Kernel {
            boot: function(abi::BOOT_EXPORT)?,
            task_entry: function(abi::TASK_ENTRY_EXPORT)?,
            syscall: function(abi::SYSCALL_EXPORT)?.into(),
            user_trap: function(abi::USER_TRAP_EXPORT)?,
            tag,
        },
        irq_pending,
    ))
}

/// The selected process memory's bytes, as they are now (the memory may have grown, also in
/// another worker).
fn selected() -> Option<Uint8Array> {
    let handle = SELECTED.get();
    if handle == 0 {
        return None;
    }
    USERS.with(|u| {
        u.borrow()
            .get(&handle)
            .map(|u| Uint8Array::new(&u.memory.buffer()))
    })
}

/// How many of `n` bytes at `at` lie inside `len` bytes.
fn inside(at: u32, n: u32, len: u32) -> u32 {
    len.saturating_sub(at).min(n)
}

/// The process-memory imports (ARCHITECTURE.md, "New kernel imports").
fn add_user_imports(
    add: &dyn Fn(&str, JsValue) -> Result<(), String>,
    kmem: &WebAssembly::Memory,
    handles: Int32Array,
) -> Result<(), String> {
    let mem = kmem.clone();
    add(
        "user_create",
        Closure::<dyn FnMut(u32, u32, u32) -> i32>::new(
            move |image: u32, len: u32, pages_out: u32| {
                user_create(&mem, &handles, image, len, pages_out)
            },
        )
        .into_js_value(),
    )?;
    add(
        "user_select",
        Closure::<dyn FnMut(u32)>::new(|handle: u32| {
            forget_released();
            SELECTED.set(handle);
        })
        .into_js_value(),
    )?;
    add(
        "user_release",
        Closure::<dyn FnMut(u32)>::new(|handle: u32| {
            // Only references are dropped: the instance may still have frames on this stack
            // (it is unwound before any later exec could reuse the memory).
            let released = USERS.with(|u| u.borrow_mut().remove(&handle));
            if let Some(released) = released {
                keep_spare(released);
            }
            HANDLES.with(|h| {
                if let Some(h) = h.borrow().as_ref() {
                    handles::mark_released(h, handle);
                }
            });
            post(&FromWorker::UserReleased { handle });
        })
        .into_js_value(),
    )?;
    let mem = kmem.clone();
    add(
        "user_read",
        Closure::<dyn FnMut(u32, u32, u32) -> u32>::new(move |kdst: u32, usrc: u32, n: u32| {
            let Some(u) = selected() else { return n };
            let ok = inside(usrc, n, u.length());
            if ok > 0 {
                Uint8Array::new(&mem.buffer()).set(&u.subarray(usrc, usrc + ok), kdst);
            }
            n - ok
        })
        .into_js_value(),
    )?;
    let mem = kmem.clone();
    add(
        "user_write",
        Closure::<dyn FnMut(u32, u32, u32) -> u32>::new(move |udst: u32, ksrc: u32, n: u32| {
            let Some(u) = selected() else { return n };
            let ok = inside(udst, n, u.length());
            if ok > 0 {
                u.set(
                    &Uint8Array::new(&mem.buffer()).subarray(ksrc, ksrc + ok),
                    udst,
                );
            }
            n - ok
        })
        .into_js_value(),
    )?;
    add(
        "user_clear",
        Closure::<dyn FnMut(u32, u32) -> u32>::new(|udst: u32, n: u32| {
            let Some(u) = selected() else { return n };
            let ok = inside(udst, n, u.length());
            if ok > 0 {
                u.fill(0, udst, udst + ok);
            }
            n - ok
        })
        .into_js_value(),
    )?;
    add(
        "user_strnlen",
        Closure::<dyn FnMut(u32, u32) -> u32>::new(|s: u32, n: u32| {
            let Some(u) = selected() else { return 0 };
            strnlen(&u, s, n)
        })
        .into_js_value(),
    )?;
    add(
        "user_grow",
        Closure::<dyn FnMut(u32) -> i32>::new(|pages: u32| {
            let handle = SELECTED.get();
            let memory = USERS.with(|u| u.borrow().get(&handle).map(|u| u.memory.clone()));
            let Some(memory) = memory else {
                return -abi::ENOMEM;
            };
            grow_memory(&memory, pages).map_or(-abi::ENOMEM, |old| old as i32)
        })
        .into_js_value(),
    )?;
    Ok(())
}

/// `user_strnlen(s, n)`: the length including the NUL, `n + 1` if none in the first `n` bytes,
/// 0 if the memory ends first.
fn strnlen(u: &Uint8Array, s: u32, n: u32) -> u32 {
    const CHUNK: u32 = 256;
    let len = u.length();
    let mut i = 0u32;
    while i < n {
        let at = u64::from(s) + u64::from(i);
        if at >= u64::from(len) {
            return 0;
        }
        let at = at as u32;
        let take = (n - i).min(CHUNK).min(len - at);
        let chunk = u.subarray(at, at + take).to_vec();
        if let Some(z) = chunk.iter().position(|b| *b == 0) {
            return i + z as u32 + 1;
        }
        i += take;
    }
    n.wrapping_add(1)
}

/// Drops this worker's references to process memories released in other workers (see
/// `kernel_host::handles`: each one left behind holds ~10 GiB of the page's address space).
fn forget_released() {
    let released: Vec<UserMemory> = HANDLES.with(|h| {
        let h = h.borrow();
        let Some(h) = h.as_ref() else {
            return Vec::new();
        };
        USERS.with(|u| {
            let mut u = u.borrow_mut();
            let gone: Vec<u32> = u
                .keys()
                .copied()
                .filter(|handle| handles::is_released(h, *handle))
                .collect();
            gone.iter().filter_map(|handle| u.remove(handle)).collect()
        })
    });
    for r in released {
        keep_spare(r);
    }
}

/// Keeps a released memory this worker made for its next exec (`user::keep_as_spare`).
fn keep_spare(released: UserMemory) {
    let Some(maximum) = released.made_here else {
        return;
    };
    let pages = Uint8Array::new(&released.memory.buffer()).length() / WASM_PAGE;
    SPARES.with(|s| {
        let mut s = s.borrow_mut();
        if user::keep_as_spare(pages, s.len()) {
            s.push(Spare {
                memory: released.memory,
                maximum,
            });
        }
    });
}

/// A process memory for a program asking for `want`: a spare one, zeroed and grown to size,
/// or a new one.
fn process_memory(want: user::ProgramMemory) -> Option<WebAssembly::Memory> {
    while let Some(spare) = SPARES.with(|s| s.borrow_mut().pop()) {
        let bytes = Uint8Array::new(&spare.memory.buffer());
        let pages = bytes.length() / WASM_PAGE;
        let Some(grow) = user::spare_fits(pages, spare.maximum, want) else {
            continue;
        };
        bytes.fill(0, 0, bytes.length());
        if grow > 0 && grow_memory(&spare.memory, grow).is_none() {
            continue;
        }
        return Some(spare.memory);
    }
    let desc = Object::new();
    let ok = Reflect::set(&desc, &"initial".into(), &want.initial.into()).is_ok()
        && Reflect::set(&desc, &"maximum".into(), &want.maximum.into()).is_ok()
        && Reflect::set(&desc, &"shared".into(), &true.into()).is_ok();
    if !ok {
        return None;
    }
    WebAssembly::Memory::new(&desc).ok()
}

/// `memory.grow(pages)` (which throws a RangeError when it cannot): the old size in pages.
fn grow_memory(memory: &WebAssembly::Memory, pages: u32) -> Option<u32> {
    Reflect::get(memory, &"grow".into())
        .ok()
        .and_then(|g| g.dyn_into::<Function>().ok())
        .and_then(|g| g.call1(memory, &pages.into()).ok())
        .and_then(|old| old.as_f64())
        .map(|old| old as u32)
}

/// The module of a program file: compiled now, or earlier in this worker from the same bytes
/// (a shell execs BusyBox over and over; compiling it costs more than comparing it).
fn compiled(file: Vec<u8>, bytes: &Uint8Array) -> Result<WebAssembly::Module, JsValue> {
    if let Some(m) = MODULES.with(|m| {
        m.borrow()
            .iter()
            .find(|(f, _)| *f == file)
            .map(|(_, module)| module.clone())
    }) {
        return Ok(m);
    }
    let module = WebAssembly::Module::new(bytes)?;
    MODULES.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() == user::CACHED_MODULES {
            m.remove(0);
        }
        m.push((file, module.clone()));
    });
    Ok(module)
}

/// `user_create(image, len, pages_out)`: compiles the program file at kernel `image`, creates
/// its process memory and registers both under a new handle.
fn user_create(
    kmem: &WebAssembly::Memory,
    handles: &Int32Array,
    image: u32,
    len: u32,
    pages_out: u32,
) -> i32 {
    forget_released();
    let ram = Uint8Array::new(&kmem.buffer());
    if u64::from(image) + u64::from(len) > u64::from(ram.length())
        || u64::from(pages_out) + 4 > u64::from(ram.length())
    {
        return -abi::ENOEXEC;
    }
    // slice(): an unshared copy, which the compiler accepts.
    let bytes = ram.slice(image, image + len);
    let file = bytes.to_vec();
    let limits = match user::check_program(&file) {
        Ok(l) => l,
        Err(e) => {
            web_sys::console::warn_1(&format!("user_create: not a program module: {e}").into());
            return -abi::ENOEXEC;
        }
    };
    let module = match compiled(file, &bytes) {
        Ok(m) => m,
        Err(e) => {
            web_sys::console::warn_1(&format!("user_create: {}", js_error_message(&e)).into());
            return -abi::ENOEXEC;
        }
    };
    let Some(memory) = process_memory(limits) else {
        return -abi::ENOMEM;
    };
    // A spare memory may be larger than the program asks for: the kernel gets its real size.
    let pages = Uint8Array::new(&memory.buffer()).length() / WASM_PAGE;
    let Ok(last) = Atomics::add(handles, 0, 1) else {
        return -abi::ENOMEM;
    };
    let handle = (last + 1) as u32;
    USERS.with(|u| {
        u.borrow_mut().insert(
            handle,
            UserMemory {
                module: module.clone(),
                memory: memory.clone(),
                instance: None,
                made_here: Some(limits.maximum),
            },
        )
    });
    post(&FromWorker::UserCreated {
        handle,
        module,
        memory,
    });
    DataView::new_with_shared_array_buffer(
        &kmem.buffer().unchecked_into(),
        0,
        ram.length() as usize,
    )
    .set_uint32_endian(pages_out as usize, pages, true);
    handle as i32
}

/// `mmio_read`/`mmio_write`: the virtio devices' registers (`kernel_host::virtio`). A write
/// may notify a queue: console output goes to the page, an RNG request is served here.
fn add_device_imports(
    add: &dyn Fn(&str, JsValue) -> Result<(), String>,
    kmem: &WebAssembly::Memory,
    cells: SharedCells,
) -> Result<(), String> {
    let cells = std::rc::Rc::new(cells);
    let memory = std::rc::Rc::new(KernelMemory(kmem.clone()));
    let (c, m) = (cells.clone(), memory.clone());
    add(
        "mmio_read",
        Closure::<dyn FnMut(u32, u32) -> u32>::new(move |addr: u32, size: u32| {
            Bus::new(&*m, &*c).read(addr, size)
        })
        .into_js_value(),
    )?;
    let kmem = kmem.clone();
    add(
        "mmio_write",
        Closure::<dyn FnMut(u32, u32, u32)>::new(move |addr: u32, size: u32, value: u32| {
            let bus = Bus::new(&*memory, &*cells);
            for effect in bus.write(addr, size, value, &mut BrowserEntropy) {
                device_effect(&kmem, effect);
            }
        })
        .into_js_value(),
    )?;
    Ok(())
}

fn device_effect(kmem: &WebAssembly::Memory, effect: Effect) {
    match effect {
        Effect::Output { device, bytes } => {
            let bytes = Uint8Array::from(&bytes[..]);
            let buffer = bytes.buffer();
            let msg = match device {
                virtio::FILES => FromWorker::Files { bytes },
                _ => FromWorker::Console { bytes },
            };
            post_with(&msg, Some(&buffer));
        }
        Effect::ReceiveBuffers { device } => post(&FromWorker::ReceiveBuffers {
            device: device as u32,
        }),
        Effect::Interrupt { line } => {
            let raised = IRQ_WORD
                .get()
                .ok_or_else(|| "an interrupt before instantiation".to_string())
                .and_then(|word| devices::raise_irq(kmem, word, line));
            if let Err(e) = raised {
                trap(e, None);
            }
        }
        Effect::Broken { device, message } => web_sys::console::error_1(
            &format!("virtio device {device} needs a reset: {message}").into(),
        ),
    }
}

/// `console_write(buf, len)`: copies the bytes out of the shared memory (TextDecoder and
/// postMessage's transfer need an unshared buffer) and hands them to the main thread.
fn console_write(memory: &WebAssembly::Memory, ptr: u32, len: u32) {
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
    post_with(&FromWorker::Console { bytes }, Some(&buffer));
}

/// Never lets the clock go backwards across workers: returns the larger of `now` and the
/// largest value any worker has returned, recording it in the shared cell.
fn monotonic(cell: &BigInt64Array, now: i64) -> i64 {
    use js_sys::Atomics;
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
