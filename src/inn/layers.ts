/**
 * Ordinary (non-invertible) layers for coupling-block subnetworks. NHWC layout; convolution
 * padding follows PyTorch (symmetric, (k−1)/2) so that official checkpoints map one to one.
 * Subnets are only ever evaluated forwards, so they may use BN, ReLU and dropout freely.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module, RunContext, EVAL } from './module.js';
import { MersenneTwister } from '../util/rng.js';
import { batchNormTraining, channelAffine } from './fused_ops.js';

export abstract class Layer extends Module {
  abstract apply(x: tf.Tensor, ctx?: RunContext): tf.Tensor;
  /** Output shape and multiply-accumulates for a per-sample input shape (elementwise layers: 0). */
  cost(inputShape: number[]): { shape: number[]; macs: number } {
    return { shape: inputShape, macs: 0 };
  }
}

export type BiasInit = 'zero' | 'torch-uniform';

export interface Conv2dOptions {
  kernel: number;
  stride?: number;
  bias?: boolean;
  biasInit?: BiasInit;
  /** multiplies the Kaiming-normal weights (1 = std √(2/fan_in)); 0 = zero init */
  weightScale?: number;
}

export class Conv2d extends Layer {
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;
  readonly stride: number;
  readonly pad: [[number, number], [number, number], [number, number], [number, number]];

  constructor(readonly cin: number, readonly cout: number, opts: Conv2dOptions, rng: MersenneTwister) {
    super();
    const k = opts.kernel;
    this.stride = opts.stride ?? 1;
    const p = (k - 1) / 2;
    if (!Number.isInteger(p)) throw new Error(`Conv2d: only odd kernel sizes are supported, got ${k}`);
    this.pad = [[0, 0], [p, p], [p, p], [0, 0]];
    const fanIn = cin * k * k;
    const std = Math.sqrt(2 / fanIn) * (opts.weightScale ?? 1);
    this.weight = this.param('weight', rng.normalArray(k * k * cin * cout, std), [k, k, cin, cout]);
    if (opts.bias) {
      const bound = 1 / Math.sqrt(fanIn);
      const init = opts.biasInit === 'torch-uniform' ? rng.uniformArray(cout, -bound, bound) : new Float32Array(cout);
      this.bias = this.param('bias', init, [cout]);
    }
  }

  override cost([h, w]: number[]): { shape: number[]; macs: number } {
    const k = this.weight.shape[0];
    const p = this.pad[1][0];
    const [oh, ow] = [Math.floor((h + 2 * p - k) / this.stride) + 1, Math.floor((w + 2 * p - k) / this.stride) + 1];
    return { shape: [oh, ow, this.cout], macs: oh * ow * this.cout * this.cin * k * k };
  }

  apply(x: tf.Tensor): tf.Tensor {
    const y = tf.conv2d(x as tf.Tensor4D, this.weight as tf.Tensor4D, this.stride, this.pad);
    return this.bias ? tf.add(y, this.bias) : y;
  }
}

export interface LinearOptions {
  weightScale?: number;
  biasInit?: BiasInit;
}

export class Linear extends Layer {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(readonly cin: number, readonly cout: number, opts: LinearOptions, rng: MersenneTwister) {
    super();
    const std = Math.sqrt(2 / cin) * (opts.weightScale ?? 1);
    this.weight = this.param('weight', rng.normalArray(cin * cout, std), [cin, cout]);
    const bound = 1 / Math.sqrt(cin);
    const init = opts.biasInit === 'zero' ? new Float32Array(cout) : rng.uniformArray(cout, -bound, bound);
    this.bias = this.param('bias', init, [cout]);
  }

  override cost(): { shape: number[]; macs: number } {
    return { shape: [this.cout], macs: this.cin * this.cout };
  }

  apply(x: tf.Tensor): tf.Tensor {
    return tf.add(tf.matMul(x as tf.Tensor2D, this.weight as tf.Tensor2D), this.bias);
  }
}

export interface BatchNormOptions {
  eps?: number;
  /** PyTorch convention: running ← (1 − momentum)·running + momentum·batch */
  momentum?: number;
}

