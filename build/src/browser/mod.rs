//! One browser driver for the end-to-end tests, `cargo x bench`, `cargo x run` and `cargo x
//! bbtest guest`: a synchronous WebDriver BiDi client (`bidi`) that drives headless Chromium
//! (through chromedriver) or Firefox ESR (its built-in remote agent), both started by
//! `launch`; `session` has the commands, `input` the key and pointer actions, `page` the app's
//! own helpers (the console probe, boot, typed commands).

pub mod bidi;
pub mod input;
mod kind;
pub mod launch;
pub mod log;
pub mod page;
pub mod session;

pub use kind::Kind;
pub use session::Session;
