//! The device imports of a task's worker, `mmio_read`/`mmio_write`: the virtio devices'
//! registers (`kernel_host::virtio`). A write may notify a queue: console output goes to the
//! page and an RNG request is served here, in the worker of the task that wrote.

use crate::effects;
use crate::outbox::trap;
use crate::state;
use js_sys::WebAssembly;
use kernel_host::browser::devices::{BrowserEntropy, KernelMemory, SharedCells};
use kernel_host::virtio::Bus;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsValue;

pub fn add_imports(
    add: &dyn Fn(&str, JsValue) -> Result<(), String>,
    kmem: &WebAssembly::Memory,
    cells: SharedCells,
) -> Result<(), String> {
    let cells = Rc::new(cells);
    let memory = Rc::new(KernelMemory(kmem.clone()));
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
                let irq_word = state::with(|w| w.kernel.as_ref().map(|k| k.irq_word));
                if let Err(e) = effects::apply(&kmem, irq_word, effect) {
                    trap(e, None);
                }
            }
        })
        .into_js_value(),
    )?;
    Ok(())
}
