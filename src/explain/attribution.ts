/**
 * Per-pixel class-posterior heatmaps for models whose latent is not the DCT layout that the
 * paper's Eqs. 14–21 decompose (the small presets end in a fully connected coupling that mixes
 * every position). Integrated gradients of log q(y|x) along the straight path from a black image:
 *   A_p = (x_p − x0_p) · mean_k ∂ log q(y | x0 + α_k (x − x0)) / ∂x_p,   α_k = (k + ½)/K,
 * summed over channels. By the completeness property Σ_p A_p = log q(y|x) − log q(y|x0) up to
 * the midpoint rule's error, which the result reports. `posteriorHeatmaps` picks the paper's
 * decomposition where the architecture allows it and this one otherwise.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GenerativeClassifier } from '../gc/model.js';
import { classHeatmaps, hasDctLatent } from './heatmap.js';

/** What a heatmap figure needs: square per-position maps for the top classes. */
export interface PosteriorHeatmaps {
  method: 'dct-decomposition' | 'integrated-gradients';
  /** side of the maps */
  n: number;
  classes: number[];
  /** one map per class, n·n row-major */
  maps: Float32Array[];
  /** log q(y|x) of those classes */
  logPosterior: number[];
  /** integrated gradients: log q(y|x0) of the black baseline, and Σ A − (log q(y|x) − log q(y|x0)) */
  baselineLogPosterior?: number[];
  completenessError?: number[];
}

export function integratedGradients(model: GenerativeClassifier, x01: tf.Tensor4D, top = 3, steps = 64, chunk = 32): PosteriorHeatmaps {
  if (x01.shape[0] !== 1) throw new Error(`integratedGradients takes one image, got ${x01.shape[0]}`);
  if (!(Number.isInteger(steps) && steps >= 1)) throw new Error(`steps must be a positive integer, got ${steps}`);
  model.checkInput(x01);
  const [, h, w] = x01.shape;
  if (h !== w) throw new Error(`heatmaps are drawn on square inputs, this model takes ${h}×${w}`);
  const logPost = (x: tf.Tensor4D) => tf.logSoftmax(model.logits(model.latent(x).z, true));
  const { here, base } = tf.tidy(() => ({
    here: logPost(x01).dataSync() as Float32Array,
    base: logPost(tf.zerosLike(x01)).dataSync() as Float32Array,
  }));
  const classes = Array.from(here.keys()).sort((a, b) => here[b] - here[a]).slice(0, Math.min(top, here.length));
  const maps: Float32Array[] = [];
  const completenessError: number[] = [];
  const x = tf.squeeze(x01, [0]);
  try {
    for (const y of classes) {
      const g = tf.grad((xs: tf.Tensor) => tf.sum(tf.slice(logPost(xs as tf.Tensor4D), [0, y], [-1, 1])));
      let total = tf.zeros([h, w, x01.shape[3]]);
      // the path in chunks, so memory stays that of one chunk's backward pass
      for (let start = 0; start < steps; start += chunk) {
        const k = Math.min(chunk, steps - start);
        const next = tf.tidy(() => {
          const alphas = tf.tensor4d(Float32Array.from({ length: k }, (_, j) => (start + j + 0.5) / steps), [k, 1, 1, 1]);
          return tf.add(total, tf.sum(g(tf.mul(alphas, x01) as tf.Tensor4D), 0)); // baseline 0: x0 + α(x − x0) = αx
        });
        total.dispose();
        total = next;
      }
      const map = tf.tidy(() => tf.sum(tf.mul(tf.div(total, steps), x), 2).dataSync() as Float32Array);
      total.dispose();
      maps.push(map);
      completenessError.push(map.reduce((a, v) => a + v, 0) - (here[y] - base[y]));
    }
  } finally {
    x.dispose();
  }
  return {
    method: 'integrated-gradients',
    n: h,
    classes,
    maps,
    logPosterior: classes.map((y) => here[y]),
    baselineLogPosterior: classes.map((y) => base[y]),
    completenessError,
  };
}

/** The paper's DCT decomposition (Eqs. 14–21) where the latent allows it, integrated gradients otherwise. */
export function posteriorHeatmaps(model: GenerativeClassifier, x01: tf.Tensor4D, top = 3, steps = 64): PosteriorHeatmaps {
  if (hasDctLatent(model)) {
    const h = classHeatmaps(model, x01, top);
    return { method: 'dct-decomposition', n: h.n, classes: h.classes, maps: h.maps, logPosterior: h.logPosterior };
  }
  return integratedGradients(model, x01, top, steps);
}
