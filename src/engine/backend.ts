/**
 * The one place that sets up tfjs: gradients, the project's wasm kernels and the backend choice.
 * Every entry point (CLI, tests, benchmarks, library users) calls `initEngine()` first.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmKernels } from './wasm_kernels.js';
import { defaultThreadCount, useThreadedWasm, wasmThreadsStatus } from './wasm_threads.js';
import { shareSavedTensors } from './saved_tensors.js';
import { useLeanGradients } from './lean_gradients.js';
import { loadNativeAddon, nativeStatus, nativeThreadCount, registerNativeKernels } from './native_kernels.js';

export type BackendName = 'wasm' | 'cpu';

export interface EngineOptions {
  /** Backend to use; default from TRUSTGC_BACKEND, else 'wasm'. */
  backend?: BackendName;
  /** Threads for the wasm backend; default from TRUSTGC_THREADS, else every core. */
  threads?: number;
  /** Use the native oneDNN kernels when built (default true; TRUSTGC_NATIVE=0 disables). */
  native?: boolean;
  /** Print a line when falling back (to cpu, or to one wasm thread). */
  quiet?: boolean;
}

let threadsConfigured: number | undefined;

let gradientsLoaded = false;

/**
 * The Node build of tfjs-core registers no gradients. The union package's Node bundle registers
 * all of them into tfjs's global gradient registry, which our tfjs-core instance shares.
 */
async function loadGradients(): Promise<void> {
  if (gradientsLoaded) return;
  await import('@tensorflow/tfjs');
  // the engine's tape bookkeeping (fewer kernel calls per step), set once like the gradients
  useLeanGradients();
  shareSavedTensors();
  gradientsLoaded = true;
}

export function parseBackendName(value: string | undefined): BackendName | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'wasm' || value === 'cpu') return value;
  throw new Error(`unknown backend "${value}": expected "wasm" or "cpu"`);
}

/** Sets up gradients, kernels and the backend; returns the backend actually in use. */
export async function initEngine(options: EngineOptions = {}): Promise<BackendName> {
  await loadGradients();
  registerWasmKernels();
  if (threadsConfigured === undefined) {
    // Fixed when the wasm backend first starts; later calls keep it.
    const lib = options.native === false ? undefined : loadNativeAddon(nativeThreadCount());
    if (lib) registerNativeKernels(lib);
    // With the native kernels doing the heavy work, a second wasm thread only competes with them
    // for the cores (measured on 2 cores: 1 wasm thread trains 1.3–1.6× faster than 2).
    threadsConfigured = options.threads ?? (lib && !process.env.TRUSTGC_THREADS ? 1 : defaultThreadCount());
    useThreadedWasm(threadsConfigured, (reason) => {
      if (!options.quiet) console.warn(`trustgc: multi-threaded wasm unavailable (${reason}); using one thread`);
    });
  } else if (options.threads !== undefined && options.threads !== threadsConfigured && !options.quiet) {
    console.warn(`trustgc: the engine already runs on ${threadsConfigured} wasm thread(s); threads: ${options.threads} is ignored (it is fixed by the first initEngine call)`);
  }
  // Production mode: no debug checks, and no console banner suggesting tfjs-node.
  tf.env().set('PROD', true);
  const wanted = options.backend ?? parseBackendName(process.env.TRUSTGC_BACKEND) ?? 'wasm';
  if (tf.getBackend() === wanted) return wanted;
  let ok = false;
  try {
    ok = await tf.setBackend(wanted);
  } catch {
    ok = false;
  }
  if (!ok) {
    if (wanted === 'cpu') throw new Error('trustgc engine: the cpu backend failed to start');
    if (!options.quiet) console.warn('trustgc: wasm backend failed to start, falling back to cpu');
    await tf.setBackend('cpu');
  }
  await tf.ready();
  return tf.getBackend() as BackendName;
}

export interface EngineInfo {
  backend: string;
  /** Threads the wasm backend computes on (1 on cpu). */
  threads: number;
  /** Native library behind the wasm backend's conv/matmul kernels, if any (e.g. "oneDNN 2.6.3"). */
  native: string | null;
  /** Threads of the native library (0 without it). */
  nativeThreads: number;
}

/** What the engine is running on, for logs and benchmark records. */
export function engineInfo(): EngineInfo {
  const backend = tf.getBackend();
  const onWasm = backend === 'wasm';
  return {
    backend,
    threads: onWasm ? wasmThreadsStatus().threads : 1,
    native: onWasm ? (nativeStatus().library ?? null) : null,
    nativeThreads: onWasm ? (nativeStatus().threads ?? 0) : 0,
  };
}

export { tf };
