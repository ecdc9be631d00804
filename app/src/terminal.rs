//! The terminal (xterm.js through xterm-js-rs). It uses xterm's DOM renderer with screen-reader
//! mode on, so what it shows is text in the DOM: readable by screen readers and by the
//! end-to-end tests. The kernel's console bytes are written as they come (`convertEol` turns
//! its `\n` into CR LF); the host writes only plain status lines about itself, marked
//! `alpenglow:` — never anything that looks like kernel output.
//!
//! Keys: Ctrl-Shift-C (Cmd-C on a Mac, Ctrl-Insert) copies the selection; Ctrl-Shift-V
//! (Cmd-V, Shift-Insert), the browser's Paste and a paste into the terminal give the clipboard
//! to xterm, which hands it on like typed text. The terminal fits its box whenever the box
//! changes size (window, panels, font).
//!
//! `Terminal` owns the page's console: it holds the open xterm once the view has put its
//! element on the page; everything else (the machine's output, focus, look) goes through it.

use crate::settings::Theme as ThemeName;
use js_sys::{Object, Reflect, Uint8Array};
use leptos::prelude::{Get, RwSignal, Set};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{HtmlElement, KeyboardEvent, ResizeObserver};
use xterm_js_rs::addons::fit::FitAddon;
use xterm_js_rs::{Terminal as XTerm, TerminalAddon, TerminalOptions};

#[wasm_bindgen]
extern "C" {
    /// The xterm `Terminal`, seen for what xterm 5/6 have and xterm-js-rs (written for
    /// xterm 4) lacks or names differently: `write(Uint8Array)` (xterm 4's `writeUtf8` is
    /// gone) and the live `options` object (`setOption` is gone).
    type ModernTerminal;
    #[wasm_bindgen(method, catch, js_name = write)]
    fn write_data(this: &ModernTerminal, data: &Uint8Array) -> Result<(), JsValue>;
    #[wasm_bindgen(method, getter)]
    fn options(this: &ModernTerminal) -> Object;
}

/// How the terminal looks: the settings that apply without a reboot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Look {
    pub theme: ThemeName,
    pub font_size: u32,
}

/// An open terminal; dropping it leaves the terminal on the page (the page lives as long).
pub struct Console {
    term: XTerm,
    fit: Rc<FitAddon>,
    _on_resize: Closure<dyn FnMut()>,
    _observer: Option<ResizeObserver>,
    _on_key: Closure<dyn FnMut(KeyboardEvent) -> bool>,
    _callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
}

/// xterm's theme object (xterm 5+ names: `selectionBackground`).
fn theme(name: ThemeName) -> JsValue {
    let colors: &[(&str, &str)] = match name {
        ThemeName::Dark => &[
            ("background", "#0d1117"),
            ("foreground", "#d6dde6"),
            ("cursor", "#f0a868"),
            ("cursorAccent", "#0d1117"),
            ("selectionBackground", "#3a4a63"),
            ("black", "#1b2230"),
            ("red", "#ff7b72"),
            ("green", "#7ee787"),
            ("yellow", "#f2cc60"),
            ("blue", "#79c0ff"),
            ("magenta", "#d2a8ff"),
            ("cyan", "#76e3ea"),
            ("white", "#d6dde6"),
            ("brightBlack", "#6e7681"),
        ],
        ThemeName::Light => &[
            ("background", "#fbfaf7"),
            ("foreground", "#1f2328"),
            ("cursor", "#c4551c"),
            ("cursorAccent", "#fbfaf7"),
            ("selectionBackground", "#c9dcf5"),
            ("black", "#1f2328"),
            ("red", "#c2261c"),
            ("green", "#1a7f37"),
            ("yellow", "#8a6100"),
            ("blue", "#0b5cc2"),
            ("magenta", "#8239c2"),
            ("cyan", "#0f7380"),
            ("white", "#6e7781"),
            ("brightBlack", "#57606a"),
            ("brightWhite", "#8c959f"),
        ],
    };
    let t = Object::new();
    for (k, v) in colors {
        let _ = Reflect::set(&t, &(*k).into(), &(*v).into());
    }
    t.into()
}

fn set(obj: &Object, key: &str, value: JsValue) {
    let _ = Reflect::set(obj, &key.into(), &value);
}

/// Puts `text` on the clipboard (a user gesture: the key press).
fn copy_to_clipboard(text: String) {
    let Some(w) = web_sys::window() else { return };
    let clipboard = w.navigator().clipboard();
    let promise = clipboard.write_text(&text);
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = wasm_bindgen_futures::JsFuture::from(promise).await {
            web_sys::console::warn_2(&"alpenglow: copying to the clipboard failed".into(), &e);
        }
    });
}

/// Which clipboard shortcut a key press is, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortcut {
    Copy,
    Paste,
}

