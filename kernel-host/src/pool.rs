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
//! (whose queue is long at boot, and behind the terminal's drawing later). Every worker is a
//! pool *member* with an index below [`MEMBERS`] and a mailbox cell. An idle member sets its
//! bit in the idle bitmap before it counts itself in `READY` ([`join`]), and waits on its
//! mailbox with `Atomics.waitAsync`, so its message loop stays free for process memories and
//! compiled programs. The kernel's worker gives a task to the idle member with the lowest
//! index ([`give`]) and wakes that member alone, which takes it ([`take`]) and tells the main
//! thread after the fact.
//!
//! Why the lowest index: the same few workers then run one short process after another, as
//! when the main thread chose the first idle worker. Their spare process memories are the
//! sizes recent programs asked for, and their caches are warm. Waking any waiter instead (one
//! cell for all, `Atomics.notify` wakes the longest waiting) spread the work over every idle
//! worker: a BusyBox pipeline in the bench took 22 % longer, and the login shell got the
//! 15 MiB memory that `e2fsck` had grown.
//!
//! A claim always finds a member: the bit is set before `READY` counts it, a claim takes one
//! from `READY`, and only a claim's [`give`] clears a bit.

use crate::handles;
use crate::virtio::Cells;

/// Started workers with no task, not yet promised to one.
const READY: usize = handles::CELLS;
/// Nonzero when the browser refused to start the last worker the pool asked for.
const EXHAUSTED: usize = handles::CELLS + 1;
/// Pool members: at most this many workers (Firefox starts 512 per site, Chromium fits about
/// 125 wasm memories).
pub const MEMBERS: u32 = 1024;
/// The idle bitmap: bit `m % 32` of cell `IDLE + m / 32` is set while member `m` waits for a
/// task and no claim has chosen it.
const IDLE: usize = handles::CELLS + 2;
const IDLE_CELLS: usize = MEMBERS as usize / 32;
/// Member `m`'s mailbox is cell `MAILBOX + m`: the task given to it, or 0 (a task pointer is
/// never 0).
const MAILBOX: usize = IDLE + IDLE_CELLS;
const CELLS: usize = 2 + IDLE_CELLS + MEMBERS as usize;

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

/// The cell that member `member` waits on for its task.
pub fn mailbox(member: u32) -> usize {
    MAILBOX + member as usize
}

/// A member with no task becomes idle and may be claimed. The caller then waits on its
/// [`mailbox`] and wakes the claimers waiting on [`WAIT_CELL`].
pub fn join(cells: &(impl Cells + ?Sized), member: u32) {
    cells.fetch_or(IDLE + member as usize / 32, 1 << (member % 32));
    cells.fetch_add(READY, 1);
}

/// Gives a claimed task to the idle member with the lowest index, and returns that member,
/// whose [`mailbox`] the caller notifies. None only if no member was idle for a long while,
/// which a claim rules out (a broken pool).
pub fn give(cells: &(impl Cells + ?Sized), task: u32) -> Option<u32> {
    // Other claims may take the bits this scan sees: each has its own bit to find, so a
    // rescan finds ours.
    for _ in 0..100_000 {
        for word in 0..IDLE_CELLS {
            let mut bits = cells.load(IDLE + word);
            while bits != 0 {
                let bit = bits.trailing_zeros();
                let seen = cells.compare_exchange(IDLE + word, bits, bits & !(1 << bit));
                if seen == bits {
                    let member = (word * 32) as u32 + bit;
                    cells.store(mailbox(member), task);
                    return Some(member);
                }
                bits = seen;
            }
        }
        std::hint::spin_loop();
    }
    None
}

/// Member `member`: the task given to it, if one was.
pub fn take(cells: &(impl Cells + ?Sized), member: u32) -> Option<u32> {
    match cells.load(mailbox(member)) {
        0 => None,
        task => {
            cells.store(mailbox(member), 0);
            Some(task)
        }
    }
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
        assert_eq!(
            cells_bytes(),
            handles::cells_bytes() + 4 * (2 + MEMBERS / 32 + MEMBERS)
        );
        let c = cells();
        let c = c.as_slice();
        add_ready(c);
        set_exhausted(c, true);
        assert!(!handles::is_released(c, 1));
        assert!(is_exhausted(c));
    }

    #[test]
    fn a_task_goes_to_the_idle_member_with_the_lowest_index() {
        let c = cells();
        let c = c.as_slice();
        for member in [40, 7, 900] {
            join(c, member);
        }
        assert_eq!(ready(c), 3);
        assert_eq!(claim(c), Claim::Taken);
        assert_eq!(give(c, 0x1000), Some(7));
        assert_eq!(claim(c), Claim::Taken);
        assert_eq!(give(c, 0x2000), Some(40));
        assert_eq!(take(c, 40), Some(0x2000));
        assert_eq!(take(c, 40), None);
        assert_eq!(take(c, 7), Some(0x1000));
        // Member 7 is idle again: it comes before 900.
        join(c, 7);
        assert_eq!(claim(c), Claim::Taken);
        assert_eq!(give(c, 0x3000), Some(7));
        assert_eq!(take(c, 900), None);
        assert_eq!(ready(c), 1);
    }

    #[test]
    fn the_last_member_has_a_bit_and_a_mailbox() {
        let c = cells();
        let c = c.as_slice();
        join(c, MEMBERS - 1);
        assert_eq!(claim(c), Claim::Taken);
        assert_eq!(give(c, 0x5000), Some(MEMBERS - 1));
        assert_eq!(take(c, MEMBERS - 1), Some(0x5000));
        assert!(mailbox(MEMBERS - 1) < c.len());
    }

    #[test]
    fn a_give_without_an_idle_member_fails_instead_of_hanging() {
        let c = cells();
        assert_eq!(give(c.as_slice(), 0x1000), None);
    }

    #[test]
    fn claims_and_members_running_at_once_start_every_task_once() {
        use std::sync::atomic::Ordering;
        use std::sync::{Arc, Mutex};
        let c: Arc<Vec<AtomicU32>> = Arc::new(cells());
        let tasks_per_giver = 1500u32;
        let givers = 3u32;
        let done = Arc::new(AtomicU32::new(0));
        let got = Arc::new(Mutex::new(Vec::new()));
        let members: Vec<_> = (0..6u32)
            .map(|i| {
                let (c, done, got) = (Arc::clone(&c), Arc::clone(&done), Arc::clone(&got));
                // Indices in different cells of the bitmap.
                let member = i * 37;
                std::thread::spawn(move || {
                    join(c.as_slice(), member);
                    while done.load(Ordering::SeqCst) < tasks_per_giver * givers {
                        if let Some(task) = take(c.as_slice(), member) {
                            got.lock().unwrap().push(task);
                            done.fetch_add(1, Ordering::SeqCst);
                            join(c.as_slice(), member);
                        } else {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let giving: Vec<_> = (0..givers)
            .map(|g| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || {
                    for t in 1..=tasks_per_giver {
                        while claim(c.as_slice()) != Claim::Taken {
                            std::thread::yield_now();
                        }
                        assert!(give(c.as_slice(), g * 100_000 + t).is_some());
                    }
                })
            })
            .collect();
        for h in giving.into_iter().chain(members) {
            h.join().unwrap();
        }
        let mut all = got.lock().unwrap().clone();
        all.sort_unstable();
        let mut want: Vec<u32> = (0..givers)
            .flat_map(|g| (1..=tasks_per_giver).map(move |t| g * 100_000 + t))
            .collect();
        want.sort_unstable();
        assert_eq!(all, want);
    }
}
