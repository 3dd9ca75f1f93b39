/**
 * SGD with momentum (PyTorch semantics: buf ← μ·buf + g + λθ; θ ← θ − lr·buf) and Adam, over
 * parameter groups with their own learning-rate factor, momentum and weight decay, plus global
 * gradient-norm clipping. Written here rather than using tf.train so that optimizer state is
 * addressed by our parameter names and saved in checkpoints for exact resumption.
 */
import * as tf from '@tensorflow/tfjs-core';
import { flatView, reshapeView } from '../engine/views.js';
import type { NamedParam } from '../inn/module.js';
import type { NamedArray, SafetensorsFile } from '../io/safetensors.js';
import { FUSED_KERNELS, fused } from '../inn/fused_ops.js';

export type OptimizerKind = 'sgd' | 'adam';

export interface ParamGroup {
  name: string;
  params: NamedParam[];
  /** multiplies the global learning rate */
  lrScale: number;
  /** SGD momentum of this group */
  momentum: number;
  weightDecay: number;
}

export interface OptimizerOptions {
  kind: OptimizerKind;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** A group's parameters laid end to end: where each one sits in the flat vector. */
interface FlatLayout {
  group: ParamGroup;
  sizes: number[];
  offsets: number[];
  total: number;
  /** optimizer state (momentum / Adam moments), one flat variable per slot */
  slots: tf.Variable[];
}

/**
 * Gradients of each parameter group concatenated into one vector. The update then runs as a
 * handful of kernels on a few long vectors instead of ~7 small kernels per parameter tensor
 * (thousands per step for the IB-INN presets, where per-kernel overhead dominated the update).
 */
export class FlatGradients {
  constructor(readonly perGroup: tf.Tensor1D[]) {}

  /** Global L2 norm over every group. */
  norm(): number {
    if (fused(FUSED_KERNELS.sumOfSquares)) {
      // one pass per group instead of square, sum and a full-size temporary
      const squares = this.perGroup.map((g) => {
        const t = tf.engine().runKernel(FUSED_KERNELS.sumOfSquares, { x: g }) as tf.Scalar;
        const v = t.dataSync()[0];
        t.dispose();
        return v;
      });
      return Math.sqrt(squares.reduce((a, b) => a + b, 0));
    }
    return tf.tidy(() => Math.sqrt(tf.addN(this.perGroup.map((g) => tf.sum(tf.square(g)))).dataSync()[0]));
  }

  dispose(): void {
    tf.dispose(this.perGroup);
  }
}

export class Optimizer {
  private readonly layouts: FlatLayout[];
  private t = 0;

  constructor(readonly groups: ParamGroup[], readonly options: OptimizerOptions) {
    this.layouts = groups.map((group) => {
      const sizes = group.params.map((p) => p.variable.size);
      const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
      const total = sizes.reduce((a, b) => a + b, 0);
      const n = options.kind === 'adam' ? 2 : group.momentum > 0 ? 1 : 0;
      // (in a tidy: the zeros the variable copies are released)
      const slots = Array.from({ length: n }, () => tf.tidy(() => tf.variable(tf.zeros([total]), false)));
      return { group, sizes, offsets, total, slots };
    });
  }

  get steps(): number {
    return this.t;
  }

  /** The gradients of each group as one vector (a missing gradient counts as zero). */
  flatten(grads: Map<string, tf.Tensor>): FlatGradients {
    return new FlatGradients(
      this.layouts.map((l) =>
        tf.tidy(() => {
          const parts = l.group.params.map((p) => flatView(grads.get(p.name) ?? tf.zerosLike(p.variable)));
          return (parts.length === 1 ? parts[0].clone() : tf.concat(parts)) as tf.Tensor1D;
        }),
      ),
    );
  }

  /** Applies one update; gradients are scaled by `gradScale` (clipping) first. */
  apply(grads: Map<string, tf.Tensor>, lr: number, gradScale = 1): void {
    const flat = this.flatten(grads);
    this.applyFlat(flat, lr, gradScale);
    flat.dispose();
  }

