//! Process-memory handles, shared by every worker through one small `SharedArrayBuffer` of
//! 32-bit cells: cell 0 is the last handle given out (`user_create` takes the next with an
//! atomic add, so handles are unique across workers); the cells after it are a ring in which
//! `user_release` marks a handle as released.
//!
//! Why the ring: a process memory is referenced from more than one worker — the one where
//! exec made it (a vfork parent's, for a vfork child), the one that runs it, and those the
//! main thread sent it to before their task started. Only the worker where the process ends
//! hears `user_release`. Every other worker drops its reference the next time it makes or
//! selects a process memory, by looking its handles up here. A reference left behind keeps
//! the memory alive, and V8 reserves about 10 GiB of address space per wasm memory, out of
//! about 1 TiB for the whole page: a few dozen leaked memories and no worker can start.

use crate::virtio::Cells;

/// Slots in the released ring. A handle is forgotten as released only if this many later
/// handles are released before a worker holding it looks: workers look at every exec.
pub const RELEASED_RING: usize = 4096;

/// The handle cells: the counter, then the released ring.
pub const CELLS: usize = 1 + RELEASED_RING;

/// Bytes of the shared handle cells.
pub fn cells_bytes() -> u32 {
    (CELLS * 4) as u32
}

fn slot(handle: u32) -> usize {
    1 + handle as usize % RELEASED_RING
}

/// A new handle, unique across workers (never 0).
pub fn next(cells: &(impl Cells + ?Sized)) -> u32 {
    cells.fetch_add(0, 1).wrapping_add(1)
}

/// Marks `handle` as released: its process has ended or exec'd another program.
pub fn mark_released(cells: &(impl Cells + ?Sized), handle: u32) {
    if handle != 0 {
        cells.store(slot(handle), handle);
    }
}

/// Whether `handle` was released (handle 0, no process memory, never is).
pub fn is_released(cells: &(impl Cells + ?Sized), handle: u32) -> bool {
    handle != 0 && cells.load(slot(handle)) == handle
}

/// Whether `handle` was given out and not yet released: its process memory exists, though
/// the worker that made it may not have registered it with the main thread yet.
pub fn in_flight(cells: &(impl Cells + ?Sized), handle: u32) -> bool {
    handle != 0 && handle <= cells.load(0) && !is_released(cells, handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn cells() -> Vec<AtomicU32> {
        (0..cells_bytes() / 4).map(|_| AtomicU32::new(0)).collect()
    }

    #[test]
    fn released_handles_are_known_until_the_ring_wraps_onto_them() {
        let c = cells();
        let c = c.as_slice();
        assert!(!is_released(c, 7));
        mark_released(c, 7);
        assert!(is_released(c, 7));
        assert!(!is_released(c, 8));
        // A later handle in the same slot takes it over.
        let later = 7 + RELEASED_RING as u32;
        assert!(!is_released(c, later));
        mark_released(c, later);
        assert!(is_released(c, later));
        assert!(!is_released(c, 7));
        // The counter cell is not part of the ring.
        assert_eq!(c[0].load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[test]
    fn a_handle_is_in_flight_from_given_out_to_released() {
        let c = cells();
        let c = c.as_slice();
        assert!(!in_flight(c, 0));
        assert!(!in_flight(c, 1));
        assert_eq!(next(c), 1);
        assert!(in_flight(c, 1));
        assert!(!in_flight(c, 2));
        mark_released(c, 1);
        assert!(!in_flight(c, 1));
    }

    #[test]
    fn handles_are_given_out_in_turn_from_1() {
        let c = cells();
        let c = c.as_slice();
        assert_eq!((next(c), next(c), next(c)), (1, 2, 3));
    }

    #[test]
    fn no_handle_is_never_released() {
        let c = cells();
        mark_released(c.as_slice(), 0);
        assert!(!is_released(c.as_slice(), 0));
    }
}
