//! The process memories this worker knows (`kernel_host::user`, `kernel_host::handles`): by
//! handle, with the program's module and, once entered here, its instance; the selected one
//! the `user_*` imports copy to and from; released memories this worker made, kept for its
//! next exec; and the program files compiled lately in this page.
//!
//! Nothing here calls into the kernel or a program except `instantiate_program`, which the
//! caller runs outside any borrow of the worker's state.

use crate::js::{export, set};
use crate::outbox::post;
use js_sys::{
    Array, Atomics, DataView, Function, Int32Array, Object, Reflect, SharedArrayBuffer, Uint8Array,
    WebAssembly,
};
use kernel_host::browser::devices::SharedCells;
use kernel_host::browser::js_error_message;
use kernel_host::browser::protocol::{self, FromWorker};
use kernel_host::layout::WASM_PAGE;
use kernel_host::{abi, handles, preempt, user};
use std::collections::HashMap;
use wasm_bindgen::{JsCast, JsValue};

/// A process memory this worker knows, with its instance in this worker once entered.
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
pub struct Program {
    pub start: Function,
    /// `__wasm_thread_start(sp)`, present in programs that can create threads.
    pub thread_start: Option<Function>,
    table: WebAssembly::Table,
    pub stack_pointer: WebAssembly::Global,
}

#[derive(Default)]
pub struct Memories {
    users: HashMap<u32, UserMemory>,
    /// `user_select`'s handle (0 = none).
    selected: u32,
    spares: Vec<Spare>,
    /// Program files compiled lately, here or in another worker (`ToWorker::Program`), with
    /// their modules, oldest first.
    programs: Vec<(Uint8Array, WebAssembly::Module)>,
    /// The shared handle cells (`kernel_host::handles`), from `Init`.
    pub handles: Option<SharedCells>,
    /// Programs run as they are, without preemption points (`Init`'s `preempt_points`).
    pub plain: bool,
    /// `user::zeroing_module`, compiled at the first spare memory to zero.
    zeroing: Option<WebAssembly::Module>,
}

impl Memories {
    /// `ToWorker::Program`: a program file another worker compiled, and its module.
    pub fn learn(&mut self, file: &SharedArrayBuffer, module: WebAssembly::Module) {
        user::remember(&mut self.programs, (Uint8Array::new(file), module));
    }

    /// `ToWorker::User`: a process memory from the registry (kept as it is if known).
    pub fn know(&mut self, handle: u32, module: WebAssembly::Module, memory: WebAssembly::Memory) {
        self.users.entry(handle).or_insert(UserMemory {
            module,
            memory,
            instance: None,
            made_here: None,
        });
    }

    /// The module, memory and (if entered here before) instance of `handle`.
    pub fn get(
        &self,
        handle: u32,
    ) -> Option<(WebAssembly::Module, WebAssembly::Memory, Option<Program>)> {
        self.users
            .get(&handle)
            .map(|u| (u.module.clone(), u.memory.clone(), u.instance.clone()))
    }

    /// Records the instance of `handle` made in this worker.
    pub fn entered(&mut self, handle: u32, program: &Program) {
        if let Some(u) = self.users.get_mut(&handle) {
            u.instance = Some(program.clone());
        }
    }

    /// `task_exit`: the worker drops every process memory it knows.
    pub fn forget_all(&mut self) {
        self.users.clear();
        self.selected = 0;
    }

    /// The program instance running in this worker (the selected memory's), as `[table,
    /// __stack_pointer]` for the `user_sp` and `user_call` imports; null if there is none.
    pub fn running(&self) -> JsValue {
        self.users
            .get(&self.selected)
            .and_then(|u| u.instance.as_ref())
            .map_or(JsValue::NULL, |p| {
                Array::of2(&p.table, &p.stack_pointer).into()
            })
    }

