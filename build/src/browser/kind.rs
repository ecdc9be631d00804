//! The browsers the driver can start.

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
