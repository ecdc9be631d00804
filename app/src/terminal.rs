//! The terminal (xterm.js through xterm-js-rs). It uses xterm's DOM renderer with screen-reader
//! mode on, so what it shows is text in the DOM: readable by screen readers and by the
//! end-to-end tests. The kernel's console bytes are written as they come (`convertEol` turns
//! its `\n` into CR LF); the host writes only plain status lines about itself, marked
//! `alpenglow:` — never anything that looks like kernel output.

use js_sys::Uint8Array;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::HtmlElement;
use xterm_js_rs::addons::fit::FitAddon;
use xterm_js_rs::{Terminal, TerminalAddon, TerminalOptions, Theme};

#[wasm_bindgen]
extern "C" {
    /// The xterm `Terminal`, seen for `write(data: string | Uint8Array)`: xterm 5/6 take
    /// UTF-8 bytes through `write` (xterm-js-rs's `write_utf8` names the xterm 4 method,
    /// which is gone).
    type ByteTerminal;
    #[wasm_bindgen(method, catch, js_name = write)]
    fn write_data(this: &ByteTerminal, data: &Uint8Array) -> Result<(), JsValue>;
}

/// An open terminal; dropping it leaves the terminal on the page (the page lives as long).
pub struct Console {
    term: Terminal,
    fit: Rc<FitAddon>,
    _on_resize: Closure<dyn FnMut()>,
}

fn theme() -> Theme {
    let t = Theme::new();
    t.set_background("#0d1117");
    t.set_foreground("#d6dde6");
    t.set_cursor("#f0a868");
    t.set_selection("#3a4a63");
    t.set_black("#1b2230");
    t.set_red("#ff7b72");
    t.set_green("#7ee787");
    t.set_yellow("#f2cc60");
    t.set_blue("#79c0ff");
    t.set_magenta("#d2a8ff");
    t.set_cyan("#76e3ea");
    t.set_white("#d6dde6");
    t.set_bright_black("#6e7681");
    t
}

impl Console {
    /// Opens a terminal inside `parent`, sized to fit it.
    pub fn open(parent: HtmlElement) -> Console {
        let opts = TerminalOptions::new();
        opts.set_font_size(14);
        opts.set_font_family("ui-monospace, 'DejaVu Sans Mono', 'Cascadia Mono', Menlo, monospace");
        opts.set_cursor_blink(false);
        opts.set_convert_eol(true);
        opts.set_screen_reader_mode(true);
        opts.set_scrollback(5000);
        // Nothing reads keyboard input until the kernel's console is connected.
        opts.set_disable_stdin(true);
        opts.set_theme(&theme());

        let term = Terminal::new(&opts);
        let fit = Rc::new(FitAddon::new());
        let addon: &JsValue = &fit;
        term.load_addon(addon.clone().unchecked_into::<TerminalAddon>());
        term.open(parent);
        fit.fit();

        let refit = fit.clone();
        let on_resize = Closure::<dyn FnMut()>::new(move || refit.fit());
        if let Some(w) = web_sys::window() {
            let _ =
                w.add_event_listener_with_callback("resize", on_resize.as_ref().unchecked_ref());
        }
        Console {
            term,
            fit,
            _on_resize: on_resize,
        }
    }

    /// Writes a host status line, dimmed and marked as coming from the page, not the kernel.
    pub fn host_status(&self, text: &str) {
        self.term
            .writeln(&format!("\x1b[38;5;215malpenglow:\x1b[0m {text}"));
    }

    /// Kernel console output, UTF-8 (xterm decodes sequences split across writes). xterm
    /// parses later, so it gets its own copy of the bytes.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub fn write_bytes(&self, bytes: &[u8]) {
        if let Err(e) = self
            .term
            .unchecked_ref::<ByteTerminal>()
            .write_data(&Uint8Array::from(bytes))
        {
            web_sys::console::error_2(&"alpenglow: terminal write failed".into(), &e);
        }
    }

    /// Clears the screen and the scrollback (before a reboot).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub fn reset(&self) {
        self.term.reset();
    }

    pub fn fit(&self) {
        self.fit.fit();
    }
}
