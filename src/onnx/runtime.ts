/**
 * Inference on onnxruntime: a classifier exported by `exportOnnx` (model.onnx next to the model's
 * config.json), run by onnxruntime-node, answering `infer` exactly like the tfjs model.
 * onnxruntime-node is an optional accelerator: `onnxAvailable()` says whether it loads here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { checkImageBatch, inferenceFrom } from '../gc/model.js';
import type { GenerativeClassifier, Inference, InferenceModel } from '../gc/model.js';
import type { ModelConfig } from '../gc/presets.js';
import { loadModel, readConfig } from '../io/checkpoint.js';
import { ONNX_INPUT } from './export.js';

export const ONNX_FILE = 'model.onnx';

type Ort = typeof import('onnxruntime-node');
let ortModule: Promise<Ort | undefined> | undefined;

/** onnxruntime-node, or undefined when it is not installed or its native library does not load. */
export function loadOnnxRuntime(): Promise<Ort | undefined> {
  ortModule ??= import('onnxruntime-node').then(
    (m) => ((m as { default?: Ort }).default ?? m) as Ort,
    () => undefined,
  );
  return ortModule;
}

export async function onnxAvailable(): Promise<boolean> {
  return (await loadOnnxRuntime()) !== undefined;
}

export interface OnnxClassifierOptions {
  /** Threads onnxruntime may use inside one operator (default: every core). */
  threads?: number;
}

export class OnnxClassifier implements InferenceModel {
  private constructor(
    readonly config: ModelConfig,
    private readonly session: InferenceSession,
    private readonly ort: Ort,
    /** Batch size the graph was exported with; other batch sizes are split and padded. */
    readonly batch: number,
    private readonly logClassWeights: Float32Array,
  ) {}

  /** Loads `<dir>/model.onnx` (written by `trustgc export-onnx`) with the config beside it. */
  static async load(dir: string, options: OnnxClassifierOptions = {}): Promise<OnnxClassifier> {
    const path = join(dir, ONNX_FILE);
    if (!existsSync(path)) throw new Error(`no ONNX export in ${dir} (run: trustgc export-onnx --model ${dir})`);
    return OnnxClassifier.fromBytes(readFileSync(path), readConfig(dir), options, path);
  }

  static async fromBytes(bytes: Uint8Array, config: ModelConfig, options: OnnxClassifierOptions = {}, source = 'ONNX model'): Promise<OnnxClassifier> {
    const ort = await loadOnnxRuntime();
    if (!ort) throw new Error('onnxruntime-node is not available: install it (npm install onnxruntime-node) or use the tfjs engine');
    let session: InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: options.threads ?? 0,
        graphOptimizationLevel: 'all',
      });
    } catch (error) {
      throw new Error(`${source} could not be loaded by onnxruntime: ${(error as Error).message}`);
    }
    const meta = readMetadata(bytes);
    const exported = JSON.parse(meta['trustgc.config'] ?? 'null') as ModelConfig | null;
    if (!exported || exported.arch !== config.arch || exported.classNames.join('\n') !== config.classNames.join('\n')) {
      throw new Error(`${source} was exported from another model (architecture or classes differ from its config.json)`);
    }
    const batch = Number(meta['trustgc.batch']);
    const logw = Float32Array.from(JSON.parse(meta['trustgc.log_class_weights'] ?? '[]') as number[]);
    if (!Number.isInteger(batch) || batch < 1 || logw.length !== config.classNames.length) {
      throw new Error(`${source} lacks trustgc metadata (batch size, class weights): export it with trustgc export-onnx`);
    }
    return new OnnxClassifier(config, session, ort, batch, logw);
  }

  get classes(): number {
    return this.config.classNames.length;
  }

  /** Same outputs as GenerativeClassifier.infer. */
  async infer(x01: tf.Tensor): Promise<Inference> {
    checkImageBatch(this.config, x01);
    const { height, width, channels } = this.config.input;
    const pixels = height * width * channels;
    const n = x01.shape[0];
    const input = x01.dataSync() as Float32Array;
    const z = new Float32Array(n * pixels);
    const logdet = new Float32Array(n);
    const logits = new Float32Array(n * this.classes);
    for (let start = 0; start < n; start += this.batch) {
      const size = Math.min(this.batch, n - start);
      // the graph has a fixed batch: pad the last chunk with zeros, drop their outputs
      const chunk = new Float32Array(this.batch * pixels);
      chunk.set(input.subarray(start * pixels, (start + size) * pixels));
      const out = await this.session.run({ [ONNX_INPUT]: new this.ort.Tensor('float32', chunk, [this.batch, height, width, channels]) });
      const take = (t: OrtTensor, per: number, into: Float32Array) => into.set((t.data as Float32Array).subarray(0, size * per), start * per);
      take(out.z, pixels, z);
      take(out.logdet, 1, logdet);
      take(out.logits, this.classes, logits);
    }
    return tf.tidy(() =>
      inferenceFrom(this.config, tf.tensor2d(logits, [n, this.classes]), tf.tensor1d(logdet), tf.tensor1d(this.logClassWeights)),
    );
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** metadata_props of an ONNX ModelProto (field 14: key 1, value 2), read without a protobuf library. */
export function readMetadata(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const decoder = new TextDecoder();
  const readVarint = (buf: Uint8Array, pos: { i: number }) => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = buf[pos.i++];
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  };
  const fields = (buf: Uint8Array, visit: (field: number, value: Uint8Array) => void) => {
    const pos = { i: 0 };
    while (pos.i < buf.length) {
      const key = readVarint(buf, pos);
      const field = Math.floor(key / 8);
      const wire = key % 8;
      if (wire === 0) readVarint(buf, pos);
      else if (wire === 1) pos.i += 8;
      else if (wire === 5) pos.i += 4;
      else if (wire === 2) {
        const len = readVarint(buf, pos);
        visit(field, buf.subarray(pos.i, pos.i + len));
        pos.i += len;
      } else throw new Error('not an ONNX model (unexpected protobuf wire type)');
    }
  };
  fields(bytes, (field, value) => {
    if (field !== 14) return;
    let key = '';
    let val = '';
    fields(value, (f, v) => {
      if (f === 1) key = decoder.decode(v);
      if (f === 2) val = decoder.decode(v);
    });
    out[key] = val;
  });
  return out;
}

