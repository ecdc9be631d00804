//! The device role (`Role::Devices`): serves the side of the virtio devices that comes from
//! the page — console input, the terminal size and the bytes for the guest's file helper — on
//! the shared virtqueues, so the main thread never touches kernel memory for a device. This
//! worker runs no kernel code. Output and RNG requests are served in the kernel's own
//! workers, at the register write that notifies them (`mmio.rs`).
//!
//! Each request returns the effects for `effects::apply`; the message loop carries them out.

use crate::outbox::post;
use js_sys::{SharedArrayBuffer, WebAssembly};
use kernel_host::browser::devices::{KernelMemory, SharedCells};
use kernel_host::browser::protocol::FromWorker;
use kernel_host::virtio::{self, console, files, Effect};

pub struct Devices {
    pub kmem: WebAssembly::Memory,
    memory: KernelMemory,
    cells: SharedCells,
    pub irq_word: u32,
    /// Typed bytes the console driver has no receive buffer for yet.
    input: console::Inbox<{ virtio::CONSOLE }>,
    /// Bytes for hvc1 (the files channel) waiting for receive buffers.
    files: files::Inbox,
    /// The terminal's size, told again once the console driver runs.
    size: Option<(u16, u16)>,
    /// The driver has posted receive buffers at least once (so it runs).
    live: bool,
}

impl Devices {
    pub fn new(kmem: &WebAssembly::Memory, cells: &SharedArrayBuffer, irq_word: u32) -> Devices {
        Devices {
            kmem: kmem.clone(),
            memory: KernelMemory(kmem.clone()),
            cells: SharedCells::new(cells),
            irq_word,
            input: console::Inbox::default(),
            files: files::Inbox::default(),
            size: None,
            live: false,
        }
    }

    fn receive(&mut self) -> Vec<Effect> {
        self.input.serve(&self.memory, &self.cells).0
    }

    /// Moves waiting files bytes in; the page hears how far the guest has got.
    fn receive_files(&mut self) -> Vec<Effect> {
        let (effects, moved) = self.files.serve(&self.memory, &self.cells);
        if moved {
            post(&FromWorker::FilesTaken {
                total: self.files.taken() as f64,
            });
        }
        effects
    }

    /// `ToWorker::Input`: typed or pasted bytes for the console.
    pub fn input(&mut self, bytes: Vec<u8>) -> Vec<Effect> {
        self.input.push(&bytes);
        self.receive()
    }

    /// `ToWorker::FilesInput`: bytes for the guest's file helper.
    pub fn files_input(&mut self, bytes: Vec<u8>) -> Vec<Effect> {
        self.files.push(&bytes);
        self.receive_files()
    }

    /// `ToWorker::Resize`: the terminal is now `cols` x `rows`.
    pub fn resize(&mut self, cols: u16, rows: u16) -> Vec<Effect> {
        self.size = Some((cols, rows));
        virtio::console::resize(&self.cells, virtio::CONSOLE, cols, rows)
    }

    /// The driver of console device `device` posted receive buffers: waiting input goes in.
    /// The first time for the terminal, the driver has just started and may have missed the
    /// size.
    pub fn receive_buffers(&mut self, device: u32) -> Vec<Effect> {
        match device as usize {
            virtio::FILES => self.receive_files(),
            _ => {
                let mut effects = Vec::new();
                if !self.live {
                    self.live = true;
                    if let Some((cols, rows)) = self.size {
                        effects = virtio::console::resize(&self.cells, virtio::CONSOLE, cols, rows);
                    }
                }
                effects.extend(self.receive());
                effects
            }
        }
    }
}
