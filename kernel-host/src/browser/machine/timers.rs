//! The machine's timeouts on the main thread: each CPU's timer and the clock's alarm, which
//! raise interrupts, and the watch on console output waiting for a missing chunk.

use super::{ctx, window, Event, Inner, State};
use crate::abi;
use crate::boot;
use crate::browser::devices::{self, SharedCells};
use crate::in_order;
use crate::rtc;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

impl Inner {
    /// `timer_set(cpu, delta_ns)`: replaces CPU `cpu`'s pending timer; a negative delta only
    /// cancels it.
    pub(super) fn set_timer(
        inner: &Rc<Inner>,
        st: &mut State,
        cpu: u32,
        delta_ns: i64,
    ) -> Result<(), String> {
        let cpus = st.timers.len();
        let slot = st.timers.get_mut(cpu as usize).ok_or_else(|| {
            format!("the kernel set a timer for CPU {cpu}; the machine has {cpus} CPUs")
        })?;
        let ms = boot::timer_delay_ms(delta_ns);
        let callbacks = inner.on_timer.borrow();
        *slot = Inner::timeout(callbacks.get(cpu as usize), slot.take(), ms)?;
        Ok(())
    }

    /// The clock's alarm, set for `delay_ns` from now (None cancels it). A timeout is at most
    /// ~24 days: a later alarm is looked at again then (`rtc::Due::NotYet`).
    pub(super) fn set_alarm(
        inner: &Rc<Inner>,
        st: &mut State,
        delay_ns: Option<f64>,
    ) -> Result<(), String> {
        let ms = delay_ns.map(|ns| (ns / 1e6).ceil().clamp(0.0, f64::from(i32::MAX)) as i32);
        st.alarm = Inner::reschedule(&inner.on_alarm, st.alarm.take(), ms)?;
        Ok(())
    }

    /// Clears the timeout `old` and sets `callback` to run in `ms`, if given.
    pub(super) fn reschedule(
        callback: &RefCell<Option<Closure<dyn FnMut()>>>,
        old: Option<i32>,
        ms: Option<i32>,
    ) -> Result<Option<i32>, String> {
        Inner::timeout(callback.borrow().as_ref(), old, ms)
    }

    /// Clears the timeout `old` and sets `callback` to run in `ms`, if given.
    fn timeout(
        callback: Option<&Closure<dyn FnMut()>>,
        old: Option<i32>,
        ms: Option<i32>,
    ) -> Result<Option<i32>, String> {
        let window = window()?;
        if let Some(handle) = old {
            window.clear_timeout_with_handle(handle);
        }
        let Some(ms) = ms else {
            return Ok(None);
        };
        let cb = callback.ok_or("the timer callback is gone")?;
        let handle = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(cb.as_ref().unchecked_ref(), ms)
            .map_err(ctx("setTimeout"))?;
        Ok(Some(handle))
    }

    /// Output waits for a missing chunk: give up on it if it has not come in `GAP_MS`.
    pub(super) fn watch_gaps(inner: &Rc<Inner>, st: &mut State) -> Result<(), String> {
        let waiting = st.console_order.waiting() + st.files_order.waiting();
        if waiting > 0 && st.gap_timer.is_none() {
            st.gap_timer = Inner::reschedule(&inner.on_gap, None, Some(in_order::GAP_MS))?;
        }
        Ok(())
    }

    pub(super) fn gap_timed_out(inner: &Rc<Inner>) {
        let mut events = Vec::new();
        {
            let mut st = inner.state.borrow_mut();
            st.gap_timer = None;
            if st.stopped {
                return;
            }
            if st.console_order.waiting() > 0 {
                web_sys::console::warn_1(&"alpenglow: a console chunk never came".into());
                let chunks = st.console_order.skip_gap();
                st.console_out(chunks, &mut events);
            }
            if st.files_order.waiting() > 0 {
                web_sys::console::warn_1(&"alpenglow: a files chunk never came".into());
                let chunks = st.files_order.skip_gap();
                events.extend(chunks.into_iter().map(Event::Files));
            }
            if let Err(e) = Inner::watch_gaps(inner, &mut st) {
                events.push(st.crash(e, None));
            }
        }
        inner.emit(events);
    }

    pub(super) fn alarm_fired(inner: &Rc<Inner>) {
        let mut events = Vec::new();
        {
            let mut st = inner.state.borrow_mut();
            if st.stopped {
                return;
            }
            st.alarm = None;
            let cells = SharedCells::new(&inner.devices);
            let result = match rtc::fire(&cells, devices::wall_clock_ns()) {
                rtc::Due::NotYet { delay_ns } => {
                    Inner::set_alarm(inner, &mut st, Some(delay_ns as f64))
                }
                rtc::Due::Now { raise: true } => {
                    Inner::raise(inner, &st, abi::DEVICE_IRQ_CPU, rtc::IRQ_LINE)
                }
                rtc::Due::Now { raise: false } | rtc::Due::Nothing => Ok(()),
            };
            if let Err(e) = result {
                events.push(st.crash(e, None));
            }
        }
        inner.emit(events);
    }

    /// CPU `cpu`'s timer fired.
    pub(super) fn timer_fired(inner: &Rc<Inner>, cpu: u32) {
        let mut events = Vec::new();
        {
            let mut st = inner.state.borrow_mut();
            if st.stopped {
                return;
            }
            if let Some(slot) = st.timers.get_mut(cpu as usize) {
                *slot = None;
            }
            match Inner::raise(inner, &st, cpu, abi::IRQ_BIT_TIMER) {
                Ok(()) => st.timer_irqs += 1,
                Err(e) => events.push(st.crash(e, None)),
            }
            // A program in a loop without system calls holds the CPU: it enters the kernel
            // at its next loop header, which takes the tick (and reschedules, and delivers
            // signals). Which process runs is not known here: every one is asked.
            for user in st.users.values() {
                devices::call_attention(&user.memory);
            }
        }
        inner.emit(events);
    }

    /// Sets interrupt line `bit` in CPU `cpu`'s pending word and wakes that CPU if it sleeps
    /// on it.
    pub(super) fn raise(inner: &Inner, st: &State, cpu: u32, bit: u32) -> Result<(), String> {
        let base = st
            .irq_pending
            .ok_or("an interrupt before any worker reported wasm_irq_pending")?;
        let addr = abi::irq_pending_word(base, cpu, inner.options.cpus)?;
        devices::raise_irq(&inner.memory, addr, bit)
    }
}
