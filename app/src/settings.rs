//! The person's settings: kernel memory, CPUs, kernel command line, the disk's size, the
//! network relay, terminal theme and font size. Saved in localStorage; URL query parameters
//! override them for one page load (the URL wins and is not saved unless the person saves).
//! Memory, CPUs, command line and disk size apply at the next boot; the relay, theme and font
//! size at once.
//!
//! URL parameters: `memory=256` (MiB), `cpus=2` (1 to 8, or `auto`: as many as the computer
//! has cores, at most `DEFAULT_CPUS_MAX`), `append=quiet` (added to the default command line) or
//! `cmdline=console=hvc0 quiet` (replaces it), `relay=ws://127.0.0.1:8081/` (a Wisp relay for
//! TCP beyond port 80, `docs/network.md`), `theme=light|dark`, `font-size=16`, `disk-size=4`
//! (GiB: the disk grows to it, never shrinks), `disk=none` (boot without the disk, for
//! this visit only: never saved; docs/disk.md), and `preempt=off` (programs without
//! preemption points, for measuring their cost; this visit only).

use kernel_host::boot::DEFAULT_BOOTARGS;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// Kernel memory a person may ask for, in MiB. Below 32 MiB the kernel has too little room
/// left after its image and the initramfs; 1 GiB is vmlinux.wasm's memory maximum.
pub const MEMORY_MIB: RangeInclusive<u32> = 32..=1024;
/// CPUs a person may ask for: the kernel is built for at most `abi::MAX_CPUS` (NR_CPUS).
pub const CPUS: RangeInclusive<u32> = 1..=kernel_host::abi::MAX_CPUS;
/// The most CPUs a machine gets unless asked for more. One for now: with two, a shell that
/// starts processes back to back (BusyBox's own testsuite, `make`) runs into "Out of
/// memory" at exec in Chromium, which reclaims a dead process's memory only when every
/// thread that saw it has collected its garbage (docs/abi.md). More CPUs are a
/// setting or `?cpus=N` away.
pub const DEFAULT_CPUS_MAX: u32 = 1;
/// Disk sizes a person may ask for, in GiB. The first file system is 1 GiB; the disk is a
/// sparse file, so a large one costs only what is written (as the browser counts it).
pub const DISK_GIB: RangeInclusive<u32> = 1..=64;
/// Terminal font sizes, in CSS pixels.
pub const FONT_SIZE: RangeInclusive<u32> = 8..=32;
/// The kernel's COMMAND_LINE_SIZE (512) less its terminating NUL.
pub const CMDLINE_MAX: usize = 511;
/// The localStorage key.
pub const STORAGE_KEY: &str = "alpenglow-settings";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CmdlineMode {
    /// The person's text follows the default command line.
    #[default]
    Append,
    /// The person's text is the whole command line.
    Replace,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    #[default]
    Dark,
    Light,
}

impl Theme {
    pub fn name(self) -> &'static str {
        match self {
            Theme::Dark => "dark",
            Theme::Light => "light",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub memory_mib: u32,
    /// The machine's CPUs; None: as many as the computer has cores, at most
    /// `DEFAULT_CPUS_MAX` (`default_cpus`), so a saved default suits another computer too.
    pub cpus: Option<u32>,
    pub cmdline_mode: CmdlineMode,
    pub cmdline: String,
    /// The disk's size in GiB: a new disk is made this large, a smaller one grows to it.
    pub disk_gib: u32,
    /// A Wisp relay's `ws://` or `wss://` URL; empty: no relay.
    pub relay: String,
    pub theme: Theme,
    pub font_size: u32,
    /// `?disk=none`: this visit's machines boot without the disk. Never saved.
    #[serde(skip)]
    pub ram_only: bool,
    /// `?preempt=off`: this visit's programs run without preemption points, to measure what
    /// they cost (`cargo x bench`); a loop without system calls then holds the CPU. Never
    /// saved.
    #[serde(skip)]
    pub no_preempt: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            memory_mib: 128,
            cpus: None,
            cmdline_mode: CmdlineMode::Append,
            cmdline: String::new(),
            disk_gib: 1,
            relay: String::new(),
            theme: Theme::Dark,
            font_size: 14,
            ram_only: false,
            no_preempt: false,
        }
    }
}

