//! One browser driver for the end-to-end tests, `cargo x bench`, `cargo x run` and `cargo x
//! bbtest guest`: a synchronous WebDriver BiDi client (`bidi`) that drives headless Chromium
//! (through chromedriver) or Firefox ESR (its built-in remote agent), both started by
//! `launch`; `session` has the commands, `input` the key and pointer actions, `page` the app's
//! own helpers (the console probe, boot, typed commands).

pub mod bidi;
pub mod input;
pub mod launch;
pub mod log;
pub mod page;
pub mod session;

pub use session::Session;

/// The browsers the driver can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Debian's `chromium`, through `chromium-driver`.
    Chromium,
    /// Debian's `firefox-esr`.
    Firefox,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Chromium, Kind::Firefox];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Chromium => "chromium",
            Kind::Firefox => "firefox",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        match s {
            "chromium" | "chrome" => Ok(Kind::Chromium),
            "firefox" | "firefox-esr" => Ok(Kind::Firefox),
            _ => Err(format!("unknown browser {s:?} (chromium or firefox)")),
        }
    }
}
