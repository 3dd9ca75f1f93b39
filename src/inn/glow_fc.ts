/**
 * Fully connected GLOW coupling block (FrEIA 0.2 GLOWCouplingBlock) on flat vectors [B, D]:
 *   x = (x1, x2), x1 = first ⌊D/2⌋ values
 *   r2 = s2(x2): y1 = x1·exp(e(r2_s)) + r2_t
 *   r1 = s1(y1): y2 = x2·exp(e(r1_s)) + r1_t
 * with the soft clamp e(s) = clamp·0.636·atan(s/clamp). log|det J| = Σ e(r1_s) + Σ e(r2_s).
 */
import * as tf from '@tensorflow/tfjs-core';
import { EVAL, InvertibleModule, RunContext, sumPerSample } from './module.js';
import type { FlowResult, MacCount } from './module.js';
import { buildSubnet } from './subnets.js';
import type { InitStyle, SubnetSpec } from './subnets.js';
import type { Layer } from './layers.js';
import { MersenneTwister } from '../util/rng.js';

export interface GlowFcOptions {
  dims: number;
  subnet: SubnetSpec;
  clamp?: number;
  init?: InitStyle;
}

export class GlowFcCoupling extends InvertibleModule {
  readonly len1: number;
  readonly len2: number;
  readonly clamp: number;
  readonly s1: Layer;
  readonly s2: Layer;

  constructor(readonly options: GlowFcOptions, rng: MersenneTwister) {
    super();
    this.len1 = Math.floor(options.dims / 2);
    this.len2 = options.dims - this.len1;
    this.clamp = options.clamp ?? 2;
    const init = options.init ?? 'ibinn';
    this.s1 = this.child('s1', buildSubnet(options.subnet, this.len1, 2 * this.len2, init, rng));
    this.s2 = this.child('s2', buildSubnet(options.subnet, this.len2, 2 * this.len1, init, rng));
  }

  outputShape(inputShape: number[]): number[] {
    if (inputShape.length !== 1 || inputShape[0] !== this.options.dims) {
      throw new Error(`GLOW block expects vectors of ${this.options.dims} values, got shape [${inputShape}]`);
    }
    return inputShape;
  }

  override macs(): MacCount {
    return { learned: this.s1.cost([this.len1]).macs + this.s2.cost([this.len2]).macs, fixed: 0 };
  }

  private softClamp(s: tf.Tensor): tf.Tensor {
    return tf.mul(tf.atan(tf.div(s, this.clamp)), this.clamp * 0.636);
  }

  private coefficients(net: Layer, input: tf.Tensor, n: number, ctx: RunContext): { ls: tf.Tensor; t: tf.Tensor } {
    const [s, t] = tf.split(net.apply(input, ctx), [n, n], 1);
    return { ls: this.softClamp(s), t };
  }

  forward(x: tf.Tensor, ctx: RunContext = EVAL): FlowResult {
    const [x1, x2] = tf.split(x, [this.len1, this.len2], 1);
    const c2 = this.coefficients(this.s2, x2, this.len1, ctx);
    const y1 = tf.add(tf.mul(x1, tf.exp(c2.ls)), c2.t);
    const c1 = this.coefficients(this.s1, y1, this.len2, ctx);
    const y2 = tf.add(tf.mul(x2, tf.exp(c1.ls)), c1.t);
    return { y: tf.concat([y1, y2], 1), logdet: tf.add(sumPerSample(c1.ls), sumPerSample(c2.ls)) as tf.Tensor1D };
  }

  inverse(y: tf.Tensor, ctx: RunContext = EVAL): tf.Tensor {
    const [y1, y2] = tf.split(y, [this.len1, this.len2], 1);
    const c1 = this.coefficients(this.s1, y1, this.len2, ctx);
    const x2 = tf.mul(tf.sub(y2, c1.t), tf.exp(tf.neg(c1.ls)));
    const c2 = this.coefficients(this.s2, x2, this.len1, ctx);
    const x1 = tf.mul(tf.sub(y1, c2.t), tf.exp(tf.neg(c2.ls)));
    return tf.concat([x1, x2], 1);
  }
}
