/**
 * The OoD detectors users would pick instead of a generative classifier's own likelihood, behind one
 * contract (as OpenOOD and pytorch-ood have it): `fit` on in-distribution training data, then
 * `score` a batch, higher = more out of distribution. They read a classifier's logits and, where
 * they need them, its penultimate features (the DC's pooled ResNet features; for a GC, its latent z):
 *
 *   msp          − max softmax probability (Hendrycks & Gimpel 2017)
 *   max-logit    − max logit (Hendrycks et al. 2022)
 *   energy       − logsumexp of the logits, T = 1 (Liu et al. 2020)
 *   mahalanobis  min over classes of the Mahalanobis distance to the class mean, one shared
 *                covariance (Lee et al. 2018, without input preprocessing or layer ensembles)
 *   knn          distance to the k-th nearest training feature after L2 normalisation (Sun et al. 2022)
 *   vim          virtual logit from the feature residual off the principal subspace, minus the
 *                logsumexp of the logits (Wang et al. 2022); needs a linear classifier head
 *
 * Features and logits are row-major Float32Arrays with their row count.
 */
import { cholesky, invert, symmetricEigen } from '../util/linalg.js';

export interface DetectorInput {
  /** N × classes */
  logits: Float32Array;
  classes: number;
  /** N × dims, when the detector needs features */
  features?: Float32Array;
  dims?: number;
  /** class labels of the training rows (Mahalanobis) */
  labels?: Int32Array;
}

export interface OodDetector {
  readonly name: string;
  /** what `fit` and `score` read besides the logits */
  readonly needs: 'logits' | 'features';
  fit(train: DetectorInput): void;
  /** one score per row, higher = more out of distribution */
  score(batch: DetectorInput): Float32Array;
}

function rows(input: DetectorInput): number {
  return input.logits.length / input.classes;
}

function logSumExp(row: Float32Array | Float64Array): number {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - max);
  return max + Math.log(s);
}

function perRow(input: DetectorInput, f: (logits: Float32Array) => number): Float32Array {
  const n = rows(input);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f(input.logits.subarray(i * input.classes, (i + 1) * input.classes));
  return out;
}

function needFeatures(input: DetectorInput, who: string): { f: Float32Array; d: number; n: number } {
  if (!input.features || !input.dims) throw new Error(`the ${who} detector needs features`);
  return { f: input.features, d: input.dims, n: input.features.length / input.dims };
}

export class MaxSoftmax implements OodDetector {
  readonly name = 'msp';
  readonly needs = 'logits';
  fit(): void {}
  score(batch: DetectorInput): Float32Array {
    return perRow(batch, (l) => {
      let max = -Infinity;
      for (const v of l) max = Math.max(max, v);
      return -Math.exp(max - logSumExp(l));
    });
  }
}

export class MaxLogit implements OodDetector {
  readonly name = 'max-logit';
  readonly needs = 'logits';
  fit(): void {}
  score(batch: DetectorInput): Float32Array {
    return perRow(batch, (l) => -Math.max(...l));
  }
}

export class Energy implements OodDetector {
  readonly name = 'energy';
  readonly needs = 'logits';
  fit(): void {}
  score(batch: DetectorInput): Float32Array {
    return perRow(batch, (l) => -logSumExp(l));
  }
}

/** Class means and one shared (tied) covariance of the training features. */
export class Mahalanobis implements OodDetector {
  readonly name = 'mahalanobis';
  readonly needs = 'features';
  private means: Float64Array[] = [];
  /** Cholesky factor of the shared covariance (+ a ridge): distances by triangular solves */
  private factor: Float64Array | null = null;
  private d = 0;

  fit(train: DetectorInput): void {
    const { f, d, n } = needFeatures(train, 'Mahalanobis');
    if (!train.labels) throw new Error('the Mahalanobis detector is fitted on labelled training features');
    const counts = new Float64Array(train.classes);
    this.means = Array.from({ length: train.classes }, () => new Float64Array(d));
    for (let i = 0; i < n; i++) {
      const c = train.labels[i];
      counts[c]++;
      for (let j = 0; j < d; j++) this.means[c][j] += f[i * d + j];
    }
    this.means.forEach((m, c) => m.forEach((_, j) => (m[j] /= Math.max(1, counts[c]))));
    const cov = new Float64Array(d * d);
    const centred = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const mu = this.means[train.labels[i]];
      for (let j = 0; j < d; j++) centred[j] = f[i * d + j] - mu[j];
      for (let a = 0; a < d; a++) for (let b = 0; b <= a; b++) cov[a * d + b] += centred[a] * centred[b];
    }
    let trace = 0;
    for (let a = 0; a < d; a++) {
      for (let b = 0; b <= a; b++) cov[b * d + a] = cov[a * d + b] /= n;
      trace += cov[a * d + a];
    }
    // a small ridge keeps the covariance of collinear features invertible
    for (let a = 0; a < d; a++) cov[a * d + a] += 1e-6 * (trace / d || 1);
    this.factor = cholesky(cov, d);
    this.d = d;
  }

  score(batch: DetectorInput): Float32Array {
    if (!this.factor) throw new Error('fit the Mahalanobis detector first');
    const { f, d, n } = needFeatures(batch, 'Mahalanobis');
    if (d !== this.d) throw new Error(`features have ${d} dimensions, the detector was fitted on ${this.d}`);
    const out = new Float32Array(n);
    const y = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      let best = Infinity;
      for (const mu of this.means) {
        // ‖L⁻¹(f − μ)‖² = (f − μ)ᵀ Σ⁻¹ (f − μ), by forward substitution
        let dist = 0;
        for (let a = 0; a < d; a++) {
          let s = f[i * d + a] - mu[a];
          for (let b = 0; b < a; b++) s -= this.factor[a * d + b] * y[b];
          y[a] = s / this.factor[a * d + a];
          dist += y[a] * y[a];
        }
        best = Math.min(best, dist);
      }
      out[i] = best;
    }
    return out;
  }
}

