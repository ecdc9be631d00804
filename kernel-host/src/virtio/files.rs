//! The files channel's device side: the second virtio console (`hvc1`, [`FILES`]), served by
//! `console.rs` like the terminal. What is its own: it offers no terminal size, and the
//! page's flow control waits on its inbox's count of bytes the guest has taken
//! ([`console::Inbox::taken`]). The bytes are `crate::files` frames.

use super::console;
use super::state::FILES;

/// Device feature bits offered: none (no size, no ports).
pub const FEATURES: u64 = 0;

/// Bytes for the guest's file helper that wait in the device worker for receive buffers.
pub type Inbox = console::Inbox<FILES>;
