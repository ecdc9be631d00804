// The kernel worker's entry script (one worker per kernel task): loads wasm-bindgen's glue
// (worker.js) and the worker module (worker_bg.wasm), whose start function takes over.
//
// Ours rather than trunk's generated loader shim so that a failed start is not lost as an
// unhandled rejection: the page only hears of errors thrown, as the worker's `error` event.
// The usual cause is the browser refusing memory for one more WebAssembly instance.
//
// A fetch that fails at the network level (Firefox's "NetworkError when attempting to fetch
// resource", e.g. a connection the server closed as it was reused) is tried again twice:
// the machine should not stop because one request of its own code was lost on the way.
const TRIES = 3;
const PAUSE_MS = 200;

function load(attempt) {
  // worker.js declares `wasm_bindgen`; a second import of it would be a redeclaration.
  if (typeof wasm_bindgen === "undefined") {
    try {
      importScripts("./worker.js");
    } catch (e) {
      return retryOrFail(attempt, e);
    }
  }
  wasm_bindgen({ module_or_path: "./worker_bg.wasm" }).catch((e) => retryOrFail(attempt, e));
}

function retryOrFail(attempt, e) {
  // Only network failures are worth a second try; a refused instance (out of memory) is not.
  const network = e instanceof TypeError || (e && e.name === "NetworkError");
  if (network && attempt + 1 < TRIES) {
    setTimeout(() => load(attempt + 1), PAUSE_MS * (attempt + 1));
    return;
  }
  setTimeout(() => {
    throw new Error(`the kernel worker could not start: ${e}`);
  });
}

load(0);
