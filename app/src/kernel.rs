//! Compiling `vmlinux.wasm` (once, off the main thread's critical path via
//! `WebAssembly.compile`) and creating the shared kernel memory it imports, sized to the
//! machine's RAM (the settings' kernel memory), afresh for every boot. The kernel is
//! instantiated in the workers (`machine.rs`).

use crate::artifacts::js_error;
use crate::format::{self, human_bytes};
use crate::wasm_imports::{self, MemoryType};
use js_sys::{Object, Reflect, Uint8Array, WebAssembly};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

pub const PAGE: u64 = 64 * 1024;

/// What the page knows about the compiled kernel, for display.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelSummary {
    pub imports: u32,
    pub exports: u32,
    /// `module.name` of the memory import, e.g. `env.memory`.
    pub memory_name: String,
    pub memory: MemoryType,
}

impl KernelSummary {
    /// Where the kernel image ends: its memory import's minimum size.
    pub fn image_end(&self) -> u32 {
        u32::try_from(self.memory.initial.saturating_mul(PAGE)).unwrap_or(u32::MAX)
    }
}

/// The compiled module, kept for every boot (each boot creates its own memory).
pub struct CompiledKernel {
    pub module: WebAssembly::Module,
    pub summary: KernelSummary,
}

/// What booting needs: the compiled kernel and the verified initramfs.
pub struct Loaded {
    pub kernel: CompiledKernel,
    pub initramfs: Vec<u8>,
    /// The kernel workers' own module, compiled once for all of them (None: each worker
    /// fetches and compiles its own, as it did before).
    pub worker: Option<WebAssembly::Module>,
}

/// The kernel workers' module (`worker_bg.wasm`, next to the page), whose compilation starts
/// now and runs while the artifacts download. Every worker of every boot instantiates this
/// one module instead of fetching and compiling a copy of its own (`MachineOptions::
/// worker_module`).
pub fn start_worker_compile() -> Option<js_sys::Promise> {
    let window = web_sys::window()?;
    Some(WebAssembly::compile_streaming(
        &window.fetch_with_str(WORKER_MODULE),
    ))
}

/// Where the worker module is, relative to the page (trunk's output; not content-hashed).
const WORKER_MODULE: &str = "./worker_bg.wasm";

/// The result of [`start_worker_compile`]. A failure costs only speed: it is logged, and the
/// workers load their module themselves.
pub async fn worker_module(compiling: Option<js_sys::Promise>) -> Option<WebAssembly::Module> {
    let got = match compiling {
        Some(p) => JsFuture::from(p).await,
        None => Err(JsValue::from_str("no window")),
    };
    match got.and_then(|m| m.dyn_into::<WebAssembly::Module>()) {
        Ok(module) => Some(module),
        Err(e) => {
            web_sys::console::warn_1(
                &format!(
                    "{WORKER_MODULE} could not be compiled by the page ({}); each kernel worker \
                     loads it itself",
                    js_error(&e)
                )
                .into(),
            );
            None
        }
    }
}

/// Compiles the verified kernel bytes.
pub async fn compile(bytes: &[u8]) -> Result<CompiledKernel, String> {
    // Read the memory limits first: a module without a usable memory import is not a kernel
    // this host can run, whatever else it contains.
    let (module_name, field, mem) = wasm_imports::memory_import(bytes)
        .map_err(|e| format!("vmlinux.wasm cannot be read: {e}"))?
        .ok_or("vmlinux.wasm does not import a memory; the kernel must import its memory")?;
    if mem.memory64 {
        return Err(
            "vmlinux.wasm imports a 64-bit memory, which this host does not support".into(),
        );
    }

    let array = Uint8Array::from(bytes);
    let module = JsFuture::from(WebAssembly::compile(&array))
        .await
        .map_err(|e| {
            format!(
                "WebAssembly.compile rejected vmlinux.wasm: {}",
                js_error(&e)
            )
        })?;
    let module: WebAssembly::Module = module
        .dyn_into()
        .map_err(|_| "WebAssembly.compile did not return a Module")?;
    let imports = WebAssembly::Module::imports(&module).length();
    let exports = WebAssembly::Module::exports(&module).length();

    Ok(CompiledKernel {
        module,
        summary: KernelSummary {
            imports,
            exports,
            memory_name: format!("{module_name}.{field}"),
            memory: mem,
        },
    })
}

/// Pages of a `ram_bytes` kernel memory; an error says why the module cannot have that much.
/// A size the person chose is never silently changed.
pub fn ram_pages(mem: &MemoryType, ram_bytes: u64) -> Result<u64, String> {
    let want = ram_bytes.div_ceil(PAGE);
    if want < mem.initial {
        return Err(format!(
            "the kernel memory is set to {}, but vmlinux.wasm needs at least {}; change it in \
             Settings",
            human_bytes(ram_bytes),
            human_bytes(mem.initial * PAGE)
        ));
    }
    if let Some(max) = mem.maximum.filter(|max| want > *max) {
        return Err(format!(
            "the kernel memory is set to {}, but vmlinux.wasm's memory can grow to {} at \
             most; change it in Settings",
            human_bytes(ram_bytes),
            human_bytes(max * PAGE)
        ));
    }
    Ok(want)
}

/// Creates a kernel memory for `mem`'s limits, `ram_bytes` large. Every boot needs a fresh
/// one: the kernel's data segments are initialised once per memory.
pub fn create_memory(mem: &MemoryType, ram_bytes: u64) -> Result<WebAssembly::Memory, String> {
    let pages = ram_pages(mem, ram_bytes)?;
    let desc = Object::new();
    let set = |k: &str, v: JsValue| Reflect::set(&desc, &k.into(), &v).map(|_| ());
    let fill = || -> Result<(), JsValue> {
        set("initial", JsValue::from_f64(pages as f64))?;
        if let Some(max) = mem.maximum {
            set("maximum", JsValue::from_f64(max as f64))?;
        }
        set("shared", JsValue::from_bool(mem.shared))
    };
    fill().map_err(|e| js_error(&e))?;
    let memory = WebAssembly::Memory::new(&desc).map_err(|e| {
        format!(
            "cannot create the kernel memory ({}): {}",
            describe_memory(mem),
            js_error(&e)
        )
    })?;
    if mem.shared
        && !memory
            .buffer()
            .is_instance_of::<js_sys::SharedArrayBuffer>()
    {
        return Err(
            "the kernel memory was created but is not shared (no SharedArrayBuffer)".into(),
        );
    }
    Ok(memory)
}

/// A memory type's limits, as the page shows them: `576 KiB, up to 1 GiB, shared`.
pub fn describe_memory(m: &MemoryType) -> String {
    format::memory_limits(
        m.initial.saturating_mul(PAGE),
        m.maximum.map(|max| max.saturating_mul(PAGE)),
        m.shared,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_stays_within_the_module_limits() {
        let mem = |initial, maximum| MemoryType {
            initial,
            maximum,
            shared: true,
            memory64: false,
        };
        assert_eq!(ram_pages(&mem(9, Some(16384)), 128 << 20), Ok(2048));
        let e = ram_pages(&mem(9, Some(100)), 128 << 20).unwrap_err();
        assert!(
            e.contains("128 MiB") && e.contains("6.2 MiB at most"),
            "{e}"
        );
        let e = ram_pages(&mem(5000, None), 128 << 20).unwrap_err();
        assert!(e.contains("needs at least 312 MiB"), "{e}");
    }
}
