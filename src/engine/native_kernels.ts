/**
 * Optional native accelerator: the oneDNN addon in native/ (built at install time when Debian's
 * libdnnl-dev is present) runs convolutions (forward, input gradient, filter gradient) and batched
 * matmul for the wasm backend. The addon reads and writes tensors in place on the wasm heap, so a
 * kernel costs no copies; everything else stays on wasm. Shapes the addon does not cover fall back
 * to the wasm kernels. Disable with TRUSTGC_NATIVE=0.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { projectRoot } from '../util/paths.js';

export interface NativeAddon {
  conv2dForward(x: Float32Array, filter: Float32Array, y: Float32Array, geometry: number[]): void;
  conv2dBackwardData(dy: Float32Array, filter: Float32Array, dx: Float32Array, geometry: number[]): void;
  conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, geometry: number[]): void;
  matMul(a: Float32Array, b: Float32Array, c: Float32Array, dims: number[]): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  version(): string;
}

export function nativeAddonPath(): string {
  return join(projectRoot(), 'native', 'build', 'Release', 'trustgc_dnnl.node');
}

export interface NativeStatus {
  loaded: boolean;
  /** e.g. "oneDNN 2.6.3" */
  library?: string;
  threads?: number;
  /** Why it is not in use. */
  reason?: string;
}

let addon: NativeAddon | undefined;
let status: NativeStatus = { loaded: false, reason: 'not requested' };

export function nativeStatus(): NativeStatus {
  return { ...status };
}

/**
 * oneDNN's thread count: TRUSTGC_NATIVE_THREADS, else 1. Measured on 2 cores, the IB-INN
 * convolutions (batch 32–128, 7×7 to 32×32 maps) ran no faster, often slower, on 2 OpenMP threads:
 * waking the threads for every small kernel costs about what the second core gains.
 */
export function nativeThreadCount(): number {
  const env = process.env.TRUSTGC_NATIVE_THREADS;
  if (env === undefined || env === '') return 1;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) throw new Error(`TRUSTGC_NATIVE_THREADS must be a positive integer, got "${env}"`);
  return n;
}

/** Loads the addon if it was built and not disabled; never throws. */
export function loadNativeAddon(threads: number): NativeAddon | undefined {
  if (addon) return addon;
  const env = process.env.TRUSTGC_NATIVE;
  if (env === '0' || env === 'false') {
    status = { loaded: false, reason: 'disabled by TRUSTGC_NATIVE' };
    return undefined;
  }
  const path = nativeAddonPath();
  if (!existsSync(path)) {
    status = { loaded: false, reason: 'not built (install libdnnl-dev, then npm run build:native)' };
    return undefined;
  }
  // OpenMP threads must not spin after a kernel: the wasm threads need those cores next.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon;
    addon.setNumThreads(threads);
    status = { loaded: true, library: addon.version(), threads: addon.getNumThreads() };
    return addon;
  } catch (error) {
    status = { loaded: false, reason: `failed to load ${path}: ${(error as Error).message}` };
    return undefined;
  }
}

// ---------------------------------------------------------------- wasm kernels backed by the addon

type WasmBackend = tf.KernelBackend & {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): backend_util.TypedArray;
};

type ConvAttrs = {
  strides: [number, number] | number;
  pad: 'same' | 'valid' | number | backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape?: [number, number, number, number];
  inputShape?: [number, number, number, number];
};

/** The addon's 17-number geometry, or undefined when it cannot express this convolution. */
function geometry(xShape: number[], filterShape: number[], attrs: ConvAttrs): number[] | undefined {
  if (attrs.dataFormat === 'NCHW') return undefined;
  const info = backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { top, left } = info.padInfo;
  // oneDNN wants the trailing padding that makes the output size exact (tfjs may list more).
  const bottom = (info.outHeight - 1) * info.strideHeight + (info.filterHeight - 1) * info.dilationHeight + 1 - info.inHeight - top;
  const right = (info.outWidth - 1) * info.strideWidth + (info.filterWidth - 1) * info.dilationWidth + 1 - info.inWidth - left;
  if (bottom < 0 || right < 0 || top < 0 || left < 0) return undefined;
  return [
    info.batchSize, info.inHeight, info.inWidth, info.inChannels,
    info.filterHeight, info.filterWidth, info.outChannels, info.outHeight, info.outWidth,
    info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    top, left, bottom, right,
  ];
}

/** A 1×1, stride-1, unpadded convolution is a plain matrix product over the pixels. */
function pointwise(g: number[]): { rows: number; cin: number; cout: number } | undefined {
  const [n, h, w, c, kh, kw, o, oh, ow, sh, sw, dh, dw, top, left, bottom, right] = g;
  if (kh !== 1 || kw !== 1 || sh !== 1 || sw !== 1 || dh !== 1 || dw !== 1 || top + left + bottom + right !== 0) return undefined;
  if (oh !== h || ow !== w) return undefined;
  return { rows: n * h * w, cin: c, cout: o };
}

