/**
 * DCT component influence (paper Appendix C, Fig. 18): how much the class means differ per DCT
 * coefficient of the last feature map. For each coefficient (kh, kw): the standard deviation over
 * classes of μ_y at that coefficient, averaged over the channels. Large values mark the spatial
 * frequencies that separate classes (the DC term dominates; horizontally odd ones hardly matter
 * when training used horizontal flips). ImageNet layouts only (latent = permuted DCT).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GenerativeClassifier } from '../gc/model.js';
import { dctLatent } from './heatmap.js';

export interface DctInfluence {
  n: number;
  /** mean over channels of the class standard deviation, [kh·N + kw] */
  spread: Float64Array;
}

export function dctInfluence(model: GenerativeClassifier, chunk = 64): DctInfluence {
  const { dct, perm } = dctLatent(model, 'the DCT influence');
  const n = dct.n;
  const d = model.dims;
  const c = d / (n * n);
  const m = model.classes;
  const sum = new Float64Array(d);
  const sq = new Float64Array(d);
  for (let start = 0; start < m; start += chunk) {
    const classes = Array.from({ length: Math.min(chunk, m - start) }, (_, k) => start + k);
    const rows = tf.tidy(() => {
      const mu = model.head.meanRows(classes);
      return (perm ? perm.inverse(mu) : mu).dataSync() as Float32Array; // DCT layout: (kw·N + kh)·C + ch
    });
    for (let k = 0; k < classes.length; k++) {
      for (let j = 0; j < d; j++) {
        const v = rows[k * d + j];
        sum[j] += v;
        sq[j] += v * v;
      }
    }
  }
  const spread = new Float64Array(n * n);
  for (let kw = 0; kw < n; kw++) {
    for (let kh = 0; kh < n; kh++) {
      let s = 0;
      for (let ch = 0; ch < c; ch++) {
        const j = (kw * n + kh) * c + ch;
        const mean = sum[j] / m;
        s += Math.sqrt(Math.max(0, sq[j] / m - mean * mean));
      }
      spread[kh * n + kw] = s / c;
    }
  }
  return { n, spread };
}
