/**
 * What follows the affine coupling inside a complete coupling block: a global per-channel affine
 * ("ActNorm") and a fixed channel mixing. The two official code bases differ here:
 *  - ImageNet ("slow" block): ActNorm with s = 0.2·ln(1 + e^{γ/2}) first, then the mixing;
 *  - IB-INN (MNIST/CIFAR "AIO" block): mixing (a rotation) first, then ActNorm with s = e^γ.
 * Parameter names match the official state dicts (act_norm, act_offset, w).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvertibleModule } from './module.js';
import { gatherChannels, mixChannels } from './ops.js';
import { channelAffine } from './fused_ops.js';
import { MersenneTwister, randomOrthogonal } from '../util/rng.js';

export type ActNormKind = 'softplus' | 'exp' | 'none';
export type MixingKind = 'permutation' | 'orthogonal' | 'none';

export interface PostCouplingOptions {
  actNorm: ActNormKind;
  /** initial scale s₀ (softplus: γ₀ = 10·s₀ as the official code; exp: γ₀ = ln s₀) */
  actNormInit: number;
  mixing: MixingKind;
  order: 'actnorm-then-mix' | 'mix-then-actnorm';
  /**
   * How a hard permutation is stored and applied: 'dense' keeps the C×C matrix `w` (a 1×1
   * convolution, as the official code runs it); 'indices' keeps only `w_perm` (out[i] = v[p[i]],
   * a gather), which for the ImageNet model saves 256 MB and 2.2 G MACs per image.
   */
  storage?: 'dense' | 'indices';
}

/** Fixed C×C mixing matrix (row-major, out = W·v): hard permutation or Haar-random rotation. */
export function fixedMixingMatrix(kind: 'permutation' | 'orthogonal', c: number, rng: MersenneTwister): Float32Array {
  const w = new Float32Array(c * c);
  if (kind === 'permutation') {
    const p = rng.permutation(c);
    for (let i = 0; i < c; i++) w[i * c + p[i]] = 1;
  } else {
    const q = randomOrthogonal(c, rng);
    for (let i = 0; i < c * c; i++) w[i] = q[i];
  }
  return w;
}

export abstract class PostCouplingBlock extends InvertibleModule {
  private post!: PostCouplingOptions;
  private gamma?: tf.Variable;
  private offset?: tf.Variable;
  private mixing?: tf.Variable;
  private mixingIndex?: tf.Variable;
  /** inverse of mixingIndex, recomputed whenever the variable is reassigned (checkpoint load) */
  private inverseIndexCache?: { dataId: object; index: tf.Tensor1D };

  protected initPost(channels: number, opts: PostCouplingOptions, rng: MersenneTwister): void {
    this.post = opts;
    if (opts.actNorm !== 'none') {
      const g0 = opts.actNorm === 'softplus' ? 10 * opts.actNormInit : Math.log(opts.actNormInit);
      this.gamma = this.param('act_norm', new Float32Array(channels).fill(g0), [channels]);
      this.offset = this.param('act_offset', new Float32Array(channels), [channels]);
    }
    if (opts.mixing === 'permutation' && opts.storage === 'indices') {
      this.mixingIndex = this.param('w_perm', Int32Array.from(rng.permutation(channels)), [channels], false);
    } else if (opts.mixing !== 'none') {
      this.mixing = this.param('w', fixedMixingMatrix(opts.mixing, channels, rng), [channels, channels], false);
    }
  }

  /** Multiply-accumulates of the mixing as the official dense 1×1 convolution. */
  protected mixingMacs(pixels: number, channels: number): number {
    return this.post.mixing === 'none' ? 0 : pixels * channels * channels;
  }

  private inverseIndex(): tf.Tensor1D {
    const index = this.mixingIndex as tf.Variable;
    const dataId = index.dataId as object;
    if (this.inverseIndexCache?.dataId !== dataId) {
      this.inverseIndexCache?.index.dispose();
      const p = index.dataSync() as Int32Array;
      const inv = new Int32Array(p.length);
      for (let i = 0; i < p.length; i++) inv[p[i]] = i;
      this.inverseIndexCache = { dataId, index: tf.keep(tf.tensor1d(inv, 'int32')) };
    }
    return this.inverseIndexCache.index;
  }

  /** log of the per-channel ActNorm scale, shape [C]. */
  private logScale(): tf.Tensor1D {
    if (!this.gamma) throw new Error('no ActNorm');
    if (this.post.actNorm === 'exp') return this.gamma as tf.Tensor1D;
    // 0.2·ln(1 + e^{γ/2}) = 0.1·softplus_{β=0.5}(γ); 1e-12 as in the official code
    return tf.log(tf.add(tf.mul(tf.softplus(tf.mul(this.gamma, 0.5)), 0.2), 1e-12)) as tf.Tensor1D;
  }

  private actNormForward(v: tf.Tensor, logdet: tf.Tensor1D): [tf.Tensor, tf.Tensor1D] {
    if (!this.gamma || !this.offset) return [v, logdet];
    const logS = this.logScale();
    const pixels = v.size / v.shape[0] / v.shape[v.rank - 1];
    return [channelAffine(v, tf.exp(logS), this.offset), tf.add(logdet, tf.mul(tf.sum(logS), pixels))];
  }

  private actNormInverse(y: tf.Tensor): tf.Tensor {
    if (!this.gamma || !this.offset) return y;
    return tf.mul(tf.sub(y, this.offset), tf.exp(tf.neg(this.logScale())));
  }

  private mix(v: tf.Tensor, inverse: boolean): tf.Tensor {
    if (this.mixingIndex) {
      const fwd = this.mixingIndex as tf.Tensor1D;
      const inv = this.inverseIndex();
      return inverse ? gatherChannels(v, inv, fwd) : gatherChannels(v, fwd, inv);
    }
    return this.mixing ? mixChannels(v, this.mixing, inverse) : v;
  }

  override dispose(): void {
    super.dispose();
    this.inverseIndexCache?.index.dispose();
  }

  /** Applies ActNorm and mixing after the coupling; adds the ActNorm log-det. */
  protected postForward(v: tf.Tensor, logdet: tf.Tensor1D): [tf.Tensor, tf.Tensor1D] {
    if (this.post.order === 'actnorm-then-mix') {
      const [a, ld] = this.actNormForward(v, logdet);
      return [this.mix(a, false), ld];
    }
    return this.actNormForward(this.mix(v, false), logdet);
  }

  protected postInverse(y: tf.Tensor): tf.Tensor {
    if (this.post.order === 'actnorm-then-mix') return this.actNormInverse(this.mix(y, true));
    return this.mix(this.actNormInverse(y), true);
  }
}
