/**
 * Kernels the tfjs wasm backend lacks (Conv2DBackpropFilter, UnsortedSegmentSum) or runs slowly
 * (Conv2DBackpropInput at stride 1). Each one is expressed through kernels wasm runs fast
 * (Conv2D, Transpose, Reverse, Slice) so that training a conv net on wasm is practical.
 * Verified against the cpu backend in test/wasm_kernels.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { convInfoFor } from './conv_info.js';
import type { ConvAttrs } from './conv_info.js';

type Backend = tf.KernelBackend & {
  incRef(dataId: object): void;
  readSync(dataId: object): backend_util.BackendValues;
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): backend_util.TypedArray;
};

const BACKEND = 'wasm';

/** Calls another wasm kernel directly (no tape, no engine bookkeeping). */
function callKernel(name: string, backend: Backend, inputs: Record<string, TensorInfo>, attrs: object): TensorInfo {
  const config = tf.getKernel(name, BACKEND);
  if (!config) throw new Error(`trustgc engine: wasm kernel ${name} is not registered`);
  return config.kernelFunc({ inputs, backend, attrs } as never) as TensorInfo;
}

function release(backend: Backend, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/**
 * dW[kh,kw,ci,co] = Σ_{n,oh,ow} xpad[n, oh·s+kh·d, ow·s+kw·d, ci] · dy[n,oh,ow,co].
 * Swapping batch and channel axes turns this into a forward convolution of x (batch = ci,
 * channels = n) with dy as the filter (taps spaced by the stride, i.e. dilation = stride).
 */
function conv2DBackpropFilter(args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: Backend; attrs: ConvAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const filterShape = attrs.filterShape as number[];
  const info = convInfoFor(x.shape, filterShape, attrs);
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) {
    throw new Error('trustgc engine: dilated convolution gradients are not supported on wasm');
  }
  const [kh, kw] = [info.filterHeight, info.filterWidth];
  const [sh, sw] = [info.strideHeight, info.strideWidth];
  const [oh, ow] = [info.outHeight, info.outWidth];
  const { top, left } = info.padInfo;
  // Rows/cols of the padded input the forward pass actually touched.
  const needH = (oh - 1) * sh + kh;
  const needW = (ow - 1) * sw + kw;
  const bottom = needH - top - x.shape[1];
  const right = needW - left - x.shape[2];
  const created: TensorInfo[] = [];
  let xs = x;
  if (bottom < 0 || right < 0) {
    // The forward conv ignored trailing rows/cols: drop them so no padding is negative.
    xs = callKernel('Slice', backend, { x }, {
      begin: [0, 0, 0, 0],
      size: [x.shape[0], x.shape[1] + Math.min(0, bottom), x.shape[2] + Math.min(0, right), x.shape[3]],
    });
    created.push(xs);
  }
  const xT = callKernel('Transpose', backend, { x: xs }, { perm: [3, 1, 2, 0] }); // [ci,H,W,N]
  const dyT = callKernel('Transpose', backend, { x: dy }, { perm: [1, 2, 0, 3] }); // [oh,ow,N,co]
  created.push(xT, dyT);
  const conv = callKernel('Conv2D', backend, { x: xT, filter: dyT }, {
    strides: [1, 1],
    pad: [[0, 0], [top, Math.max(0, bottom)], [left, Math.max(0, right)], [0, 0]],
    dataFormat: 'NHWC',
    dilations: [sh, sw],
  }); // [ci,kh,kw,co]
  created.push(conv);
  const out = callKernel('Transpose', backend, { x: conv }, { perm: [1, 2, 0, 3] }); // [kh,kw,ci,co]
  release(backend, ...created);
  return out;
}

let stockBackpropInput: KernelFunc | undefined;

/**
 * Stride 1: dx = conv(dy, W flipped in space with in/out channels swapped), padded by K−1−pad.
 * Other strides fall back to the stock wasm kernel.
 */
