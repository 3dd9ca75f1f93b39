/**
 * What training and evaluation need from a classifier, generative (GC) or discriminative (DC):
 * the paper always compares the two, so both train and evaluate through the same code.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { NamedParam, RunContext } from '../inn/module.js';
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
