//! Keys and pointer moves as WebDriver input actions (the same key codes as classic
//! WebDriver: modifiers stay down until [`NULL`] or the end of the text).

use serde_json::{json, Value};

/// Releases every modifier key held down.
pub const NULL: char = '\u{E000}';
pub const ENTER: char = '\u{E007}';
pub const SHIFT: char = '\u{E008}';
pub const CONTROL: char = '\u{E009}';
pub const ALT: char = '\u{E00A}';
pub const ESCAPE: char = '\u{E00C}';
pub const META: char = '\u{E03D}';

fn press(out: &mut Vec<Value>, c: char) {
    out.push(json!({ "type": "keyDown", "value": c.to_string() }));
    out.push(json!({ "type": "keyUp", "value": c.to_string() }));
}

/// The key actions that type `text`: `\n` is Enter; a control character (`\u{3}`) is typed
/// as a person does, Control and its letter (Ctrl-C); modifiers are held until [`NULL`].
pub fn key_actions(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut held: Vec<char> = Vec::new();
    let release = |out: &mut Vec<Value>, held: &mut Vec<char>| {
        while let Some(k) = held.pop() {
            out.push(json!({ "type": "keyUp", "value": k.to_string() }));
        }
    };
    for c in text.chars() {
        match c {
            NULL => release(&mut out, &mut held),
            SHIFT | CONTROL | ALT | META => {
                if !held.contains(&c) {
                    out.push(json!({ "type": "keyDown", "value": c.to_string() }));
                    held.push(c);
                }
            }
            '\n' | '\r' => press(&mut out, ENTER),
            '\u{1}'..='\u{1a}' if c != '\t' => {
                let letter = char::from(b'a' + (c as u8) - 1);
                out.push(json!({ "type": "keyDown", "value": CONTROL.to_string() }));
                press(&mut out, letter);
                out.push(json!({ "type": "keyUp", "value": CONTROL.to_string() }));
            }
            c => press(&mut out, c),
        }
    }
    release(&mut out, &mut held);
    out
}

/// A key input source with `actions`.
pub fn keyboard(actions: Vec<Value>) -> Value {
    json!({ "type": "key", "id": "keyboard", "actions": actions })
}

/// A mouse input source with `actions`.
pub fn mouse(actions: Vec<Value>) -> Value {
    json!({ "type": "pointer", "id": "mouse", "parameters": { "pointerType": "mouse" },
            "actions": actions })
}

/// A pointer move to (`x`, `y`) in the viewport, taking `ms` milliseconds.
pub fn move_to(x: f64, y: f64, ms: u64) -> Value {
    json!({ "type": "pointerMove", "x": x.round() as i64, "y": y.round() as i64,
            "duration": ms, "origin": "viewport" })
}

pub fn button(down: bool) -> Value {
    json!({ "type": if down { "pointerDown" } else { "pointerUp" }, "button": 0 })
}

/// A wheel source scrolling by (`dx`, `dy`) pixels at (`x`, `y`).
pub fn wheel(x: i64, y: i64, dx: i64, dy: i64) -> Value {
    json!({ "type": "wheel", "id": "wheel", "actions": [
        { "type": "scroll", "x": x, "y": y, "deltaX": dx, "deltaY": dy, "origin": "viewport" }
    ]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        key_actions(text)
            .iter()
            .map(|a| {
                let v = a["value"].as_str().unwrap_or("");
                let name = match v.chars().next() {
                    Some(CONTROL) => "Ctrl".to_string(),
                    Some(ENTER) => "Enter".to_string(),
                    _ => v.to_string(),
                };
                format!("{}{name}", if a["type"] == "keyDown" { "+" } else { "-" })
            })
            .collect()
    }

    #[test]
    fn control_characters_are_typed_with_control() {
        assert_eq!(keys("\u{3}"), ["+Ctrl", "+c", "-c", "-Ctrl"]);
        assert_eq!(keys("a\n"), ["+a", "-a", "+Enter", "-Enter"]);
    }

    #[test]
    fn modifiers_are_held_until_null() {
        let t = format!("{CONTROL}o{NULL}t");
        assert_eq!(keys(&t), ["+Ctrl", "+o", "-o", "-Ctrl", "+t", "-t"]);
        assert_eq!(keys(&format!("{CONTROL}x")), ["+Ctrl", "+x", "-x", "-Ctrl"]);
    }
}
