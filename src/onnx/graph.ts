/**
 * An ONNX graph under construction (nodes, initializers, inputs, outputs) and its serialisation
 * to a ModelProto (IR version 8, default-domain opset 17).
 */
import { ProtoWriter } from './protobuf.js';

export type OnnxDType = 'float32' | 'int32' | 'int64' | 'bool';
const DTYPE_CODE: Record<OnnxDType, number> = { float32: 1, int32: 6, int64: 7, bool: 9 };

export const OPSET = 17;
const IR_VERSION = 8;

export type Attr = { i: number } | { f: number } | { ints: number[] } | { floats: number[] } | { s: string };
export const attr = {
  int: (i: number): Attr => ({ i }),
  float: (f: number): Attr => ({ f }),
  ints: (ints: number[]): Attr => ({ ints }),
  floats: (floats: number[]): Attr => ({ floats }),
  string: (s: string): Attr => ({ s }),
};

interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
  name: string;
}

type TensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array;

interface Initializer {
  name: string;
  dtype: OnnxDType;
  dims: number[];
  data: TensorData;
}

export interface ValueInfo {
  name: string;
  dtype: OnnxDType;
  /** a string names a symbolic dimension */
  dims: Array<number | string>;
}

export class OnnxGraph {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: Initializer[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  private counter = 0;
  private readonly int64Cache = new Map<string, string>();

  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** Adds a node; returns its output names (`outputs`: how many, or the names to give them). */
  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, outputs: number | string[] = 1): string[] {
    const name = this.fresh(op);
    const outs = Array.isArray(outputs) ? outputs : Array.from({ length: outputs }, (_, i) => (outputs === 1 ? name : `${name}_${i}`));
    this.nodes.push({ op, inputs, outputs: outs, attrs, name });
    return outs;
  }

  /** Single-output node. */
  op(op: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.node(op, inputs, attrs, 1)[0];
  }

  initializer(name: string, dtype: OnnxDType, dims: number[], data: TensorData): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (data.length !== size) throw new Error(`initializer ${name}: ${data.length} values for shape [${dims}]`);
    this.initializers.push({ name, dtype, dims, data });
    return name;
  }

  /** An int64 vector constant (shapes, axes, pads), shared between nodes that need the same one. */
  int64(values: number[]): string {
    const key = values.join(',');
    let name = this.int64Cache.get(key);
    if (!name) {
      name = this.initializer(this.fresh('const_i64'), 'int64', [values.length], BigInt64Array.from(values.map(BigInt)));
      this.int64Cache.set(key, name);
    }
    return name;
  }

  toModel(meta: { producer: string; producerVersion: string; doc?: string; properties?: Record<string, string> }): Uint8Array {
    const w = new ProtoWriter();
    w.int(1, IR_VERSION);
    w.string(2, meta.producer);
    w.string(3, meta.producerVersion);
    if (meta.doc) w.string(6, meta.doc);
    w.message(7, (g) => this.writeGraph(g));
    w.message(8, (o) => o.string(1, '').int(2, OPSET));
    for (const [key, value] of Object.entries(meta.properties ?? {})) w.message(14, (e) => e.string(1, key).string(2, value));
    return w.finish();
  }

  private writeGraph(g: ProtoWriter): void {
    for (const n of this.nodes) {
      g.message(1, (m) => {
        for (const i of n.inputs) m.string(1, i);
        for (const o of n.outputs) m.string(2, o);
        m.string(3, n.name);
        m.string(4, n.op);
        for (const [name, a] of Object.entries(n.attrs)) m.message(5, (am) => writeAttr(am, name, a));
      });
    }
    g.string(2, 'trustgc');
    for (const t of this.initializers) g.message(5, (m) => writeTensor(m, t));
    for (const v of this.inputs) g.message(11, (m) => writeValueInfo(m, v));
    for (const v of this.outputs) g.message(12, (m) => writeValueInfo(m, v));
  }
}

function writeAttr(w: ProtoWriter, name: string, a: Attr): void {
  w.string(1, name);
  if ('f' in a) w.float(2, a.f).int(20, 1);
  else if ('i' in a) w.int(3, a.i).int(20, 2);
  else if ('s' in a) w.string(4, a.s).int(20, 3);
  else if ('floats' in a) w.packedFloats(7, a.floats).int(20, 6);
  else w.packedInts(8, a.ints).int(20, 7);
}

function writeTensor(w: ProtoWriter, t: Initializer): void {
  if (t.dims.length > 0) w.packedInts(1, t.dims);
  w.int(2, DTYPE_CODE[t.dtype]);
  w.string(8, t.name);
  // raw_data is little-endian, as typed arrays are on every platform Node runs on
  w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

function writeValueInfo(w: ProtoWriter, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, DTYPE_CODE[v.dtype]);
      tensor.message(2, (shape) => {
        for (const d of v.dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}
