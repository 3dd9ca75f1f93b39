/**
 * Optional native accelerator: the oneDNN addon in native/ (built at install time when Debian's
 * libdnnl-dev is present) runs convolutions (forward, input gradient, filter gradient) and batched
 * matmul for the wasm backend. The addon reads and writes tensors in place on the wasm heap, so a
 * kernel costs no copies; everything else stays on wasm. Shapes the addon does not cover fall back
 * to the wasm kernels. It also supplies the fused kernels of src/inn/fused_ops.ts (training batch
 * norm, per-channel affine, soft-clamped affine coupling, optimizer update, sum of squares), which
 * the wasm backend does not have, and Concat/SplitV as strided row copies. Disable with
 * TRUSTGC_NATIVE=0.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { replaceWithFallback } from './wasm_kernels.js';
import { convInfoFor } from './conv_info.js';
import type { ConvAttrs } from './conv_info.js';
import { projectRoot } from '../util/paths.js';
import { FUSED_KERNELS } from '../inn/fused_ops.js';

export interface NativeAddon {
  conv2dForward(x: Float32Array, filter: Float32Array, y: Float32Array, geometry: number[]): void;
  conv2dBackwardData(dy: Float32Array, filter: Float32Array, dx: Float32Array, geometry: number[]): void;
  conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, geometry: number[]): void;
  matMul(a: Float32Array, b: Float32Array, c: Float32Array, dims: number[]): void;
  batchNormForward(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, variance: Float32Array, invStd: Float32Array, dims: number[]): void;
  batchNormBackward(dy: Float32Array, x: Float32Array, y: Float32Array | null, mean: Float32Array, invStd: Float32Array, gamma: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, dims: number[]): void;
  channelAffineForward(x: Float32Array, scale: Float32Array, shift: Float32Array, y: Float32Array, dims: number[]): void;
  channelAffineBackward(dy: Float32Array, x: Float32Array, y: Float32Array | null, scale: Float32Array, dx: Float32Array, dscale: Float32Array, dshift: Float32Array, dims: number[]): void;
  optimizerStep(g: Float32Array, slotsIn: Float32Array[], slotsOut: Float32Array[], params: Float32Array[], paramsOut: Float32Array[], sizes: number[], hyper: number[]): void;
  affineForward(u: Float32Array, a: Float32Array, v: Float32Array, logdet: Float32Array, dims: number[]): void;
  affineBackward(dv: Float32Array, dlogdet: Float32Array, u: Float32Array, a: Float32Array, du: Float32Array, da: Float32Array, dims: number[]): void;
  copyRows(src: Float32Array, dst: Float32Array, dims: number[]): void;
  sumOfSquares(x: Float32Array): number;
  setNumThreads(n: number): void;
  setConvLowering(mode: number): void;
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
 * Threads of oneDNN and the fused kernels: TRUSTGC_NATIVE_THREADS, else every core. Measured on 2
 * cores (bench/results/throughput.md): a training step of ibinn-cifar10 ran 1.08× and tiny-rgb32
 * 1.6× faster on two threads than on one, tfjs inference 1.3–1.4×; small matrix products and
 * reorders stay on one thread, and the fused kernels split only tensors of ≥ 2¹⁵ floats, since
 * waking a second thread costs more than it gains on small work. Data-parallel replicas set
 * their own thread to 1 (setNativeThreads).
 */
export function nativeThreadCount(): number {
  const env = process.env.TRUSTGC_NATIVE_THREADS;
  if (env === undefined || env === '') return availableParallelism();
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) throw new Error(`TRUSTGC_NATIVE_THREADS must be a positive integer, got "${env}"`);
  return n;
}

/**
 * Sets the calling thread's native thread count (OpenMP's setting is per thread); returns the
 * previous count, or undefined when the addon is not loaded.
 */
export function setNativeThreads(n: number): number | undefined {
  if (!addon) return undefined;
  if (!Number.isInteger(n) || n < 1) throw new Error(`native thread count must be a positive integer, got ${n}`);
  const previous = addon.getNumThreads();
  addon.setNumThreads(n);
  status = { ...status, threads: addon.getNumThreads() };
  return previous;
}

/**
 * Which convolutions the addon runs as lowered matrix products (native/src/gemm_conv.h) instead of
 * oneDNN's direct kernels: 'auto' (the default; wide convolutions, where that was measured faster),
 * 'always' (every shape the addon takes: for tests) or 'off' (also TRUSTGC_CONV_GEMM=0). No-op
 * when the addon is not loaded.
 */