/// A setting, for error messages and for marking what the URL set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Memory,
    Cpus,
    Cmdline,
    DiskSize,
    Relay,
    Theme,
    FontSize,
}

impl Field {
    /// The URL parameter(s) that set it.
    pub fn param(self) -> &'static str {
        match self {
            Field::Memory => "memory",
            Field::Cpus => "cpus",
            Field::Cmdline => "cmdline/append",
            Field::DiskSize => "disk-size",
            Field::Relay => "relay",
            Field::Theme => "theme",
            Field::FontSize => "font-size",
        }
    }
}

impl Settings {
    /// RAM in bytes.
    pub fn ram_bytes(&self) -> u64 {
        u64::from(self.memory_mib) << 20
    }

    /// The CPUs the machine boots with, on a computer with `cores` logical cores
    /// (`navigator.hardwareConcurrency`).
    pub fn cpu_count(&self, cores: f64) -> u32 {
        self.cpus.unwrap_or_else(|| default_cpus(cores))
    }

    /// The disk's size in bytes.
    pub fn disk_bytes(&self) -> u64 {
        u64::from(self.disk_gib) << 30
    }

    /// The command line the kernel gets.
    pub fn bootargs(&self) -> String {
        let extra = self.cmdline.trim();
        match self.cmdline_mode {
            CmdlineMode::Replace => extra.to_string(),
            CmdlineMode::Append if extra.is_empty() => DEFAULT_BOOTARGS.to_string(),
            CmdlineMode::Append => format!("{DEFAULT_BOOTARGS} {extra}"),
        }
    }

    /// Every problem, by field; empty when the settings can be used.
    pub fn problems(&self) -> Vec<(Field, String)> {
        let mut out = Vec::new();
        if let Err(e) = check_memory(self.memory_mib) {
            out.push((Field::Memory, e));
        }
        if let Some(Err(e)) = self.cpus.map(check_cpus) {
            out.push((Field::Cpus, e));
        }
        if let Err(e) = check_disk_size(self.disk_gib) {
            out.push((Field::DiskSize, e));
        }
        if let Err(e) = check_font_size(self.font_size) {
            out.push((Field::FontSize, e));
        }
        if let Err(e) = check_relay(&self.relay) {
            out.push((Field::Relay, e));
        }
        if let Err(e) = check_cmdline(&self.cmdline) {
            out.push((Field::Cmdline, e));
        } else if self.bootargs().len() > CMDLINE_MAX {
            out.push((
                Field::Cmdline,
                format!(
                    "the whole command line would be {} characters; the kernel takes at most \
                     {CMDLINE_MAX}",
                    self.bootargs().len()
                ),
            ));
        }
        out
    }

    /// The relay to use, if one is set.
    pub fn relay_url(&self) -> Option<&str> {
        let url = self.relay.trim();
        (!url.is_empty()).then_some(url)
    }
}

/// A relay URL: empty (none), or `ws://` / `wss://` with a host. The browser checks the rest
/// when it opens the socket, and the machine card reports what fails.
pub fn check_relay(text: &str) -> Result<(), String> {
    let url = text.trim();
    if url.is_empty() {
        return Ok(());
    }
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .ok_or_else(|| format!("the relay must be a ws:// or wss:// URL, not {url:?}"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') || url.chars().any(char::is_whitespace) {
        return Err(format!("the relay URL {url:?} names no host"));
    }
    Ok(())
}

pub fn check_memory(mib: u32) -> Result<u32, String> {
    if MEMORY_MIB.contains(&mib) {
        Ok(mib)
    } else {
        Err(format!(
            "kernel memory must be between {} and {} MiB; {mib} MiB is {}",
            MEMORY_MIB.start(),
            MEMORY_MIB.end(),
            if mib < *MEMORY_MIB.start() {
                "too little for the kernel to boot"
            } else {
                "more than vmlinux.wasm's memory can grow to"
            }
        ))
    }
}

pub fn check_cpus(n: u32) -> Result<u32, String> {
    if CPUS.contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "the number of CPUs must be between {} and {} (the kernel is built for at most {}), \
             not {n}",
            CPUS.start(),
            CPUS.end(),
            CPUS.end()
        ))
    }
}

