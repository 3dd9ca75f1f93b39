/**
 * 2-D layouts of what a classifier has learned (paper Appendix C, Fig. 19). For a GC: PCA with two
 * components fitted on the class means, latent codes projected with it (as the IB-INN code does).
 * For a DC: linear discriminant analysis of its penultimate features onto two dimensions.
 */
import { cholesky, principalDirections, topEigenvectors } from '../util/linalg.js';

export interface Projection {
  /** per point: x, y and class */
  points: Array<{ x: number; y: number; label: number }>;
  /** class centres in the same coordinates (GC: the means; DC: feature centroids) */
  centres: Array<{ x: number; y: number; label: number }>;
  method: 'pca-of-means' | 'lda';
}

export function projector(centre: Float64Array, axes: Float64Array[]) {
  return (v: ArrayLike<number>, offset = 0) =>
    axes.map((a) => {
      let s = 0;
      for (let j = 0; j < centre.length; j++) s += (v[offset + j] - centre[j]) * a[j];
      return s;
    });
}

/**
 * The plane through a set of class means: their centroid and first two principal directions
 * (`means` is [M·d]; `classes` picks the rows, all by default).
 */
export function meanPlane(means: ArrayLike<number>, d: number, classes: number[] = Array.from({ length: means.length / d }, (_, i) => i)): { centre: Float64Array; axes: Float64Array[] } {
  const centre = new Float64Array(d);
  for (const c of classes) for (let j = 0; j < d; j++) centre[j] += means[c * d + j] / classes.length;
  const rows = classes.map((c) => Float64Array.from({ length: d }, (_, j) => means[c * d + j] - centre[j]));
  return { centre, axes: principalDirections(rows, 2) };
}

/** GC: PCA of the M class means ([M·D]); codes [N·D] with their labels. */
export function pcaOfMeans(means: ArrayLike<number>, classes: number, codes: ArrayLike<number>, labels: ArrayLike<number>): Projection {
  const d = means.length / classes;
  const { centre, axes } = meanPlane(means, d);
  const p = projector(centre, axes);
  return {
    method: 'pca-of-means',
    points: Array.from(labels, (label, i) => {
      const [x, y] = p(codes, i * d);
      return { x, y, label };
    }),
    centres: Array.from({ length: classes }, (_, c) => {
      const [x, y] = p(means, c * d);
      return { x, y, label: c };
    }),
  };
}

/**
 * Fisher LDA onto two dimensions: the top generalised eigenvectors of (between-class scatter,
 * within-class scatter), computed as eigenvectors of L⁻¹·S_b·L⁻ᵀ with S_w = L·Lᵀ (a small ridge
 * keeps S_w invertible for dead features).
 */
export function lda(features: ArrayLike<number>, labels: ArrayLike<number>, classes: number): Projection {
  const n = labels.length;
  const f = features.length / n;
  const mean = new Float64Array(f);
  const cm = Array.from({ length: classes }, () => new Float64Array(f));
  const count = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    count[labels[i]]++;
    for (let j = 0; j < f; j++) {
      cm[labels[i]][j] += features[i * f + j];
      mean[j] += features[i * f + j] / n;
    }
  }
  for (let c = 0; c < classes; c++) if (count[c]) for (let j = 0; j < f; j++) cm[c][j] /= count[c];
  const sw = new Float64Array(f * f);
  const diff = new Float64Array(f);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < f; j++) diff[j] = features[i * f + j] - cm[labels[i]][j];
    for (let a = 0; a < f; a++) for (let b = 0; b <= a; b++) sw[a * f + b] += diff[a] * diff[b];
  }
  const sb = new Float64Array(f * f);
  for (let c = 0; c < classes; c++) {
    for (let j = 0; j < f; j++) diff[j] = cm[c][j] - mean[j];
    for (let a = 0; a < f; a++) for (let b = 0; b <= a; b++) sb[a * f + b] += count[c] * diff[a] * diff[b];
  }
  let trace = 0;
  for (let a = 0; a < f; a++) {
    for (let b = 0; b < a; b++) {
      sw[b * f + a] = sw[a * f + b];
      sb[b * f + a] = sb[a * f + b];
    }
    trace += sw[a * f + a];
  }
  for (let a = 0; a < f; a++) sw[a * f + a] += 1e-6 * (trace / f) + 1e-12;
  const l = cholesky(sw, f);
  // M = L⁻¹ S_b L⁻ᵀ: solve L·X = S_b, then L·Mᵀ = Xᵀ
  const solveLower = (rhs: Float64Array) => {
    const x = new Float64Array(f * f);
    for (let col = 0; col < f; col++) {
      for (let i = 0; i < f; i++) {
        let s = rhs[i * f + col];
        for (let k = 0; k < i; k++) s -= l[i * f + k] * x[k * f + col];
        x[i * f + col] = s / l[i * f + i];
      }
    }
    return x;
  };
  const x1 = solveLower(sb);
  const x1t = new Float64Array(f * f);
  for (let i = 0; i < f; i++) for (let j = 0; j < f; j++) x1t[i * f + j] = x1[j * f + i];
  const m = solveLower(x1t);
  const us = topEigenvectors(m, f, 2);
  // directions w = L⁻ᵀ u (back substitution with Lᵀ)
  const axes = us.map((u) => {
    const w = new Float64Array(f);
    for (let i = f - 1; i >= 0; i--) {
      let s = u[i];
      for (let k = i + 1; k < f; k++) s -= l[k * f + i] * w[k];
      w[i] = s / l[i * f + i];
    }
    const len = Math.hypot(...w) || 1;
    return w.map((v) => v / len);
  });
  const p = projector(mean, axes);
  return {
    method: 'lda',
    points: Array.from(labels, (label, i) => {
      const [x, y] = p(features, i * f);
      return { x, y, label };
    }),
    centres: cm.map((c, label) => {
      const [x, y] = p(c);
      return { x, y, label };
    }),
  };
}
