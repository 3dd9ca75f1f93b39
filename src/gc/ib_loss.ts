/**
 * Information-Bottleneck loss for a generative classifier, L_X + β·L_Y, as the official code
 * implements it (HEAD_AND_LOSS.md, IBINN_SMALL.md §3):
 *
 *   logits_y = −½‖z − μ_y‖² + log w_y
 *   L_X = (−logsumexp_y(logits_y) − log|det J|) / D          (per-dimension NLL of the mixture)
 *   L_Y = −Σ_y ỹ_y · log_softmax(logits)_y                    (label-smoothed cross entropy)
 *
 *   'ibinn'    (MNIST/CIFAR code):  loss = 2/(1+β)·L_X + 2β/(1+β)·L_Y
 *   'imagenet' (ImageNet code):     loss = 1/(1+β)·L_X +  β/(1+β)·L_Y
 *
 * Both are the paper's L_X + β·L_Y divided by (1+β) (times 2 for 'ibinn'). β = 0 gives a plain
 * normalizing flow (labels unused), β = ∞ plain cross entropy on the GMM logits.
 * (The IB-INN code's L_y is a log-likelihood shifted by a detached log w_y; its gradient equals
 * that of −L_Y here.)
 */
import * as tf from '@tensorflow/tfjs-core';

export type LossFormulation = 'ibinn' | 'imagenet';

export interface IbLossOptions {
  beta: number;
  formulation: LossFormulation;
}

export interface IbLossTerms {
  loss: tf.Scalar;
  /** mean L_X, nats per dimension */
  lx: tf.Scalar;
  /** mean L_Y (cross entropy against the given targets), nats */
  ly: tf.Scalar;
}

/** (1 − ε)·onehot(y) + ε/M */
export function smoothedTargets(labels: tf.Tensor1D, classes: number, epsilon: number): tf.Tensor2D {
  const onehot = tf.oneHot(tf.cast(labels, 'int32'), classes).toFloat();
  return tf.add(tf.mul(onehot, 1 - epsilon), epsilon / classes) as tf.Tensor2D;
}

/** Weights (a, b) of L_X and L_Y. */
export function lossWeights({ beta, formulation }: IbLossOptions): [number, number] {
  if (!(beta >= 0)) throw new Error(`β must be ≥ 0 (or Infinity), got ${beta}`);
  const f = formulation === 'ibinn' ? 2 : 1;
  if (beta === Infinity) return [0, f];
  return [f / (1 + beta), (f * beta) / (1 + beta)];
}

/** Per-sample L_X, shape [B]. */
export function perSampleLx(logits: tf.Tensor2D, logdet: tf.Tensor1D, dims: number): tf.Tensor1D {
  return tf.div(tf.neg(tf.add(tf.logSumExp(logits, 1), logdet)), dims) as tf.Tensor1D;
}

/** Per-sample L_Y, shape [B]. */
export function perSampleLy(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Tensor1D {
  return tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1)) as tf.Tensor1D;
}

export function ibLoss(logits: tf.Tensor2D, logdet: tf.Tensor1D, targets: tf.Tensor2D, dims: number, opts: IbLossOptions): IbLossTerms {
  const lx = tf.mean(perSampleLx(logits, logdet, dims)) as tf.Scalar;
  const ly = tf.mean(perSampleLy(logits, targets)) as tf.Scalar;
  const [a, b] = lossWeights(opts);
  const loss = tf.add(tf.mul(lx, a), tf.mul(ly, b)) as tf.Scalar;
  return { loss, lx, ly };
}
