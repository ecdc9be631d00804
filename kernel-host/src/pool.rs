//! The pool of task workers, as the kernel sees it: how many started workers wait idle for a
//! task, and whether the browser refused the last one. Two shared cells after the handle cells
//! (`cells_bytes`), so that a new task is only ever promised a worker that exists.
//!
//! Why: every task runs in a worker of its own, and a worker cannot be had at any count. Each
//! one holds a wasm memory of its own, and Chromium fits about 125 wasm memories into the
//! page's 1 TiB address-space cage (8 GiB reserved each, whatever their size); Firefox queues
//! new workers past its per-site limit. A task promised a worker that never starts would hold
//! the CPU forever. So the kernel claims a started, idle worker before it creates a task
//! (`task_claim`): it waits while the main thread starts more, and fails with EAGAIN once the
//! browser has refused one (`EXHAUSTED`) and none is idle — `fork` fails like Linux's.
//!
//! Who writes what: the main thread adds a worker to `READY` when it becomes idle (a new one,
//! or one whose task ended and that is kept) and sets or clears `EXHAUSTED`; the kernel's
//! workers take from `READY` ([`claim`]) and give back a claim they did not use
//! ([`unclaim`]). The main thread ends only workers it never added, so it never ends one a
//! task was promised.

use crate::handles;
use crate::virtio::Cells;

/// Started workers with no task, not yet promised to one.
const READY: usize = handles::CELLS;
/// Nonzero when the browser refused to start the last worker the pool asked for.
const EXHAUSTED: usize = handles::CELLS + 1;
const CELLS: usize = 2;

/// Bytes of the shared handle cells and the pool's cells after them.
pub fn cells_bytes() -> u32 {
    ((handles::CELLS + CELLS) * 4) as u32
}

/// The index of the cell that claimers wait on (and the main thread notifies).
pub const WAIT_CELL: usize = READY;

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// An idle worker is the new task's.
    Taken,
    /// None is idle, but the pool is starting more: wait on [`WAIT_CELL`] and try again.
    Wait,
    /// None is idle and the browser refuses more: the task cannot be created (EAGAIN).
    Refused,
}

/// Takes an idle worker for a task about to be created.
pub fn claim(cells: &(impl Cells + ?Sized)) -> Claim {
    loop {
        let ready = cells.load(READY);
        if ready == 0 {
            return if cells.load(EXHAUSTED) != 0 {
                Claim::Refused
            } else {
                Claim::Wait
            };
        }
        if cells.compare_exchange(READY, ready, ready - 1) == ready {
            return Claim::Taken;
        }
    }
}

/// Gives back a claim whose task was not created after all.
pub fn unclaim(cells: &(impl Cells + ?Sized)) {
    cells.fetch_add(READY, 1);
}

/// The main thread: a started worker is idle and may be claimed.
pub fn add_ready(cells: &(impl Cells + ?Sized)) {
    cells.fetch_add(READY, 1);
}

/// The main thread: whether the browser refuses more workers (true) or may not (false).
pub fn set_exhausted(cells: &(impl Cells + ?Sized), exhausted: bool) {
    cells.store(EXHAUSTED, u32::from(exhausted));
}

pub fn is_exhausted(cells: &(impl Cells + ?Sized)) -> bool {
    cells.load(EXHAUSTED) != 0
}

/// Idle workers not yet claimed.
pub fn ready(cells: &(impl Cells + ?Sized)) -> u32 {
    cells.load(READY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn cells() -> Vec<AtomicU32> {
        (0..cells_bytes() / 4).map(|_| AtomicU32::new(0)).collect()
    }

    #[test]
    fn a_claim_takes_an_idle_worker_and_waits_while_none_is() {
        let c = cells();
        let c = c.as_slice();
        assert_eq!(claim(c), Claim::Wait);
        add_ready(c);
        add_ready(c);
        assert_eq!(claim(c), Claim::Taken);
        assert_eq!(ready(c), 1);
        assert_eq!(claim(c), Claim::Taken);
        assert_eq!(claim(c), Claim::Wait);
        assert_eq!(ready(c), 0);
    }

    #[test]
    fn an_exhausted_pool_refuses_only_when_no_worker_is_idle() {
        let c = cells();
        let c = c.as_slice();
        set_exhausted(c, true);
        assert_eq!(claim(c), Claim::Refused);
        add_ready(c);
        assert_eq!(claim(c), Claim::Taken);
        assert_eq!(claim(c), Claim::Refused);
        set_exhausted(c, false);
        assert_eq!(claim(c), Claim::Wait);
    }

    #[test]
    fn a_claim_given_back_can_be_taken_again() {
        let c = cells();
        let c = c.as_slice();
        add_ready(c);
        assert_eq!(claim(c), Claim::Taken);
        assert_eq!(claim(c), Claim::Wait);
        unclaim(c);
        assert_eq!(ready(c), 1);
        assert_eq!(claim(c), Claim::Taken);
    }

    #[test]
    fn the_pool_cells_follow_the_handle_cells() {
        assert_eq!(cells_bytes(), handles::cells_bytes() + 8);
        let c = cells();
        let c = c.as_slice();
        add_ready(c);
        set_exhausted(c, true);
        assert!(!handles::is_released(c, 1));
        assert!(is_exhausted(c));
    }
}
