/**
 * Downsampling coupling block: two i-RevNet checkerboard space-to-depth steps nested in one
 * coupling, so that a strided convolution does learned downsampling. C×H×W → 4C×H/2×W/2.
 *
 *   u = (u1, u2) along channels
 *   y2 = s2d(u2) · exp(clamp·tanh(0.2·a1_s)) + a1_t,   a1 = s_hi(u1)   (stride-2 subnet)
 *   y1 = s2d(u1) · exp(clamp·tanh(0.2·a2_s)) + a2_t,   a2 = s_lo(y2)
 *   out = (y1, y2), then (ImageNet only) ActNorm + fixed mixing.
 *
 * Split rounding differs between code bases: ImageNet u1 = C − ⌊C/2⌋ channels, IB-INN u1 = ⌊C/2⌋.
 */
import * as tf from '@tensorflow/tfjs-core';
import { EVAL, RunContext } from './module.js';
import type { FlowResult, MacCount } from './module.js';
import { PostCouplingBlock } from './post_coupling.js';
import { concatChannels, depthToSpace2, spaceToDepth2, splitChannels } from './ops.js';
import { buildSubnet, subnetStride } from './subnets.js';
import { softClampAffine } from './fused_ops.js';
import type { SubnetSpec } from './subnets.js';
import type { Layer } from './layers.js';
import { initStyleFor, postOptionsFor } from './coupling.js';
import type { CouplingVariant } from './coupling.js';
import { MersenneTwister } from '../util/rng.js';

export interface DownsampleCouplingOptions {
  channels: number;
  variant: CouplingVariant;
  /** subnet on the full-resolution half; must halve the resolution */
  subnetHigh: SubnetSpec;
  /** subnet on the already downsampled half */
  subnetLow: SubnetSpec;
  clamp?: number;
  actNormInit?: number;
  mixing?: 'permutation' | 'orthogonal';
  mixingStorage?: 'dense' | 'indices';
}

export class DownsampleCouplingBlock extends PostCouplingBlock {
  readonly c1: number;
  readonly c2: number;
  readonly clamp: number;
  readonly sHigh: Layer;
  readonly sLow: Layer;

  constructor(readonly options: DownsampleCouplingOptions, rng: MersenneTwister) {
    super();
    const c = options.channels;
    const half = Math.floor(c / 2);
    this.c1 = options.variant === 'imagenet' ? c - half : half;
    this.c2 = c - this.c1;
    if (this.c1 === 0 || this.c2 === 0) throw new Error(`downsampling coupling needs at least 2 channels, got ${c}`);
    if (subnetStride(options.subnetHigh) !== 2) throw new Error('downsampling coupling: subnetHigh must have stride 2');
    this.clamp = options.clamp ?? 0.7;
    const style = initStyleFor(options.variant);
    this.sHigh = this.child('s_hi', buildSubnet(options.subnetHigh, this.c1, 8 * this.c2, style, rng));
    this.sLow = this.child('s_lo', buildSubnet(options.subnetLow, 4 * this.c2, 8 * this.c1, style, rng));
    const post = options.variant === 'imagenet'
      ? postOptionsFor('imagenet', options.actNormInit, options.mixing, options.mixingStorage)
      : { actNorm: 'none' as const, actNormInit: 1, mixing: 'none' as const, order: 'actnorm-then-mix' as const };
    this.initPost(4 * c, post, rng);
  }

  outputShape([h, w, c]: number[]): number[] {
    return [h / 2, w / 2, 4 * c];
  }

  override macs([h, w, c]: number[]): MacCount {
    const learned = this.sHigh.cost([h, w, this.c1]).macs + this.sLow.cost([h / 2, w / 2, 4 * this.c2]).macs;
    // the official space-to-depth is a grouped 2×2 stride-2 convolution: 4 MACs per output value
    return { learned, fixed: 4 * h * w * c + this.mixingMacs((h / 2) * (w / 2), 4 * c) };
  }

  private affine(sub: Layer, input: tf.Tensor, n: number, ctx: RunContext): { ls: tf.Tensor; t: tf.Tensor } {
    const [as, t] = splitChannels(sub.apply(input, ctx), n);
    return { ls: tf.mul(tf.tanh(tf.mul(as, 0.2)), this.clamp), t };
  }

  forward(x: tf.Tensor, ctx: RunContext = EVAL): FlowResult {
    const [u1, u2] = splitChannels(x, this.c1);
    const affine = { clamp: this.clamp, inScale: 0.2, shiftScale: 1 };
    const a1 = softClampAffine(spaceToDepth2(u2), this.sHigh.apply(u1, ctx), affine);
    const y2 = a1.v;
    const a2 = softClampAffine(spaceToDepth2(u1), this.sLow.apply(y2, ctx), affine);
    const y1 = a2.v;
    const logdet = tf.add(a1.logdet, a2.logdet) as tf.Tensor1D;
    const [y, ld] = this.postForward(concatChannels(y1, y2), logdet);
    return { y, logdet: ld };
  }

  inverse(y: tf.Tensor, ctx: RunContext = EVAL): tf.Tensor {
    const v = this.postInverse(y);
    const [y1, y2] = splitChannels(v, 4 * this.c1);
    const a2 = this.affine(this.sLow, y2, 4 * this.c1, ctx);
    const u1 = depthToSpace2(tf.mul(tf.sub(y1, a2.t), tf.exp(tf.neg(a2.ls))));
    const a1 = this.affine(this.sHigh, u1, 4 * this.c2, ctx);
    const u2 = depthToSpace2(tf.mul(tf.sub(y2, a1.t), tf.exp(tf.neg(a1.ls))));
    return concatChannels(u1, u2);
  }
}