function conv2DBackpropInput(args: { inputs: { dy: TensorInfo; filter: TensorInfo }; backend: Backend; attrs: ConvAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const inputShape = attrs.inputShape as number[];
  const info = convInfoFor(inputShape, filter.shape, attrs);
  const unitStride = info.strideHeight === 1 && info.strideWidth === 1;
  const unitDilation = info.dilationHeight === 1 && info.dilationWidth === 1;
  if (!unitStride || !unitDilation) {
    if (!stockBackpropInput) throw new Error('trustgc engine: stock Conv2DBackpropInput missing');
    return stockBackpropInput(args as never) as TensorInfo;
  }
  const [kh, kw] = [info.filterHeight, info.filterWidth];
  const { top, left, bottom, right } = info.padInfo;
  const flipped = callKernel('Reverse', backend, { x: filter }, { dims: [0, 1] });
  const swapped = callKernel('Transpose', backend, { x: flipped }, { perm: [0, 1, 3, 2] }); // [kh,kw,co,ci]
  const out = callKernel('Conv2D', backend, { x: dy, filter: swapped }, {
    strides: [1, 1],
    pad: [[0, 0], [kh - 1 - top, kh - 1 - bottom], [kw - 1 - left, kw - 1 - right], [0, 0]],
    dataFormat: 'NHWC',
    dilations: [1, 1],
  });
  release(backend, flipped, swapped);
  return out;
}

/** Gather's gradient: out[s, ...] = Σ_{i: ids[i] = s} x[i, ...]. Plain loop; gathers are small here. */
function unsortedSegmentSum(args: { inputs: { x: TensorInfo; segmentIds: TensorInfo }; backend: Backend; attrs: { numSegments: number } }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, segmentIds } = inputs;
  const ids = backend.readSync(segmentIds.dataId) as Int32Array | Float32Array;
  const values = backend.readSync(x.dataId) as Float32Array;
  const idRank = segmentIds.shape.length;
  const inner = x.shape.slice(idRank).reduce((a, b) => a * b, 1);
  const out = backend.makeOutput([attrs.numSegments, ...x.shape.slice(idRank)], x.dtype);
  const outValues = backend.typedArrayFromHeap(out) as Float32Array;
  outValues.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= attrs.numSegments) continue; // TF semantics: out-of-range ids are dropped
    const src = i * inner;
    const dst = s * inner;
    for (let k = 0; k < inner; k++) outValues[dst + k] += values[src + k];
  }
  return out;
}

/**
 * Concat of float32 tensors. The stock kernel copies each row with subarray()+set(), which costs
 * about a microsecond per call: ruinous for the channel concatenations of coupling blocks
 * (thousands of rows of 2–16 channels). Short rows are copied element by element instead.
 */
function concat(args: { inputs: TensorInfo[]; backend: Backend; attrs: { axis: number | number[] } }): TensorInfo | undefined {
  const { inputs, backend } = args;
  const rank = inputs[0].shape.length;
  const axis = normaliseAxis(Array.isArray(args.attrs.axis) ? args.attrs.axis[0] : args.attrs.axis, rank);
  if (inputs.some((t) => t.dtype !== 'float32' || t.shape.length !== rank) || inputs.length < 2) return undefined;
  const outer = product(inputs[0].shape.slice(0, axis));
  const inner = inputs.map((t) => product(t.shape.slice(axis)));
  const total = inner.reduce((a, b) => a + b, 0);
  if (total === 0 || outer === 0 || Math.max(...inner) > 64) return undefined;
  const outShape = [...inputs[0].shape];
  outShape[axis] = inputs.reduce((sum, t) => sum + t.shape[axis], 0);
  const out = backend.makeOutput(outShape, 'float32');
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  let offset = 0;
  inputs.forEach((t, i) => {
    const src = backend.typedArrayFromHeap(t) as Float32Array;
    const n = inner[i];
    for (let r = 0; r < outer; r++) {
      const s0 = r * n;
      const d0 = r * total + offset;
      for (let k = 0; k < n; k++) dst[d0 + k] = src[s0 + k];
    }
    offset += n;
  });
  return out;
}

