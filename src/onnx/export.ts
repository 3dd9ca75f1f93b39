/**
 * ONNX export of a generative classifier's inference graph: image x ([B,H,W,C], pixels in [0,1])
 * → latent z, log|det J| and logits, for onnxruntime (Node or web).
 *
 * The graph is obtained by tracing: every kernel the tensor backend runs during one eval-mode
 * forward pass is recorded (inputs, attributes, outputs) and translated into ONNX operators.
 * Values that do not depend on the image (parameters, and anything computed only from them, such
 * as folded batch-norm scales) become initializers. Tracing sees concrete shapes, so the graph has
 * a fixed batch size; the runtime pads the last batch.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { GenerativeClassifier } from '../gc/model.js';
import { EVAL } from '../inn/module.js';
import { OnnxGraph, attr } from './graph.js';
import { convInfoFor } from '../engine/conv_info.js';
import type { ConvAttrs } from '../engine/conv_info.js';
import type { OnnxDType } from './graph.js';
import { fusedKernelsEnabled, setFusedKernels } from '../inn/fused_ops.js';

interface KernelCall {
  kernel: string;
  inputs: Record<string, TensorInfo> | TensorInfo[];
  attrs: Record<string, unknown>;
  outputs: TensorInfo[];
}

/**
 * Runs `fn` with every kernel of the active backend wrapped so that each outermost call is handed
 * to `onCall` as it happens (while its inputs are alive: ops dispose their temporaries on return).
 */
function traceKernels(fn: () => void, onCall: (call: KernelCall) => void): void {
  const backendName = tf.getBackend();
  const originals = tf.getKernelsForBackend(backendName);
  let depth = 0; // kernels that call other kernels internally: record only the outer call
  const wrap = (config: KernelConfig): KernelConfig => ({
    ...config,
    kernelFunc: ((args: { inputs: KernelCall['inputs']; attrs?: Record<string, unknown> }) => {
      depth++;
      let out: TensorInfo | TensorInfo[];
      try {
        out = config.kernelFunc(args as never) as TensorInfo | TensorInfo[];
      } finally {
        depth--;
      }
      if (depth === 0) onCall({ kernel: config.kernelName, inputs: args.inputs, attrs: args.attrs ?? {}, outputs: Array.isArray(out) ? out : [out] });
      return out;
    }) as KernelFunc,
  });
  const swap = (configs: KernelConfig[]) => {
    for (const c of configs) {
      tf.unregisterKernel(c.kernelName, backendName);
      tf.registerKernel(c);
    }
  };
  swap(originals.map(wrap));
  try {
    fn();
  } finally {
    swap(originals);
  }
}

type ValueRef = { dynamic: true; name: string } | { dynamic: false; info: TensorInfo; values: Float32Array | Int32Array | Uint8Array };

export interface OnnxExportOptions {
  /** Batch size the graph is fixed to (default 64). */
  batch?: number;
}

export interface OnnxExportResult {
  bytes: Uint8Array;
  batch: number;
  nodes: number;
  initializers: number;
}

export const ONNX_INPUT = 'x';
export const ONNX_OUTPUTS = ['z', 'logdet', 'logits'] as const;