export function setConvolutionLowering(mode: 'off' | 'auto' | 'always'): void {
  addon?.setConvLowering({ off: 0, auto: 1, always: 2 }[mode]);
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

/** The addon's 17-number geometry, or undefined when it cannot express this convolution. */
function geometry(xShape: number[], filterShape: number[], attrs: ConvAttrs): number[] | undefined {
  if (attrs.dataFormat === 'NCHW') return undefined;
  const info = convInfoFor(xShape, filterShape, attrs);
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

/** Puts a native kernel in front of the wasm one, counting which of the two ran. */
function registerWithFallback(
  name: string,
  native: (args: { inputs: Record<string, TensorInfo>; backend: WasmBackend; attrs: Record<string, unknown> }) => TensorInfo | TensorInfo[] | undefined,
): void {
  const count = (calls[name] = { native: 0, fallback: 0 });
  replaceWithFallback(name, (args: never) => {
    const out = native(args);
    if (out) count.native++;
    else count.fallback++;
    return out;
  });
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

  // The three convolution kernels differ only in operands, shapes and the oneDNN call; a 1×1,
  // stride-1 convolution goes to matmul instead (oneDNN's convolution is slow for the narrow,
  // 2–16 channel, 1×1 convs of the coupling subnets).
  type Inputs = Record<string, TensorInfo>;
  type Call = (p: Float32Array, q: Float32Array, out: Float32Array, g: number[]) => void;
  const convKernels: Array<{
    name: string;
    operands: (i: Inputs) => [TensorInfo, TensorInfo];
    xShape: (i: Inputs, a: ConvAttrs) => number[];
    filterShape: (i: Inputs, a: ConvAttrs) => number[];
    outShape: (g: number[], a: ConvAttrs) => number[];
    direct: Call;
    matmul: (m: { rows: number; cin: number; cout: number }) => number[];
  }> = [
    {
      name: 'Conv2D',
      operands: (i) => [i.x, i.filter],
      xShape: (i) => i.x.shape,
      filterShape: (i) => i.filter.shape,
      outShape: (g) => [g[0], g[7], g[8], g[6]],
      direct: (p, q, out, g) => lib.conv2dForward(p, q, out, g),
      matmul: (m) => [1, m.rows, m.cin, m.cout, 0, 0], // y = x·W
    },
    {
      name: 'Conv2DBackpropInput',
      operands: (i) => [i.dy, i.filter],
      xShape: (_, a) => a.inputShape as number[],
      filterShape: (i) => i.filter.shape,
      outShape: (_, a) => a.inputShape as number[],
      direct: (p, q, out, g) => lib.conv2dBackwardData(p, q, out, g),
      matmul: (m) => [1, m.rows, m.cout, m.cin, 0, 1], // dx = dy·Wᵀ
    },
    {
      name: 'Conv2DBackpropFilter',
      operands: (i) => [i.x, i.dy],
      xShape: (i) => i.x.shape,
      filterShape: (_, a) => a.filterShape as number[],
      outShape: (_, a) => a.filterShape as number[],
      direct: (p, q, out, g) => lib.conv2dBackwardFilter(p, q, out, g),
      matmul: (m) => [1, m.cin, m.rows, m.cout, 1, 0], // dW = xᵀ·dy
    },
  ];
  for (const k of convKernels) {
    registerWithFallback(k.name, ({ inputs, backend, attrs }) => {
      const a = attrs as ConvAttrs;
      const [p, q] = k.operands(inputs);
      const g = isFloat(p, q) ? geometry(k.xShape(inputs, a), k.filterShape(inputs, a), a) : undefined;
      if (!g) return undefined;
      const out = backend.makeOutput(k.outShape(g, a), 'float32');
      // Views are taken after makeOutput: growing the heap may replace its buffer.
      const m = pointwise(g);
      if (m) lib.matMul(view(backend, p), view(backend, q), view(backend, out), k.matmul(m));
      else k.direct(view(backend, p), view(backend, q), view(backend, out), g);
      return out;
    });
  }

  registerFusedKernels(lib);
  registerCopyKernels(lib);

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

/** The fused kernels of src/inn/fused_ops.ts, run by the addon on the wasm heap. */
function registerFusedKernels(lib: NativeAddon): void {
  type Args = { inputs: Record<string, TensorInfo>; backend: WasmBackend; attrs: Record<string, unknown> };
  const register = (kernelName: string, kernelFunc: (args: Args) => TensorInfo[] | TensorInfo) =>
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  const requireFloat = (name: string, inputs: Record<string, TensorInfo>) => {
    for (const [k, t] of Object.entries(inputs)) {
      if (t.dtype !== 'float32') throw new Error(`${name}: input ${k} must be float32, got ${t.dtype}`);
    }
  };

  register(FUSED_KERNELS.batchNorm, ({ inputs, backend, attrs }) => {
    requireFloat(FUSED_KERNELS.batchNorm, inputs);
    const { x, gamma, beta } = inputs;
    const c = x.shape[x.shape.length - 1];
    const outs = [backend.makeOutput(x.shape, 'float32'), ...[0, 1, 2].map(() => backend.makeOutput([c], 'float32'))];
    const [px, pg, pb] = [x, gamma, beta].map((t) => view(backend, t));
    lib.batchNormForward(px, pg, pb, ...(outs.map((t) => view(backend, t)) as [Float32Array, Float32Array, Float32Array, Float32Array]), [
      x.shape.reduce((a, b) => a * b, 1) / c, c, attrs.eps as number, attrs.relu ? 1 : 0,
    ]);
    return outs;
  });

  register(FUSED_KERNELS.batchNormGrad, ({ inputs, backend }) => {
    requireFloat(FUSED_KERNELS.batchNormGrad, inputs);
    const { dy, x, y, mean, invStd, gamma } = inputs;
    const c = x.shape[x.shape.length - 1];
    const outs = [backend.makeOutput(x.shape, 'float32'), backend.makeOutput([c], 'float32'), backend.makeOutput([c], 'float32')];
    const [pdy, px, pm, ps, pg, pdx, pdg, pdb] = [dy, x, mean, invStd, gamma, ...outs].map((t) => view(backend, t));
    lib.batchNormBackward(pdy, px, y ? view(backend, y) : null, pm, ps, pg, pdx, pdg, pdb, [x.shape.reduce((a, b) => a * b, 1) / c, c]);
    return outs;
  });

  const rowsOf = (x: TensorInfo) => x.shape.reduce((a, b) => a * b, 1) / x.shape[x.shape.length - 1];

  register(FUSED_KERNELS.channelAffine, ({ inputs, backend, attrs }) => {
    requireFloat(FUSED_KERNELS.channelAffine, inputs);
    const { x, scale, shift } = inputs;
    const c = x.shape[x.shape.length - 1];
    const y = backend.makeOutput(x.shape, 'float32');
    lib.channelAffineForward(view(backend, x), view(backend, scale), view(backend, shift), view(backend, y), [rowsOf(x), c, attrs.relu ? 1 : 0]);
    return y; // one output: tfjs then hands back a tensor, not a list
  });

  register(FUSED_KERNELS.channelAffineGrad, ({ inputs, backend }) => {
    requireFloat(FUSED_KERNELS.channelAffineGrad, inputs);
    const { dy, x, y, scale } = inputs;
    const c = x.shape[x.shape.length - 1];
    const outs = [backend.makeOutput(x.shape, 'float32'), backend.makeOutput([c], 'float32'), backend.makeOutput([c], 'float32')];
    const [pdx, pds, pdb] = outs.map((t) => view(backend, t));
    lib.channelAffineBackward(view(backend, dy), view(backend, x), y ? view(backend, y) : null, view(backend, scale), pdx, pds, pdb, [rowsOf(x), c]);
    return outs;
  });

  // inputs g, s0[, s1], p0 … p(n−1); outputs the new slots, then the new parameters
  register(FUSED_KERNELS.optimizerStep, ({ inputs, backend, attrs }) => {
    requireFloat(FUSED_KERNELS.optimizerStep, inputs);
    const slots = attrs.slots as number;
    const count = attrs.params as number;
    const slotIn = Array.from({ length: slots }, (_, i) => inputs[`s${i}`]);
    const paramIn = Array.from({ length: count }, (_, i) => inputs[`p${i}`]);
    const outs = [...slotIn.map((t) => backend.makeOutput(t.shape, 'float32')), ...paramIn.map((t) => backend.makeOutput(t.shape, 'float32'))];
    const v = (t: TensorInfo) => view(backend, t);
    lib.optimizerStep(
      v(inputs.g),
      slotIn.map(v),
      outs.slice(0, slots).map(v),
      paramIn.map(v),
      outs.slice(slots).map(v),
      paramIn.map((t) => t.shape.reduce((a, b) => a * b, 1)),
      ['adam', 'lr', 'gradScale', 'weightDecay', 'momentum', 'beta1', 'beta2', 'eps', 'bc1', 'bc2'].map((k) => Number(attrs[k])),
    );
    return outs;
  });

  register(FUSED_KERNELS.sumOfSquares, ({ inputs, backend }) => {
    requireFloat(FUSED_KERNELS.sumOfSquares, inputs);
    const out = backend.makeOutput([], 'float32');
    const total = lib.sumOfSquares(view(backend, inputs.x));
    view(backend, out)[0] = total;
    return out;
  });

  const affineDims = (u: TensorInfo, attrs: Record<string, unknown>) => {
    const samples = u.shape[0];
    const c = u.shape[u.shape.length - 1];
    const size = u.shape.reduce((a, b) => a * b, 1);
    return [samples, size / (samples * c), c, attrs.clamp as number, attrs.inScale as number, attrs.shiftScale as number];
  };

  register(FUSED_KERNELS.affine, ({ inputs, backend, attrs }) => {
    requireFloat(FUSED_KERNELS.affine, inputs);
    const { u, a } = inputs;
    const outs = [backend.makeOutput(u.shape, 'float32'), backend.makeOutput([u.shape[0]], 'float32')];
    lib.affineForward(view(backend, u), view(backend, a), view(backend, outs[0]), view(backend, outs[1]), affineDims(u, attrs));
    return outs;
  });

  register(FUSED_KERNELS.affineGrad, ({ inputs, backend, attrs }) => {
    requireFloat(FUSED_KERNELS.affineGrad, inputs);
    const { dv, dlogdet, u, a } = inputs;
    const outs = [backend.makeOutput(u.shape, 'float32'), backend.makeOutput(a.shape, 'float32')];
    const ins = [dv, dlogdet, u, a].map((t) => view(backend, t)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    lib.affineBackward(...ins, view(backend, outs[0]), view(backend, outs[1]), affineDims(u, attrs));
    return outs;
  });
}

/**
 * Concat and SplitV of float32 tensors as strided row copies in the addon: one call per piece
 * instead of tfjs's per-row (or, in wasm_kernels.ts, per-element JavaScript) copies, which cost
 * ~280 µs for each 16×16×16×12 channel split or concat of an ibinn-cifar10 coupling at batch 16.
 */
function registerCopyKernels(lib: NativeAddon): void {
  const product = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
  const axisOf = (axis: number | number[], rank: number) => {
    const a = Array.isArray(axis) ? axis[0] : axis;
    return a < 0 ? a + rank : a;
  };
  registerWithFallback('Concat', (args) => {
    const { backend, attrs } = args;
    const inputs = args.inputs as unknown as TensorInfo[];
    if (inputs.length < 2) return undefined;
    const rank = inputs[0].shape.length;
    const axis = axisOf(attrs.axis as number | number[], rank);
    if (!isFloat(...inputs) || inputs.some((t) => t.shape.length !== rank)) return undefined;
    const outer = product(inputs[0].shape.slice(0, axis));
    const inner = inputs.map((t) => product(t.shape.slice(axis)));
    const total = inner.reduce((a, b) => a + b, 0);
    if (outer === 0 || total === 0) return undefined;
    const outShape = [...inputs[0].shape];
    outShape[axis] = inputs.reduce((sum, t) => sum + t.shape[axis], 0);
    const out = backend.makeOutput(outShape, 'float32');
    const dst = view(backend, out);
    let offset = 0;
    inputs.forEach((t, i) => {
      if (inner[i] > 0) lib.copyRows(view(backend, t), dst, [outer, inner[i], inner[i], 0, total, offset]);
      offset += inner[i];
    });
    return out;
  });
  registerWithFallback('SplitV', (args) => {
    const { backend, attrs } = args;
    const { x } = args.inputs;
    if (!isFloat(x)) return undefined;
    const axis = axisOf(attrs.axis as number, x.shape.length);
    const sizes = backend_util.prepareSplitSize(x as unknown as tf.Tensor, attrs.numOrSizeSplits as number | number[], axis);
    const outer = product(x.shape.slice(0, axis));
    const unit = product(x.shape.slice(axis + 1));
    const total = x.shape[axis] * unit;
    if (outer === 0 || total === 0) return undefined;
    const outs = sizes.map((size) => {
      const shape = [...x.shape];
      shape[axis] = size;
      return backend.makeOutput(shape, 'float32');
    });
    const src = view(backend, x); // after makeOutput (the heap may grow)
    let offset = 0;
    outs.forEach((out, i) => {
      const n = sizes[i] * unit;
      if (n > 0) lib.copyRows(src, view(backend, out), [outer, n, total, offset, n, 0]);
      offset += n;
    });
    return outs;
  });
}

function view(backend: WasmBackend, info: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}
