/**
 * Class-posterior heatmaps (paper §4.3.3, Eqs. 14–21, Fig. 10) for models whose latent code is
 * the (permuted) DCT of the last feature map — the ImageNet layouts.
 *
 * For class y: r = z − μ_y, mapped back to the DCT layout (undo the permutation of the DC terms),
 * then through the orthonormal inverse 2-D DCT per channel to w^{(y)} (N×N×C). The orthonormal
 * transform keeps ‖w‖ = ‖r‖ (the model's own DCT is scaled and would not), so
 *   Σ_kl log p(w_kl|y) = −½ d_y,  log p(w_kl|y) = −½‖w^{(y)}_{kl,:}‖².
 * With S = LSE_y(logit_y) the log normaliser, S is spread over the positions by the "0.03 contrast
 * rule" (Eq. 20): S_kl = S·(r_kl + 0.03)/Σ(r + 0.03), where r_kl is the class-marginal per-position
 * log-likelihood LSE_y(−½‖w^{(y)}_kl‖²) − ln M, min–max normalised. Then
 *   Q(k, l, y) = log p(w_kl|y) + log w_y/N² − S_kl,   Σ_kl Q = logit_y − S = log q(y|x)   (Eq. 21);
 * log w_y is the model's learned class prior (zero-information for uniform weights), spread evenly.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GenerativeClassifier } from '../gc/model.js';
import { DctPooling, dctMatrix1d } from '../inn/dct.js';
import { RandomPermutation } from '../inn/permute.js';

export interface ClassHeatmaps {
  /** side N of the maps */
  n: number;
  /** classes shown (the top ones by posterior) */
  classes: number[];
  /** Q(k, l, y) per class, N·N row-major (k = row) */
  maps: Float32Array[];
  /** log q(y|x) of those classes */
  logPosterior: number[];
  /** the normaliser S and its per-position share S_kl */
  s: number;
  sShare: Float32Array;
  /** the normalised class-marginal likelihood map r_kl */
  r: Float32Array;
}

export const CONTRAST = 0.03;

/**
 * The DCT pooling node and the permutation after it, for models whose latent is the (permuted) DCT
 * of the last feature map; `what` names the caller in the error for other layouts.
 */
export function dctLatent(model: GenerativeClassifier, what: string): { dct: DctPooling; perm: RandomPermutation | null } {
  const nodes = model.inn.nodes;
  const i = nodes.findIndex((n) => n.module instanceof DctPooling);
  if (i < 0) throw new Error(`architecture ${model.config.arch} has no DCT pooling: ${what} needs a latent made of DCT coefficients (ImageNet layouts)`);
  const after = nodes.slice(i + 1).map((n) => n.module);
  if (after.length > 1 || (after.length === 1 && !(after[0] instanceof RandomPermutation))) {
    throw new Error(`architecture ${model.config.arch} transforms the DCT coefficients further (${nodes.slice(i + 1).map((n) => n.name).join(', ')}): ${what} needs the ImageNet layouts, where the latent is the permuted DCT itself`);
  }
  return { dct: nodes[i].module as DctPooling, perm: (after[0] as RandomPermutation | undefined) ?? null };
}

/** Whether the model's latent is the (permuted) DCT of its last feature map, as classHeatmaps needs. */
export function hasDctLatent(model: GenerativeClassifier): boolean {
  const nodes = model.inn.nodes;
  const i = nodes.findIndex((n) => n.module instanceof DctPooling);
  if (i < 0) return false;
  const after = nodes.slice(i + 1);
  return after.length === 0 || (after.length === 1 && after[0].module instanceof RandomPermutation);
}

/** Heatmaps of the `top` most probable classes for one [0,1] image ([1, H, W, C]). */
export function classHeatmaps(model: GenerativeClassifier, x01: tf.Tensor4D, top = 3, chunk = 64): ClassHeatmaps {
  if (x01.shape[0] !== 1) throw new Error(`classHeatmaps takes one image, got ${x01.shape[0]}`);
  model.checkInput(x01);
  const { dct, perm } = dctLatent(model, 'class heatmaps');
  const n = dct.n;
  const m = model.classes;
  const c = model.dims / (n * n);
  const o = tf.tensor2d(Float32Array.from(dctMatrix1d(n, 'orthonormal')), [n, n]); // O[k, i]
  const z = tf.tidy(() => model.latent(x01).z);
  const logits = tf.tidy(() => model.logits(z, true).dataSync() as Float32Array);
  const logW = tf.tidy(() => model.head.logClassWeights().dataSync() as Float32Array);
  // log p(w_kl|y) for every class, [M, N·N]
  const perPos = new Float32Array(m * n * n);
  try {
    for (let start = 0; start < m; start += chunk) {
      const classes = Array.from({ length: Math.min(chunk, m - start) }, (_, k) => start + k);
      const values = tf.tidy(() => {
        const mu = model.head.meanRows(classes);
        let r = tf.sub(z, mu) as tf.Tensor2D; // [k, D]
        if (perm) r = perm.inverse(r) as tf.Tensor2D;
        // flat index (kw·N + kh)·C + ch → [k, C, kw, kh]
        const coeff = tf.transpose(tf.reshape(r, [classes.length, n, n, c]), [0, 3, 1, 2]);
        // w[h, x] = Σ_kh Σ_kw O[kh, h]·O[kw, x]·R[kw, kh]:  (R·O) over kh, then Oᵀ· over kw
        const overKh = tf.matMul(tf.reshape(coeff, [-1, n]), o); // [(k·C·kw), h]
        const byKw = tf.transpose(tf.reshape(overKh, [classes.length, c, n, n]), [0, 1, 3, 2]); // [k, C, h, kw]
        const w = tf.reshape(tf.matMul(tf.reshape(byKw, [-1, n]), o), [classes.length, c, n, n]); // [k, C, h, x]
        return tf.mul(tf.sum(tf.square(w), 1), -0.5).dataSync() as Float32Array; // [k, h, x]
      });
      perPos.set(values, start * n * n);
    }
  } finally {
    tf.dispose([o, z]);
  }
  const lse = (a: ArrayLike<number>) => {
    let mx = -Infinity;
    for (let i = 0; i < a.length; i++) mx = Math.max(mx, a[i]);
    let s = 0;
    for (let i = 0; i < a.length; i++) s += Math.exp(a[i] - mx);
    return mx + Math.log(s);
  };
  const s = lse(logits);
  const positions = n * n;
  const marginal = Float64Array.from({ length: positions }, (_, p) => lse(Array.from({ length: m }, (_, y) => perPos[y * positions + p])) - Math.log(m));
  const lo = Math.min(...marginal);
  const hi = Math.max(...marginal);
  const r = Float32Array.from(marginal, (v) => (hi > lo ? (v - lo) / (hi - lo) : 1));
  const total = r.reduce((a, v) => a + v + CONTRAST, 0);
  const sShare = Float32Array.from(r, (v) => (s * (v + CONTRAST)) / total);
  const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, Math.min(top, m));
  return {
    n,
    classes: order,
    maps: order.map((y) => Float32Array.from({ length: positions }, (_, p) => perPos[y * positions + p] + logW[y] / positions - sShare[p])),
    logPosterior: order.map((y) => logits[y] - s),
    s,
    sShare,
    r,
  };
}
