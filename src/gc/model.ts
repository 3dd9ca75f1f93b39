/**
 * The generative classifier: an INN f mapping a normalised image to a latent z, and a Gaussian
 * mixture head with one unit-variance Gaussian per class. Classification by Bayes' rule,
 * likelihoods by the change-of-variables formula.
 */
import * as tf from '@tensorflow/tfjs-core';
import { EVAL, RunContext } from '../inn/module.js';
import type { Module } from '../inn/module.js';
import { InvertibleSequence } from '../inn/sequence.js';
import { GaussianMixtureHead } from './gmm_head.js';
import { ibLoss, smoothedTargets, perSampleLx } from './ib_loss.js';
import type { IbLossTerms, LossFormulation } from './ib_loss.js';
import { buildArchitecture } from './presets.js';
import type { ModelConfig } from './presets.js';
import { MersenneTwister } from '../util/rng.js';
import { BatchNorm } from '../inn/layers.js';
import { ClassifierBase } from './classifier.js';
import type { Classifier } from './classifier.js';

const LN2 = Math.log(2);
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

export type Inference = {
  logits: tf.Tensor2D;
  /** p(y|x), [B, M] */
  posterior: tf.Tensor2D;
  /** log p(x|y) in [0,1]-pixel space, nats, [B, M] */
  logPxGivenY: tf.Tensor2D;
  /** log p(x) in [0,1]-pixel space, nats, [B] */
  logPx: tf.Tensor1D;
  /** −log p(x) in bits per dimension for 8-bit images (bin width 1/256), [B] */
  bitsPerDim: tf.Tensor1D;
  /** L_X per sample (normalised-input space, nats per dim, as in training) [B] */
  lx: tf.Tensor1D;
  prediction: tf.Tensor1D;
};

/** What evaluation needs from a classifier: the tfjs model, or its ONNX export on onnxruntime. */
export interface InferenceModel {
  readonly config: ModelConfig;
  readonly classes: number;
  infer(x01: tf.Tensor): Inference | Promise<Inference>;
}

/** Throws a clear error for a batch of the wrong shape or with non-finite pixels. */
export function checkImageBatch(config: ModelConfig, x: tf.Tensor, checkFinite = true): void {
  const { height, width, channels } = config.input;
  const expected = `[batch, ${height}, ${width}, ${channels}]`;
  if (x.rank !== 4 || x.shape[1] !== height || x.shape[2] !== width || x.shape[3] !== channels) {
    throw new Error(`input has shape [${x.shape.join(', ')}], model ${config.arch} expects ${expected}`);
  }
  if (checkFinite) {
    const bad = tf.tidy(() => tf.logicalNot(tf.all(tf.isFinite(x))).dataSync()[0]);
    if (bad) throw new Error('input contains NaN or infinite pixel values');
  }
}

/**
 * The classifier's outputs from logits (which include log w_y) and log|det J| per sample:
 * log p(x|y) = logit_y − log w_y + log|det| − D/2·log 2π + log|det| of the input normalisation.
 */
export function inferenceFrom(config: ModelConfig, logits: tf.Tensor2D, logdet: tf.Tensor1D, logClassWeights: tf.Tensor1D): Inference {
  return tf.tidy(() => {
    const { height, width, channels, std } = config.input;
    const d = height * width * channels;
    const normalisationLogdet = -height * width * std.reduce((s, v) => s + Math.log(v), 0);
    const constant = -d * HALF_LOG_2PI + normalisationLogdet;
    const logPxGivenY = tf.add(tf.add(tf.sub(logits, logClassWeights), tf.expandDims(logdet, 1)), constant) as tf.Tensor2D;
    const logPx = tf.add(tf.add(tf.logSumExp(logits, 1), logdet), constant) as tf.Tensor1D;
    const bitsPerDim = tf.div(tf.add(tf.div(tf.neg(logPx), d), Math.log(256)), LN2) as tf.Tensor1D;
    return {
      logits: tf.clone(logits),
      posterior: tf.softmax(logits) as tf.Tensor2D,
      logPxGivenY,
      logPx,
      bitsPerDim,
      lx: perSampleLx(logits, logdet, d),
      prediction: tf.argMax(logits, 1) as tf.Tensor1D,
    };
  });
}