function isFloat(...infos: TensorInfo[]): boolean {
  return infos.every((t) => t.dtype === 'float32');
}

function registerWithFallback(
  name: string,
  native: (args: { inputs: Record<string, TensorInfo>; backend: WasmBackend; attrs: Record<string, unknown> }) => TensorInfo | undefined,
): void {
  const previous = tf.getKernel(name, 'wasm');
  if (!previous) throw new Error(`trustgc engine: wasm kernel ${name} missing`);
  const fallback = previous.kernelFunc;
  const count = (calls[name] = { native: 0, fallback: 0 });
  const kernelFunc = ((args: never) => {
    const out = native(args);
    if (out) {
      count.native++;
      return out;
    }
    count.fallback++;
    return fallback(args);
  }) as KernelFunc;
  tf.unregisterKernel(name, 'wasm');
  // Keep the previous set-up function: the fallback may call into stock wasm code.
  const config: KernelConfig = { kernelName: name, backendName: 'wasm', kernelFunc, setupFunc: previous.setupFunc };
  tf.registerKernel(config);
}

/** How often each kernel ran natively or fell back to wasm (for tests and profiles). */
const calls: Record<string, { native: number; fallback: number }> = {};

export function nativeKernelCalls(): Record<string, { native: number; fallback: number }> {
  return structuredClone(calls);
}

let registered = false;

/** Routes the wasm backend's conv and matmul kernels through the addon. Before the backend starts. */
export function registerNativeKernels(lib: NativeAddon): void {
  if (registered) return;
  registered = true;

  registerWithFallback('Conv2D', ({ inputs, backend, attrs }) => {
    const { x, filter } = inputs;
    const g = isFloat(x, filter) ? geometry(x.shape, filter.shape, attrs as ConvAttrs) : undefined;
    if (!g) return undefined;
    const out = backend.makeOutput([g[0], g[7], g[8], g[6]], 'float32');
    // Views are taken after makeOutput: growing the heap may replace its buffer.
    const p = pointwise(g);
    // 1×1 convs as matmuls: oneDNN's convolution is slow for the narrow (2–16 channel) ones here
    if (p) lib.matMul(view(backend, x), view(backend, filter), view(backend, out), [1, p.rows, p.cin, p.cout, 0, 0]);
    else lib.conv2dForward(view(backend, x), view(backend, filter), view(backend, out), g);
    return out;
  });

  registerWithFallback('Conv2DBackpropInput', ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs;
    const a = attrs as ConvAttrs;
    const g = isFloat(dy, filter) ? geometry(a.inputShape as number[], filter.shape, a) : undefined;
    if (!g) return undefined;
    const out = backend.makeOutput(a.inputShape as number[], 'float32');
    const p = pointwise(g);
    if (p) lib.matMul(view(backend, dy), view(backend, filter), view(backend, out), [1, p.rows, p.cout, p.cin, 0, 1]);
    else lib.conv2dBackwardData(view(backend, dy), view(backend, filter), view(backend, out), g);
    return out;
  });

  registerWithFallback('Conv2DBackpropFilter', ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs;
    const a = attrs as ConvAttrs;
    const g = isFloat(x, dy) ? geometry(x.shape, a.filterShape as number[], a) : undefined;
    if (!g) return undefined;
    const out = backend.makeOutput(a.filterShape as number[], 'float32');
    const p = pointwise(g);
    if (p) lib.matMul(view(backend, x), view(backend, dy), view(backend, out), [1, p.cin, p.rows, p.cout, 1, 0]);
    else lib.conv2dBackwardFilter(view(backend, x), view(backend, dy), view(backend, out), g);
    return out;
  });

  registerWithFallback('BatchMatMul', ({ inputs, backend, attrs }) => {
    const { a, b } = inputs;
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    const rank = a.shape.length;
    if (!isFloat(a, b) || rank < 2 || b.shape.length !== rank) return undefined;
    // Leading (batch) dimensions must agree; broadcasting ones go to the wasm kernel.
    const lead = a.shape.slice(0, rank - 2);
    if (lead.some((d, i) => d !== b.shape[i])) return undefined;
    const batch = lead.reduce((p, d) => p * d, 1);
    const [ra, ca] = a.shape.slice(rank - 2);
    const [rb, cb] = b.shape.slice(rank - 2);
    const [m, k] = transposeA ? [ca, ra] : [ra, ca];
    const [k2, n] = transposeB ? [cb, rb] : [rb, cb];
    if (k !== k2 || batch * m * n * k === 0) return undefined;
    const out = backend.makeOutput([...lead, m, n], 'float32');
    lib.matMul(view(backend, a), view(backend, b), view(backend, out), [batch, m, k, n, transposeA ? 1 : 0, transposeB ? 1 : 0]);
    return out;
  });
}

function view(backend: WasmBackend, info: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}
