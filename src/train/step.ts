/**
 * One optimisation step of a generative classifier: IB loss and gradients over a batch (in chunks
 * that fit the backend's memory, gradients summed), global-norm clipping, the optimizer update,
 * and the batch-norm statistics of the step committed only when everything was finite.
 * Shared by the trainer and the throughput benchmark, so both time the same work.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../gc/classifier.js';
import { RunContext } from '../inn/module.js';
import type { Batch } from '../data/batches.js';
import type { FlatGradients, Optimizer } from './optimizer.js';

export interface StepSettings {
  lr: number;
  /** Loss multiplier (burn-in). */
  scale: number;
  /** Images per forward/backward pass; larger batches accumulate gradients. */
  chunk: number;
  beta: number;
  labelSmoothing: number;
  /** Global gradient-norm limit; 0 disables clipping. */
  clipNorm: number;
  /** Seed of the step's dropout masks. */
  seed: number;
}

export interface StepOutcome {
  metrics: { loss: number; lx: number; ly: number; accuracy: number; gradNorm: number; lr: number };
  /** False when the loss or a gradient was NaN/Inf: then nothing was updated. */
  finite: boolean;
}

/** Loss terms of a batch (or of a shard, already weighted by its share) and their flat gradients. */
export interface BatchGradients {
  loss: number;
  lx: number;
  ly: number;
  accuracy: number;
  flat: FlatGradients;
}

/** What the trainer drives: one step per batch (TrainingStep here, DataParallelStep across threads). */
export interface StepRunner {
  run(batch: Batch, s: StepSettings): StepOutcome;
  dispose(): void;
}

export class TrainingStep implements StepRunner {
  private readonly vars: tf.Variable[];
  /** tfjs variable name → our parameter name (the optimizer's keys) */
  private readonly byVarName = new Map<string, string>();
  private readonly imageShape: [number, number, number];

  constructor(
    private readonly model: Classifier,
    private readonly optimizer: Optimizer,
  ) {
    const trainable = model.namedParams().filter((p) => p.trainable);
    for (const p of trainable) this.byVarName.set(p.variable.name, p.name);
    this.vars = trainable.map((p) => p.variable);
    const { height, width, channels } = model.config.input;
    this.imageShape = [height, width, channels];
  }

  run(batch: Batch, s: StepSettings): StepOutcome {
    const ctx = new RunContext(true, true, s.seed);
    return this.apply(this.gradients(batch, s, ctx), s, ctx);
  }

  /**
   * Loss terms and flat gradients of `batch`, each multiplied by `share` (the batch's part of a
   * larger one whose shards are summed; 1 for a whole batch).
   */
  gradients(batch: Batch, s: StepSettings, ctx: RunContext, share = 1): BatchGradients {
    const { loss, lx, ly, accuracy, named } = this.accumulateGradients(batch, s, ctx, share);
    const flat = this.optimizer.flatten(named);
    tf.dispose([...named.values()]);
    return { loss, lx, ly, accuracy, flat };
  }

  /**
   * Clips and applies summed gradients (disposing them); commits the batch-norm statistics of
   * `ctx` only when the loss and every gradient are finite.
   */
  apply(g: BatchGradients, s: StepSettings, ctx: RunContext): StepOutcome {
    const { loss, lx, ly, accuracy, flat } = g;
    const gradNorm = flat.norm();
    const finite = Number.isFinite(loss) && Number.isFinite(gradNorm);
    if (finite) {
      const clip = s.clipNorm > 0 && gradNorm > s.clipNorm ? s.clipNorm / gradNorm : 1;
      this.optimizer.applyFlat(flat, s.lr, clip);
      ctx.commit();
    } else {
      ctx.discard();
    }
    flat.dispose();
    return { metrics: { loss, lx, ly, accuracy, gradNorm, lr: s.lr }, finite };
  }

  dispose(): void {}

  /**
   * Loss value, metrics and summed gradients of one batch, computed in chunks (each chunk's loss
   * weighted by its share of the batch, so the result equals the full-batch gradient up to
   * BatchNorm statistics).
   */
  private accumulateGradients(batch: Batch, s: StepSettings, ctx: RunContext, share: number) {
    const [h, w, c] = this.imageShape;
    const n = h * w * c;
    const named = new Map<string, tf.Tensor>();
    let loss = 0;
    let lx = 0;
    let ly = 0;
    let accuracy = 0;
    for (let start = 0; start < batch.size; start += s.chunk) {
      const size = Math.min(s.chunk, batch.size - start);
      const weight = (size / batch.size) * share;
      const x = tf.tensor4d(batch.x.subarray(start * n, (start + size) * n), [size, h, w, c]);
      const labels = tf.tensor1d(batch.labels.subarray(start, start + size), 'int32');
      let kept: tf.Tensor[] = [];
      let grads: tf.NamedTensorMap;
      let value: tf.Scalar;
      try {
        ({ value, grads } = tf.variableGrads(() => {
          const t = this.model.lossTerms(x, labels, { beta: s.beta, labelSmoothing: s.labelSmoothing }, ctx);
          kept = [tf.keep(t.lx), tf.keep(t.ly), tf.keep(t.accuracy)];
          return tf.mul(t.loss, s.scale * weight) as tf.Scalar;
        }, this.vars));
      } catch (e) {
        tf.dispose([x, labels]);
        if (/memory access out of bounds|out of memory|Cannot enlarge memory/i.test((e as Error).message)) {
          throw new Error(`the tensor backend ran out of memory on a chunk of ${size} images (wasm memory is limited to 4 GB): use a smaller --micro-batch or --batch-size`);
        }
        throw e;
      }
      loss += value.dataSync()[0] / s.scale;
      const [a, b, cc] = kept.map((t) => t.dataSync()[0]);
      lx += a * weight;
      ly += b * weight;
      accuracy += cc * weight;
      for (const [k, g] of Object.entries(grads)) {
        const name = this.byVarName.get(k) ?? k;
        const prev = named.get(name);
        if (prev) {
          named.set(name, tf.add(prev, g));
          tf.dispose([prev, g]);
        } else {
          named.set(name, g);
        }
      }
      tf.dispose([x, labels, value, ...kept]);
    }
    return { loss, lx, ly, accuracy, named };
  }
}