  applyFlat(flat: FlatGradients, lr: number, gradScale = 1): void {
    this.t += 1;
    const { kind } = this.options;
    const b1 = this.options.beta1 ?? 0.9;
    const b2 = this.options.beta2 ?? 0.999;
    const eps = this.options.eps ?? 1e-8;
    const useFused = fused(FUSED_KERNELS.optimizerStep);
    this.layouts.forEach((l, i) => {
      const { group, slots } = l;
      const glr = lr * group.lrScale;
      if (useFused) {
        this.applyFused(l, flat.perGroup[i], glr, gradScale, b1, b2, eps);
        return;
      }
      tf.tidy(() => {
        const params = group.params.map((p) => flatView(p.variable));
        const theta = params.length === 1 ? params[0] : tf.concat(params);
        let g: tf.Tensor = gradScale === 1 ? flat.perGroup[i] : tf.mul(flat.perGroup[i], gradScale);
        if (group.weightDecay > 0) g = tf.add(g, tf.mul(theta, group.weightDecay));
        let step: tf.Tensor;
        if (kind === 'sgd') {
          if (slots.length) {
            slots[0].assign(tf.add(tf.mul(slots[0], group.momentum), g));
            step = tf.mul(slots[0], glr);
          } else {
            step = tf.mul(g, glr);
          }
        } else {
          slots[0].assign(tf.add(tf.mul(slots[0], b1), tf.mul(g, 1 - b1)));
          slots[1].assign(tf.add(tf.mul(slots[1], b2), tf.mul(tf.square(g), 1 - b2)));
          const mHat = tf.div(slots[0], 1 - b1 ** this.t);
          const vHat = tf.div(slots[1], 1 - b2 ** this.t);
          step = tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), eps)), glr);
        }
        const updated = tf.sub(theta, step);
        const pieces = group.params.length === 1 ? [updated] : tf.split(updated, l.sizes);
        group.params.forEach((p, k) => p.variable.assign(reshapeView(pieces[k], p.variable.shape)));
      });
    });
  }

  /**
   * The same update as one fused kernel (native addon): no concatenation of the parameters, one
   * pass over the group instead of about ten.
   */
  private applyFused(l: FlatLayout, g: tf.Tensor1D, glr: number, gradScale: number, b1: number, b2: number, eps: number): void {
    const adam = this.options.kind === 'adam';
    const { group, slots } = l;
    const inputs: tf.NamedTensorMap = { g };
    slots.forEach((s, k) => (inputs[`s${k}`] = s));
    group.params.forEach((p, k) => (inputs[`p${k}`] = p.variable));
    const attrs = {
      adam: adam ? 1 : 0, lr: glr, gradScale, weightDecay: group.weightDecay, momentum: group.momentum,
      beta1: b1, beta2: b2, eps, bc1: 1 - b1 ** this.t, bc2: 1 - b2 ** this.t,
      slots: slots.length, params: group.params.length,
    };
    const outs = tf.engine().runKernel(FUSED_KERNELS.optimizerStep, inputs, attrs) as tf.Tensor[];
    slots.forEach((s, k) => s.assign(outs[k]));
    group.params.forEach((p, k) => p.variable.assign(outs[slots.length + k]));
    tf.dispose(outs);
  }

  /** Optimizer state per parameter (checkpoint names `optim/<slot>/<parameter>`), and the step count. */
  stateArrays(prefix = 'optim/'): NamedArray[] {
    const out: NamedArray[] = [];
    for (const l of this.layouts) {
      const values = l.slots.map((v) => v.dataSync() as Float32Array);
      l.group.params.forEach((p, k) => {
        values.forEach((flat, i) =>
          out.push({ name: `${prefix}${i}/${p.name}`, dtype: 'F32', shape: p.variable.shape, data: flat.slice(l.offsets[k], l.offsets[k] + l.sizes[k]) }),
        );
      });
    }
    out.push({ name: `${prefix}t`, dtype: 'F32', shape: [1], data: Float32Array.of(this.t) });
    return out;
  }

  loadState(file: SafetensorsFile, source: string, prefix = 'optim/'): void {
    for (const l of this.layouts) {
      l.slots.forEach((slot, i) => {
        const flat = new Float32Array(l.total);
        l.group.params.forEach((p, k) => {
          const t = file.tensors.get(`${prefix}${i}/${p.name}`);
          if (!t) throw new Error(`checkpoint ${source}: optimizer state for ${p.name} is missing (different optimizer settings?)`);
          if (t.data.length !== l.sizes[k]) throw new Error(`checkpoint ${source}: optimizer state for ${p.name} has the wrong size`);
          flat.set(t.data as Float32Array, l.offsets[k]);
        });
        tf.tidy(() => slot.assign(tf.tensor1d(flat)));
      });
    }
    const t = file.tensors.get(`${prefix}t`);
    this.t = t ? t.data[0] : 0;
  }

  dispose(): void {
    for (const l of this.layouts) l.slots.forEach((v) => v.dispose());
  }
}

/** Learning rate at a (fractional) epoch: lr · factor^(number of milestones passed). */
export function learningRate(base: number, epoch: number, milestones: number[], factor: number): number {
  return base * factor ** milestones.filter((m) => epoch >= m).length;
}
