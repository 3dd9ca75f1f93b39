/**
 * Parameter ownership and the invertible-module contract.
 *
 * `Module` owns named tfjs variables and child modules, like torch.nn.Module: names compose into
 * dotted paths ("blocks.3.subnet.0.weight") used by checkpoints and parameter counts.
 * `InvertibleModule` is FrEIA's contract: forward(x) → (y, log|det J|) per sample, inverse(y) → x.
 */
import * as tf from '@tensorflow/tfjs-core';
import { flatView, reshapeView } from '../engine/views.js';

export interface NamedParam {
  name: string;
  variable: tf.Variable;
  /** false for buffers: BN running statistics, fixed mixing matrices. */
  trainable: boolean;
}

/** target ← (1 − rate)·target + rate·(valueScale·value) */
export interface StatBlend {
  target: tf.Variable;
  value: tf.Tensor;
  rate: number;
  /** default 1 (e.g. n/(n − 1) to unbias a variance) */
  valueScale?: number;
}

/** Running-statistics update recorded by a BatchNorm layer during a training forward pass. */
export interface PendingStatUpdate {
  /** the blends to apply (called once, at commit) */
  blends(): StatBlend[];
  dispose(): void;
}

/**
 * Applies blends with the same rate together: a few kernels on the concatenated statistics
 * instead of three per statistic (hundreds per step in the IB-INN presets).
 */
function applyBlends(blends: StatBlend[]): void {
  const byRate = new Map<number, StatBlend[]>();
  for (const b of blends) byRate.set(b.rate, [...(byRate.get(b.rate) ?? []), b]);
  for (const [rate, group] of byRate) {
    tf.tidy(() => {
      const flat = (ts: tf.Tensor[]) => (ts.length === 1 ? flatView(ts[0]) : tf.concat(ts.map(flatView)));
      const targets = flat(group.map((b) => b.target));
      let values = flat(group.map((b) => b.value));
      if (group.some((b) => (b.valueScale ?? 1) !== 1)) {
        const scale = new Float32Array(values.size);
        let at = 0;
        for (const b of group) {
          scale.fill(b.valueScale ?? 1, at, at + b.value.size);
          at += b.value.size;
        }
        values = tf.mul(values, tf.tensor1d(scale));
      }
      const blended = tf.add(tf.mul(targets, 1 - rate), tf.mul(values, rate));
      const pieces = group.length === 1 ? [blended] : tf.split(blended, group.map((b) => b.target.size));
      group.forEach((b, i) => b.target.assign(reshapeView(pieces[i], b.target.shape)));
    });
  }
}

export class RunContext {
  readonly pending: PendingStatUpdate[] = [];
  private seedCounter: number;
  constructor(
    /** training mode: batch statistics in BN, dropout active */
    readonly training: boolean,
    /** record BN running-stat updates (off when re-running a batch, e.g. for an inverse) */
    readonly recordStats = training,
    /** base seed for dropout masks, so a resumed run draws the same masks */
    seed = 0,
  ) {
    this.seedCounter = seed;
  }

  /** A fresh seed for one random op. */
  nextSeed(): number {
    this.seedCounter = (this.seedCounter + 0x9e3779b1) >>> 0;
    return this.seedCounter;
  }

  /** Applies and releases all recorded running-stat updates. */
  commit(): void {
    applyBlends(this.pending.flatMap((p) => p.blends()));
    for (const p of this.pending) p.dispose();
    this.pending.length = 0;
  }

  discard(): void {
    for (const p of this.pending) p.dispose();
    this.pending.length = 0;
  }
}

export const EVAL = new RunContext(false, false);

export abstract class Module {
  private readonly ownParams: NamedParam[] = [];
  private readonly children: Array<[string, Module]> = [];

  /** Registers a variable; a tensor `init` stays owned by the caller. */
  protected param(name: string, init: tf.Tensor | Float32Array | Int32Array, shape: number[], trainable = true): tf.Variable {
    const size = shape.reduce((a, b) => a * b, 1);
    const isArray = init instanceof Float32Array || init instanceof Int32Array;
    const initSize = isArray ? init.length : init.size;
    if (initSize !== size) {
      throw new Error(`parameter ${name}: initial value has ${initSize} elements, shape [${shape}] needs ${size}`);
    }
    // integer arrays (index buffers such as permutations) become int32 variables
    const value = isArray ? tf.tensor(init, shape, init instanceof Int32Array ? 'int32' : 'float32') : init.reshape(shape);
    const variable = tf.variable(value, trainable);
    value.dispose(); // the variable keeps its own reference to the data
    this.ownParams.push({ name, variable, trainable });
    return variable;
  }

  protected child<M extends Module>(name: string, module: M): M {
    this.children.push([name, module]);
    return module;
  }

  /** This module and all its descendants, depth first. */
  *modules(): Generator<Module> {
    yield this;
    for (const [, module] of this.children) yield* module.modules();
  }

  namedParams(prefix = ''): NamedParam[] {
    const out: NamedParam[] = this.ownParams.map((p) => ({ ...p, name: prefix + p.name }));
    for (const [name, module] of this.children) out.push(...module.namedParams(`${prefix}${name}.`));
    return out;
  }

  trainableVariables(): tf.Variable[] {
    return this.namedParams().filter((p) => p.trainable).map((p) => p.variable);
  }

  countParams(trainableOnly = true): number {
    return this.namedParams()
      .filter((p) => !trainableOnly || p.trainable)
      .reduce((n, p) => n + p.variable.size, 0);
  }

  dispose(): void {
    for (const p of this.namedParams()) p.variable.dispose();
  }
}

/**
 * Multiply-accumulates per image, split like the reference's counts: learned subnet layers, and
 * fixed linear maps (mixing matrices, space-to-depth, Haar, DCT) counted as the official code
 * runs them (dense 1×1 convolutions, grouped 2×2 convolutions, two 1-D DCT matmuls).
 */
export interface MacCount {
  learned: number;
  fixed: number;
}

export function addMacs(a: MacCount, b: MacCount): MacCount {
  return { learned: a.learned + b.learned, fixed: a.fixed + b.fixed };
}

export interface FlowResult {
  y: tf.Tensor;
  /** log|det ∂y/∂x| per sample, shape [batch] */
  logdet: tf.Tensor1D;
}

export abstract class InvertibleModule extends Module {
  /** Per-sample output shape (no batch axis) for a per-sample input shape. */
  abstract outputShape(inputShape: number[]): number[];
  abstract forward(x: tf.Tensor, ctx?: RunContext): FlowResult;
  abstract inverse(y: tf.Tensor, ctx?: RunContext): tf.Tensor;
  /** MACs of one forward pass for a per-sample input shape (blocks without arithmetic: zero). */
  macs(_inputShape: number[]): MacCount {
    return { learned: 0, fixed: 0 };
  }
}

/** A constant per-sample log-det broadcast to the batch. */
export function constantLogdet(batch: number, value: number): tf.Tensor1D {
  return tf.fill([batch], value) as tf.Tensor1D;
}

/** Σ over all axes but the batch axis. */
export function sumPerSample(t: tf.Tensor): tf.Tensor1D {
  const axes = [];
  for (let i = 1; i < t.rank; i++) axes.push(i);
  return (axes.length ? tf.sum(t, axes) : t) as tf.Tensor1D;
}

export function assertShape(where: string, x: tf.Tensor, expected: number[]): void {
  const got = x.shape.slice(1);
  if (got.length !== expected.length || got.some((d, i) => d !== expected[i])) {
    throw new Error(`${where}: expected input of per-sample shape [${expected.join(', ')}], got [${got.join(', ')}]`);
  }
}
