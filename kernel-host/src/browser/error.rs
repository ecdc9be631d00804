//! What a JS exception or rejection value says, for messages and the developer console.

use wasm_bindgen::{JsCast, JsValue};

/// A readable message for a JS exception or rejection value: `"RuntimeError: unreachable"`.
pub fn js_error_message(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        let name = String::from(err.name());
        let message = String::from(err.message());
        return match (name.is_empty(), message.is_empty()) {
            (false, false) => format!("{name}: {message}"),
            (false, true) => name,
            _ => message,
        };
    }
    if let Some(s) = e.as_string() {
        return s;
    }
    js_sys::JSON::stringify(e)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_else(|| "an exception that is not an Error".to_string())
}

/// The exception's stack, if the engine gave it one (with wasm function names from the
/// kernel's name section).
pub fn js_error_stack(e: &JsValue) -> Option<String> {
    let stack = js_sys::Reflect::get(e, &"stack".into()).ok()?.as_string()?;
    (!stack.is_empty()).then_some(stack)
}
