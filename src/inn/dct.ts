/**
 * DCT pooling: the invertible counterpart of global average pooling. Each N×N feature map becomes
 * N² DCT coefficients; the (0,0) coefficient is proportional to the channel mean.
 * Output is flat, in the official order index = (kw·N + kh)·C + c, so the first C entries are the
 * "mean-pooled" DC terms.
 *
 * 'official': 1-D matrix 2·cos(πk(2n+1)/2N) along both axes, times 1/div with div = 2(N+1)/rebalance
 *   (rebalance 0.5: div = 32 for N = 7). The official code reports the log-det as N²·C·ln(rebalance),
 *   which is not this map's true log-det; `logdet: 'official'` reproduces it for comparability,
 *   `logdet: 'exact'` (default) uses the true value.
 * 'orthonormal': the orthonormal DCT-II (log-det 0).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvertibleModule, constantLogdet } from './module.js';
import type { FlowResult, MacCount } from './module.js';
import { invert, kron, logAbsDet } from '../util/linalg.js';

export interface DctOptions {
  size: number;
  variant?: 'official' | 'orthonormal';
  rebalance?: number;
  logdet?: 'exact' | 'official';
}

export function dctMatrix1d(n: number, variant: 'official' | 'orthonormal'): Float64Array {
  const m = new Float64Array(n * n);
  for (let k = 0; k < n; k++)
    for (let i = 0; i < n; i++) {
      const c = Math.cos((Math.PI * k * (2 * i + 1)) / (2 * n));
      m[k * n + i] = variant === 'official' ? 2 * c : Math.sqrt((k === 0 ? 1 : 2) / n) * c;
    }
  return m;
}

export class DctPooling extends InvertibleModule {
  readonly n: number;
  readonly variant: 'official' | 'orthonormal';
  /** per-channel log|det| actually reported */
  readonly logdetPerChannel: number;
  /** true per-channel log|det| of the map */
  readonly exactLogdetPerChannel: number;
  private readonly forwardMatrix: tf.Tensor2D;
  private readonly inverseMatrix: tf.Tensor2D;

  constructor(opts: DctOptions) {
    super();
    const n = (this.n = opts.size);
    this.variant = opts.variant ?? 'official';
    const rebalance = opts.rebalance ?? 0.5;
    const div = this.variant === 'official' ? (2 * (n + 1)) / rebalance : 1;
    const a = dctMatrix1d(n, this.variant);
    // rows (kw, kh), columns (h, w) as laid out in an NHWC map: M[(kw,kh),(h,w)] = A[kw,w]·A[kh,h]/div
    const full = kron(a, a, n);
    const m = new Float64Array(n ** 4);
    for (let kw = 0; kw < n; kw++)
      for (let kh = 0; kh < n; kh++)
        for (let h = 0; h < n; h++)
          for (let w = 0; w < n; w++) m[(kw * n + kh) * n * n + h * n + w] = full[(kw * n + kh) * n * n + w * n + h] / div;
    this.exactLogdetPerChannel = logAbsDet(m, n * n);
    this.logdetPerChannel =
      this.variant === 'official' && (opts.logdet ?? 'exact') === 'official' ? n * n * Math.log(rebalance) : this.exactLogdetPerChannel;
    this.forwardMatrix = tf.keep(tf.tensor2d(Float32Array.from(m), [n * n, n * n]));
    this.inverseMatrix = tf.keep(tf.tensor2d(Float32Array.from(invert(m, n * n)), [n * n, n * n]));
  }

  outputShape([h, w, c]: number[]): number[] {
    if (h !== this.n || w !== this.n) throw new Error(`DCT pooling built for ${this.n}×${this.n} maps, got ${h}×${w}`);
    return [this.n * this.n * c];
  }

  /** As the official code: a 1-D DCT matmul along each axis, N³ MACs per axis and channel. */
  override macs([, , c]: number[]): MacCount {
    return { learned: 0, fixed: 2 * c * this.n ** 3 };
  }

  forward(x: tf.Tensor): FlowResult {
    const [b, h, w, c] = x.shape;
    this.outputShape([h, w, c]);
    const n2 = this.n * this.n;
    // [B, n², C] → [n², B·C] so one matmul transforms every map
    const cols = tf.reshape(tf.transpose(tf.reshape(x, [b, n2, c]), [1, 0, 2]), [n2, b * c]);
    const coeffs = tf.matMul(this.forwardMatrix, cols as tf.Tensor2D);
    const y = tf.reshape(tf.transpose(tf.reshape(coeffs, [n2, b, c]), [1, 0, 2]), [b, n2 * c]);
    return { y, logdet: constantLogdet(b, c * this.logdetPerChannel) };
  }

  inverse(y: tf.Tensor): tf.Tensor {
    const b = y.shape[0];
    const n2 = this.n * this.n;
    const c = (y.shape[1] as number) / n2;
    const cols = tf.reshape(tf.transpose(tf.reshape(y, [b, n2, c]), [1, 0, 2]), [n2, b * c]);
    const maps = tf.matMul(this.inverseMatrix, cols as tf.Tensor2D);
    return tf.reshape(tf.transpose(tf.reshape(maps, [n2, b, c]), [1, 0, 2]), [b, this.n, this.n, c]);
  }

  override dispose(): void {
    tf.dispose([this.forwardMatrix, this.inverseMatrix]);
  }
}