    /// The selected process memory's bytes, as they are now (the memory may have grown, also
    /// in another worker).
    fn selected(&self) -> Option<Uint8Array> {
        if self.selected == 0 {
            return None;
        }
        self.users
            .get(&self.selected)
            .map(|u| Uint8Array::new(&u.memory.buffer()))
    }

    /// `user_select(handle)`.
    pub fn select(&mut self, handle: u32) {
        self.forget_released();
        self.selected = handle;
    }

    /// `user_release(handle)`.
    pub fn release(&mut self, handle: u32) {
        // Only references are dropped: the instance may still have frames on this stack
        // (it is unwound before any later exec could reuse the memory).
        if let Some(released) = self.users.remove(&handle) {
            self.keep_spare(released);
        }
        if let Some(h) = self.handles.as_ref() {
            handles::mark_released(h, handle);
        }
        post(&FromWorker::UserReleased { handle });
    }

    /// `user_read(kdst, usrc, n)`: copies from the selected memory into kernel memory; returns
    /// the bytes not copied.
    pub fn read(&self, kmem: &WebAssembly::Memory, kdst: u32, usrc: u32, n: u32) -> u32 {
        let Some(u) = self.selected() else { return n };
        let ok = inside(usrc, n, u.length());
        if ok > 0 {
            Uint8Array::new(&kmem.buffer()).set(&u.subarray(usrc, usrc + ok), kdst);
        }
        n - ok
    }

    /// `user_write(udst, ksrc, n)`: copies from kernel memory into the selected memory;
    /// returns the bytes not copied.
    pub fn write(&self, kmem: &WebAssembly::Memory, udst: u32, ksrc: u32, n: u32) -> u32 {
        let Some(u) = self.selected() else { return n };
        let ok = inside(udst, n, u.length());
        if ok > 0 {
            u.set(
                &Uint8Array::new(&kmem.buffer()).subarray(ksrc, ksrc + ok),
                udst,
            );
        }
        n - ok
    }

    /// `user_cmpxchg(uaddr, old, new)`: an atomic compare-and-exchange of the u32 at `uaddr`
    /// in the selected memory; the value it held, or -EFAULT if `uaddr` is not an aligned
    /// address inside the memory.
    pub fn cmpxchg(&self, uaddr: u32, old: u32, new: u32) -> i64 {
        const EFAULT: i64 = 14;
        let Some(u) = self.selected() else {
            return -EFAULT;
        };
        if !uaddr.is_multiple_of(4) || inside(uaddr, 4, u.length()) < 4 {
            return -EFAULT;
        }
        let words = Int32Array::new(&u.buffer());
        match Atomics::compare_exchange(&words, uaddr / 4, old as i32, new as i32) {
            Ok(was) => i64::from(was as u32),
            Err(_) => -EFAULT,
        }
    }

    /// `user_clear(udst, n)`: zeroes selected memory; returns the bytes not zeroed.
    pub fn clear(&self, udst: u32, n: u32) -> u32 {
        let Some(u) = self.selected() else { return n };
        let ok = inside(udst, n, u.length());
        if ok > 0 {
            u.fill(0, udst, udst + ok);
        }
        n - ok
    }

