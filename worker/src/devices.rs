//! The device worker (`Role::Devices`): serves the side of the virtio devices that comes from
//! the page — console input, the terminal size and the bytes for the guest's file helper — on
//! the shared virtqueues, so the main thread never touches kernel memory for a device. Output
//! and RNG requests are served in the kernel's own workers, at the register write that
//! notifies them (`kernel.rs`).

use js_sys::{SharedArrayBuffer, WebAssembly};
use kernel_host::browser::devices::{raise_irq, KernelMemory, SharedCells};
use kernel_host::browser::protocol::FromWorker;
use kernel_host::virtio::{self, files::Inbox, Effect};
use std::cell::RefCell;
use std::collections::VecDeque;

struct Devices {
    kmem: WebAssembly::Memory,
    memory: KernelMemory,
    cells: SharedCells,
    irq_word: u32,
    /// Typed bytes the console driver has no receive buffer for yet.
    input: VecDeque<u8>,
    /// Bytes for hvc1 (the files channel) waiting for receive buffers.
    files: Inbox,
    /// The terminal's size, told again once the console driver runs.
    size: Option<(u16, u16)>,
    /// The driver has posted receive buffers at least once (so it runs).
    live: bool,
}

thread_local! {
    static DEVICES: RefCell<Option<Devices>> = const { RefCell::new(None) };
}

pub fn start(kmem: &WebAssembly::Memory, cells: &SharedArrayBuffer, irq_word: u32) {
    DEVICES.with(|d| {
        *d.borrow_mut() = Some(Devices {
            kmem: kmem.clone(),
            memory: KernelMemory(kmem.clone()),
            cells: SharedCells::new(cells),
            irq_word,
            input: VecDeque::new(),
            files: Inbox::default(),
            size: None,
            live: false,
        })
    });
}

fn with(f: impl FnOnce(&mut Devices) -> Vec<Effect>) {
    DEVICES.with(|d| {
        let mut d = d.borrow_mut();
        let Some(d) = d.as_mut() else {
            web_sys::console::error_1(&"device worker: a device message before Run".into());
            return;
        };
        let effects = f(d);
        for e in effects {
            match e {
                Effect::Interrupt { line } => {
                    if let Err(e) = raise_irq(&d.kmem, d.irq_word, line) {
                        web_sys::console::error_1(&format!("device worker: {e}").into());
                    }
                }
                Effect::Broken { device, message } => web_sys::console::error_1(
                    &format!("virtio device {device} needs a reset: {message}").into(),
                ),
                // Register writes from the kernel produce these, not the page.
                Effect::Output { .. } | Effect::ReceiveBuffers { .. } => {}
            }
        }
    });
}

fn receive(d: &mut Devices) -> Vec<Effect> {
    virtio::console::receive(&d.memory, &d.cells, virtio::CONSOLE, &mut d.input)
}

/// Moves waiting files bytes in; the page hears how far the guest has got.
fn receive_files(d: &mut Devices) -> Vec<Effect> {
    let (effects, moved) = d.files.serve(&d.memory, &d.cells);
    if moved {
        crate::kernel::post(&FromWorker::FilesTaken {
            total: d.files.taken() as f64,
        });
    }
    effects
}

pub fn input(bytes: Vec<u8>) {
    with(|d| {
        d.input.extend(bytes);
        receive(d)
    });
}

pub fn files_input(bytes: Vec<u8>) {
    with(|d| {
        d.files.push(&bytes);
        receive_files(d)
    });
}

pub fn resize(cols: u16, rows: u16) {
    with(|d| {
        d.size = Some((cols, rows));
        virtio::console::resize(&d.cells, virtio::CONSOLE, cols, rows)
    });
}

/// The driver of console device `device` posted receive buffers: waiting input goes in. The
/// first time for the terminal, the driver has just started and may have missed the size.
pub fn receive_buffers(device: u32) {
    with(|d| match device as usize {
        virtio::FILES => receive_files(d),
        _ => {
            let mut effects = Vec::new();
            if !d.live {
                d.live = true;
                if let Some((cols, rows)) = d.size {
                    effects = virtio::console::resize(&d.cells, virtio::CONSOLE, cols, rows);
                }
            }
            effects.extend(receive(d));
            effects
        }
    });
}
