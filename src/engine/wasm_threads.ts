/**
 * Multi-threaded tfjs wasm backend in Node.
 *
 * tfjs-backend-wasm 4.22.0 ships a threaded build (XNNPACK on a pthread pool) but never uses it in
 * Node: its feature check answers "no threads" for Node, and its start-up code hands Emscripten
 * the pthread worker and the main script as blob: URLs, which Node's worker_threads cannot load.
 * We start that same build ourselves with files on disk:
 *   - the worker is `wasm_pthread_worker.cjs` (runs the worker script tfjs ships as a string),
 *   - the main script is the package's own `wasm-out/tfjs-backend-wasm-threaded-simd.js`,
 *   - the module is told twice the real CPU count while it starts, because the compiled code caps
 *     its pool at half the logical cores (one thread on a 2-core machine),
 * and register the result as the 'wasm' backend, so every wasm kernel (ours included) runs on it.
 * This leans on 4.22.0 internals (the package is pinned); any failure falls back to the stock
 * single-threaded backend.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import * as wasmBackend from '@tensorflow/tfjs-backend-wasm';
import { projectRoot } from '../util/paths.js';

const require = createRequire(import.meta.url);

/** The cwrapped entry points BackendWasm expects on `module.tfjs` (as tfjs's own init sets them). */
interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  tfjs?: Record<string, (...a: number[]) => number>;
  PThread?: { runningWorkers: NodeWorker[]; unusedWorkers: NodeWorker[] };
}
interface NodeWorker {
  unref(): void;
}
type ModuleFactory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

function workerScriptPath(): string {
  const path = join(projectRoot(), 'src', 'engine', 'wasm_pthread_worker.cjs');
  if (!existsSync(path)) throw new Error(`wasm thread worker script missing: ${path}`);
  return path;
}

function attachTfjsBridge(module: EmscriptenModule): void {
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
}

/** Runs `start` while os.cpus() reports every core twice (see the module comment). */
async function withDoubledCpuCount<T>(start: () => Promise<T>): Promise<T> {
  const realCpus = os.cpus;
  os.cpus = () => {
    const cpus = realCpus();
    return [...cpus, ...cpus];
  };
  try {
    return await start();
  } finally {
    os.cpus = realCpus;
  }
}

async function createThreadedBackend(threads: number, workerScript?: string): Promise<tf.KernelBackend> {
  const mainScript = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const wasmDir = dirname(mainScript);
  const worker = workerScript ?? workerScriptPath();
  if (!existsSync(worker)) throw new Error(`wasm thread worker script missing: ${worker}`);
  const factory = require(mainScript) as ModuleFactory;
  const events: string[] = ['uncaughtException', 'unhandledRejection'];
  const listeners = (e: string) => process.listeners(e as 'uncaughtException') as unknown[];
  const before = events.map(listeners);
  const module = await withDoubledCpuCount(() =>
    factory({
      locateFile: (file: string) => (file.endsWith('.worker.js') ? worker : join(wasmDir, file)),
      mainScriptUrlOrBlob: mainScript,
    }),
  );
  // Emscripten installs process handlers that rethrow every uncaught error from inside its own
  // (minified, one-line) script, so Node prints 50 kB of it instead of the error: remove them.
  events.forEach((e, i) => {
    for (const l of listeners(e)) if (!before[i].includes(l)) process.removeListener(e, l as (...args: unknown[]) => void);
  });
  attachTfjsBridge(module);
  wasmBackend.setThreadsCount(threads);
  const backend = new wasmBackend.BackendWasm(module as never);
  const got = wasmBackend.getThreadsCount();
  if (got !== threads) {
    backend.dispose();
    throw new Error(`threaded wasm started ${got} threads instead of ${threads}`);
  }
  // The pool's threads live as long as the backend; they must not keep the process alive.
  const pool = module.PThread;
  for (const w of [...(pool?.runningWorkers ?? []), ...(pool?.unusedWorkers ?? [])]) w.unref();
  return backend;
}

export interface WasmThreadsStatus {
  requested: number;
  /** Threads XNNPACK actually runs on (1 when the stock backend is in use). */
  threads: number;
  /** Why the threaded build was not used, when it was not. */
  fallbackReason?: string;
}

let status: WasmThreadsStatus = { requested: 1, threads: 1 };

export function wasmThreadsStatus(): WasmThreadsStatus {
  return { ...status };
}

/**
 * Re-registers the 'wasm' backend so that it starts the threaded build with `threads` threads,
 * falling back to the stock single-threaded build if that fails. Call before tf.setBackend('wasm').
 */
export function useThreadedWasm(
  threads: number,
  onFallback?: (reason: string) => void,
  /** For tests: another worker script (e.g. a missing one, to exercise the fallback). */
  workerScript?: string,
): void {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`thread count must be a positive integer, got ${threads}`);
  const stockFactory = tf.findBackendFactory('wasm');
  if (!stockFactory) throw new Error('trustgc engine: the wasm backend is not registered');
  const startStock = async (): Promise<tf.KernelBackend> => {
    wasmBackend.setThreadsCount(1);
    return stockFactory();
  };
  status = { requested: threads, threads: 1 };
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      if (threads === 1) return startStock();
      try {
        const backend = await createThreadedBackend(threads, workerScript);
        status = { requested: threads, threads };
        return backend;
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        status = { requested: threads, threads: 1, fallbackReason: reason };
        onFallback?.(reason);
        return startStock();
      }
    },
    2,
  );
}

/** Default thread count: TRUSTGC_THREADS, else every core the process may use. */
export function defaultThreadCount(): number {
  const env = process.env.TRUSTGC_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`TRUSTGC_THREADS must be a positive integer, got "${env}"`);
    return n;
  }
  return os.availableParallelism();
}
