/**
 * Mini-batches for training and evaluation. Everything random is drawn from generators seeded by
 * (seed, epoch) and (seed, step), so an interrupted run resumes with exactly the batches and
 * augmentations it would have seen.
 */
import type { ImageDataset } from './dataset.js';
import { datasetSize, sampleSize } from './dataset.js';
import { MersenneTwister } from '../util/rng.js';

export interface AugmentOptions {
  /** random translation by up to ±shift pixels (zero padding, then a random crop) */
  shift: number;
  /** random horizontal flip with probability 0.5 */
  flip: boolean;
  /** uniform dequantisation noise U[0, 1/256) added to [0,1] pixels */
  dequantize: boolean;
  /** extra Gaussian noise (IB-INN: σ = 0.01) */
  noiseStd: number;
}

export const NO_AUGMENT: AugmentOptions = { shift: 0, flip: false, dequantize: false, noiseStd: 0 };

export interface Batch {
  /** [B, H, W, C] pixels in [0, 1] (plus noise) */
  x: Float32Array;
  labels: Int32Array;
  size: number;
}

/** Shuffled order of the samples for one epoch. */
export function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  return new MersenneTwister((seed * 7919 + epoch * 104729 + 1) >>> 0).permutation(n);
}

export function stepRng(seed: number, step: number): MersenneTwister {
  return new MersenneTwister((seed * 15485863 + step * 32452843 + 7) >>> 0);
}

export function makeBatch(ds: ImageDataset, indices: ArrayLike<number>, aug: AugmentOptions, rng: MersenneTwister | null): Batch {
  const { height: h, width: w, channels: c } = ds;
  const n = sampleSize(ds);
  const b = indices.length;
  const x = new Float32Array(b * n);
  const labels = new Int32Array(b);
  for (let i = 0; i < b; i++) {
    const j = indices[i];
    labels[i] = ds.labels[j];
    const src = ds.pixels.subarray(j * n, (j + 1) * n);
    const dst = x.subarray(i * n, (i + 1) * n);
    const dy = rng && aug.shift ? rng.intInclusive(2 * aug.shift) - aug.shift : 0;
    const dx = rng && aug.shift ? rng.intInclusive(2 * aug.shift) - aug.shift : 0;
    const flip = rng && aug.flip ? rng.uniform() < 0.5 : false;
    for (let yy = 0; yy < h; yy++) {
      const sy = yy - dy;
      if (sy < 0 || sy >= h) continue; // zero padding
      for (let xx = 0; xx < w; xx++) {
        let sx = xx - dx;
        if (flip) sx = w - 1 - sx;
        if (sx < 0 || sx >= w) continue;
        const so = (sy * w + sx) * c;
        const d = (yy * w + xx) * c;
        for (let k = 0; k < c; k++) dst[d + k] = src[so + k] / 255;
      }
    }
    if (rng && (aug.dequantize || aug.noiseStd > 0)) {
      for (let k = 0; k < n; k++) {
        if (aug.dequantize) dst[k] += rng.uniform() / 256;
        if (aug.noiseStd > 0) dst[k] += rng.normal() * aug.noiseStd;
      }
    }
  }
  return { x, labels, size: b };
}

/** Consecutive evaluation batches over the whole data set (last one may be smaller). */
export function* evalBatches(ds: ImageDataset, batchSize: number): Generator<Batch> {
  const total = datasetSize(ds);
  for (let start = 0; start < total; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, total - start) }, (_, i) => start + i);
    yield makeBatch(ds, idx, NO_AUGMENT, null);
  }
}