/// The CPUs as typed: a whole number, or `auto` (None: `default_cpus`).
pub fn parse_cpus(text: &str) -> Result<Option<u32>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    check_cpus(parse_number("the number of CPUs", t)?).map(Some)
}

/// The CPUs a machine gets by default on a computer with `cores` logical cores
/// (`navigator.hardwareConcurrency`, which a browser may leave out or round): as many, at
/// most `DEFAULT_CPUS_MAX`, at least 1.
pub fn default_cpus(cores: f64) -> u32 {
    if cores.is_finite() && cores >= 1.0 {
        cores.min(f64::from(DEFAULT_CPUS_MAX)) as u32
    } else {
        1
    }
}

/// This computer's logical cores as the browser tells them (1 if it does not).
pub fn hardware_concurrency() -> f64 {
    web_sys::window().map_or(1.0, |w| w.navigator().hardware_concurrency())
}

pub fn check_disk_size(gib: u32) -> Result<u32, String> {
    if DISK_GIB.contains(&gib) {
        Ok(gib)
    } else {
        Err(format!(
            "the disk's size must be between {} and {} GiB, not {gib} GiB",
            DISK_GIB.start(),
            DISK_GIB.end()
        ))
    }
}

/// The disk's size as typed: a number of GiB, optionally followed by `G` or `GiB`.
pub fn parse_disk_size(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let digits = t
        .strip_suffix("GiB")
        .or_else(|| t.strip_suffix('G'))
        .unwrap_or(t)
        .trim();
    check_disk_size(parse_number("the disk's size (GiB)", digits)?)
}

pub fn check_font_size(px: u32) -> Result<u32, String> {
    if FONT_SIZE.contains(&px) {
        Ok(px)
    } else {
        Err(format!(
            "font size must be between {} and {} pixels, not {px}",
            FONT_SIZE.start(),
            FONT_SIZE.end()
        ))
    }
}

/// A per-visit switch of the URL, `KEY=WORD` or `KEY=on`: whether it is `word`.
fn switch(key: &str, value: &str, word: &str) -> Result<bool, String> {
    match value.trim() {
        v if v == word => Ok(true),
        "on" => Ok(false),
        other => Err(format!("{key} must be {word} or on, not {other:?}")),
    }
}

/// A command line (or the part appended to one): one line of printable characters.
pub fn check_cmdline(text: &str) -> Result<(), String> {
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(format!(
            "the command line must be one line of printable characters; it contains {}",
            match c {
                '\n' | '\r' => "a line break".to_string(),
                '\t' => "a tab".to_string(),
                c => format!("the control character U+{:04X}", c as u32),
            }
        ));
    }
    if text.trim().len() > CMDLINE_MAX {
        return Err(format!(
            "the command line is {} characters long; the kernel takes at most {CMDLINE_MAX}",
            text.trim().len()
        ));
    }
    Ok(())
}

/// A whole number typed by a person ("256", " 256 "), or a message that says what is wrong.
pub fn parse_number(what: &str, text: &str) -> Result<u32, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("{what} is empty; enter a whole number"));
    }
    t.parse::<u32>()
        .map_err(|_| format!("{what} must be a whole number, not {t:?}"))
}

/// Kernel memory as typed: a number of MiB, optionally followed by `M` or `MiB`.
pub fn parse_memory(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let digits = t
        .strip_suffix("MiB")
        .or_else(|| t.strip_suffix('M'))
        .unwrap_or(t);
    check_memory(parse_number("kernel memory (MiB)", digits)?)
}

pub fn parse_font_size(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let digits = t.strip_suffix("px").unwrap_or(t);
    check_font_size(parse_number("font size", digits)?)
}

pub fn parse_theme(text: &str) -> Result<Theme, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "dark" => Ok(Theme::Dark),
        "light" => Ok(Theme::Light),
        other => Err(format!("theme must be dark or light, not {other:?}")),
    }
}

