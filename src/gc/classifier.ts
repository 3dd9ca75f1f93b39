/**
 * What training and evaluation need from a classifier, generative (GC) or discriminative (DC):
 * the paper always compares the two, so both train and evaluate through the same code.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Module, NamedParam, RunContext } from '../inn/module.js';
import type { ModelConfig } from './presets.js';
import type { BatchNorm } from '../inn/layers.js';
import type { IbLossTerms, LossFormulation } from './ib_loss.js';
import type { InferenceModel, Inference } from './model.js';

export interface Classifier extends InferenceModel {
  readonly kind: 'gc' | 'dc';
  namedParams(): NamedParam[];
  trainableVariables(): tf.Variable[];
  /** parameters of the network (the INN, or the DC's feature extractor) and of its head */
  countParams(): { inn: number; head: number; total: number };
  macs(): { learned: number; fixed: number; head: number };
  /** training loss terms and accuracy on a batch of [0,1] images */
  lossTerms(
    x01: tf.Tensor,
    labels: tf.Tensor1D,
    opts: { beta: number; labelSmoothing: number; formulation?: LossFormulation },
    ctx: RunContext,
  ): IbLossTerms & { accuracy: tf.Scalar };
  /** a forward pass for its side effects in ctx (batch-norm statistics) */
  runForward(x01: tf.Tensor, ctx: RunContext): void;
  batchNorms(): BatchNorm[];
  infer(x01: tf.Tensor): Inference;
  dispose(): void;
}

/**
 * What every classifier shares: the input normalisation of its config, and a network and a head
 * whose parameters are named "<network prefix>.…" and "<head prefix>.…" in checkpoints.
 */
export abstract class ClassifierBase {
  private readonly inputMean: tf.Tensor1D;
  private readonly inputInvStd: tf.Tensor1D;

  constructor(readonly config: ModelConfig) {
    this.inputMean = tf.keep(tf.tensor1d(config.input.mean));
    this.inputInvStd = tf.keep(tf.tensor1d(config.input.std.map((s) => 1 / s)));
  }

  /** [prefix, module] of the network, then of the head (called after construction only) */
  protected abstract parts(): [[string, Module], [string, Module]];

  get classes(): number {
    return this.config.classNames.length;
  }

  /** Every parameter and buffer with a unique dotted name. */
  namedParams(): NamedParam[] {
    return this.parts().flatMap(([prefix, m]) => m.namedParams(`${prefix}.`));
  }

  trainableVariables(): tf.Variable[] {
    return this.namedParams().filter((p) => p.trainable).map((p) => p.variable);
  }

  /** parameters of the network (the INN, or the DC's feature extractor) and of its head */
  countParams(): { inn: number; head: number; total: number } {
    const [[, net], [, head]] = this.parts();
    const inn = net.countParams();
    const h = head.countParams();
    return { inn, head: h, total: inn + h };
  }

  /** (x − mean) / std per channel, x in [0, 1] */
  normalize(x01: tf.Tensor): tf.Tensor4D {
    return tf.tidy(() => tf.mul(tf.sub(x01, this.inputMean), this.inputInvStd) as tf.Tensor4D);
  }

  /** the inverse of normalize */
  protected denormalize(xn: tf.Tensor): tf.Tensor4D {
    return tf.tidy(() => tf.add(tf.div(xn, this.inputInvStd), this.inputMean) as tf.Tensor4D);
  }

  dispose(): void {
    for (const [, m] of this.parts()) m.dispose();
    tf.dispose([this.inputMean, this.inputInvStd]);
  }
}
