/**
 * Kernels the tfjs wasm backend lacks (Conv2DBackpropFilter, UnsortedSegmentSum) or runs slowly
 * (Conv2DBackpropInput at stride 1). Each one is expressed through kernels wasm runs fast
 * (Conv2D, Transpose, Reverse, Slice) so that training a conv net on wasm is practical.
 * Verified against the cpu backend in test/wasm_kernels.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

type Backend = tf.KernelBackend & {
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

type ConvAttrs = {
  strides: [number, number] | number;
  pad: 'same' | 'valid' | number | backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape?: [number, number, number, number];
  inputShape?: [number, number, number, number];
};

function convInfoFor(xShape: number[], filterShape: number[], attrs: ConvAttrs): backend_util.Conv2DInfo {
  if (attrs.dataFormat === 'NCHW') throw new Error('trustgc engine: only NHWC convolutions are supported on wasm');
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
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
}
