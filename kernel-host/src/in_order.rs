//! Console output put back in the order the guest wrote it.
//!
//! Every kernel task runs in its own worker, and a console write is posted to the page by the
//! worker of the task that wrote it. Messages from different workers may arrive in any order
//! (Firefox does reorder them), so `cat`'s last line and the shell's next prompt could swap.
//! Each chunk therefore carries a number taken from a counter the workers share
//! (`virtio::next_output`), in the order the kernel wrote the chunks (it runs on one CPU at a
//! time); the page releases chunks strictly by number.

use std::collections::HashMap;

/// How many chunks may wait for a missing one before it is given up as lost (a worker that
/// died between taking a number and posting its chunk): the output goes on without it. The
/// machine also gives up on a gap that lasts (`skip_gap`, `GAP_MS`).
const MAX_WAITING: usize = 256;

/// How long a gap may hold output back before the machine gives up on it, in milliseconds:
/// messages between workers arrive within a few; a lost one never does.
pub const GAP_MS: i32 = 300;

/// Numbered chunks in, chunks in number order out.
#[derive(Debug, Default)]
pub struct InOrder {
    next: u32,
    waiting: HashMap<u32, Vec<u8>>,
}

impl InOrder {
    pub fn new() -> InOrder {
        InOrder::default()
    }

    /// Takes chunk `seq`; returns the chunks that can now go out, in order (none if an
    /// earlier one is still on its way).
    pub fn push(&mut self, seq: u32, bytes: Vec<u8>) -> Vec<Vec<u8>> {
        // A number behind `next` belongs to a chunk given up as lost: late, but not dropped.
        if seq.wrapping_sub(self.next) > u32::MAX / 2 {
            return vec![bytes];
        }
        self.waiting.insert(seq, bytes);
        if self.waiting.len() > MAX_WAITING {
            return self.skip_gap();
        }
        self.release()
    }

    /// Chunks waiting for an earlier one.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Gives up on the earliest missing chunk (it has not come for too long: its worker was
    /// terminated with the message unsent, say) and returns what can then go out.
    pub fn skip_gap(&mut self) -> Vec<Vec<u8>> {
        let next = self.next;
        if let Some(&first) = self.waiting.keys().min_by_key(|&&k| k.wrapping_sub(next)) {
            self.next = first;
        }
        self.release()
    }

    /// The chunks from `next` on that have arrived, in order.
    fn release(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(chunk) = self.waiting.remove(&self.next) {
            out.push(chunk);
            self.next = self.next.wrapping_add(1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn chunks_in_order_go_straight_out() {
        let mut o = InOrder::new();
        assert_eq!(o.push(0, chunk("a")), vec![chunk("a")]);
        assert_eq!(o.push(1, chunk("b")), vec![chunk("b")]);
        assert_eq!(o.waiting(), 0);
    }

    #[test]
    fn a_chunk_that_overtook_an_earlier_one_waits_for_it() {
        // `cat` wrote its line then CR LF, the shell then its marker: the marker arrived first.
        let mut o = InOrder::new();
        assert_eq!(o.push(0, chunk("dropped")), vec![chunk("dropped")]);
        assert!(o.push(2, chunk("@@4:0")).is_empty());
        assert_eq!(o.waiting(), 1);
        assert_eq!(
            o.push(1, chunk("\r\n")),
            vec![chunk("\r\n"), chunk("@@4:0")]
        );
        assert_eq!(o.waiting(), 0);
    }

    #[test]
    fn a_lost_chunk_stops_the_output_only_for_a_while() {
        let mut o = InOrder::new();
        let mut out = Vec::new();
        for seq in 1..=MAX_WAITING as u32 {
            out.extend(o.push(seq, vec![seq as u8]));
        }
        assert!(out.is_empty(), "chunk 0 may still come");
        out.extend(o.push(MAX_WAITING as u32 + 1, vec![0xff]));
        assert_eq!(out.len(), MAX_WAITING + 1);
        assert_eq!(out[0], vec![1]);
        assert_eq!(out[MAX_WAITING], vec![0xff]);
        // The lost chunk, if it turns up after all, still goes out.
        assert_eq!(o.push(0, chunk("late")), vec![chunk("late")]);
    }

    #[test]
    fn a_gap_given_up_on_lets_the_rest_out() {
        let mut o = InOrder::new();
        assert!(o.push(1, chunk("b")).is_empty());
        assert!(o.push(2, chunk("c")).is_empty());
        assert!(o.push(4, chunk("e")).is_empty());
        assert_eq!(o.skip_gap(), vec![chunk("b"), chunk("c")]);
        assert_eq!(o.waiting(), 1);
        assert_eq!(o.skip_gap(), vec![chunk("e")]);
        assert!(o.skip_gap().is_empty());
        assert_eq!(o.push(5, chunk("f")), vec![chunk("f")]);
    }

    #[test]
    fn numbers_wrap_around() {
        let mut o = InOrder {
            next: u32::MAX,
            waiting: HashMap::new(),
        };
        assert!(o.push(0, chunk("b")).is_empty());
        assert_eq!(o.push(u32::MAX, chunk("a")), vec![chunk("a"), chunk("b")]);
    }
}
