//! Files between the page and the guest, on `hvc1` (the second virtio console,
//! `virtio::FILES`): the framed protocol ([`wire`]; specified in `docs/files-protocol.md`) and the page's
//! side of a session with the guest's helper ([`session`]; the helper is
//! `build/guest/files.c`, `/usr/sbin/alpenglow-files`). `session` uses `wire`, never the
//! reverse.
//!
//! Architecture invariant: no js-sys, web-sys or wasm-bindgen here (wasm32-only
//! dependencies, so the native `cargo test` would not build): the page's I/O is
//! `app/src/files.rs`, and the bytes travel through `virtio::files`.

pub mod session;
pub mod wire;

pub use session::{Notice, Session, Step};
pub use wire::{
    data_frame, Decoder, Frame, CHUNK, HEADER_LEN, MAGIC, MAX_NAME, MAX_PAYLOAD, VERSION,
};
