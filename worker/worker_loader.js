// The kernel worker's entry script (one worker per kernel task): loads wasm-bindgen's glue
// (worker.js) and the worker module (worker_bg.wasm), whose start function takes over.
//
// The page compiles worker_bg.wasm once and sends the WebAssembly.Module as this worker's
// first message (or null when it has none): instantiating a compiled module is what a worker
// start should cost, not a fetch and a compile of its own. Fetching and compiling here is the
// fallback. A worker started at the boot took 0.7-1.2 s to reach its start function when 26
// of them fetched and compiled at once, and 80-170 ms alone.
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
const MODULE_PATH = "./worker_bg.wasm";

function load(attempt, module) {
  // worker.js declares `wasm_bindgen`; a second import of it would be a redeclaration.
  if (typeof wasm_bindgen === "undefined") {
    try {
      importScripts("./worker.js");
    } catch (e) {
      return retryOrFail(attempt, module, e);
    }
  }
  wasm_bindgen({ module_or_path: module })
    .then(() => {
      const waiting = early;
      early = null;
      for (const event of waiting) self.onmessage(event);
    })
    .catch((e) => retryOrFail(attempt, module, e));
}

function retryOrFail(attempt, module, e) {
  // Only network failures are worth a second try; a refused instance (out of memory) is not.
  const network = e instanceof TypeError || (e && e.name === "NetworkError");
  if (network && attempt + 1 < TRIES) {
    setTimeout(() => load(attempt + 1, module), PAUSE_MS * (attempt + 1));
    return;
  }
  setTimeout(() => {
    throw new Error(`the kernel worker could not start: ${e}`);
  });
}

// The first message is the page's compiled module. The page sends the next ones (`Init`,
// programs) at once, without waiting for the worker to say it loaded: they wait here until
// the worker's own handler, which its start function installs, takes them in order. No
// message event runs between that start function and the `then` below (one microtask).
let workerModule; // the first message, once it came
let early = []; // the later ones, until the worker's handler has them
self.onmessage = (event) => {
  if (workerModule === undefined) {
    workerModule = event.data instanceof WebAssembly.Module ? event.data : MODULE_PATH;
    load(0, workerModule);
  } else {
    early.push(event);
  }
};
