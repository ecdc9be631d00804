//! The real-time clock: a goldfish RTC (`google,goldfish-rtc`, the Android emulator's and
//! QEMU's `virt` machines'), so the kernel's own driver (drivers/rtc/rtc-goldfish.c) reads
//! the wall clock at boot (`CONFIG_RTC_HCTOSYS`) and `hwclock` and `/dev/rtc0` work.
//!
//! The clock is the page's `Date.now()` plus an offset the guest may set (`hwclock -w`); the
//! state lives in the shared device cells, after the virtio devices' (`cells_bytes`), so every
//! worker sees one clock. An alarm is kept by the main thread: a write that arms or cancels
//! it returns an [`Alarm`] for the caller to carry out, and [`fire`] is called when its
//! timer runs out.

use crate::virtio::{self, Cells};

/// Where the clock's registers are (after the virtio windows, `virtio::MMIO_BASE`).
pub const BASE: u32 = 0xfe01_0000;
/// The size of its register window.
pub const SIZE: u32 = 0x1000;
/// Its interrupt line (a bit of `wasm_irq_pending`).
pub const IRQ_LINE: u32 = 4;

// Registers (offsets in the window).
const TIME_LOW: u32 = 0x00;
const TIME_HIGH: u32 = 0x04;
const ALARM_LOW: u32 = 0x08;
const ALARM_HIGH: u32 = 0x0c;
const IRQ_ENABLED: u32 = 0x10;
const CLEAR_ALARM: u32 = 0x14;
const ALARM_STATUS: u32 = 0x18;
const CLEAR_INTERRUPT: u32 = 0x1c;

// The clock's cells, after the virtio devices' cells.
const FIRST_CELL: usize = virtio::DEVICES.len() * virtio::CELLS_PER_DEVICE;
const C_OFFSET_LOW: usize = FIRST_CELL;
const C_OFFSET_HIGH: usize = FIRST_CELL + 1;
/// TIME_HIGH as of the last TIME_LOW read (the driver reads low, then high).
const C_LATCHED_HIGH: usize = FIRST_CELL + 2;
const C_ALARM_LOW: usize = FIRST_CELL + 3;
const C_ALARM_HIGH: usize = FIRST_CELL + 4;
const C_IRQ_ENABLED: usize = FIRST_CELL + 5;
const C_ALARM_RUNNING: usize = FIRST_CELL + 6;
const C_IRQ_PENDING: usize = FIRST_CELL + 7;
const CELLS: usize = 8;

/// Bytes of shared cells for every device: the virtio devices', then the clock's.
pub fn cells_bytes() -> u32 {
    virtio::cells_bytes() + (CELLS * 4) as u32
}

/// Whether `addr` is one of the clock's registers.
pub fn contains(addr: u32) -> bool {
    addr.wrapping_sub(BASE) < SIZE
}

/// What the alarm's keeper has to do after a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alarm {
    /// Call [`fire`] in `delay_ns` (zero or more), replacing any alarm set before.
    Set { delay_ns: u64 },
    /// Forget the alarm set before.
    Cancel,
}

fn load64<C: Cells + ?Sized>(cells: &C, low: usize, high: usize) -> u64 {
    u64::from(cells.load(low)) | u64::from(cells.load(high)) << 32
}

fn store64<C: Cells + ?Sized>(cells: &C, low: usize, high: usize, v: u64) {
    cells.store(low, v as u32);
    cells.store(high, (v >> 32) as u32);
}

/// The guest's time in nanoseconds since the epoch, when the page's clock says `host_ns`.
fn now<C: Cells + ?Sized>(cells: &C, host_ns: u64) -> u64 {
    host_ns.wrapping_add(load64(cells, C_OFFSET_LOW, C_OFFSET_HIGH))
}

/// A 32-bit read of register `offset` at host time `host_ns` (ns since the epoch).
pub fn read<C: Cells + ?Sized>(cells: &C, offset: u32, host_ns: u64) -> u32 {
    match offset {
        TIME_LOW => {
            let t = now(cells, host_ns);
            cells.store(C_LATCHED_HIGH, (t >> 32) as u32);
            t as u32
        }
        TIME_HIGH => cells.load(C_LATCHED_HIGH),
        ALARM_LOW => cells.load(C_ALARM_LOW),
        ALARM_HIGH => cells.load(C_ALARM_HIGH),
        IRQ_ENABLED => cells.load(C_IRQ_ENABLED),
        ALARM_STATUS => cells.load(C_ALARM_RUNNING),
        _ => 0,
    }
}

/// A 32-bit write of `value` to register `offset` at host time `host_ns`. Returns what to do
/// with the alarm, if anything, and whether to raise the clock's line now.
pub fn write<C: Cells + ?Sized>(
    cells: &C,
    offset: u32,
    value: u32,
    host_ns: u64,
) -> (Option<Alarm>, bool) {
    match offset {
        // Setting the time keeps the other half (the driver writes high, then low).
        TIME_LOW | TIME_HIGH => {
            let t = now(cells, host_ns);
            let t = match offset {
                TIME_LOW => t & !0xffff_ffff | u64::from(value),
                _ => t & 0xffff_ffff | u64::from(value) << 32,
            };
            store64(cells, C_OFFSET_LOW, C_OFFSET_HIGH, t.wrapping_sub(host_ns));
            (None, false)
        }
        ALARM_HIGH => {
            cells.store(C_ALARM_HIGH, value);
            (None, false)
        }
        // The low half arms the alarm (the driver writes high, then low).
        ALARM_LOW => {
            cells.store(C_ALARM_LOW, value);
            cells.store(C_ALARM_RUNNING, 1);
            let at = load64(cells, C_ALARM_LOW, C_ALARM_HIGH);
            let delay_ns = at.saturating_sub(now(cells, host_ns));
            (Some(Alarm::Set { delay_ns }), false)
        }
        IRQ_ENABLED => {
            cells.store(C_IRQ_ENABLED, value & 1);
            let raise = value & 1 != 0 && cells.load(C_IRQ_PENDING) != 0;
            (None, raise)
        }
        CLEAR_ALARM => {
            cells.store(C_ALARM_RUNNING, 0);
            (Some(Alarm::Cancel), false)
        }
        CLEAR_INTERRUPT => {
            cells.store(C_IRQ_PENDING, 0);
            (None, false)
        }
        _ => (None, false),
    }
}

