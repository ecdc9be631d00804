//! Building import objects and reading exports, for vmlinux (`vmlinux.rs`) and for programs
//! (`memories.rs`).

use js_sys::{Object, Reflect};
use kernel_host::browser::js_error_message;
use wasm_bindgen::JsValue;

/// `obj[key] = value`.
pub fn set(obj: &Object, key: &str, value: &JsValue) -> Result<(), String> {
    Reflect::set(obj, &key.into(), value)
        .map(drop)
        .map_err(|e| format!("building the imports: {}", js_error_message(&e)))
}

/// The export `name` of an instance's `exports`; `module` names the module in the error.
pub fn export(exports: &Object, module: &str, name: &str) -> Result<JsValue, String> {
    Reflect::get(exports, &name.into())
        .ok()
        .filter(|v| !v.is_undefined())
        .ok_or_else(|| format!("{module} does not export {name}"))
}
