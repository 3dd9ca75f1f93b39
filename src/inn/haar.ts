/**
 * Haar wavelet downsampling (FrEIA HaarDownsampling): each 2×2 cell of each channel becomes the
 * average, left−right, top−bottom and diagonal coefficients, times fac = 0.5·rebalance.
 * rebalance = 1 is orthonormal (log-det 0); the ImageNet entry uses 0.5 (log-det −ln 2 per input value).
 * Channel order: 4j + i (filter i of input channel j), or i·C + j with orderByWavelet.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvertibleModule, constantLogdet } from './module.js';
import type { FlowResult, MacCount } from './module.js';
import { spaceToDepth2, depthToSpace2 } from './ops.js';

// rows: filters (average, left−right, top−bottom, diagonal); columns: pixels (0,0) (0,1) (1,0) (1,1)
const HAAR = [
  [1, 1, 1, 1],
  [1, -1, 1, -1],
  [1, 1, -1, -1],
  [1, -1, -1, 1],
];

export interface HaarOptions {
  rebalance?: number;
  orderByWavelet?: boolean;
}

export class HaarDownsampling extends InvertibleModule {
  readonly fac: number;
  readonly orderByWavelet: boolean;
  private readonly forwardMatrix: tf.Tensor2D;
  private readonly inverseMatrix: tf.Tensor2D;

  constructor(opts: HaarOptions = {}) {
    super();
    this.fac = 0.5 * (opts.rebalance ?? 1);
    this.orderByWavelet = opts.orderByWavelet ?? false;
    // coefficients = pixels · Mᵀ with M = fac·H; H·Hᵀ = 4I, so M⁻¹ = Hᵀ/(4·fac)
    const fwd = new Float32Array(16);
    const inv = new Float32Array(16);
    for (let i = 0; i < 4; i++)
      for (let k = 0; k < 4; k++) {
        fwd[k * 4 + i] = this.fac * HAAR[i][k];
        inv[i * 4 + k] = HAAR[i][k] / (4 * this.fac);
      }
    this.forwardMatrix = tf.keep(tf.tensor2d(fwd, [4, 4]));
    this.inverseMatrix = tf.keep(tf.tensor2d(inv, [4, 4]));
  }

  outputShape([h, w, c]: number[]): number[] {
    return [h / 2, w / 2, 4 * c];
  }

  /** As the official grouped 2×2 convolution: 4 MACs per output value. */
  override macs([h, w, c]: number[]): MacCount {
    return { learned: 0, fixed: 4 * h * w * c };
  }

  forward(x: tf.Tensor): FlowResult {
    const [b, h, w, c] = x.shape;
    const cells = tf.reshape(spaceToDepth2(x), [-1, 4]);
    let coeffs = tf.reshape(tf.matMul(cells as tf.Tensor2D, this.forwardMatrix), [b, h / 2, w / 2, c, 4]);
    if (this.orderByWavelet) coeffs = tf.transpose(coeffs, [0, 1, 2, 4, 3]);
    const y = tf.reshape(coeffs, [b, h / 2, w / 2, 4 * c]);
    const perSample = (x.size / b / 4) * (Math.log(16) + 4 * Math.log(this.fac));
    return { y, logdet: constantLogdet(b, perSample) };
  }

  inverse(y: tf.Tensor): tf.Tensor {
    const [b, h2, w2, c4] = y.shape;
    const c = c4 / 4;
    let coeffs = this.orderByWavelet ? tf.reshape(y, [b, h2, w2, 4, c]) : tf.reshape(y, [b, h2, w2, c, 4]);
    if (this.orderByWavelet) coeffs = tf.transpose(coeffs, [0, 1, 2, 4, 3]);
    const cells = tf.matMul(tf.reshape(coeffs, [-1, 4]) as tf.Tensor2D, this.inverseMatrix);
    return depthToSpace2(tf.reshape(cells, [b, h2, w2, 4 * c]));
  }

  override dispose(): void {
    tf.dispose([this.forwardMatrix, this.inverseMatrix]);
  }
}