export class GenerativeClassifier extends ClassifierBase implements Classifier {
  readonly kind = 'gc' as const;
  readonly inn: InvertibleSequence;
  readonly head: GaussianMixtureHead;
  readonly dims: number;
  constructor(config: ModelConfig) {
    super(config);
    const rng = new MersenneTwister(config.seed);
    const { height, width, channels } = config.input;
    this.inn = buildArchitecture(config, rng);
    const out = this.inn.outputShape([height, width, channels]);
    if (out.length !== 1) throw new Error(`architecture ${config.arch} must end in a flat latent, ends in [${out}]`);
    this.dims = out[0];
    if (this.dims !== height * width * channels) throw new Error('INN changed the number of dimensions');
    this.head = new GaussianMixtureHead({ ...config.head, classes: config.classNames.length, dims: this.dims }, rng);
  }

  /** parameters are named "inn.…" and "head.…" */
  protected parts(): [[string, Module], [string, Module]] {
    return [['inn', this.inn], ['head', this.head]];
  }

  /** Multiply-accumulates per image: INN (learned / fixed ops) and the head's distances. */
  macs(): { learned: number; fixed: number; head: number } {
    const { height, width, channels } = this.config.input;
    return { ...this.inn.macs([height, width, channels]), head: this.head.macs() };
  }

  /** Throws a clear error for a batch of the wrong shape or with non-finite pixels. */
  checkInput(x: tf.Tensor, checkFinite = true): void {
    checkImageBatch(this.config, x, checkFinite);
  }

  /** z = f(normalised x) and log|det J| per sample. */
  latent(x01: tf.Tensor, ctx: RunContext = EVAL): { z: tf.Tensor2D; logdet: tf.Tensor1D } {
    const xn = this.normalize(x01);
    const { y, logdet } = this.inn.forward(xn, ctx);
    if (!ctx.training) xn.dispose(); // inference frees activations as it goes (sequence.ts)
    return { z: y as tf.Tensor2D, logdet };
  }

  /** logits_y = −½‖z − μ_y‖² + log w_y */
  logits(z: tf.Tensor2D, frozenMeans = false): tf.Tensor2D {
    return tf.add(tf.mul(this.head.squaredDistances(z, frozenMeans), -0.5), this.head.logClassWeights()) as tf.Tensor2D;
  }

  /** Image from a latent (inverse pass), in [0,1]-pixel space. */
  decode(z: tf.Tensor2D): tf.Tensor4D {
    return tf.tidy(() => this.denormalize(this.inn.inverse(z, EVAL)));
  }

  /** Everything the classifier knows about a batch of [0,1] images (eval mode). */
  infer(x01: tf.Tensor): Inference {
    this.checkInput(x01);
    return tf.tidy(() => {
      const { z, logdet } = this.latent(x01, EVAL);
      return inferenceFrom(this.config, this.logits(z, true), logdet, this.head.logClassWeights());
    });
  }

  batchNorms(): BatchNorm[] {
    return [...this.inn.modules()].filter((m): m is BatchNorm => m instanceof BatchNorm);
  }

  runForward(x01: tf.Tensor, ctx: RunContext): void {
    this.latent(x01, ctx);
  }

  /** IB loss terms and accuracy on a batch (inside a gradient tape when training). */
  lossTerms(
    x01: tf.Tensor,
    labels: tf.Tensor1D,
    opts: { beta: number; labelSmoothing: number; formulation?: LossFormulation },
    ctx: RunContext,
  ): IbLossTerms & { accuracy: tf.Scalar } {
    const { z, logdet } = this.latent(x01, ctx);
    const logits = this.logits(z);
    const targets = smoothedTargets(labels, this.classes, opts.labelSmoothing);
    const terms = ibLoss(logits, logdet, targets, this.dims, { beta: opts.beta, formulation: opts.formulation ?? this.config.loss.formulation });
    const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.cast(labels, 'int32')), 'float32')) as tf.Scalar;
    return { ...terms, accuracy };
  }

}
