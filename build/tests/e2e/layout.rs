//! The page around the terminal (issue 12): while the machine runs the terminal fills the
//! window, and the machine card is folded into the status bar, whose Machine button opens it
//! over the terminal; Escape folds it again and the terminal has the keyboard back.

use crate::boot::import_export_counts;
use crate::common::*;
use alpenglow_build::browser::{Kind, Session};
use alpenglow_build::serve::Server;

in_browsers!(the_terminal_fills_the_window_and_the_machine_card_opens_from_the_status_bar: chromium, firefox);

/// The window of the "Done when".
const WINDOW: (u32, u32) = (1200, 800);

/// The terminal's height and the window's (the viewport's), in CSS pixels.
fn terminal_height(c: &Session) -> (f64, f64) {
    let v = js(
        c,
        "const e = document.querySelector('.terminal-wrap'); \
         return [e ? e.getBoundingClientRect().height : 0, window.innerHeight, window.innerWidth];",
    );
    let (term, height, width) = (
        v[0].as_f64().unwrap_or(0.0),
        v[1].as_f64().unwrap_or(0.0),
        v[2].as_f64().unwrap_or(0.0),
    );
    eprintln!("the terminal is {term} px high in a {width}×{height} window");
    (term, height)
}

fn the_terminal_fills_the_window_and_the_machine_card_opens_from_the_status_bar(kind: Kind) {
    let site = site();
    let server = Server::start(&site, "127.0.0.1", 0).expect("serve the site");
    let url = server.url();
    let c = browser(kind);
    c.set_viewport(WINDOW.0, WINDOW.1)
        .expect("a 1200×800 window");
    goto(&c, &url);
    wait_until_started(&c);
    wait_for_prompt(&c);
    assert_eq!(page_state(&c), "running");

    // The machine runs: its card is folded into the status bar, the terminal has the room.
    let (term, window) = terminal_height(&c);
    assert_eq!(window, f64::from(WINDOW.1), "the window's height");
    screenshot(&c, "layout-running.png");
    assert!(
        term > 0.6 * window,
        "the terminal takes {term} px of a {window} px high window"
    );
    assert_eq!(
        attr(&c, "button.machine-toggle", "aria-expanded").as_deref(),
        Some("false")
    );
    assert!(!is_displayed(&c, ".kernel-counts"), "the card is folded");
    assert!(
        is_displayed(&c, ".statusbar button.reboot"),
        "Reboot stays at hand"
    );

    // The Machine button opens the card over the terminal (which keeps its size); it shows
    // what only the card shows, the kernel module's imports and exports.
    open_machine_card(&c);
    let wasm = std::fs::read(site.join("dist/vmlinux.wasm")).expect("read vmlinux.wasm");
    let (imports, exports) = import_export_counts(&wasm);
    assert_eq!(
        text_of(&c, "#machine .kernel-counts"),
        format!("{imports} imports · {exports} exports")
    );
    assert_eq!(text_of(&c, "#machine .compiled-head h1"), "Running");
    assert_eq!(
        terminal_height(&c).0,
        term,
        "the card opens over the terminal"
    );
    screenshot(&c, "layout-machine-card.png");

    // Escape folds it and gives the terminal the keyboard: what is typed now, without a
    // click, reaches the shell (the output is computed, so the typed line cannot match).
    fold_machine_card(&c);
    press(&c, "echo ok-$((6*7))\n");
    wait_for_line(&c, "the shell's answer", |l| l == "ok-42");
}