/// Ctrl-Shift-C/V (Linux, Windows terminals), Cmd-C/V (Mac), Ctrl-Insert/Shift-Insert. Plain
/// Ctrl-C and Ctrl-V stay the terminal's (interrupt, literal next).
pub fn shortcut(key: &str, ctrl: bool, shift: bool, meta: bool, alt: bool) -> Option<Shortcut> {
    if alt {
        return None;
    }
    let k = key.to_ascii_lowercase();
    match (k.as_str(), ctrl, shift, meta) {
        ("c", true, true, false) | ("c", false, false, true) | ("insert", true, false, false) => {
            Some(Shortcut::Copy)
        }
        ("v", true, true, false) | ("v", false, false, true) | ("insert", false, true, false) => {
            Some(Shortcut::Paste)
        }
        _ => None,
    }
}

impl Console {
    /// Opens a terminal inside `parent`, sized to fit it.
    pub fn open(parent: HtmlElement, look: Look) -> Console {
        let opts = TerminalOptions::new();
        opts.set_font_size(look.font_size);
        opts.set_font_family("ui-monospace, 'DejaVu Sans Mono', 'Cascadia Mono', Menlo, monospace");
        opts.set_cursor_blink(false);
        opts.set_convert_eol(true);
        opts.set_screen_reader_mode(true);
        opts.set_scrollback(5000);
        set(opts.unchecked_ref(), "theme", theme(look.theme));

        let term = XTerm::new(&opts);
        let fit = Rc::new(FitAddon::new());
        let addon: &JsValue = &fit;
        term.load_addon(addon.clone().unchecked_into::<TerminalAddon>());
        term.open(parent.clone());
        fit.fit();

        // The box changes size with the window, the card above it and the font: refit.
        let refit = fit.clone();
        let on_resize = Closure::<dyn FnMut()>::new(move || refit.fit());
        let observer = ResizeObserver::new(on_resize.as_ref().unchecked_ref()).ok();
        if let Some(o) = &observer {
            o.observe(&parent);
        } else if let Some(w) = web_sys::window() {
            let _ =
                w.add_event_listener_with_callback("resize", on_resize.as_ref().unchecked_ref());
        }

        let for_keys: XTerm = JsValue::clone(&term).unchecked_into();
        let on_key = Closure::<dyn FnMut(KeyboardEvent) -> bool>::new(move |ev: KeyboardEvent| {
            let Some(cut) = shortcut(
                &ev.key(),
                ev.ctrl_key(),
                ev.shift_key(),
                ev.meta_key(),
                ev.alt_key(),
            ) else {
                return true;
            };
            match cut {
                Shortcut::Copy => {
                    if ev.type_() == "keydown" && for_keys.has_selection() {
                        copy_to_clipboard(for_keys.get_selection());
                        ev.prevent_default();
                    }
                }
                // Not handled by xterm: the browser then pastes into xterm's text area,
                // and xterm hands the text on (bracketed if the program asked for that).
                Shortcut::Paste => {}
            }
            false
        });
        term.attach_custom_key_event_handler(on_key.as_ref().unchecked_ref());
        let mut console = Console {
            term,
            fit,
            _on_resize: on_resize,
            _observer: observer,
            _on_key: on_key,
            _callbacks: Vec::new(),
        };
        // The size in characters, on the element for embedders and tests to read.
        let show = |el: &HtmlElement, cols: u16, rows: u16| {
            let _ = el.set_attribute("data-cols", &cols.to_string());
            let _ = el.set_attribute("data-rows", &rows.to_string());
        };
        let (cols, rows) = console.size();
        show(&parent, cols, rows);
        console.on_resize(move |cols, rows| show(&parent, cols, rows));
        console
    }

    /// Applies a new theme and font size at once.
    pub fn set_look(&self, look: Look) {
        let options = self.term.unchecked_ref::<ModernTerminal>().options();
        set(&options, "theme", theme(look.theme));
        set(&options, "fontSize", JsValue::from(look.font_size));
        self.fit.fit();
    }

    /// Writes a host status line, dimmed and marked as coming from the page, not the kernel.
    pub fn host_status(&self, text: &str) {
        self.term
            .writeln(&format!("\x1b[38;5;215malpenglow:\x1b[0m {text}"));
    }

    /// Kernel console output, UTF-8 (xterm decodes sequences split across writes). xterm
    /// parses later, so it gets its own copy of the bytes.
    pub fn write_bytes(&self, bytes: &[u8]) {
        if let Err(e) = self
            .term
            .unchecked_ref::<ModernTerminal>()
            .write_data(&Uint8Array::from(bytes))
        {
            web_sys::console::error_2(&"alpenglow: terminal write failed".into(), &e);
        }
    }