/** Batch normalisation over every axis but the last (channels). */
export class BatchNorm extends Layer {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly eps: number;
  momentum: number;
  /** When set, training passes accumulate a cumulative average instead (BN re-estimation). */
  cumulative: { count: number } | null = null;

  constructor(readonly channels: number, opts: BatchNormOptions = {}) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    this.gamma = this.param('weight', new Float32Array(channels).fill(1), [channels]);
    this.beta = this.param('bias', new Float32Array(channels), [channels]);
    this.runningMean = this.param('running_mean', new Float32Array(channels), [channels], false);
    this.runningVar = this.param('running_var', new Float32Array(channels).fill(1), [channels], false);
  }

  apply(x: tf.Tensor, ctx: RunContext = EVAL): tf.Tensor {
    return this.normalize(x, ctx, false);
  }

  /** max(0, BN(x)): what a BatchNorm followed by a ReLU computes, as one op where fused. */
  applyWithRelu(x: tf.Tensor, ctx: RunContext = EVAL): tf.Tensor {
    return this.normalize(x, ctx, true);
  }

  private normalize(x: tf.Tensor, ctx: RunContext, relu: boolean): tf.Tensor {
    if (!ctx.training) {
      const scale = tf.mul(this.gamma, tf.rsqrt(tf.add(this.runningVar, this.eps)));
      const shift = tf.sub(this.beta, tf.mul(this.runningMean, scale));
      return channelAffine(x, scale, shift, relu);
    }
    return batchNormTraining(
      x,
      this.gamma,
      this.beta,
      this.eps,
      (mean, variance) => {
        if (ctx.recordStats) this.recordUpdate(ctx, mean, variance, x.size / this.channels);
      },
      relu,
    );
  }

  private recordUpdate(ctx: RunContext, mean: tf.Tensor, variance: tf.Tensor, n: number): void {
    // Running variance is unbiased (PyTorch). The statistics are constants for autodiff; kept
    // (not cloned: a clone is a kernel call and a tape node) until the update is committed.
    const m = tf.keep(mean);
    const v = tf.keep(variance);
    const unbias = n / Math.max(1, n - 1);
    ctx.pending.push({
      blends: () => {
        const rate = this.cumulative ? 1 / ++this.cumulative.count : this.momentum;
        return [
          { target: this.runningMean, value: m, rate },
          { target: this.runningVar, value: v, rate, valueScale: unbias },
        ];
      },
      dispose: () => tf.dispose([m, v]),
    });
  }
}

export class ReLU extends Layer {
  apply(x: tf.Tensor): tf.Tensor {
    return tf.relu(x);
  }
}

/** Dropout; `channelwise` drops whole feature maps (PyTorch Dropout2d). */
export class Dropout extends Layer {
  constructor(readonly rate: number, readonly channelwise = false) {
    super();
  }

  apply(x: tf.Tensor, ctx: RunContext = EVAL): tf.Tensor {
    if (!ctx.training || this.rate === 0) return x;
    const maskShape = this.channelwise ? [x.shape[0], ...x.shape.slice(1, -1).map(() => 1), x.shape[x.rank - 1]] : x.shape;
    const keep = tf.cast(tf.greaterEqual(tf.randomUniform(maskShape, 0, 1, 'float32', ctx.nextSeed()), this.rate), 'float32');
    return tf.mul(x, tf.div(keep, 1 - this.rate));
  }
}

export class Sequential extends Layer {
  readonly layers: Layer[];

  constructor(layers: Layer[]) {
    super();
    this.layers = layers.map((l, i) => this.child(String(i), l));
  }

  apply(x: tf.Tensor, ctx: RunContext = EVAL): tf.Tensor {
    let h = x;
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i];
      // BN → ReLU runs as one op (a fused kernel where the engine has one)
      if (layer instanceof BatchNorm && this.layers[i + 1] instanceof ReLU) {
        h = layer.applyWithRelu(h, ctx);
        i++;
      } else {
        h = layer.apply(h, ctx);
      }
    }
    return h;
  }

  override cost(inputShape: number[]): { shape: number[]; macs: number } {
    let shape = inputShape;
    let macs = 0;
    for (const layer of this.layers) {
      const c = layer.cost(shape);
      shape = c.shape;
      macs += c.macs;
    }
    return { shape, macs };
  }
}
