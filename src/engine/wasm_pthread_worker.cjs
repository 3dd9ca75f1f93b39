// Thread worker for tfjs's multi-threaded wasm build, started by Node's worker_threads.
// tfjs ships the Emscripten worker script only as a string and hands it to `new Worker` as a
// blob: URL, which Node cannot load; this file on disk runs that same string as a CommonJS script.
'use strict';
const { wasmWorkerContents } = require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js');
// The string's newlines sit inside string literals (tfjs escapes them the same way for its blob).
new Function('require', '__filename', wasmWorkerContents.replace(/\n/g, '\\n'))(require, __filename);