export function exportOnnx(model: GenerativeClassifier, options: OnnxExportOptions = {}): OnnxExportResult {
  const batch = options.batch ?? 64;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`ONNX export batch size must be a positive integer, got ${batch}`);
  const { height, width, channels } = model.config.input;
  const graph = new OnnxGraph();
  tf.tidy(() => {
    const x = tf.fill([batch, height, width, channels], 0.5) as tf.Tensor4D;
    let result: { z: tf.Tensor; logdet: tf.Tensor; logits: tf.Tensor } | undefined;
    const translator = new Translator(graph, x.dataId);
    // The trace is translated op by op, so it must see the plain tfjs ops, not fused engine kernels.
    const fusedBefore = fusedKernelsEnabled();
    setFusedKernels(false);
    try {
      traceKernels(
        () => {
          const { z, logdet } = model.latent(x, EVAL);
          result = { z, logdet, logits: model.logits(z) };
        },
        (call) => translator.translate(call),
      );
    } finally {
      setFusedKernels(fusedBefore);
    }
    graph.inputs.push({ name: ONNX_INPUT, dtype: 'float32', dims: [batch, height, width, channels] });
    for (const name of ONNX_OUTPUTS) {
      const t = result![name];
      graph.node('Identity', [translator.dynamicName(t as unknown as TensorInfo, name)], {}, [name]);
      graph.outputs.push({ name, dtype: 'float32', dims: t.shape });
    }
  });
  const logw = model.head.logClassWeights().dataSync();
  const bytes = graph.toModel({
    producer: 'trustgc',
    producerVersion: '0.1.0',
    doc: `trustgc generative classifier ${model.config.arch}: x [B,H,W,C] in [0,1] → z, logdet, logits (batch fixed to ${batch})`,
    properties: {
      'trustgc.config': JSON.stringify(model.config),
      'trustgc.batch': String(batch),
      'trustgc.log_class_weights': JSON.stringify(Array.from(logw)),
    },
  });
  return { bytes, batch, nodes: graph.nodes.length, initializers: graph.initializers.length };
}

const NCHW = [0, 3, 1, 2];
const NHWC = [0, 2, 3, 1];
/** where NHWC axis k sits in NCHW */
const NHWC_AXIS_IN_NCHW = [0, 2, 3, 1];

const UNARY: Record<string, string> = {
  Neg: 'Neg', Exp: 'Exp', Log: 'Log', Tanh: 'Tanh', Atan: 'Atan', Relu: 'Relu', Sigmoid: 'Sigmoid',
  Softplus: 'Softplus', Sqrt: 'Sqrt', Abs: 'Abs', Reciprocal: 'Reciprocal', Floor: 'Floor', Ceil: 'Ceil',
  Identity: 'Identity', Sin: 'Sin', Cos: 'Cos', Erf: 'Erf',
};
const BINARY: Record<string, string> = {
  Add: 'Add', Sub: 'Sub', Multiply: 'Mul', RealDiv: 'Div', Maximum: 'Max', Minimum: 'Min', Pow: 'Pow',
};

class Translator {
  private readonly values = new Map<object, Map<string, ValueRef>>();

  constructor(private readonly graph: OnnxGraph, inputDataId: object) {
    this.values.set(inputDataId, new Map([['*', { dynamic: true, name: ONNX_INPUT }]]));
  }

  private lookup(info: TensorInfo): ValueRef {
    const byShape = this.values.get(info.dataId);
    // the graph input is one value whatever shape it is viewed with
    const ref = byShape?.get(info.shape.join('x')) ?? byShape?.get('*');
    // never seen: a parameter, or a constant an op created (read now, while it is alive)
    return ref ?? this.constant(info);
  }

  private constant(info: TensorInfo): ValueRef {
    const ref: ValueRef = { dynamic: false, info, values: (tf.backend().readSync(info.dataId) as Float32Array | Int32Array | Uint8Array).slice() };
    this.define(info, ref);
    return ref;
  }

  private define(info: TensorInfo, ref: ValueRef): void {
    let byShape = this.values.get(info.dataId);
    if (!byShape) this.values.set(info.dataId, (byShape = new Map()));
    byShape.set(info.shape.join('x'), ref);
  }

  /**
   * Values produced by convolutions are kept in ONNX's NCHW layout (they are the tfjs NHWC tensor,
   * transposed) so that runs of convolutions and elementwise ops need no transposes in between;
   * `name` gives every other consumer the tfjs layout, transposing back once per value.
   */
  private readonly nchw = new Set<string>();
  private readonly converted = new Map<string, string>();

  private convert(name: string, perm: number[]): string {
    const key = `${name}|${perm.join('')}`;
    let out = this.converted.get(key);
    if (!out) {
      out = this.graph.op('Transpose', [name], { perm: attr.ints(perm) });
      this.converted.set(key, out);
    }
    return out;
  }

