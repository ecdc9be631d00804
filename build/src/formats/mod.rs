//! The byte and text formats the build writes or reads, each with its parser or writer and
//! nothing about when it is used (that is in `steps/`).

pub mod apk;
pub mod cpio;
pub mod debian;
pub mod manifest;
pub mod sectab;
pub mod sparse;
pub mod testsuite_tar;
pub mod wasm_segments;