/// What the URL sets, on top of the saved settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub memory_mib: Option<u32>,
    /// `cpus=N` is `Some(Some(N))`, `cpus=auto` `Some(None)`.
    pub cpus: Option<Option<u32>>,
    pub cmdline: Option<(CmdlineMode, String)>,
    pub disk_gib: Option<u32>,
    pub theme: Option<Theme>,
    pub font_size: Option<u32>,
    pub relay: Option<String>,
    pub ram_only: Option<bool>,
    pub no_preempt: Option<bool>,
}

impl Overrides {
    /// Reads the query's parameters (decoded `key, value` pairs, in order). Unknown keys are
    /// someone else's (e.g. `embed`); a bad value is reported and ignored.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> (Self, Vec<String>) {
        let mut o = Overrides::default();
        let mut errors = Vec::new();
        let mut report = |key: &str, value: &str, e: String| {
            errors.push(format!("URL parameter {key}={value:?} is ignored: {e}"))
        };
        for (key, value) in pairs {
            match key {
                "memory" => match parse_memory(value) {
                    Ok(v) => o.memory_mib = Some(v),
                    Err(e) => report(key, value, e),
                },
                "cpus" => match parse_cpus(value) {
                    Ok(v) => o.cpus = Some(v),
                    Err(e) => report(key, value, e),
                },
                "theme" => match parse_theme(value) {
                    Ok(v) => o.theme = Some(v),
                    Err(e) => report(key, value, e),
                },
                "relay" => match check_relay(value) {
                    Ok(()) => o.relay = Some(value.trim().to_string()),
                    Err(e) => report(key, value, e),
                },
                "disk" => match switch(key, value, "none") {
                    Ok(v) => o.ram_only = Some(v),
                    Err(e) => report(key, value, e),
                },
                "preempt" => match switch(key, value, "off") {
                    Ok(v) => o.no_preempt = Some(v),
                    Err(e) => report(key, value, e),
                },
                "disk-size" => match parse_disk_size(value) {
                    Ok(v) => o.disk_gib = Some(v),
                    Err(e) => report(key, value, e),
                },
                "font-size" => match parse_font_size(value) {
                    Ok(v) => o.font_size = Some(v),
                    Err(e) => report(key, value, e),
                },
                "cmdline" | "append" => {
                    let mode = match key {
                        "cmdline" => CmdlineMode::Replace,
                        _ => CmdlineMode::Append,
                    };
                    match check_cmdline(value) {
                        // A replacement wins over an append, whatever the order.
                        Ok(()) if o.cmdline.as_ref().is_some_and(|(m, _)| *m != mode) => {
                            if mode == CmdlineMode::Replace {
                                o.cmdline = Some((mode, value.trim().to_string()));
                            }
                            report(
                                "append",
                                value,
                                "cmdline= replaces the whole command line, so append= has no \
                                 effect"
                                    .into(),
                            );
                        }
                        Ok(()) => o.cmdline = Some((mode, value.trim().to_string())),
                        Err(e) => report(key, value, e),
                    }
                }
                _ => {}
            }
        }
        (o, errors)
    }

    /// `base` with what the URL sets.
    pub fn apply(&self, base: &Settings) -> Settings {
        let mut s = base.clone();
        if let Some(v) = self.memory_mib {
            s.memory_mib = v;
        }
        if let Some(v) = self.cpus {
            s.cpus = v;
        }
        if let Some((mode, text)) = &self.cmdline {
            s.cmdline_mode = *mode;
            s.cmdline = text.clone();
        }
        if let Some(v) = self.disk_gib {
            s.disk_gib = v;
        }
        if let Some(v) = self.theme {
            s.theme = v;
        }
        if let Some(v) = &self.relay {
            s.relay = v.clone();
        }
        if let Some(v) = self.font_size {
            s.font_size = v;
        }
        if let Some(v) = self.ram_only {
            s.ram_only = v;
        }
        if let Some(v) = self.no_preempt {
            s.no_preempt = v;
        }
        s
    }

    /// The settings the URL sets.
    pub fn fields(&self) -> Vec<Field> {
        let mut f = Vec::new();
        if self.memory_mib.is_some() {
            f.push(Field::Memory);
        }
        if self.cpus.is_some() {
            f.push(Field::Cpus);
        }
        if self.cmdline.is_some() {
            f.push(Field::Cmdline);
        }
        if self.disk_gib.is_some() {
            f.push(Field::DiskSize);
        }
        if self.theme.is_some() {
            f.push(Field::Theme);
        }
        if self.relay.is_some() {
            f.push(Field::Relay);
        }
        if self.font_size.is_some() {
            f.push(Field::FontSize);
        }
        f
    }
}

