//! The worker's side of the protocol and the kernel's host imports.

use js_sys::{Array, BigInt64Array, Function, Object, Reflect, Uint8Array, WebAssembly};
use kernel_host::abi;
use kernel_host::boot::clock_ns;
use kernel_host::browser::protocol::{self, FromWorker, Role, ToWorker};
use kernel_host::browser::{js_error_message, js_error_stack};
use std::cell::{Cell, RefCell};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

/// The instantiated kernel: its two entry points.
struct Kernel {
    boot: Function,
    task_entry: Function,
}

thread_local! {
    static KERNEL: RefCell<Option<Kernel>> = const { RefCell::new(None) };
    /// Set once the kernel asked to shut down: the trap that follows is expected.
    static SHUTTING_DOWN: Cell<bool> = const { Cell::new(false) };
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn post(msg: &FromWorker) {
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
            }) => match instantiate(&module, &memory, &BigInt64Array::new(&clock), epoch_ms) {
                Ok((kernel, irq_pending)) => {
                    KERNEL.with(|k| *k.borrow_mut() = Some(kernel));
                    post(&FromWorker::Ready { irq_pending });
                }
                Err(e) => trap(e, None),
            },
            Ok(ToWorker::Run(role)) => run(role),
            Err(e) => trap(e, None),
        }
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    post(&FromWorker::Loaded);
}

/// Calls the kernel; returns only if the kernel returned or trapped.
fn run(role: Role) {
    let entry = KERNEL.with(|k| {
        k.borrow().as_ref().map(|k| match role {
            Role::Boot { fdt_addr } => (abi::BOOT_EXPORT, k.boot.clone(), fdt_addr),
            Role::Task { task } => (abi::TASK_ENTRY_EXPORT, k.task_entry.clone(), task),
        })
    });
    let Some((name, f, arg)) = entry else {
        trap("told to run before vmlinux was instantiated".into(), None);
        return;
    };
    match f.call1(&JsValue::NULL, &JsValue::from(arg)) {
        Ok(_) => trap(format!("{name}({arg:#x}) returned"), None),
        Err(_) if SHUTTING_DOWN.with(Cell::get) => {}
        Err(e) => trap(js_error_message(&e), js_error_stack(&e)),
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
        },
        irq_pending,
    ))
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