/// What the alarm's keeper learns when its timer runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Not yet (a timer is shorter than a long alarm): wait `delay_ns` more.
    NotYet { delay_ns: u64 },
    /// The alarm went off; raise the clock's line if `raise` (the driver enabled it).
    Now { raise: bool },
    /// It was cancelled, or went off already.
    Nothing,
}

/// The alarm's timer ran out at host time `host_ns`: if the alarm is due, it stops running and
/// its interrupt is pending.
pub fn fire<C: Cells + ?Sized>(cells: &C, host_ns: u64) -> Due {
    if cells.load(C_ALARM_RUNNING) == 0 {
        return Due::Nothing;
    }
    let at = load64(cells, C_ALARM_LOW, C_ALARM_HIGH);
    let t = now(cells, host_ns);
    if at > t {
        return Due::NotYet { delay_ns: at - t };
    }
    cells.store(C_ALARM_RUNNING, 0);
    cells.store(C_IRQ_PENDING, 1);
    Due::Now {
        raise: cells.load(C_IRQ_ENABLED) != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    const NS: u64 = 1_000_000_000;
    /// 2026-12-02 00:00:00 UTC.
    const HOST: u64 = 1_796_169_600 * NS;

    fn cells() -> Vec<AtomicU32> {
        (0..cells_bytes() / 4).map(|_| AtomicU32::new(0)).collect()
    }

    fn read_time(c: &[AtomicU32], host: u64) -> u64 {
        let low = read(c, TIME_LOW, host);
        u64::from(read(c, TIME_HIGH, host + 5 * NS)) << 32 | u64::from(low)
    }

    #[test]
    fn the_clock_reads_the_host_time_with_the_high_half_latched() {
        let c = cells();
        assert_eq!(read_time(&c[..], HOST), HOST);
        // Just before the low half wraps: the high half read later belongs to the low one.
        let host = (HOST | 0xffff_ffff) - 1;
        assert_eq!(read_time(&c[..], host), host);
    }

    #[test]
    fn a_time_set_by_the_guest_moves_with_the_host_clock() {
        let c = cells();
        let set = HOST - 3600 * NS;
        write(&c[..], TIME_HIGH, (set >> 32) as u32, HOST);
        write(&c[..], TIME_LOW, set as u32, HOST);
        assert_eq!(read_time(&c[..], HOST), set);
        assert_eq!(read_time(&c[..], HOST + 10 * NS), set + 10 * NS);
    }

    #[test]
    fn an_alarm_is_set_for_its_delay_and_interrupts_once_enabled() {
        let c = cells();
        let at = HOST + 30 * NS;
        assert_eq!(
            write(&c[..], ALARM_HIGH, (at >> 32) as u32, HOST),
            (None, false)
        );
        let (alarm, raise) = write(&c[..], ALARM_LOW, at as u32, HOST);
        assert_eq!(alarm, Some(Alarm::Set { delay_ns: 30 * NS }));
        assert!(!raise);
        assert_eq!(read(&c[..], ALARM_STATUS, HOST), 1);
        assert_eq!(read(&c[..], ALARM_LOW, HOST), at as u32);
        assert_eq!(
            fire(&c[..], HOST + 10 * NS),
            Due::NotYet { delay_ns: 20 * NS }
        );
        // Due, but the driver has not enabled the interrupt yet: it waits, pending.
        assert_eq!(fire(&c[..], at), Due::Now { raise: false });
        assert_eq!(read(&c[..], ALARM_STATUS, HOST), 0);
        assert_eq!(write(&c[..], IRQ_ENABLED, 1, HOST), (None, true));
        write(&c[..], CLEAR_INTERRUPT, 1, HOST);
        assert_eq!(write(&c[..], IRQ_ENABLED, 1, HOST), (None, false));
    }

    #[test]
    fn an_alarm_in_the_past_is_due_now_and_a_cancelled_one_never_fires() {
        let c = cells();
        write(&c[..], IRQ_ENABLED, 1, HOST);
        let (alarm, _) = write(&c[..], ALARM_LOW, 5, HOST);
        assert_eq!(alarm, Some(Alarm::Set { delay_ns: 0 }));
        assert_eq!(fire(&c[..], HOST), Due::Now { raise: true });
        assert_eq!(fire(&c[..], HOST), Due::Nothing);
        write(&c[..], ALARM_LOW, 5, HOST);
        assert_eq!(
            write(&c[..], CLEAR_ALARM, 1, HOST),
            (Some(Alarm::Cancel), false)
        );
        assert_eq!(fire(&c[..], HOST), Due::Nothing);
    }

    #[test]
    fn the_window_is_found_and_other_registers_read_zero() {
        assert!(contains(BASE) && contains(BASE + SIZE - 4));
        assert!(!contains(BASE - 4) && !contains(BASE + SIZE));
        assert!(!contains(virtio::mmio_address(0)));
        assert_eq!(read(&cells()[..], 0x40, HOST), 0);
    }
}
