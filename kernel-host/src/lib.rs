//! The machine that hosts the wasm kernel.
