/**
 * Convolutional affine coupling block (Dinh et al.), in the two official variants:
 *
 *   u = (u1, u2), u1 = first C − ⌊C/2⌋ channels (passive)
 *   a = subnet(u1) = (a_s, a_t), each ⌊C/2⌋ channels
 *   ls = clamp · tanh(0.1 · a_s)
 *   v2 = u2 · exp(ls) + shiftScale · a_t          shiftScale 0.1 (ImageNet) or 1 (IB-INN)
 *   then ActNorm + fixed mixing (see post_coupling.ts)
 *
 * log|det J| = Σ ls + H·W·Σ_c log s_c.
 */
import * as tf from '@tensorflow/tfjs-core';
import { EVAL, RunContext } from './module.js';
import type { FlowResult, MacCount } from './module.js';
import { PostCouplingBlock } from './post_coupling.js';
import type { PostCouplingOptions } from './post_coupling.js';
import { concatChannels, splitChannels } from './ops.js';
import { buildSubnet } from './subnets.js';
import { softClampAffine } from './fused_ops.js';
import type { InitStyle, SubnetSpec } from './subnets.js';
import type { Layer } from './layers.js';
import { MersenneTwister } from '../util/rng.js';

export type CouplingVariant = 'imagenet' | 'ibinn';

export interface CouplingOptions {
  channels: number;
  subnet: SubnetSpec;
  variant: CouplingVariant;
  /** soft clamp of the log-scale, default 0.7 */
  clamp?: number;
  /** initial ActNorm scale: default 0.7 (ImageNet) / 0.8 (IB-INN MNIST) */
  actNormInit?: number;
  /** fixed channel mixing: ImageNet checkpoints use hard permutations, IB-INN random rotations */
  mixing?: 'permutation' | 'orthogonal';
  /** dense matrix or index storage of a hard permutation (post_coupling.ts) */
  mixingStorage?: 'dense' | 'indices';
}

export function postOptionsFor(
  variant: CouplingVariant,
  actNormInit: number | undefined,
  mixing: 'permutation' | 'orthogonal' | undefined,
  storage: 'dense' | 'indices' = 'dense',
): PostCouplingOptions {
  return variant === 'imagenet'
    ? { actNorm: 'softplus', actNormInit: actNormInit ?? 0.7, mixing: mixing ?? 'permutation', order: 'actnorm-then-mix', storage }
    : { actNorm: 'exp', actNormInit: actNormInit ?? 0.8, mixing: mixing ?? 'orthogonal', order: 'mix-then-actnorm', storage };
}

export function initStyleFor(variant: CouplingVariant): InitStyle {
  return variant === 'imagenet' ? 'imagenet' : 'ibinn';
}

export class AffineCouplingBlock extends PostCouplingBlock {
  readonly c1: number;
  readonly c2: number;
  readonly clamp: number;
  readonly shiftScale: number;
  readonly subnet: Layer;

  constructor(readonly options: CouplingOptions, rng: MersenneTwister) {
    super();
    const c = options.channels;
    this.c2 = Math.floor(c / 2);
    this.c1 = c - this.c2;
    if (this.c2 === 0) throw new Error(`coupling block needs at least 2 channels, got ${c}`);
    this.clamp = options.clamp ?? 0.7;
    this.shiftScale = options.variant === 'imagenet' ? 0.1 : 1;
    this.subnet = this.child('s', buildSubnet(options.subnet, this.c1, 2 * this.c2, initStyleFor(options.variant), rng));
    this.initPost(c, postOptionsFor(options.variant, options.actNormInit, options.mixing, options.mixingStorage), rng);
  }

  outputShape(inputShape: number[]): number[] {
    return inputShape;
  }

  override macs([h, w, c]: number[]): MacCount {
    return { learned: this.subnet.cost([h, w, this.c1]).macs, fixed: this.mixingMacs(h * w, c) };
  }

  private coefficients(u1: tf.Tensor, ctx: RunContext): { ls: tf.Tensor; t: tf.Tensor } {
    const a = this.subnet.apply(u1, ctx);
    const [as, at] = splitChannels(a, this.c2);
    // (the IB-INN variant does not scale the shift: skip the kernel)
    return { ls: tf.mul(tf.tanh(tf.mul(as, 0.1)), this.clamp), t: this.shiftScale === 1 ? at : tf.mul(at, this.shiftScale) };
  }

  forward(x: tf.Tensor, ctx: RunContext = EVAL): FlowResult {
    const [u1, u2] = splitChannels(x, this.c1);
    const affine = softClampAffine(u2, this.subnet.apply(u1, ctx), { clamp: this.clamp, inScale: 0.1, shiftScale: this.shiftScale });
    const [y, logdet] = this.postForward(concatChannels(u1, affine.v), affine.logdet);
    return { y, logdet };
  }

  inverse(y: tf.Tensor, ctx: RunContext = EVAL): tf.Tensor {
    const v = this.postInverse(y);
    const [v1, v2] = splitChannels(v, this.c1);
    const { ls, t } = this.coefficients(v1, ctx);
    return concatChannels(v1, tf.mul(tf.sub(v2, t), tf.exp(tf.neg(ls))));
  }
}
