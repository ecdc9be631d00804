//! The one handler for what a virtio device asks of the worker (`kernel_host::virtio::Effect`),
//! in both roles: a task's worker gets effects from the kernel's register writes
//! (`mmio.rs`), the device worker from the page's input (`devices.rs`). Output and
//! `Notify` come only from register writes.

use crate::outbox::{post, post_with};
use js_sys::{Uint8Array, WebAssembly};
use kernel_host::browser::devices::raise_irq;
use kernel_host::browser::protocol::FromWorker;
use kernel_host::virtio::{self, Effect};

/// Carries out `effect` on the kernel memory `kmem`, whose pending-IRQ words start at
/// `irq_word` (None before vmlinux was instantiated). A device's interrupt goes to CPU 0's
/// word, the first (`abi::DEVICE_IRQ_CPU`). An interrupt that cannot be raised is returned:
/// each role reports it its own way.
pub fn apply(
    kmem: &WebAssembly::Memory,
    irq_word: Option<u32>,
    effect: Effect,
) -> Result<(), String> {
    match effect {
        Effect::Output { device, seq, bytes } => {
            let bytes = Uint8Array::from(&bytes[..]);
            let buffer = bytes.buffer();
            let msg = match device {
                virtio::FILES => FromWorker::Files { seq, bytes },
                _ => FromWorker::Console { seq, bytes },
            };
            post_with(&msg, Some(&buffer));
        }
        Effect::Notify { device, queue } => post(&FromWorker::Notify {
            device: device as u32,
            queue,
        }),
        Effect::Interrupt { line } => {
            let word = irq_word.ok_or_else(|| "an interrupt before instantiation".to_string())?;
            raise_irq(kmem, word, line)?;
        }
        Effect::Broken { device, message } => web_sys::console::error_1(
            &format!("virtio device {device} needs a reset: {message}").into(),
        ),
    }
    Ok(())
}
