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
//!
//! A claimed worker is given its task through the pool as well, not through the main thread
//! (whose queue is long at boot, and behind the terminal's drawing later): the kernel's worker
//! puts the task into the start ring ([`push_start`]) and wakes one idle worker, which takes
//! it ([`take_start`]) and tells the main thread after the fact. Idle workers wait on
//! [`START_SIGNAL`] with `Atomics.waitAsync`, so their message loop stays free for process
//! memories and compiled programs. The ring never holds more tasks than there are claims, and
//! a claim is an idle worker: `START_RING` is above the most workers a browser gives a page
//! (Firefox: 512 per site).

use crate::handles;
use crate::virtio::Cells;

/// Started workers with no task, not yet promised to one.
const READY: usize = handles::CELLS;
/// Nonzero when the browser refused to start the last worker the pool asked for.
const EXHAUSTED: usize = handles::CELLS + 1;
/// Bumped after every task put into the start ring; idle workers wait on it.
pub const START_SIGNAL: usize = handles::CELLS + 2;
/// The next entry to take and the next to fill (free-running counters).
const START_HEAD: usize = handles::CELLS + 3;
const START_TAIL: usize = handles::CELLS + 4;
/// The start ring of tasks. A task pointer is never 0, so 0 marks an entry not (yet) filled.
const STARTS: usize = handles::CELLS + 5;
const START_RING: u32 = 1024;
const CELLS: usize = 5 + START_RING as usize;

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

/// A task for a claimed worker to start. The caller then bumps [`START_SIGNAL`] (with
/// [`signal_start`]) and wakes one waiter.
pub fn push_start(cells: &(impl Cells + ?Sized), task: u32) {
    let at = STARTS + (cells.fetch_add(START_TAIL, 1) % START_RING) as usize;
    cells.store(at, task);
}

/// Tells the waiting idle workers that the start ring changed.
pub fn signal_start(cells: &(impl Cells + ?Sized)) {
    cells.fetch_add(START_SIGNAL, 1);
}

/// An idle worker: the oldest task in the start ring. None when the ring is empty, or while
/// the task at its head is still being written (its writer signals next).
pub fn take_start(cells: &(impl Cells + ?Sized)) -> Option<u32> {
    loop {
        let head = cells.load(START_HEAD);
        let at = STARTS + (head % START_RING) as usize;
        let task = cells.load(at);
        if task == 0 {
            return None;
        }
        if cells.compare_exchange(START_HEAD, head, head.wrapping_add(1)) == head {
            cells.store(at, 0);
            return Some(task);
        }
    }
}

/// Whether tasks wait in the start ring: a worker that took one wakes another for them.
pub fn starts_pending(cells: &(impl Cells + ?Sized)) -> bool {
    cells.load(START_HEAD) != cells.load(START_TAIL)
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
        assert_eq!(cells_bytes(), handles::cells_bytes() + 4 * (5 + START_RING));
        let c = cells();
        let c = c.as_slice();
        add_ready(c);
        set_exhausted(c, true);
        assert!(!handles::is_released(c, 1));
        assert!(is_exhausted(c));
    }

    #[test]
    fn tasks_are_started_in_the_order_they_were_put() {
        let c = cells();
        let c = c.as_slice();
        assert_eq!(take_start(c), None);
        assert!(!starts_pending(c));
        push_start(c, 0x1000);
        push_start(c, 0x2000);
        assert!(starts_pending(c));
        assert_eq!(take_start(c), Some(0x1000));
        assert_eq!(take_start(c), Some(0x2000));
        assert_eq!(take_start(c), None);
        assert!(!starts_pending(c));
    }

    #[test]
    fn the_start_ring_wraps_around() {
        let c = cells();
        let c = c.as_slice();
        for round in 0..3 * START_RING {
            push_start(c, 0x1000 + round);
            push_start(c, 0x9000 + round);
            assert_eq!(take_start(c), Some(0x1000 + round));
            assert_eq!(take_start(c), Some(0x9000 + round));
        }
        assert_eq!(take_start(c), None);
    }

    #[test]
    fn a_task_still_being_written_is_not_taken_and_later_is() {
        let c = cells();
        let c = c.as_slice();
        // A writer has its entry (the tail moved) but has not stored the task yet.
        c.fetch_add(START_TAIL, 1);
        assert_eq!(take_start(c), None);
        assert!(starts_pending(c));
        c.store(STARTS, 0x4000);
        assert_eq!(take_start(c), Some(0x4000));
    }

    #[test]
    fn workers_taking_at_once_each_get_a_different_task() {
        use std::sync::Arc;
        let c: Arc<Vec<AtomicU32>> = Arc::new(cells());
        let tasks = 4000u32;
        let takers: Vec<_> = (0..3)
            .map(|_| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while got.len() < 2000 {
                        match take_start(c.as_slice()) {
                            Some(task) => got.push(task),
                            None if c.as_slice().load(START_HEAD) >= tasks => break,
                            None => std::thread::yield_now(),
                        }
                    }
                    got
                })
            })
            .collect();
        for t in 1..=tasks {
            // Never more than the ring holds outstanding, as claims guarantee.
            while c.as_slice().load(START_TAIL) - c.as_slice().load(START_HEAD) >= START_RING {
                std::thread::yield_now();
            }
            push_start(c.as_slice(), t);
        }
        let mut all: Vec<u32> = takers.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort_unstable();
        assert_eq!(all, (1..=tasks).collect::<Vec<_>>());
    }
}
