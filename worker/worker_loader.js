// The kernel worker's entry script (one worker per kernel task): loads wasm-bindgen's glue
// (worker.js) and the worker module (worker_bg.wasm), whose start function takes over.
//
// Ours rather than trunk's generated loader shim so that a failed start is not lost as an
// unhandled rejection: the page only hears of errors thrown, as the worker's `error` event.
// The usual cause is the browser refusing memory for one more WebAssembly instance.
importScripts("./worker.js");
wasm_bindgen({ module_or_path: "./worker_bg.wasm" }).catch((e) => {
  setTimeout(() => {
    throw new Error(`the kernel worker could not start: ${e}`);
  });
});