    /// `user_strnlen(s, n)`: the length including the NUL, `n + 1` if none in the first `n`
    /// bytes, 0 if the memory ends first.
    pub fn strnlen(&self, s: u32, n: u32) -> u32 {
        const CHUNK: u32 = 256;
        let Some(u) = self.selected() else { return 0 };
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

    /// `user_grow_to(pages)`: makes the selected memory at least `pages` long; 0 or
    /// `-ENOMEM`. A reused memory may be longer than the kernel's size for it already.
    pub fn grow_to(&self, pages: u32) -> i32 {
        let Some(u) = self.users.get(&self.selected) else {
            return -abi::ENOMEM;
        };
        let have = Uint8Array::new(&u.memory.buffer()).length() / WASM_PAGE;
        if pages <= have || grow_memory(&u.memory, pages - have).is_some() {
            0
        } else {
            -abi::ENOMEM
        }
    }

    /// Drops this worker's references to process memories released in other workers (see
    /// `kernel_host::handles`: each one left behind holds ~10 GiB of the page's address space).
    fn forget_released(&mut self) {
        let Some(h) = self.handles.as_ref() else {
            return;
        };
        let gone: Vec<u32> = self
            .users
            .keys()
            .copied()
            .filter(|handle| handles::is_released(h, *handle))
            .collect();
        let released: Vec<UserMemory> = gone
            .iter()
            .filter_map(|handle| self.users.remove(handle))
            .collect();
        for r in released {
            self.keep_spare(r);
        }
    }

    /// Keeps a released memory this worker made for its next exec (`user::keep_as_spare`).
    fn keep_spare(&mut self, released: UserMemory) {
        let Some(maximum) = released.made_here else {
            return;
        };
        let pages = Uint8Array::new(&released.memory.buffer()).length() / WASM_PAGE;
        if user::keep_as_spare(pages, self.spares.len()) {
            self.spares.push(Spare {
                memory: released.memory,
                maximum,
            });
        }
    }

    /// Zeroes a whole process memory (`bytes` is a view of it all): with `memory.fill`
    /// (`user::zeroing_module`), or with the typed array's far slower `fill` should that
    /// module fail.
    fn zero(&mut self, memory: &WebAssembly::Memory, bytes: &Uint8Array) {
        let filled = self
            .zeroing_instance(memory)
            .and_then(|zero| {
                zero.call2(&JsValue::NULL, &0.into(), &bytes.length().into())
                    .map_err(|e| js_error_message(&e))
            })
            .inspect_err(|e| {
                web_sys::console::warn_1(&format!("zeroing a process memory: {e}").into())
            });
        if filled.is_err() {
            bytes.fill(0, 0, bytes.length());
        }
    }

    /// `zero(at, len)` of a zeroing instance over `memory`.
    fn zeroing_instance(&mut self, memory: &WebAssembly::Memory) -> Result<Function, String> {
        let module = match &self.zeroing {
            Some(m) => m.clone(),
            None => {
                let m = WebAssembly::Module::new(&Uint8Array::from(&user::zeroing_module()[..]))
                    .map_err(|e| js_error_message(&e))?;
                self.zeroing = Some(m.clone());
                m
            }
        };
        let env = Object::new();
        set(&env, "memory", memory)?;
        let imports = Object::new();
        set(&imports, "env", &env)?;
        let instance =
            WebAssembly::Instance::new(&module, &imports).map_err(|e| js_error_message(&e))?;
        export(&instance.exports(), "the zeroing module", user::ZERO_EXPORT)?
            .dyn_into()
            .map_err(|_| "its zero is not a function".to_string())
    }

    /// A process memory for a program asking for `want`: the smallest spare that fits, zeroed
    /// and grown to size, or a new one. The smallest, since a program keeps the memory's size
    /// for its life and zeroing costs by the byte: a memory a large process grew (up to 16
    /// MiB) made a login shell's 15 MiB instead of 3.5 and added about 1 ms to its exec.
    fn process_memory(&mut self, want: user::ProgramMemory) -> Option<WebAssembly::Memory> {
        // The smallest spare that fits, and the pages it must grow by.
        let best = self
            .spares
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let pages = Uint8Array::new(&s.memory.buffer()).length() / WASM_PAGE;
                user::spare_fits(pages, s.maximum, want).map(|grow| (i, pages, grow))
            })
            .min_by_key(|&(_, pages, _)| pages);
        if let Some((i, _, grow)) = best {
            let spare = self.spares.swap_remove(i);
            self.zero(&spare.memory, &Uint8Array::new(&spare.memory.buffer()));
            if grow == 0 || grow_memory(&spare.memory, grow).is_some() {
                return Some(spare.memory);
            }
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

    /// The module of a program file: compiled now, or earlier in this page from the same
    /// bytes (a shell execs BusyBox over and over; compiling it costs far more than comparing
    /// it). A new module is shared with the other workers (`FromWorker::Compiled`).
    fn compiled(&mut self, file: Vec<u8>) -> Result<WebAssembly::Module, JsValue> {
        if let Some((_, module)) = self
            .programs
            .iter()
            .rev()
            .find(|(f, _)| protocol::same_file(f, &file))
        {
            return Ok(module.clone());
        }
        // Every loop gets a preemption point (`kernel_host::preempt`).
        let instrumented = if self.plain {
            file.clone()
        } else {
            preempt::instrument(&file).map_err(JsValue::from)?.0
        };
        let module = WebAssembly::Module::new(&Uint8Array::from(&instrumented[..]))?;
        let shared = SharedArrayBuffer::new(file.len() as u32);
        let bytes = Uint8Array::new(&shared);
        bytes.copy_from(&file);
        user::remember(&mut self.programs, (bytes, module.clone()));
        post(&FromWorker::Compiled {
            file: shared,
            module: module.clone(),
        });
        Ok(module)
    }

    /// `user_create(image, len, pages_out)`: compiles the program file at kernel `image`,
    /// creates its process memory and registers both under a new handle (`handles` is cell 0
    /// of the shared handle cells: the last handle given out).
    pub fn create(
        &mut self,
        kmem: &WebAssembly::Memory,
        image: u32,
        len: u32,
        pages_out: u32,
    ) -> i32 {
        self.forget_released();
        let ram = Uint8Array::new(&kmem.buffer());
        if u64::from(image) + u64::from(len) > u64::from(ram.length())
            || u64::from(pages_out) + 4 > u64::from(ram.length())
        {
            return -abi::ENOEXEC;
        }
        let file = ram.subarray(image, image + len).to_vec();
        let limits = match user::check_program(&file) {
            Ok(l) => l,
            Err(e) => {
                web_sys::console::warn_1(&format!("user_create: not a program module: {e}").into());
                return -abi::ENOEXEC;
            }
        };
        let module = match self.compiled(file) {
            Ok(m) => m,
            Err(e) => {
                web_sys::console::warn_1(&format!("user_create: {}", js_error_message(&e)).into());
                return -abi::ENOEXEC;
            }
        };
        let Some(memory) = self.process_memory(limits) else {
            return -abi::ENOMEM;
        };
        // A spare memory may be larger than the program asks for. The kernel gets the size
        // asked for and lays out the stack and brk above it, inside the zeroed rest; with the
        // memory's whole length each reuse grew it by another brk window (3.5 MiB for BusyBox
        // became 16 MiB over a dozen execs, all of it zeroed each time).
        let pages = limits.initial;
        let Some(cells) = self.handles.as_ref() else {
            return -abi::ENOMEM;
        };
        let handle = handles::next(cells);
        self.users.insert(
            handle,
            UserMemory {
                module: module.clone(),
                memory: memory.clone(),
                instance: None,
                made_here: Some(limits.maximum),
            },
        );
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
}

/// How many of `n` bytes at `at` lie inside `len` bytes.
fn inside(at: u32, n: u32, len: u32) -> u32 {
    len.saturating_sub(at).min(n)
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

/// Instantiates a program over its process memory; `syscall` is vmlinux's `wasm_syscall`
/// itself, so a syscall is a wasm-to-wasm call.
pub fn instantiate_program(
    module: &WebAssembly::Module,
    memory: &WebAssembly::Memory,
    syscall: &JsValue,
) -> Result<Program, String> {
    let env = Object::new();
    set(&env, "memory", memory)?;
    let linux = Object::new();
    set(&linux, "syscall", syscall)?;
    let imports = Object::new();
    set(&imports, "env", &env)?;
    set(&imports, "linux", &linux)?;
    let instance = WebAssembly::Instance::new(module, &imports)
        .map_err(|e| format!("cannot instantiate the program: {}", js_error_message(&e)))?;
    let exports = instance.exports();
    let get = |name: &str| export(&exports, "the program", name);
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