/** k-th nearest neighbour distance among L2-normalised training features. */
export class KNearest implements OodDetector {
  readonly name = 'knn';
  readonly needs = 'features';
  private bank: Float32Array = new Float32Array(0);
  private d = 0;
  constructor(readonly k = 50) {}

  private static normalised(f: Float32Array, d: number): Float32Array {
    const out = new Float32Array(f.length);
    for (let i = 0; i < f.length / d; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += f[i * d + j] ** 2;
      const inv = 1 / (Math.sqrt(s) || 1);
      for (let j = 0; j < d; j++) out[i * d + j] = f[i * d + j] * inv;
    }
    return out;
  }

  fit(train: DetectorInput): void {
    const { f, d, n } = needFeatures(train, 'KNN');
    if (n < this.k) throw new Error(`KNN with k = ${this.k} needs at least ${this.k} training features, got ${n}`);
    this.bank = KNearest.normalised(f, d);
    this.d = d;
  }

  score(batch: DetectorInput): Float32Array {
    const { f, d, n } = needFeatures(batch, 'KNN');
    if (d !== this.d) throw new Error(`features have ${d} dimensions, the detector was fitted on ${this.d}`);
    const q = KNearest.normalised(f, d);
    const m = this.bank.length / d;
    const out = new Float32Array(n);
    const sims = new Float32Array(m);
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < m; t++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += q[i * d + j] * this.bank[t * d + j];
        sims[t] = s;
      }
      // the k-th largest cosine similarity; unit vectors: ‖a − b‖² = 2 − 2 cos
      const kth = sims.slice().sort((a, b) => b - a)[this.k - 1];
      out[i] = Math.sqrt(Math.max(0, 2 - 2 * kth));
    }
    return out;
  }
}

/**
 * ViM for a linear head logits = W f + b: origin u = −W⁺b, principal subspace of the centred
 * training features (the `principal` largest eigenvectors), residual norm ‖(f − u) off that
 * subspace‖ scaled by α = mean max logit / mean residual norm on the training data.
 */
export class VirtualLogit implements OodDetector {
  readonly name = 'vim';
  readonly needs = 'features';
  private origin = new Float64Array(0);
  private residualBasis: Float64Array[] = [];
  private alpha = 1;

  constructor(
    /** the head's weights, classes × dims row-major, and bias */
    private readonly weight: Float32Array,
    private readonly bias: Float32Array,
    private readonly principal?: number,
  ) {}

  private residualNorms(f: Float32Array, d: number): Float32Array {
    const n = f.length / d;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (const e of this.residualBasis) {
        let p = 0;
        for (let j = 0; j < d; j++) p += (f[i * d + j] - this.origin[j]) * e[j];
        s += p * p;
      }
      out[i] = Math.sqrt(s);
    }
    return out;
  }

  fit(train: DetectorInput): void {
    const { f, d, n } = needFeatures(train, 'ViM');
    const c = train.classes;
    // u = −W⁺b with W⁺ = Wᵀ(WWᵀ)⁻¹ (W has full row rank: classes < dims)
    const wwt = new Float64Array(c * c);
    for (let a = 0; a < c; a++) for (let b = 0; b < c; b++) for (let j = 0; j < d; j++) wwt[a * c + b] += this.weight[a * d + j] * this.weight[b * d + j];
    const inv = invert(wwt, c);
    const y = new Float64Array(c);
    for (let a = 0; a < c; a++) for (let b = 0; b < c; b++) y[a] += inv[a * c + b] * this.bias[b];
    this.origin = new Float64Array(d);
    for (let j = 0; j < d; j++) for (let a = 0; a < c; a++) this.origin[j] -= this.weight[a * d + j] * y[a];
    // covariance of the centred features, and the directions beyond the principal subspace
    const cov = new Float64Array(d * d);
    const x = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) x[j] = f[i * d + j] - this.origin[j];
      for (let a = 0; a < d; a++) for (let b = 0; b <= a; b++) cov[a * d + b] += x[a] * x[b];
    }
    for (let a = 0; a < d; a++) for (let b = 0; b <= a; b++) cov[b * d + a] = cov[a * d + b] /= n;
    const keep = this.principal ?? (d >= 2048 ? 1000 : d >= 768 ? 512 : Math.max(1, Math.floor(d / 2)));
    this.residualBasis = symmetricEigen(cov, d).vectors.slice(keep);
    const residual = this.residualNorms(f, d);
    let maxLogits = 0;
    for (let i = 0; i < n; i++) maxLogits += Math.max(...train.logits.subarray(i * c, (i + 1) * c));
    const meanResidual = residual.reduce((s, v) => s + v, 0) / n;
    this.alpha = meanResidual > 0 ? maxLogits / n / meanResidual : 1;
  }

  score(batch: DetectorInput): Float32Array {
    const { f, d } = needFeatures(batch, 'ViM');
    const residual = this.residualNorms(f, d);
    return perRow(batch, (() => {
      let i = 0;
      return (l: Float32Array) => this.alpha * residual[i++] - logSumExp(l);
    })());
  }
}

export const LOGIT_DETECTORS = ['msp', 'max-logit', 'energy'] as const;
export const FEATURE_DETECTORS = ['mahalanobis', 'knn', 'vim'] as const;
export type DetectorName = (typeof LOGIT_DETECTORS)[number] | (typeof FEATURE_DETECTORS)[number];

/** Softmax logsumexp exposed for tests and reports. */
export { logSumExp };
