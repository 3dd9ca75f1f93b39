/**
 * SGD with momentum (PyTorch semantics: buf ← μ·buf + g + λθ; θ ← θ − lr·buf) and Adam, over
 * parameter groups with their own learning-rate factor, momentum and weight decay, plus global
 * gradient-norm clipping. Written here rather than using tf.train so that optimizer state is
 * addressed by our parameter names and saved in checkpoints for exact resumption.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedParam } from '../inn/module.js';
import type { NamedArray, SafetensorsFile } from '../io/safetensors.js';

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

export class Optimizer {
  private readonly slots = new Map<string, tf.Variable[]>();
  private t = 0;

  constructor(readonly groups: ParamGroup[], readonly options: OptimizerOptions) {
    for (const g of groups) {
      for (const p of g.params) {
        const n = options.kind === 'adam' ? 2 : g.momentum > 0 ? 1 : 0;
        this.slots.set(p.name, Array.from({ length: n }, () => tf.variable(tf.zerosLike(p.variable), false)));
      }
    }
  }

  get steps(): number {
    return this.t;
  }

  /** Global L2 norm of the gradients. */
  static globalNorm(grads: Map<string, tf.Tensor>): number {
    return tf.tidy(() => {
      const squares = [...grads.values()].map((g) => tf.sum(tf.square(g)));
      return Math.sqrt(tf.addN(squares).dataSync()[0]);
    });
  }

  /** Applies one update; gradients are scaled by `gradScale` (clipping) first. */
  apply(grads: Map<string, tf.Tensor>, lr: number, gradScale = 1): void {
    this.t += 1;
    const { kind } = this.options;
    const b1 = this.options.beta1 ?? 0.9;
    const b2 = this.options.beta2 ?? 0.999;
    const eps = this.options.eps ?? 1e-8;
    tf.tidy(() => {
      for (const group of this.groups) {
        const glr = lr * group.lrScale;
        for (const p of group.params) {
          const raw = grads.get(p.name);
          if (!raw) continue;
          let g = gradScale === 1 ? raw : tf.mul(raw, gradScale);
          if (group.weightDecay > 0) g = tf.add(g, tf.mul(p.variable, group.weightDecay));
          const slot = this.slots.get(p.name)!;
          if (kind === 'sgd') {
            if (slot.length) {
              slot[0].assign(tf.add(tf.mul(slot[0], group.momentum), g));
              p.variable.assign(tf.sub(p.variable, tf.mul(slot[0], glr)));
            } else {
              p.variable.assign(tf.sub(p.variable, tf.mul(g, glr)));
            }
          } else {
            slot[0].assign(tf.add(tf.mul(slot[0], b1), tf.mul(g, 1 - b1)));
            slot[1].assign(tf.add(tf.mul(slot[1], b2), tf.mul(tf.square(g), 1 - b2)));
            const mHat = tf.div(slot[0], 1 - b1 ** this.t);
            const vHat = tf.div(slot[1], 1 - b2 ** this.t);
            p.variable.assign(tf.sub(p.variable, tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), eps)), glr)));
          }
        }
      }
    });
  }

  stateArrays(prefix = 'optim/'): NamedArray[] {
    const out: NamedArray[] = [];
    for (const [name, slot] of this.slots) {
      slot.forEach((v, i) => out.push({ name: `${prefix}${i}/${name}`, dtype: 'F32', shape: v.shape, data: v.dataSync() as Float32Array }));
    }
    out.push({ name: `${prefix}t`, dtype: 'F32', shape: [1], data: Float32Array.of(this.t) });
    return out;
  }

  loadState(file: SafetensorsFile, source: string, prefix = 'optim/'): void {
    for (const [name, slot] of this.slots) {
      slot.forEach((v, i) => {
        const t = file.tensors.get(`${prefix}${i}/${name}`);
        if (!t) throw new Error(`checkpoint ${source}: optimizer state for ${name} is missing (different optimizer settings?)`);
        if (t.data.length !== v.size) throw new Error(`checkpoint ${source}: optimizer state for ${name} has the wrong size`);
        tf.tidy(() => v.assign(tf.tensor(t.data, v.shape, 'float32')));
      });
    }
    const t = file.tensors.get(`${prefix}t`);
    this.t = t ? t.data[0] : 0;
  }

  dispose(): void {
    for (const slot of this.slots.values()) slot.forEach((v) => v.dispose());
  }
}

/** Learning rate at a (fractional) epoch: lr · factor^(number of milestones passed). */
export function learningRate(base: number, epoch: number, milestones: number[], factor: number): number {
  return base * factor ** milestones.filter((m) => epoch >= m).length;
}
