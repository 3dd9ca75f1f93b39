/**
 * Gaussian-mixture head: one unit-variance Gaussian N(μ_y, I) per class in latent space, with
 * class log-weights w_y = log p(y).
 *
 * Means are either free (M×D) or, for large latents (ImageNet), split into a freely learned part
 * over the first `meanDims` dimensions and a low-rank rest μ_rest = α·P with K prototypes
 * (names as official: mu_fc, mu_t = α, mu_m = P). Distances to the low-rank part are computed
 * factorised, never materialising M×D_rest.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../inn/module.js';
import { MersenneTwister } from '../util/rng.js';

export interface GmmHeadOptions {
  classes: number;
  dims: number;
  /** initial distance between every pair of class means */
  muInit: number;
  /** learn the class log-weights (IB-INN) or keep them uniform (ImageNet) */
  learnClassWeights: boolean;
  /** low-rank means: free part over the first meanDims dims, rank-K rest */
  lowRank?: { meanDims: number; k: number; init: number };
}

export class GaussianMixtureHead extends Module {
  readonly classes: number;
  readonly dims: number;
  readonly freeDims: number;
  readonly mu: tf.Variable;
  readonly muT?: tf.Variable;
  readonly muM?: tf.Variable;
  readonly phi?: tf.Variable;

  constructor(readonly options: GmmHeadOptions, rng: MersenneTwister) {
    super();
    const m = (this.classes = options.classes);
    const d = (this.dims = options.dims);
    this.freeDims = options.lowRank ? options.lowRank.meanDims : d;
    // Official initialisation: scaled identity blocks, μ[y, M·k + y] = s for k < ⌊D/M⌋, which puts
    // every pair of means exactly muInit apart.
    const blocks = Math.floor(this.freeDims / m);
    if (blocks < 1) throw new Error(`GMM head: ${this.freeDims} free latent dims cannot hold ${m} separated class means`);
    const scale = options.muInit / Math.sqrt(Math.floor((2 * this.freeDims) / m));
    const mu = new Float32Array(m * this.freeDims);
    for (let k = 0; k < blocks; k++) for (let y = 0; y < m; y++) mu[y * this.freeDims + m * k + y] = scale;
    this.mu = this.param(options.lowRank ? 'mu_fc' : 'mu', mu, [m, this.freeDims]);
    if (options.lowRank) {
      const { k, init } = options.lowRank;
      this.muT = this.param('mu_t', rng.normalArray(m * k, init), [m, k]);
      this.muM = this.param('mu_m', rng.normalArray(k * (d - this.freeDims), init), [k, d - this.freeDims]);
    }
    if (options.learnClassWeights) this.phi = this.param('phi', new Float32Array(m), [m]);
  }

  /** log p(y), shape [M]. */
  logClassWeights(): tf.Tensor1D {
    return this.phi ? (tf.logSoftmax(this.phi) as tf.Tensor1D) : (tf.fill([this.classes], -Math.log(this.classes)) as tf.Tensor1D);
  }

  /** MACs of the cross terms z·μ_y per image (factorised for low-rank means). */
  macs(): number {
    const m = this.classes;
    if (!this.muT) return m * this.dims;
    const k = this.muT.shape[1] as number;
    return m * this.freeDims + k * (this.dims - this.freeDims) + m * k;
  }

  /**
   * Squared distances ‖z − μ_y‖², shape [B, M]. `frozen`: the means are constants here (inference,
   * attacks on the input), so ‖μ_y‖² may be cached until the weights change.
   */
  squaredDistances(z: tf.Tensor2D, frozen = false): tf.Tensor2D {
    if (z.shape[1] !== this.dims) throw new Error(`GMM head expects latents of ${this.dims} dims, got ${z.shape[1]}`);
    const part = (zp: tf.Tensor2D, mu: tf.Tensor2D, muSq: tf.Tensor) =>
      tf.add(tf.sub(blockedSumOfSquares(zp), tf.mul(tf.matMul(zp, mu, false, true), 2)), muSq) as tf.Tensor2D;
    if (!this.muT || !this.muM) {
      return part(z, this.mu as tf.Tensor2D, tf.sum(tf.square(this.mu), 1));
    }
    const [zFree, zRest] = tf.split(z, [this.freeDims, this.dims - this.freeDims], 1) as tf.Tensor2D[];
    const muT = this.muT as tf.Tensor2D;
    const muM = this.muM as tf.Tensor2D;
    // z·μ_rest,y = Σ_k α[y,k] (P_k·z);  ‖μ_rest,y‖² = α_y G α_yᵀ with G = P Pᵀ
    const proj = tf.matMul(zRest, muM, false, true); // [B, K]
    const cross = tf.matMul(proj, muT, false, true); // [B, M]
    const muSq = frozen ? this.cachedMeanNorms() : this.meanNorms();
    const d = tf.sub(tf.add(blockedSumOfSquares(zFree), blockedSumOfSquares(zRest)), tf.mul(tf.add(tf.matMul(zFree, this.mu as tf.Tensor2D, false, true), cross), 2));
    return tf.add(d, muSq) as tf.Tensor2D;
  }