/// Saved settings from their JSON. Anything unreadable or out of range falls back to the
/// default for that setting, and the message says so.
pub fn from_stored(json: &str) -> (Settings, Option<String>) {
    let parsed: Settings = match serde_json::from_str(json) {
        Ok(s) => s,
        Err(e) => {
            return (
                Settings::default(),
                Some(format!(
                    "the saved settings could not be read ({e}); the defaults are used"
                )),
            )
        }
    };
    let problems = parsed.problems();
    if problems.is_empty() {
        return (parsed, None);
    }
    let mut s = parsed;
    let d = Settings::default();
    for (field, _) in &problems {
        match field {
            Field::Memory => s.memory_mib = d.memory_mib,
            Field::Cpus => s.cpus = d.cpus,
            Field::Cmdline => {
                s.cmdline_mode = d.cmdline_mode;
                s.cmdline = d.cmdline.clone();
            }
            Field::DiskSize => s.disk_gib = d.disk_gib,
            Field::Theme => s.theme = d.theme,
            Field::FontSize => s.font_size = d.font_size,
            Field::Relay => s.relay = d.relay.clone(),
        }
    }
    let why: Vec<String> = problems.into_iter().map(|(_, e)| e).collect();
    (
        s,
        Some(format!(
            "a saved setting was invalid and its default is used: {}",
            why.join("; ")
        )),
    )
}

pub fn to_stored(s: &Settings) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The saved settings (defaults if none), and a message if they could not all be used.
pub fn load() -> (Settings, Option<String>) {
    match local_storage().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten()) {
        Some(json) => from_stored(&json),
        None => (Settings::default(), None),
    }
}

/// Saves `s`; the error says why it could not be (e.g. storage disabled or full).
pub fn save(s: &Settings) -> Result<(), String> {
    let store = local_storage().ok_or(
        "this browser gives the page no localStorage (disabled, or a private window), so \
         the settings last only until the page is closed",
    )?;
    store.set_item(STORAGE_KEY, &to_stored(s)).map_err(|e| {
        format!(
            "saving the settings failed: {}",
            crate::artifacts::js_error(&e)
        )
    })
}