export type EngineChoice = 'auto' | 'tfjs' | 'onnx';

/**
 * The model of a folder on the requested engine. 'auto' takes onnxruntime when the folder holds an
 * ONNX export and onnxruntime-node loads, else the tfjs model.
 */
export async function loadInferenceModel(dir: string, engine: EngineChoice = 'auto'): Promise<InferenceModel & { dispose(): void | Promise<void> }> {
  if (engine !== 'auto' && engine !== 'tfjs' && engine !== 'onnx') throw new Error(`unknown engine "${engine}": expected auto, tfjs or onnx`);
  if (engine === 'onnx' || (engine === 'auto' && existsSync(join(dir, ONNX_FILE)) && (await onnxAvailable()))) {
    return OnnxClassifier.load(dir);
  }
  return loadModel(dir);
}

export interface EngineComparison {
  images: number;
  /** largest |a − b| / max(1, |a|) per output */
  maxError: Record<'logits' | 'logPx' | 'bitsPerDim' | 'posterior', number>;
  tolerance: number;
  ok: boolean;
}

/**
 * Runs both engines on the same deterministic pseudo-random images and reports the largest
 * difference of each output, relative to its magnitude (log-densities of a few thousand nats are
 * only resolved to ~1e-4 absolute in float32).
 */
export async function compareOnnxWithTfjs(model: GenerativeClassifier, onnx: OnnxClassifier, images: number, tolerance = 1e-4): Promise<EngineComparison> {
  const { height, width, channels } = model.config.input;
  const values = new Float32Array(images * height * width * channels);
  let s = 2463534242;
  for (let i = 0; i < values.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    values[i] = (s >>> 0) / 4294967296;
  }
  const x = tf.tensor4d(values, [images, height, width, channels]);
  const a = model.infer(x);
  const b = await onnx.infer(x);
  const keys = ['logits', 'logPx', 'bitsPerDim', 'posterior'] as const;
  const maxError = Object.fromEntries(
    keys.map((k) => {
      const [va, vb] = [a[k].dataSync(), b[k].dataSync()];
      let m = 0;
      for (let i = 0; i < va.length; i++) m = Math.max(m, Math.abs(va[i] - vb[i]) / Math.max(1, Math.abs(va[i])));
      return [k, m];
    }),
  ) as EngineComparison['maxError'];
  tf.dispose([x, ...Object.values(a), ...Object.values(b)]);
  return { images, maxError, tolerance, ok: Object.values(maxError).every((e) => e <= tolerance) };
}

export function formatComparison(c: EngineComparison): string {
  const parts = Object.entries(c.maxError).map(([k, v]) => `${k} ${v.toExponential(1)}`);
  return `largest relative differences ${parts.join(', ')} (tolerance ${c.tolerance}) — ${c.ok ? 'equal' : 'NOT equal'}`;
}
