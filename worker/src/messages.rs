//! The message loop: what the worker does with each `ToWorker` from the main thread
//! (`kernel_host::browser::protocol`). A task's worker instantiates vmlinux (`Init`), then
//! runs its role from the top level (`Run`) and hears of process memories (`User`,
//! `NoUser`); the device worker serves the page's input (`Input`, `Resize`, `FilesInput`,
//! `Notify`).

use crate::devices::{self, Devices};
use crate::effects;
use crate::fetches;
use crate::outbox::{post, post_with, scope, trap};
use crate::relay;
use crate::starts;
use crate::state;
use crate::toplevel::{drive, enter, Entry};
use crate::vmlinux::{instantiate, Epoch};
use js_sys::{BigInt64Array, Uint8Array};
use kernel_host::browser::devices::SharedCells;
use kernel_host::browser::protocol::{self, DiskFs, FromWorker, Role, ToWorker};
use kernel_host::net::forward;
use kernel_host::net::relay::Link;
use kernel_host::virtio::Effect;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::MessageEvent;

/// Installs the message handler and tells the main thread (`Loaded`).
pub fn start() {
    console_error_panic_hook::set_once();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|ev: MessageEvent| {
        // The page's compiled worker module is the loader's (worker_loader.js); a loader
        // from before it took one leaves it here.
        if ev.data().is_instance_of::<js_sys::WebAssembly::Module>() {
            return;
        }
        match protocol::decode::<ToWorker>(ev.data()) {
            Ok(msg) => on_message(msg),
            Err(e) => trap(e, None),
        }
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    post(&FromWorker::Loaded);
}

fn on_message(msg: ToWorker) {
    match msg {
        ToWorker::Init {
            module,
            memory,
            clock,
            epoch_ms,
            wall_skew_ms,
            handles,
            devices,
            preempt_points,
            direct_starts,
        } => {
            // The handle cells and the pool's cells after them (`kernel_host::pool`): one
            // view for the kernel's imports, the process memories and the pool's mailboxes.
            let pool = SharedCells::new(&handles);
            let epoch = Epoch {
                epoch_ms,
                wall_skew_ms,
            };
            let clock = BigInt64Array::new(&clock);
            let devices_cells = SharedCells::new(&devices);
            match instantiate(&module, &memory, &clock, epoch, pool.clone(), devices_cells) {
                Ok(kernel) => {
                    let irq_pending = kernel.irq_word;
                    state::with(|w| {
                        w.kernel = Some(kernel);
                        w.memories.handles = Some(pool.clone());
                        w.memories.plain = !preempt_points;
                        w.shared = Some((memory, devices));
                        w.pool = Some(pool);
                        w.direct_starts = direct_starts;
                    });
                    post(&FromWorker::Ready { irq_pending });
                }
                Err(e) => trap(e, None),
            }
        }
        ToWorker::User {
            handle,
            module,
            memory,
        } => {
            let waiting = state::with(|w| {
                // With direct starts a memory comes only when asked for: one that comes after
                // the task ended is not kept (it would hold the memory's address space).
                if w.direct_starts && !w.has_task {
                    return None;
                }
                w.memories.know(handle, module, memory);
                match w.waiting {
                    Some((h, p, thread)) if h == handle => {
                        w.waiting = None;
                        Some((p, thread))
                    }
                    _ => None,
                }
            });
            if let Some((p, thread)) = waiting {
                drive(enter(handle, p, thread));
            }
        }
        ToWorker::Program { file, module } => state::with(|w| w.memories.learn(&file, module)),
        ToWorker::NoUser { handle } => trap(
            format!("user_enter({handle}): no such process memory in the registry"),
            None,
        ),
        ToWorker::Pool { member } => starts::join(member),
        ToWorker::Run(Role::Boot { fdt_addr }) => drive(Entry::Boot(fdt_addr)),
        ToWorker::Run(Role::Task { task }) => {
            state::with(|w| w.has_task = true);
            drive(Entry::Task(task))
        }
        ToWorker::Run(Role::Devices) => {
            let started = state::with(|w| {
                let (memory, cells) = w.shared.as_ref()?;
                let irq_word = w.kernel.as_ref()?.irq_word;
                w.devices = Some(Devices::new(memory, cells, irq_word));
                Some(())
            });
            if started.is_none() {
                trap("Run(Devices) before Init".into(), None);
            }
            report_network_every(NETWORK_REPORT_MS);
        }
        ToWorker::OpenDisk {
            name,
            bytes: wanted,
        } => {
            wasm_bindgen_futures::spawn_local(async move {
                let opened = crate::disk::open(&name, wanted as u64).await;
                let (bytes, problem, fs) = match opened {
                    Ok((store, image, note)) => {
                        let bytes =
                            state::with(|w| w.devices.as_mut().map(|d| d.attach_disk(store)));
                        match bytes {
                            Some(b) => (b, note, DiskFs::of(&image)),
                            None => (
                                0,
                                Some("the device worker is not running".to_string()),
                                None,
                            ),
                        }
                    }
                    Err(why) => (0, Some(why), None),
                };
                post(&FromWorker::DiskReady {
                    bytes: bytes as f64,
                    problem,
                    fs,
                });
            });
        }
        ToWorker::DiskUsage => {
            let fs = state::with(|w| w.devices.as_mut().and_then(|d| d.disk_image()));
            post(&FromWorker::DiskUsage {
                fs: fs.as_ref().and_then(DiskFs::of),
            });
        }
        ToWorker::Input { bytes } => device(|d| d.input(bytes.to_vec())),
        ToWorker::Resize { cols, rows } => device(|d| d.resize(cols, rows)),
        ToWorker::FilesInput { bytes } => device(|d| d.files_input(bytes.to_vec())),
        ToWorker::Notify { device: id, queue } => device(|d| d.notify(id, queue)),
        ToWorker::Relay { url } => device(|d| d.set_relay(url)),
        ToWorker::Forward {
            id,
            port,
            method,
            path,
            headers,
            body,
        } => {
            let request = forward::Request {
                port,
                method,
                path,
                headers,
                body: body.to_vec(),
            };
            device(|d| d.forward(id, &request))
        }
    }
}

/// Serves one request of the page in the device role and carries out its effects.
fn device(f: impl FnOnce(&mut Devices) -> Vec<Effect>) {
    let served = state::with(|w| {
        w.devices
            .as_mut()
            .map(|d| (f(d), d.kmem.clone(), d.irq_word))
    });
    let Some((effects, kmem, irq_word)) = served else {
        web_sys::console::error_1(&"device worker: a device message before Run".into());
        return;
    };
    for effect in effects {
        if let Err(e) = effects::apply(&kmem, Some(irq_word), effect) {
            web_sys::console::error_1(&format!("device worker: {e}").into());
        }
    }
    let fetches = state::with(|w| w.devices.as_mut().map(Devices::take_fetches));
    for fetch in fetches.into_iter().flatten() {
        fetches::spawn(fetch, serve);
    }
    let forwarded = state::with(|w| w.devices.as_mut().map(Devices::take_forwarded));
    for (id, answer) in forwarded.into_iter().flatten() {
        let body = Uint8Array::from(&answer.body[..]);
        let buffer = body.buffer();
        post_with(
            &FromWorker::Forwarded {
                id: id as u32,
                status: answer.status,
                reason: answer.reason,
                headers: answer.headers,
                body,
            },
            Some(&buffer),
        );
    }
    tend_relay();
    plan_network_poll();
}

/// Keeps the relay's socket as the gateway wants it: opens it when a stream waits, sends the
/// gateway's packets while it is up, shuts it when the gateway is done with it.
fn tend_relay() {
    let wanted = state::with(|w| {
        let d = w.devices.as_mut()?;
        match d.relay_link() {
            Link::Wanted => d.relay_url.clone(),
            Link::Up => {
                d.relay_send();
                None
            }
            Link::Down => {
                d.relay_retire();
                None
            }
            Link::Opening => None,
        }
    });
    let Some(url) = wanted else {
        return;
    };
    let handlers = relay::Handlers {
        open: Box::new(|| device(|d| d.relay_up())),
        message: Box::new(|bytes| device(move |d| d.relay_message(&bytes))),
        close: Box::new(|why| device(move |d| d.relay_down(&why))),
    };
    match relay::Socket::open(&url, handlers) {
        Ok(socket) => state::with(|w| {
            if let Some(d) = w.devices.as_mut() {
                d.relay_opening(socket);
            }
        }),
        Err(why) => device(move |d| d.relay_down(&why)),
    }
}

/// `device` for `fetches`, which hands its steps over boxed.
fn serve(f: fetches::Step) {
    device(f)
}

/// How often the page hears the network's counters, when they changed.
const NETWORK_REPORT_MS: i32 = 1000;

/// Tells the page the network's counters every `ms` while they change (`NetCounters`).
fn report_network_every(ms: i32) {
    let report = Closure::<dyn FnMut()>::new(|| {
        let counters = state::with(|w| w.devices.as_mut()?.counters_to_report());
        if let Some(counters) = counters {
            post(&FromWorker::NetCounters(counters));
        }
    });
    if let Err(e) = scope()
        .set_interval_with_callback_and_timeout_and_arguments_0(report.as_ref().unchecked_ref(), ms)
    {
        web_sys::console::error_1(&e);
    }
    // The interval lives as long as the worker.
    report.forget();
}

/// Keeps one timeout for the gateway's next poll without a frame (`Devices::net_poll_at`):
/// its retransmissions and timeouts.
fn plan_network_poll() {
    let plan = state::with(|w| {
        let d = w.devices.as_mut()?;
        if d.net_timer.map(|(_, at)| at) == d.net_poll_at {
            return None;
        }
        Some((d.net_timer.take(), d.net_poll_at))
    });
    let Some((old, at)) = plan else {
        return;
    };
    if let Some((handle, _)) = old {
        scope().clear_timeout_with_handle(handle);
    }
    let Some(at) = at else {
        return;
    };
    let ms = (at - devices::now_ms())
        .clamp(0.0, f64::from(i32::MAX))
        .ceil() as i32;
    let poll = Closure::once_into_js(|| {
        state::with(|w| w.devices.as_mut().map(|d| d.net_timer = None));
        device(|d| d.poll_network());
    });
    match scope().set_timeout_with_callback_and_timeout_and_arguments_0(poll.unchecked_ref(), ms) {
        Ok(handle) => state::with(|w| {
            if let Some(d) = w.devices.as_mut() {
                d.net_timer = Some((handle, at));
            }
        }),
        Err(e) => web_sys::console::error_1(&e),
    }
}
