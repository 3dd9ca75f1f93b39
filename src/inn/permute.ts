/**
 * Fixed random permutation of a flat vector [B, D] (FrEIA PermuteRandom). The permutation is
 * numpy's `RandomState(seed).permutation(n)`, so seed 0 reproduces the official models' order
 * without storing it. `length` < D permutes only the first `length` entries (the ImageNet model
 * permutes just the 3072 DC terms).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvertibleModule, constantLogdet } from './module.js';
import type { FlowResult } from './module.js';
import { MersenneTwister } from '../util/rng.js';

export class RandomPermutation extends InvertibleModule {
  readonly perm: Int32Array;
  private readonly forwardIndex: tf.Tensor1D;
  private readonly inverseIndex: tf.Tensor1D;

  constructor(readonly dims: number, seed = 0, readonly length = dims) {
    super();
    if (length > dims) throw new Error(`permutation length ${length} exceeds vector size ${dims}`);
    this.perm = new MersenneTwister(seed).permutation(length);
    const fwd = new Int32Array(dims);
    const inv = new Int32Array(dims);
    for (let i = 0; i < dims; i++) fwd[i] = i < length ? this.perm[i] : i;
    for (let i = 0; i < dims; i++) inv[fwd[i]] = i;
    this.forwardIndex = tf.keep(tf.tensor1d(fwd, 'int32'));
    this.inverseIndex = tf.keep(tf.tensor1d(inv, 'int32'));
  }

  outputShape(inputShape: number[]): number[] {
    if (inputShape.length !== 1 || inputShape[0] !== this.dims) {
      throw new Error(`permutation expects vectors of ${this.dims} values, got shape [${inputShape}]`);
    }
    return inputShape;
  }

  forward(x: tf.Tensor): FlowResult {
    // y[i] = x[perm[i]]
    return { y: tf.gather(x, this.forwardIndex, 1), logdet: constantLogdet(x.shape[0], 0) };
  }

  inverse(y: tf.Tensor): tf.Tensor {
    return tf.gather(y, this.inverseIndex, 1);
  }

  override dispose(): void {
    tf.dispose([this.forwardIndex, this.inverseIndex]);
  }
}