/**
 * SplitV of a float32 tensor. The stock kernel slices each piece, which is slow for short rows
 * (see concat) and, measured, ~2 µs per element for the pieces of a long vector (8 s to split the
 * 3.8 M flattened parameters of ibinn-mnist). Rows are copied element by element when short and
 * with subarray()+set() when long.
 */
function splitV(args: { inputs: { x: TensorInfo }; backend: Backend; attrs: { numOrSizeSplits: number | number[]; axis: number } }): TensorInfo[] | undefined {
  const { inputs: { x }, backend, attrs } = args;
  if (x.dtype !== 'float32') return undefined;
  const axis = normaliseAxis(attrs.axis, x.shape.length);
  const sizes = backend_util.prepareSplitSize(x as unknown as tf.Tensor, attrs.numOrSizeSplits, axis);
  const outer = product(x.shape.slice(0, axis));
  const innerUnit = product(x.shape.slice(axis + 1));
  const total = x.shape[axis] * innerUnit;
  if (outer === 0 || total === 0) return undefined;
  const outs = sizes.map((size) => {
    const shape = [...x.shape];
    shape[axis] = size;
    return backend.makeOutput(shape, 'float32');
  });
  const src = backend.typedArrayFromHeap(x) as Float32Array; // after makeOutput (the heap may grow)
  let offset = 0;
  outs.forEach((out, i) => {
    const dst = backend.typedArrayFromHeap(out) as Float32Array;
    const n = sizes[i] * innerUnit;
    for (let r = 0; r < outer; r++) {
      const s0 = r * total + offset;
      const d0 = r * n;
      if (n > 64) dst.set(src.subarray(s0, s0 + n), d0);
      else for (let k = 0; k < n; k++) dst[d0 + k] = src[s0 + k];
    }
    offset += n;
  });
  return outs;
}

let stockBatchMatMul: KernelFunc | undefined;

/**
 * BatchMatMul with transposed operands runs 10–40× slower on wasm than without (e.g. 86 ms vs
 * 2–6 ms for the 32×1024·1024×784 gradient products of the fully connected coupling): transpose
 * explicitly, then multiply.
 */