    /// Clears the screen and the scrollback (before a reboot).
    pub fn reset(&self) {
        self.term.reset();
    }

    pub fn fit(&self) {
        self.fit.fit();
    }

    /// Gives the terminal the keyboard.
    pub fn focus(&self) {
        self.term.focus();
    }

    /// Calls `f` with what the person types or pastes (UTF-8; xterm brackets a paste when
    /// the program asked for bracketed paste) and with xterm's binary reports (one byte per
    /// character).
    pub fn on_input(&mut self, f: impl Fn(&[u8]) + 'static) {
        let f = Rc::new(f);
        let text = f.clone();
        let on_data = Closure::<dyn FnMut(JsValue)>::new(move |data: JsValue| {
            if let Some(t) = data.as_string() {
                text(t.as_bytes());
            }
        });
        let on_binary = Closure::<dyn FnMut(JsValue)>::new(move |data: JsValue| {
            if let Some(t) = data.as_string() {
                let bytes: Vec<u8> = t.chars().map(|c| c as u32 as u8).collect();
                f(&bytes);
            }
        });
        self.term.on_data(on_data.as_ref().unchecked_ref());
        self.term.on_binary(on_binary.as_ref().unchecked_ref());
        self._callbacks.push(on_data);
        self._callbacks.push(on_binary);
    }

    /// Calls `f(cols, rows)` whenever the terminal's size in characters changes.
    pub fn on_resize(&mut self, f: impl Fn(u16, u16) + 'static) {
        let clamp = |v: JsValue| v.as_f64().map_or(0, |n| n.clamp(0.0, 65535.0) as u16);
        let on_resize = Closure::<dyn FnMut(JsValue)>::new(move |size: JsValue| {
            let get = |k: &str| Reflect::get(&size, &k.into()).unwrap_or(JsValue::UNDEFINED);
            f(clamp(get("cols")), clamp(get("rows")));
        });
        self.term.on_resize(on_resize.as_ref().unchecked_ref());
        self._callbacks.push(on_resize);
    }

    /// The terminal's size in character cells.
    pub fn size(&self) -> (u16, u16) {
        let clamp = |n: u32| u16::try_from(n).unwrap_or(u16::MAX);
        (clamp(self.term.get_cols()), clamp(self.term.get_rows()))
    }
}

/// The page's terminal: owns the console once it is open.
pub struct Terminal {
    console: RefCell<Option<Console>>,
    /// A console is open (tracked: the first boot waits for it).
    open: RwSignal<bool>,
}

impl Terminal {
    pub fn new() -> Terminal {
        Terminal {
            console: RefCell::new(None),
            open: RwSignal::new(false),
        }
    }

    /// Opens the console in `parent` (the terminal view's element), lets `setup` wire it and
    /// write its first lines, then keeps it.
    pub fn open(&self, parent: HtmlElement, look: Look, setup: impl FnOnce(&mut Console)) {
        let mut console = Console::open(parent, look);
        setup(&mut console);
        *self.console.borrow_mut() = Some(console);
        self.open.set(true);
    }

    /// Whether a console is open (tracked).
    pub fn is_open(&self) -> bool {
        self.open.get()
    }

    /// Runs `f` on the console if it is open.
    pub fn with(&self, f: impl FnOnce(&Console)) {
        if let Some(c) = self.console.borrow().as_ref() {
            f(c)
        }
    }

    /// Gives the terminal the keyboard.
    pub fn focus(&self) {
        self.with(Console::focus);
    }

    /// A host status line (see `Console::host_status`).
    pub fn host_status(&self, text: &str) {
        self.with(|c| c.host_status(text));
    }

    /// The terminal's size in characters, if it is open.
    pub fn size(&self) -> Option<(u16, u16)> {
        self.console.borrow().as_ref().map(Console::size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipboard_shortcuts_leave_the_terminal_keys_alone() {
        assert_eq!(
            shortcut("C", true, true, false, false),
            Some(Shortcut::Copy)
        );
        assert_eq!(
            shortcut("c", false, false, true, false),
            Some(Shortcut::Copy)
        );
        assert_eq!(
            shortcut("Insert", true, false, false, false),
            Some(Shortcut::Copy)
        );
        assert_eq!(
            shortcut("V", true, true, false, false),
            Some(Shortcut::Paste)
        );
        assert_eq!(
            shortcut("Insert", false, true, false, false),
            Some(Shortcut::Paste)
        );
        // Ctrl-C is SIGINT, Ctrl-V literal-next, Ctrl-Alt-C someone else's.
        assert_eq!(shortcut("c", true, false, false, false), None);
        assert_eq!(shortcut("v", true, false, false, false), None);
        assert_eq!(shortcut("c", true, true, false, true), None);
    }
}
