/** Explanations computed from a trained model: the data behind every figure of `trustgc explain`. */
import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../gc/classifier.js';
import { GenerativeClassifier } from '../gc/model.js';
import { DiscriminativeClassifier } from '../gc/discriminative.js';
import type { ImageDataset } from '../data/dataset.js';
import { datasetSize } from '../data/dataset.js';
import { evalBatches } from '../data/batches.js';
import { pValues } from '../eval/ood_pvalues.js';
import type { OodReference } from '../eval/ood_pvalues.js';
import { MersenneTwister } from '../util/rng.js';
import { decisionSpace, DEFAULT_THRESHOLDS, explainSentence } from './decision_space.js';
import type { CaseThresholds, DecisionSpace } from './decision_space.js';
import { classSimilarity, gramOf } from './class_similarity.js';
import type { ClassSimilarity } from './class_similarity.js';
import { lda, pcaOfMeans } from './latent_projection.js';
import type { Projection } from './latent_projection.js';

export function requireGc(model: Classifier, what: string): GenerativeClassifier {
  if (!(model instanceof GenerativeClassifier)) throw new Error(`${what} needs a generative classifier (class means in latent space); this model is a discriminative baseline`);
  return model;
}

export interface ImageExplanation {
  decision: DecisionSpace;
  sentence: string;
  pValue: number | null;
  posterior: number[];
}

/**
 * Decision spaces and verdicts for a batch from what inference already computed: latent codes
 * z [B·D], posteriors [B·M] and L_X [B] (so a server explains without a second pass).
 */
export function explainCodes(model: GenerativeClassifier, z: Float32Array, posterior: Float32Array, lx: ArrayLike<number>, reference: OodReference | null, thresholds: CaseThresholds = DEFAULT_THRESHOLDS): ImageExplanation[] {
  const d = model.dims;
  const m = model.classes;
  return Array.from({ length: lx.length }, (_, i) => {
    const p = Array.from(posterior.subarray(i * m, (i + 1) * m));
    const top = Array.from(p.keys()).sort((a, b) => p[b] - p[a]).slice(0, Math.min(5, m));
    const rows = model.head.meanRows(top);
    const means = rows.dataSync() as Float32Array;
    rows.dispose();
    const pValue = reference ? pValues(reference, lx[i]).twoTailed : null;
    const decision = decisionSpace(z.subarray(i * d, (i + 1) * d), top, means, p, pValue, thresholds);
    return { decision, sentence: explainSentence(decision, model.config.classNames, pValue), pValue, posterior: p };
  });
}

/** Decision space and verdict for one [0,1] image (a [1, H, W, C] tensor). */
export function explainImage(model: GenerativeClassifier, x01: tf.Tensor4D, reference: OodReference | null, thresholds: CaseThresholds = DEFAULT_THRESHOLDS): ImageExplanation {
  if (x01.shape[0] !== 1) throw new Error(`explainImage takes one image, got a batch of ${x01.shape[0]}`);
  model.checkInput(x01);
  const { z, posterior, lx } = tf.tidy(() => {
    const out = model.latent(x01);
    const inf = model.infer(x01);
    return { z: out.z.dataSync() as Float32Array, posterior: inf.posterior.dataSync() as Float32Array, lx: inf.lx.dataSync() as Float32Array };
  });
  return explainCodes(model, z, posterior, lx, reference, thresholds)[0];
}

/** Gram matrix of the class means in float64 (the low-rank ImageNet head without forming its means). */
export function meanGram(model: GenerativeClassifier): Float64Array {
  const head = model.head;
  const m = model.classes;
  const free = head.mu.dataSync() as Float32Array;
  const g = gramOf(free, m);
  if (head.muT && head.muM) {
    const t = head.muT.dataSync() as Float32Array;
    const k = head.muT.shape[1] as number;
    const inner = gramOf(head.muM.dataSync() as Float32Array, k); // mu_m·mu_mᵀ, k×k
    // add T·inner·Tᵀ
    const ti = new Float64Array(m * k);
    for (let a = 0; a < m; a++) for (let j = 0; j < k; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += t[a * k + l] * inner[l * k + j];
      ti[a * k + j] = s;
    }
    for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += ti[a * k + j] * t[b * k + j];
      g[a * m + b] += s;
    }
  }
  return g;
}

export function modelClassSimilarity(model: Classifier): ClassSimilarity {
  const gc = requireGc(model, 'class similarity');
  return classSimilarity(meanGram(gc), gc.config.classNames);
}

/**
 * Class-conditional samples: z ~ N(μ_y, T²·I) inverted through the INN, clipped to [0, 1].
 * Returns [class][sample] images.
 */
export function classSamples(model: Classifier, perClass: number, temperature: number, seed: number, classes?: number[]): Float32Array[][] {
  const gc = requireGc(model, 'sampling');
  if (!(temperature >= 0)) throw new Error(`temperature must be ≥ 0, got ${temperature}`);
  const rng = new MersenneTwister(seed);
  const which = classes ?? Array.from({ length: gc.classes }, (_, i) => i);
  const { height, width, channels } = gc.config.input;
  const size = height * width * channels;
  return which.map((cls) => {
    const mu = gc.head.meanRows([cls]);
    const images = tf.tidy(() => {
      const noise = tf.tensor2d(rng.normalArray(perClass * gc.dims, temperature), [perClass, gc.dims]);
      return tf.clipByValue(gc.decode(tf.add(noise, mu) as tf.Tensor2D), 0, 1).dataSync() as Float32Array;
    });
    mu.dispose();
    return Array.from({ length: perClass }, (_, k) => images.slice(k * size, (k + 1) * size));
  });
}

/** One row per image of a data set, computed batch by batch ([N·width], width from the first batch). */
function perImage(ds: ImageDataset, rows: (x: tf.Tensor4D) => tf.Tensor2D): Float32Array {
  let out: Float32Array | null = null;
  let at = 0;
  for (const batch of evalBatches(ds, 256)) {
    const x = tf.tensor4d(batch.x, [batch.size, ds.height, ds.width, ds.channels]);
    const values = tf.tidy(() => rows(x).dataSync() as Float32Array);
    x.dispose();
    out ??= new Float32Array((datasetSize(ds) * values.length) / batch.size);
    out.set(values, at);
    at += values.length;
  }
  return out ?? new Float32Array(0);
}

/** Latent codes z of every image of a data set, [N·D] (GCs). */
export function latentCodes(model: GenerativeClassifier, ds: ImageDataset): Float32Array {
  return perImage(ds, (x) => model.latent(x).z);
}

/** Fig. 19: GC latent codes in the PCA plane of the class means; DC penultimate features by LDA. */
export function latentProjection(model: Classifier, ds: ImageDataset): Projection {
  if (model instanceof GenerativeClassifier) {
    const means = model.head.means();
    const data = means.dataSync() as Float32Array;
    means.dispose();
    return pcaOfMeans(data, model.classes, latentCodes(model, ds), ds.labels);
  }
  if (model instanceof DiscriminativeClassifier) {
    return lda(perImage(ds, (x) => model.features(x)), ds.labels, model.classes);
  }
  throw new Error('latent projection needs a trustgc classifier loaded with tfjs');
}