  private normsCache?: { ids: object[]; norms: tf.Tensor1D };

  /** ‖μ_y‖² (free + low-rank part), [M]. */
  private meanNorms(): tf.Tensor1D {
    const muT = this.muT as tf.Tensor2D;
    const gram = blockedGram(this.muM as tf.Tensor2D); // [K, K]
    return tf.add(tf.sum(tf.square(this.mu), 1), tf.sum(tf.mul(tf.matMul(muT, gram), muT), 1)) as tf.Tensor1D;
  }

  private cachedMeanNorms(): tf.Tensor1D {
    const ids = [this.mu.dataId, (this.muT as tf.Variable).dataId, (this.muM as tf.Variable).dataId] as object[];
    const c = this.normsCache;
    if (!c || c.ids.some((id, i) => id !== ids[i])) {
      c?.norms.dispose();
      this.normsCache = { ids, norms: tf.keep(tf.tidy(() => this.meanNorms())) };
    }
    return (this.normsCache as { norms: tf.Tensor1D }).norms;
  }

  override dispose(): void {
    super.dispose();
    this.normsCache?.norms.dispose();
  }

  /** Means of the given classes, [k, D] (also for the low-rank ImageNet head: only k rows are formed). */
  meanRows(classes: number[]): tf.Tensor2D {
    return tf.tidy(() => {
      const idx = tf.tensor1d(classes, 'int32');
      const free = tf.gather(this.mu, idx);
      if (!this.muT || !this.muM) return free as tf.Tensor2D;
      return tf.concat([free, tf.matMul(tf.gather(this.muT, idx), this.muM)], 1) as tf.Tensor2D;
    });
  }

  /** Full class means [M, D] (materialised; for small heads, sampling and explanations). */
  means(): tf.Tensor2D {
    if (!this.muT || !this.muM) return this.mu.clone() as tf.Tensor2D;
    const values = this.classes * this.dims;
    if (values > 5e7) {
      // ImageNet: 1000 × 150 528 floats; every computation with the means uses the factorised form
      throw new Error(`the full class means would take ${((4 * values) / 2 ** 20).toFixed(0)} MB; use squaredDistances (factorised) instead`);
    }
    return tf.concat([this.mu, tf.matMul(this.muT, this.muM)], 1) as tf.Tensor2D;
  }
}

/**
 * Long float32 reductions lose precision (one accumulator over 147 456 terms errs by ~1e-4
 * relative, which shifts ImageNet logits by whole nats). These helpers accumulate in blocks and then
 * add the block results: measured against float64, logit errors drop from ~3 to ~0.02 nats.
 */
const REDUCTION_BLOCK = 4096;

/** Largest divisor of n that is ≤ REDUCTION_BLOCK, or n itself when n is short or has none useful. */
function blockFor(n: number): number {
  if (n <= 2 * REDUCTION_BLOCK) return n;
  for (let b = REDUCTION_BLOCK; b >= REDUCTION_BLOCK / 8; b--) if (n % b === 0) return b;
  return n;
}

/** Σ_i x[:, i]², [B, 1]. */
export function blockedSumOfSquares(x: tf.Tensor2D): tf.Tensor2D {
  const [b, n] = x.shape;
  const block = blockFor(n);
  if (block === n) return tf.sum(tf.square(x), 1, true) as tf.Tensor2D;
  return tf.sum(tf.sum(tf.reshape(tf.square(x), [b, n / block, block]), 2), 1, true) as tf.Tensor2D;
}

/** P·Pᵀ for a wide P [K, n], [K, K]. */
export function blockedGram(p: tf.Tensor2D): tf.Tensor2D {
  const [k, n] = p.shape;
  const block = blockFor(n);
  if (block === n) return tf.matMul(p, p, false, true);
  const blocks = tf.transpose(tf.reshape(p, [k, n / block, block]), [1, 0, 2]) as tf.Tensor3D; // [nb, K, block]
  return tf.sum(tf.matMul(blocks, blocks, false, true), 0) as tf.Tensor2D;
}
