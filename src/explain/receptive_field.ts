/**
 * Effective receptive field (paper §4.2, Eq. 10, Fig. 4): how strongly the centre column of the
 * last feature map before DCT pooling depends on each input pixel,
 *   S(i, j) = mean over images of Σ_channels k Σ_features l |∂u_l / ∂x_ijk|,
 * with u the features at the centre position and x the [0, 1] input (gradients with respect to the
 * normalised input differ by the constant factor 1/σ per channel; the shape is the same). The
 * absolute value forbids one backward pass for all features, so there is one per feature l — each
 * over the whole batch at once, since images do not interact in eval mode.
 *
 * The width is taken on cells of pixels where the INN starts with a Haar transform (the 28×28
 * presets): Haar turns every 2×2 cell into an average and three detail channels, which the
 * couplings weigh very differently, so the sensitivity alternates from pixel to pixel (MNIST
 * β = ∞: 1.0, 0.48, 0.91, 0.48, … along the centre row). The FWHM of that raw profile is the
 * width of one peak of the alternation (1.9 px) however far the field reaches; averaged over 2-px
 * cells it measures the field.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GenerativeClassifier } from '../gc/model.js';
import { DctPooling } from '../inn/dct.js';
import { EVAL } from '../inn/module.js';
import { HaarDownsampling } from '../inn/haar.js';

/** The feature map entering the model's DCT pooling, [B, h, w, c] (differentiable in x01). */
export function featureMapBeforePooling(model: GenerativeClassifier, x01: tf.Tensor4D): tf.Tensor4D {
  const index = model.inn.nodes.findIndex((n) => n.module instanceof DctPooling);
  if (index < 0) throw new Error(`architecture ${model.config.arch} has no DCT pooling node to take the feature map from`);
  let y: tf.Tensor = model.normalize(x01);
  for (const { module } of model.inn.nodes.slice(0, index)) y = module.forward(y, EVAL).y;
  return y as tf.Tensor4D;
}

export interface ReceptiveField {
  /** sensitivity per input pixel, [H·W], averaged over images */
  sensitivity: Float64Array;
  height: number;
  width: number;
  /** the feature map position and its size */
  centre: [number, number];
  featureShape: [number, number, number];
  images: number;
  /** cross-section through the centre row of the input, and its full width at half maximum (px) */
  profile: number[];
  /** pixels averaged before the FWHM is taken (2 after a leading Haar transform, else 1) */
  cell: number;
  fwhm: number;
}

/** Width of the pixel cells the sensitivity is averaged over before its FWHM (see the top of the file). */
export function sensitivityCell(model: GenerativeClassifier): number {
  return model.inn.nodes[0]?.module instanceof HaarDownsampling ? 2 : 1;
}

/** Moving average over `cell` neighbouring samples (length n − cell + 1; the FWHM does not depend on the offset). */
export function cellAverage(profile: ArrayLike<number>, cell: number): number[] {
  if (!Number.isInteger(cell) || cell < 1) throw new Error(`cell must be a positive integer, got ${cell}`);
  const out: number[] = [];
  for (let i = 0; i + cell <= profile.length; i++) {
    let sum = 0;
    for (let k = 0; k < cell; k++) sum += profile[i + k];
    out.push(sum / cell);
  }
  return out;
}

/** Full width at half maximum of a profile, with linear interpolation at the crossings; `cell` > 1 averages neighbouring samples first. */
export function fwhm(raw: ArrayLike<number>, cell = 1): number {
  const profile = cell === 1 ? raw : cellAverage(raw, cell);
  let peak = 0;
  let at = 0;
  for (let i = 0; i < profile.length; i++) if (profile[i] > peak) [peak, at] = [profile[i], i];
  if (!(peak > 0)) return 0;
  const half = peak / 2;
  let left = 0;
  for (let i = at; i > 0; i--) {
    if (profile[i - 1] < half) {
      left = i - (profile[i] - half) / (profile[i] - profile[i - 1]);
      break;
    }
  }
  let right = profile.length - 1;
  for (let i = at; i < profile.length - 1; i++) {
    if (profile[i + 1] < half) {
      right = i + (profile[i] - half) / (profile[i] - profile[i + 1]);
      break;
    }
  }
  return right - left;
}

/** Eq. 10 over a batch of [0,1] images (shape [B, H, W, C]); `batch` bounds the images per backward pass. */
export function receptiveField(model: GenerativeClassifier, images: Float32Array, count: number, batch = 50, onProgress?: (done: number, total: number) => void): ReceptiveField {
  const { height, width, channels } = model.config.input;
  const size = height * width * channels;
  const sens = new Float64Array(height * width);
  let shape: [number, number, number] = [0, 0, 0];
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const x = tf.tensor4d(images.subarray(start * size, (start + n) * size), [n, height, width, channels]);
    const fm = tf.tidy(() => featureMapBeforePooling(model, x));
    shape = fm.shape.slice(1) as [number, number, number];
    fm.dispose();
    const [fh, fw, fc] = shape;
    const cy = Math.floor(fh / 2);
    const cx = Math.floor(fw / 2);
    for (let l = 0; l < fc; l++) {
      const g = tf.tidy(() => {
        const grad = tf.grad((xi: tf.Tensor) => tf.sum(tf.slice(featureMapBeforePooling(model, xi as tf.Tensor4D), [0, cy, cx, l], [n, 1, 1, 1])))(x);
        return tf.sum(tf.abs(grad), [0, 3]).dataSync() as Float32Array; // Σ over images and channels
      });
      for (let p = 0; p < g.length; p++) sens[p] += g[p];
    }
    x.dispose();
    onProgress?.(start + n, count);
  }
  for (let p = 0; p < sens.length; p++) sens[p] /= count;
  const row = Math.floor(height / 2);
  const profile = Array.from(sens.subarray(row * width, (row + 1) * width));
  const cell = sensitivityCell(model);
  return { sensitivity: sens, height, width, centre: [Math.floor(shape[0] / 2), Math.floor(shape[1] / 2)], featureShape: shape, images: count, profile, cell, fwhm: fwhm(profile, cell) };
}
