//! The machine: the compiled kernel (kept for every boot) and the running
//! `kernel_host::browser::Machine`. It knows nothing of the page: what the machine reports
//! goes to the `on_event` its booter passes (`app.rs` routes it to the terminal, the files
//! session, the embedding page and the page's state).

use crate::format::boot_line;
use crate::kernel::{self, Loaded};
use crate::settings::{self, Settings};
use crate::state::{now_ms, Booted, MachineStats};
use kernel_host::browser::{DiskOptions, Event, MachineOptions};
use std::cell::RefCell;
use wasm_bindgen::JsCast;

/// Owns the compiled kernel and the machine that runs it (at most one at a time).
pub struct Machine {
    kernel: RefCell<Option<Loaded>>,
    running: RefCell<Option<kernel_host::browser::Machine>>,
}

/// A machine that started: its terminal line and what it was booted with.
pub struct Started {
    pub line: String,
    pub booted: Booted,
}

impl Machine {
    pub fn new() -> Machine {
        Machine {
            kernel: RefCell::new(None),
            running: RefCell::new(None),
        }
    }

    /// Keeps the compiled kernel and the initramfs for every boot.
    pub fn load(&self, loaded: Loaded) {
        *self.kernel.borrow_mut() = Some(loaded);
    }

    /// The initramfs's size, once loaded.
    pub fn initramfs_len(&self) -> Option<u64> {
        self.kernel
            .borrow()
            .as_ref()
            .map(|k| k.initramfs.len() as u64)
    }

    /// Stops the running machine, if any, and boots the compiled kernel on a fresh one with
    /// `settings`; the new machine reports to `on_event`.
    pub fn boot(
        &self,
        settings: &Settings,
        on_event: impl FnMut(Event) + 'static,
    ) -> Result<Started, String> {
        if let Some(old) = self.running.borrow_mut().take() {
            old.stop();
        }
        let kernel = self.kernel.borrow();
        let loaded = kernel.as_ref().ok_or("the kernel is not loaded")?;
        let k = &loaded.kernel;
        if let Some((_, why)) = settings.problems().into_iter().next() {
            return Err(format!("{why}; change it in Settings"));
        }
        // A fresh memory for every boot: the kernel's data is initialised once per memory.
        let memory = kernel::create_memory(&k.summary.memory, settings.ram_bytes())?;
        let options = MachineOptions {
            bootargs: settings.bootargs(),
            cpus: settings.cpu_count(settings::hardware_concurrency()),
            disk: (!settings.ram_only).then(|| DiskOptions {
                bytes: settings.disk_bytes(),
                ..DiskOptions::default()
            }),
            preempt_points: !settings.no_preempt,
            worker_module: loaded.worker.clone(),
            ..MachineOptions::default()
        };
        let ram_bytes: u64 = memory
            .buffer()
            .unchecked_into::<js_sys::SharedArrayBuffer>()
            .byte_length()
            .into();
        let line = boot_line(ram_bytes, options.cpus, &options.bootargs);
        let booted = Booted {
            ram_bytes,
            bootargs: options.bootargs.clone(),
            cpus: options.cpus,
            at_ms: now_ms(),
            stopped_ms: None,
        };
        let machine = kernel_host::browser::Machine::boot(
            &k.module,
            &memory,
            k.summary.image_end(),
            &loaded.initramfs,
            options,
            on_event,
        )?;
        *self.running.borrow_mut() = Some(machine);
        Ok(Started { line, booted })
    }

    /// Stops the running machine, if any: its workers end, and with them its hold on the
    /// disk.
    pub fn stop(&self) {
        if let Some(old) = self.running.borrow_mut().take() {
            old.stop();
        }
    }

    /// Bytes typed into the terminal (or sent by an embedding page) for the guest's console
    /// (hvc0). The machine keeps them, in order, until the kernel's driver takes them.
    pub fn input(&self, bytes: &[u8]) -> Result<(), String> {
        match self.running.borrow().as_ref() {
            Some(m) => {
                m.input(bytes);
                Ok(())
            }
            None => Err("no machine is running".to_string()),
        }
    }

    /// Bytes for the guest's file helper on hvc1 (`files.rs`).
    pub fn files_send(&self, bytes: &[u8]) -> Result<(), String> {
        match self.running.borrow().as_ref() {
            Some(m) => {
                m.files_send(bytes);
                Ok(())
            }
            None => Err("no machine is running".to_string()),
        }
    }

    /// Files bytes the guest has not taken yet.
    pub fn files_in_flight(&self) -> u64 {
        self.running
            .borrow()
            .as_ref()
            .map_or(0, |m| m.files_in_flight())
    }

    /// The terminal's size in characters, for the guest's console (`stty size`, SIGWINCH).
    pub fn resize(&self, cols: u16, rows: u16) {
        if let Some(m) = self.running.borrow().as_ref() {
            m.resize(cols, rows);
        }
    }

    /// Asks the running machine's device worker for the disk's figures (`Event::DiskUsage`).
    pub fn disk_usage(&self) {
        if let Some(m) = self.running.borrow().as_ref() {
            m.disk_usage();
        }
    }

    /// The relay for the guest's TCP beyond port 80 (None: no relay), for the running
    /// machine if any.
    pub fn set_relay(&self, url: Option<&str>) {
        if let Some(m) = self.running.borrow().as_ref() {
            m.set_relay(url);
        }
    }

    /// Asks the guest's TCP port `port` (the page's `/_port/N/…`); the answer comes as
    /// `Event::Forwarded` with `id`.
    pub fn forward(
        &self,
        id: u32,
        port: u16,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Result<(), String> {
        match self.running.borrow().as_ref() {
            Some(m) => {
                m.forward(id, port, method, path, headers, body);
                Ok(())
            }
            None => Err("no machine is running".to_string()),
        }
    }

    /// The running machine's counters.
    pub fn stats(&self) -> Option<MachineStats> {
        self.running.borrow().as_ref().map(|m| {
            let st = m.stats();
            MachineStats {
                workers: st.workers,
                busy: st.busy,
                timer_irqs: st.timer_irqs,
                net: st.net,
            }
        })
    }
}