/// The page's query parameters, decoded.
pub fn query_pairs() -> Vec<(String, String)> {
    let Some(search) = web_sys::window().and_then(|w| w.location().search().ok()) else {
        return Vec::new();
    };
    let Ok(params) = web_sys::UrlSearchParams::new_with_str(&search) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in params.entries() {
        let Ok(entry) = entry else { continue };
        let pair = js_sys::Array::from(&entry);
        if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
            out.push((k, v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_appended_or_replaced() {
        let mut s = Settings::default();
        assert_eq!(s.bootargs(), DEFAULT_BOOTARGS);
        s.cmdline = "  quiet ".into();
        assert_eq!(s.bootargs(), format!("{DEFAULT_BOOTARGS} quiet"));
        s.cmdline_mode = CmdlineMode::Replace;
        assert_eq!(s.bootargs(), "quiet");
        s.cmdline = "a\nb".into();
        assert!(s.problems()[0].1.contains("line break"));
        s.cmdline_mode = CmdlineMode::Append;
        s.cmdline = "x".repeat(CMDLINE_MAX - 5);
        let p = s.problems();
        assert_eq!(p.len(), 1);
        assert!(p[0].1.contains("at most 511"), "{p:?}");
    }

    #[test]
    fn numbers_are_checked_with_clear_messages() {
        assert_eq!(parse_memory("256"), Ok(256));
        assert_eq!(parse_memory(" 64M"), Ok(64));
        assert_eq!(parse_memory("512MiB"), Ok(512));
        let e = parse_memory("4096").unwrap_err();
        assert!(
            e.contains("between 32 and 1024 MiB") && e.contains("4096"),
            "{e}"
        );
        assert!(parse_memory("16").unwrap_err().contains("too little"));
        assert!(parse_memory("lots").unwrap_err().contains("whole number"));
        assert!(parse_memory("").unwrap_err().contains("empty"));
        assert!(parse_memory("-5").unwrap_err().contains("whole number"));
        assert_eq!(parse_font_size("16px"), Ok(16));
        assert!(parse_font_size("99")
            .unwrap_err()
            .contains("between 8 and 32"));
        assert_eq!(parse_theme("Light"), Ok(Theme::Light));
        assert!(parse_theme("blue").unwrap_err().contains("dark or light"));
        assert_eq!(parse_disk_size("4"), Ok(4));
        assert_eq!(parse_disk_size(" 2G"), Ok(2));
        assert_eq!(parse_disk_size("8GiB"), Ok(8));
        assert!(parse_disk_size("0")
            .unwrap_err()
            .contains("between 1 and 64 GiB"));
        assert!(parse_disk_size("1.5").unwrap_err().contains("whole number"));
    }

    #[test]
    fn cpus_are_a_count_from_1_to_8_or_automatic() {
        assert_eq!(parse_cpus("2"), Ok(Some(2)));
        assert_eq!(parse_cpus(" 8 "), Ok(Some(8)));
        assert_eq!(parse_cpus("1"), Ok(Some(1)));
        assert_eq!(parse_cpus("auto"), Ok(None));
        assert_eq!(parse_cpus(" Auto "), Ok(None));
        for bad in ["0", "9", "4294967295"] {
            let e = parse_cpus(bad).unwrap_err();
            assert!(e.contains("between 1 and 8") && e.contains(bad), "{e}");
        }
        for bad in ["two", "-1", "1.5", "99999999999"] {
            let e = parse_cpus(bad).unwrap_err();
            assert!(e.contains("whole number"), "{bad}: {e}");
        }
        assert!(parse_cpus("").unwrap_err().contains("empty"));

        // Automatic: the computer's cores, at most 4, at least 1.
        assert_eq!(default_cpus(16.0), DEFAULT_CPUS_MAX);
        assert_eq!(default_cpus(2.0), 2.min(DEFAULT_CPUS_MAX));
        assert_eq!(default_cpus(1.0), 1);
        for odd in [0.0, -3.0, f64::NAN, f64::INFINITY] {
            assert_eq!(default_cpus(odd), 1, "{odd}");
        }
        let s = Settings::default();
        assert_eq!(s.cpus, None);
        assert_eq!(s.cpu_count(12.0), DEFAULT_CPUS_MAX);
        let s = Settings {
            cpus: Some(6),
            ..Settings::default()
        };
        assert_eq!(s.cpu_count(2.0), 6);
        let s = Settings {
            cpus: Some(0),
            ..Settings::default()
        };
        assert_eq!(s.problems()[0].0, Field::Cpus);
    }

    #[test]
    fn the_url_sets_the_cpus_or_says_why_not() {
        let saved = Settings {
            cpus: Some(3),
            ..Settings::default()
        };
        let (o, errors) = Overrides::from_query([("cpus", "2")]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(o.apply(&saved).cpus, Some(2));
        assert_eq!(o.fields(), vec![Field::Cpus]);
        let (o, errors) = Overrides::from_query([("cpus", "auto")]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(o.apply(&saved).cpus, None);
        for bad in ["9", "0", "many", ""] {
            let (o, errors) = Overrides::from_query([("cpus", bad)]);
            assert_eq!(o.cpus, None, "{bad}");
            assert_eq!(o.apply(&saved).cpus, Some(3), "{bad}");
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(
                errors[0].starts_with(&format!("URL parameter cpus={bad:?} is ignored: ")),
                "{errors:?}"
            );
        }
    }

    #[test]
    fn the_relay_is_a_websocket_url_or_nothing() {
        assert_eq!(check_relay(""), Ok(()));
        assert_eq!(check_relay(" ws://127.0.0.1:8081/ "), Ok(()));
        assert_eq!(check_relay("wss://relay.example/wisp/"), Ok(()));
        for bad in [
            "http://relay.example/",
            "relay.example:8081",
            "ws://",
            "ws://:80/",
            "ws://a b/",
        ] {
            assert!(check_relay(bad).is_err(), "{bad}");
        }
        let (o, errors) = Overrides::from_query([("relay", "ws://127.0.0.1:8081/")]);
        assert!(errors.is_empty());
        let s = o.apply(&Settings::default());
        assert_eq!(s.relay_url(), Some("ws://127.0.0.1:8081/"));
        assert_eq!(o.fields(), vec![Field::Relay]);
        let (o, errors) = Overrides::from_query([("relay", "ftp://x")]);
        assert_eq!(o.relay, None);
        assert!(errors[0].contains("ws://"), "{errors:?}");
        assert_eq!(Settings::default().relay_url(), None);
    }

    #[test]
    fn url_overrides_the_saved_settings() {
        let saved = Settings {
            memory_mib: 256,
            theme: Theme::Light,
            ..Settings::default()
        };
        let (o, errors) = Overrides::from_query([
            ("embed", ""),
            ("memory", "64"),
            ("font-size", "huge"),
            ("append", "quiet"),
            ("disk", "none"),
            ("disk", "floppy"),
            ("disk-size", "3"),
            ("preempt", "off"),
            ("preempt", "sometimes"),
        ]);
        assert_eq!(errors.len(), 3);
        assert!(
            errors[2].contains("preempt must be off or on"),
            "{errors:?}"
        );
        assert!(errors[1].contains("disk must be none or on"), "{errors:?}");
        assert!(errors[0].contains("font-size=\"huge\""), "{errors:?}");
        let s = o.apply(&saved);
        assert_eq!(s.memory_mib, 64);
        assert_eq!(s.theme, Theme::Light);
        assert_eq!(s.font_size, 14);
        assert!(s.ram_only);
        assert!(s.no_preempt);
        assert_eq!(s.disk_bytes(), 3 << 30);
        assert!(
            !from_stored(&to_stored(&s)).0.ram_only,
            "disk=none is never saved"
        );
        assert!(
            !from_stored(&to_stored(&s)).0.no_preempt,
            "preempt=off is never saved"
        );
        assert_eq!(s.bootargs(), format!("{DEFAULT_BOOTARGS} quiet"));
        assert_eq!(
            o.fields(),
            vec![Field::Memory, Field::Cmdline, Field::DiskSize]
        );

        // cmdline= replaces, and wins over append= in either order.
        for q in [
            [("cmdline", "console=hvc0"), ("append", "quiet")],
            [("append", "quiet"), ("cmdline", "console=hvc0")],
        ] {
            let (o, errors) = Overrides::from_query(q);
            assert_eq!(o.apply(&saved).bootargs(), "console=hvc0");
            assert_eq!(errors.len(), 1, "{errors:?}");
        }
    }

    #[test]
    fn stored_settings_round_trip_and_bad_ones_fall_back() {
        let s = Settings {
            memory_mib: 512,
            cpus: Some(2),
            cmdline_mode: CmdlineMode::Replace,
            cmdline: "console=hvc0".into(),
            disk_gib: 4,
            relay: "wss://relay.example/wisp/".into(),
            theme: Theme::Light,
            font_size: 18,
            ram_only: false,
            no_preempt: false,
        };
        assert_eq!(from_stored(&to_stored(&s)), (s, None));
        let (s, why) = from_stored(r#"{"relay": "http://x/"}"#);
        assert_eq!(s.relay, "");
        assert!(why.unwrap().contains("ws://"));
        let (s, why) = from_stored(r#"{"memory_mib": 99999, "theme": "light"}"#);
        assert_eq!(s.memory_mib, 128);
        assert_eq!(s.theme, Theme::Light);
        assert!(why.unwrap().contains("99999"));
        let (s, why) = from_stored(r#"{"cpus": 12, "memory_mib": 256}"#);
        assert_eq!((s.cpus, s.memory_mib), (None, 256));
        assert!(why.unwrap().contains("CPUs"));
        assert_eq!(from_stored(r#"{"cpus": null}"#).0.cpus, None);
        let (s, why) = from_stored(r#"{"disk_gib": 0}"#);
        assert_eq!(s.disk_gib, 1);
        assert!(why.unwrap().contains("disk's size"));
        let (s, why) = from_stored("not json");
        assert_eq!(s, Settings::default());
        assert!(why.unwrap().contains("could not be read"));
    }
}