function batchMatMul(args: { inputs: { a: TensorInfo; b: TensorInfo }; backend: Backend; attrs: { transposeA: boolean; transposeB: boolean } }): TensorInfo {
  const { inputs, backend, attrs } = args;
  if (!stockBatchMatMul) throw new Error('trustgc engine: stock BatchMatMul missing');
  if (!attrs.transposeA && !attrs.transposeB) return stockBatchMatMul(args as never) as TensorInfo;
  const swapLast = (t: TensorInfo) => {
    const perm = t.shape.map((_, i) => i);
    [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
    return callKernel('Transpose', backend, { x: t }, { perm });
  };
  const a = attrs.transposeA ? swapLast(inputs.a) : inputs.a;
  const b = attrs.transposeB ? swapLast(inputs.b) : inputs.b;
  const out = callKernel('BatchMatMul', backend, { a, b }, { ...attrs, transposeA: false, transposeB: false });
  if (a !== inputs.a) release(backend, a);
  if (b !== inputs.b) release(backend, b);
  return out;
}

/**
 * Sum/Mean over all leading axes of a float32 tensor (per-channel reductions of batch norm and
 * log-determinants): the stock kernels first transpose the channels to the front. As a matrix
 * product ones[1,R]·X[R,C] the work goes to the (fast) matmul kernel instead.
 */
function leadingAxesReduction(mean: boolean) {
  return (args: { inputs: { x: TensorInfo }; backend: Backend; attrs: { axis: number | number[]; keepDims: boolean } }): TensorInfo | undefined => {
    const { inputs: { x }, backend, attrs } = args;
    const rank = x.shape.length;
    if (x.dtype !== 'float32' || rank < 2) return undefined;
    const axes = (Array.isArray(attrs.axis) ? attrs.axis : [attrs.axis]).map((a) => normaliseAxis(a, rank)).sort((p, q) => p - q);
    if (axes.length !== rank - 1 || axes.some((a, i) => a !== i)) return undefined;
    const rows = product(x.shape.slice(0, rank - 1));
    const cols = x.shape[rank - 1];
    if (rows < 64 || cols === 0) return undefined;
    const ones = backend.makeOutput([1, 1, rows], 'float32');
    (backend.typedArrayFromHeap(ones) as Float32Array).fill(mean ? 1 / rows : 1);
    const x3 = { ...x, shape: [1, rows, cols] }; // same data, viewed as a matrix
    const product3 = callKernel('BatchMatMul', backend, { a: ones, b: x3 }, { transposeA: false, transposeB: false });
    release(backend, ones);
    const outShape = attrs.keepDims ? [...x.shape.slice(0, rank - 1).map(() => 1), cols] : [cols];
    return { ...product3, shape: outShape };
  };
}

/**
 * Identity, and Cast to the tensor's own dtype (tfjs's gradients emit thousands of both, e.g.
 * cast(step(x), 'float32') in ReLU's): tensors are immutable, so share the data (reference
 * counted, as Reshape does) instead of copying it.
 */
function shareData(args: { inputs: { x: TensorInfo }; backend: Backend; attrs?: { dtype?: string } }): TensorInfo | undefined {
  const { inputs: { x }, backend, attrs } = args;
  if (x.dtype === 'string' || (attrs?.dtype !== undefined && attrs.dtype !== x.dtype)) return undefined;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

function normaliseAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

function product(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * Registers `fast` in front of the current wasm kernel, which still handles what `fast` declines
 * (returns undefined for); the current kernel's set-up function is kept, since it may call stock code.
 */
export function replaceWithFallback(name: string, fast: (args: never) => TensorInfo | TensorInfo[] | undefined): void {
  const previous = tf.getKernel(name, BACKEND);
  if (!previous) throw new Error(`trustgc engine: wasm kernel ${name} missing`);
  const fallback = previous.kernelFunc;
  replaceKernel({
    kernelName: name,
    backendName: BACKEND,
    setupFunc: previous.setupFunc,
    kernelFunc: ((args: never) => fast(args) ?? fallback(args)) as KernelFunc,
  });
}

function replaceKernel(config: KernelConfig): void {
  if (tf.getKernel(config.kernelName, BACKEND)) tf.unregisterKernel(config.kernelName, BACKEND);
  tf.registerKernel(config);
}

let registered = false;

/** Registers the project's wasm kernels once per process; must run before the wasm backend starts. */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  const stock = tf.getKernel('Conv2DBackpropInput', BACKEND);
  stockBackpropInput = stock?.kernelFunc;
  replaceKernel({ kernelName: 'Conv2DBackpropFilter', backendName: BACKEND, kernelFunc: conv2DBackpropFilter as unknown as KernelFunc });
  // Keep the stock setup function: the fallback path (strided convs) still calls into its wasm code.
  replaceKernel({
    kernelName: 'Conv2DBackpropInput',
    backendName: BACKEND,
    setupFunc: stock?.setupFunc,
    kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
  });
  replaceKernel({ kernelName: 'UnsortedSegmentSum', backendName: BACKEND, kernelFunc: unsortedSegmentSum as unknown as KernelFunc });
  const stockMatMul = tf.getKernel('BatchMatMul', BACKEND);
  stockBatchMatMul = stockMatMul?.kernelFunc;
  replaceWithFallback('Identity', shareData as never);
  replaceWithFallback('Cast', shareData as never);
  replaceWithFallback('Concat', concat as never);
  replaceWithFallback('SplitV', splitV as never);
  replaceWithFallback('Sum', leadingAxesReduction(false) as never);
  replaceWithFallback('Mean', leadingAxesReduction(true) as never);
  // batchMatMul keeps a handle on the stock kernel for the untransposed product.
  replaceKernel({ kernelName: 'BatchMatMul', backendName: BACKEND, setupFunc: stockMatMul?.setupFunc, kernelFunc: batchMatMul as unknown as KernelFunc });
}