  private isNchw(info: TensorInfo): boolean {
    const ref = this.lookup(info);
    return ref.dynamic && this.nchw.has(ref.name);
  }

  /** The value in NCHW layout (`info` is a 4-D NHWC tfjs tensor, or broadcasts against one). */
  private nchwName(info: TensorInfo): string {
    const ref = this.lookup(info);
    if (ref.dynamic && this.nchw.has(ref.name)) return ref.name;
    const rank = info.shape.length;
    const padded = [...Array(4 - rank).fill(1), ...info.shape];
    const [a, b, c, d] = padded;
    if (!ref.dynamic && info.dtype === 'float32') {
      // constant: reorder its values once, at export
      const src = ref.values as Float32Array;
      const dst = new Float32Array(src.length);
      for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) for (let k = 0; k < c; k++) for (let l = 0; l < d; l++) {
        dst[((i * d + l) * b + j) * c + k] = src[((i * b + j) * c + k) * d + l];
      }
      return this.graph.initializer(this.graph.fresh('const_nchw'), 'float32', [a, d, b, c], dst);
    }
    const plain = this.name(info);
    const four = rank === 4 ? plain : this.graph.op('Reshape', [plain, this.graph.int64(padded)]);
    return this.convert(four, NCHW);
  }

  private defineNchw(info: TensorInfo, name: string): void {
    this.nchw.add(name);
    this.define(info, { dynamic: true, name });
  }

  /** The ONNX name of a value in the tfjs layout; constants become initializers on first use. */
  name(info: TensorInfo): string {
    const ref = this.lookup(info);
    if (ref.dynamic) return this.nchw.has(ref.name) ? this.convert(ref.name, NHWC) : ref.name;
    const name = this.graph.fresh('const');
    const values = ref.values;
    const dtype: OnnxDType = info.dtype === 'int32' ? 'int32' : info.dtype === 'bool' ? 'bool' : 'float32';
    const data = dtype === 'int32' ? Int32Array.from(values) : dtype === 'bool' ? Uint8Array.from(values) : Float32Array.from(values);
    this.graph.initializer(name, dtype, info.shape, data);
    this.define(info, { dynamic: true, name });
    return name;
  }

  dynamicName(info: TensorInfo, what: string): string {
    if (!this.lookup(info).dynamic) throw new Error(`ONNX export: output ${what} does not depend on the input image`);
    return this.name(info);
  }

  translate(call: KernelCall): void {
    const inputs = Array.isArray(call.inputs) ? call.inputs : Object.values(call.inputs);
    if (!inputs.some((t) => this.lookup(t).dynamic)) {
      // Image-independent: keep the computed value as a constant.
      for (const out of call.outputs) this.constant(out);
      return;
    }
    if (this.emitNchw(call, inputs)) return;
    const names = this.emit(call);
    call.outputs.forEach((out, i) => this.define(out, { dynamic: true, name: names[i] }));
  }

  /** Ops that can stay in NCHW when a convolution's output feeds them; false: not handled here. */
  private emitNchw(call: KernelCall, inputs: TensorInfo[]): boolean {
    const g = this.graph;
    const k = call.kernel;
    const out = call.outputs[0];
    const inp = call.inputs as Record<string, TensorInfo>;
    if (k === 'Conv2D') {
      this.defineNchw(out, this.conv2d(inp.x, inp.filter, call.attrs));
      return true;
    }
    if (!inputs.some((t) => this.isNchw(t)) || out.shape.length !== 4 || out.dtype !== 'float32') return false;
    if (k in UNARY || k === 'Rsqrt' || k === 'Square') {
      const x = this.nchwName(inp.x);
      const y = k === 'Rsqrt' ? g.op('Reciprocal', [g.op('Sqrt', [x])]) : k === 'Square' ? g.op('Mul', [x, x]) : g.op(UNARY[k], [x]);
      this.defineNchw(out, y);
      return true;
    }
    if (k in BINARY) {
      if (inp.a.shape.length > 4 || inp.b.shape.length > 4) return false;
      this.defineNchw(out, g.op(BINARY[k], [this.nchwName(inp.a), this.nchwName(inp.b)]));
      return true;
    }
    const toNchwAxis = (axis: number) => NHWC_AXIS_IN_NCHW[axis < 0 ? axis + 4 : axis];
    if (k === 'Concat') {
      const list = call.inputs as TensorInfo[];
      if (list.some((t) => t.shape.length !== 4)) return false;
      const axis = toNchwAxis(Array.isArray(call.attrs.axis) ? (call.attrs.axis as number[])[0] : (call.attrs.axis as number));
      this.defineNchw(out, g.op('Concat', list.map((t) => this.nchwName(t)), { axis: attr.int(axis) }));
      return true;
    }
    if (k === 'SplitV') {
      const axisNhwc = (call.attrs.axis as number) < 0 ? (call.attrs.axis as number) + 4 : (call.attrs.axis as number);
      const sizes = call.outputs.map((o) => o.shape[axisNhwc]);
      const names = g.node('Split', [this.nchwName(inp.x), g.int64(sizes)], { axis: attr.int(toNchwAxis(axisNhwc)) }, sizes.length);
      call.outputs.forEach((o, i) => this.defineNchw(o, names[i]));
      return true;
    }
    return false;
  }

  private emit(call: KernelCall): string[] {
    const g = this.graph;
    const a = call.attrs;
    const inp = call.inputs as Record<string, TensorInfo>;
    const out = call.outputs[0];
    const k = call.kernel;
    if (k in UNARY) return [g.op(UNARY[k], [this.name(inp.x)])];
    if (k in BINARY) return [g.op(BINARY[k], [this.name(inp.a), this.name(inp.b)])];
    switch (k) {
      case 'Rsqrt':
        return [g.op('Reciprocal', [g.op('Sqrt', [this.name(inp.x)])])];
      case 'Square': {
        const x = this.name(inp.x);
        return [g.op('Mul', [x, x])];
      }
      case 'SquaredDifference': {
        const d = g.op('Sub', [this.name(inp.a), this.name(inp.b)]);
        return [g.op('Mul', [d, d])];
      }
      case 'Cast':
        return [g.op('Cast', [this.name(inp.x)], { to: attr.int(a.dtype === 'int32' ? 6 : a.dtype === 'bool' ? 9 : 1) })];
      case 'Reshape':
      case 'ExpandDims':
      case 'Squeeze':
        return [g.op('Reshape', [this.name(inp.x), g.int64(out.shape)])];
      case 'Transpose':
        return [g.op('Transpose', [this.name(inp.x)], { perm: attr.ints(a.perm as number[]) })];
      case 'Concat': {
        const list = call.inputs as TensorInfo[];
        const axis = normaliseAxis(axisOf(a.axis), list[0].shape.length);
        return [g.op('Concat', list.map((t) => this.name(t)), { axis: attr.int(axis) })];
      }
      case 'AddN':
        return [g.op('Sum', (call.inputs as TensorInfo[]).map((t) => this.name(t)))];
      case 'SplitV': {
        const axis = normaliseAxis(a.axis as number, inp.x.shape.length);
        const sizes = call.outputs.map((o) => o.shape[axis]);
        return g.node('Split', [this.name(inp.x), g.int64(sizes)], { axis: attr.int(axis) }, sizes.length);
      }
      case 'Slice': {
        const begin = a.begin as number[];
        const size = a.size as number[];
        const ends = size.map((s, i) => (s < 0 ? inp.x.shape[i] : begin[i] + s));
        return [g.op('Slice', [this.name(inp.x), g.int64(begin), g.int64(ends), g.int64(begin.map((_, i) => i))])];
      }
      case 'GatherV2': {
        if ((a.batchDims as number) > 0) break;
        const axis = normaliseAxis(a.axis as number, inp.x.shape.length);
        return [g.op('Gather', [this.name(inp.x), this.name(inp.indices)], { axis: attr.int(axis) })];
      }
      case 'Sum':
      case 'Mean':
      case 'Max':
      case 'Min': {
        const rank = inp.x.shape.length;
        const axes = (Array.isArray(a.axis) ? (a.axis as number[]) : [a.axis as number]).map((ax) => normaliseAxis(ax, rank));
        const keepdims = attr.int(a.keepDims ? 1 : 0);
        if (k === 'Sum') return [g.op('ReduceSum', [this.name(inp.x), g.int64(axes)], { keepdims })];
        const op = k === 'Mean' ? 'ReduceMean' : k === 'Max' ? 'ReduceMax' : 'ReduceMin';
        return [g.op(op, [this.name(inp.x)], { axes: attr.ints(axes), keepdims })];
      }
      case 'Softmax':
        return [g.op('Softmax', [this.name(inp.logits)], { axis: attr.int(normaliseAxis(a.dim as number, inp.logits.shape.length)) })];
      case 'ClipByValue':
        return [g.op('Clip', [this.name(inp.x), this.scalar(a.clipValueMin as number), this.scalar(a.clipValueMax as number)])];
      case 'Tile':
        return [g.op('Tile', [this.name(inp.x), g.int64(a.reps as number[])])];
      case 'PadV2': {
        const pads = a.paddings as Array<[number, number]>;
        return [g.op('Pad', [this.name(inp.x), g.int64([...pads.map((p) => p[0]), ...pads.map((p) => p[1])]), this.scalar(a.constantValue as number)])];
      }
      case 'BatchMatMul': {
        const swap = (t: TensorInfo) => {
          const perm = t.shape.map((_, i) => i);
          [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
          return g.op('Transpose', [this.name(t)], { perm: attr.ints(perm) });
        };
        const left = a.transposeA ? swap(inp.a) : this.name(inp.a);
        const right = a.transposeB ? swap(inp.b) : this.name(inp.b);
        return [g.op('MatMul', [left, right])];
      }
    }
    throw new Error(`ONNX export: tfjs kernel ${k} has no ONNX translation yet`);
  }

  private scalar(v: number): string {
    const name = this.graph.fresh('const_f32');
    return this.graph.initializer(name, 'float32', [], Float32Array.of(v));
  }

  /** NHWC tfjs convolution as an ONNX Conv on the NCHW layout of its input; the result is NCHW. */
  private conv2d(x: TensorInfo, filter: TensorInfo, a: Record<string, unknown>): string {
    const g = this.graph;
    const info = convInfoFor(x.shape, filter.shape, a as unknown as ConvAttrs);
    const ref = this.lookup(filter);
    let weights: string;
    if (ref.dynamic) {
      weights = g.op('Transpose', [ref.name], { perm: attr.ints([3, 2, 0, 1]) });
    } else {
      // HWIO → OIHW once, at export
      const [kh, kw, ci, co] = filter.shape;
      const src = ref.values as Float32Array;
      const dst = new Float32Array(src.length);
      for (let h = 0; h < kh; h++) for (let w = 0; w < kw; w++) for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) {
        dst[((o * ci + i) * kh + h) * kw + w] = src[((h * kw + w) * ci + i) * co + o];
      }
      weights = g.initializer(g.fresh('conv_weight'), 'float32', [co, ci, kh, kw], dst);
    }
    const { top, left, bottom, right } = info.padInfo;
    return g.op('Conv', [this.nchwName(x), weights], {
      kernel_shape: attr.ints([info.filterHeight, info.filterWidth]),
      strides: attr.ints([info.strideHeight, info.strideWidth]),
      dilations: attr.ints([info.dilationHeight, info.dilationWidth]),
      pads: attr.ints([top, left, bottom, right]),
    });
  }
}

function axisOf(axis: unknown): number {
  return Array.isArray(axis) ? (axis[0] as number) : (axis as number);
}

function normaliseAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}
