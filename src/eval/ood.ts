/**
 * OoD detection with the model's own likelihood (paper §3.3, §4.4): every image gets L_X
 * (−log q(x) per dimension), its p-values under the three tests against the training-set
 * reference (ood_reference.ts), its predictive entropy, and a complexity-corrected score.
 *
 * Detection metrics (ood_metrics.ts) use, per test, the p-value as the decision statistic (lower =
 * more OoD), which is how the paper sweeps its thresholds. Beyond the paper: likelihoods of flows
 * are dominated by image complexity (plain flows rate MNIST digits *more* likely than the
 * Fashion-MNIST they were trained on), so we also report S(x) = model bits/dim − PNG bits/dim
 * (Serrà et al. 2020): the model's code length minus a generic compressor's, higher = more OoD.
 */
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import type { InferenceModel } from '../gc/model.js';
import type { ImageDataset } from '../data/dataset.js';
import { datasetSize, sampleSize } from '../data/dataset.js';
import { evalBatches } from '../data/batches.js';
import { pValues } from './ood_reference.js';
import type { OodReference } from './ood_reference.js';
import { detectionMetrics } from './ood_metrics.js';
import type { DetectionMetrics } from './ood_metrics.js';

export interface SetScores {
  name: string;
  /** L_X, nats per dimension */
  lx: Float32Array;
  /** −log₂ p(x) per dimension of the 8-bit image */
  bitsPerDim: Float32Array;
  /** predictive entropy of p(y|x), nats */
  entropy: Float32Array;
  /** PNG-compressed length, bits per dimension */
  pngBitsPerDim: Float32Array;
  /** largest class posterior */
  maxProb: Float32Array;
}

/** Likelihood tests (GCs only) and the confidence baseline every classifier has (1 − max p(y|x)). */
export const OOD_TESTS = ['one-tailed', 'two-tailed', 'typicality', 'complexity', 'max-softmax'] as const;
export type OodTest = (typeof OOD_TESTS)[number];

export interface OodSetResult {
  name: string;
  images: number;
  meanLx: number;
  meanBitsPerDim: number;
  meanPngBitsPerDim: number;
  meanEntropy: number;
  /** mean entropy on this set minus on the in-distribution test set, nats */
  deltaEntropy: number;
  /** per test: AUROC etc. against the in-distribution test set (OoD = positive); likelihood
   *  tests are absent for a model without a likelihood (the DC baseline) */
  tests: Partial<Record<OodTest, DetectionMetrics>>;
}

export interface OodReport {
  inDistribution: { name: string; images: number; meanLx: number; meanBitsPerDim: number; meanPngBitsPerDim: number; meanEntropy: number; accuracy: number };
  reference: string | null;
  sets: OodSetResult[];
}

/** PNG-compressed length of every image, bits per dimension (the complexity-corrected score's yardstick). */
export async function pngBits(ds: ImageDataset): Promise<Float32Array> {
  const n = datasetSize(ds);
  const size = sampleSize(ds);
  const out = new Float32Array(n);
  const chunk = 64;
  for (let start = 0; start < n; start += chunk) {
    const sizes = await Promise.all(
      Array.from({ length: Math.min(chunk, n - start) }, (_, k) => {
        const i = start + k;
        const raw = Buffer.from(ds.pixels.buffer, ds.pixels.byteOffset + i * size, size);
        const img = sharp(raw, { raw: { width: ds.width, height: ds.height, channels: ds.channels as 1 | 3 } });
        // (without b-w, sharp would write a one-channel image as RGB)
        return (ds.channels === 1 ? img.toColourspace('b-w') : img)
          .png({ compressionLevel: 9, adaptiveFiltering: true })
          .toBuffer()
          .then((b) => b.length);
      }),
    );
    sizes.forEach((bytes, k) => (out[start + k] = (8 * bytes) / size));
  }
  return out;
}

/** Scores every image of a data set. */
export async function scoreSet(
  model: InferenceModel,
  ds: ImageDataset,
  onProgress?: (done: number, total: number) => void,
  /** also compress every image to PNG for the complexity-corrected score */
  opts: { complexity?: boolean } = {},
): Promise<SetScores & { correct: number; predictions: Int32Array }> {
  const n = datasetSize(ds);
  const lx = new Float32Array(n);
  const bpd = new Float32Array(n);
  const entropy = new Float32Array(n);
  const maxProb = new Float32Array(n);
  const predictions = new Int32Array(n);
  let correct = 0;
  let at = 0;
  for (const batch of evalBatches(ds, 256)) {
    const x = tf.tensor4d(batch.x, [batch.size, ds.height, ds.width, ds.channels]);
    const r = await model.infer(x);
    lx.set(r.lx.dataSync(), at);
    bpd.set(r.bitsPerDim.dataSync(), at);
    entropy.set(tf.tidy(() => tf.neg(tf.sum(tf.mul(r.posterior, tf.log(tf.add(r.posterior, 1e-30))), 1)).dataSync()), at);
    maxProb.set(tf.tidy(() => tf.max(r.posterior, 1).dataSync()), at);
    const pred = r.prediction.dataSync();
    predictions.set(pred, at);
    for (let i = 0; i < batch.size; i++) if (pred[i] === batch.labels[i]) correct++;
    tf.dispose([x, ...Object.values(r)]);
    at += batch.size;
    onProgress?.(at, n);
  }
  const hasLikelihood = !Number.isNaN(lx[0]);
  const complexity = hasLikelihood && (opts.complexity ?? true);
  return { name: ds.name, lx, bitsPerDim: bpd, entropy, maxProb, pngBitsPerDim: complexity ? await pngBits(ds) : new Float32Array(n).fill(NaN), correct, predictions };
}

const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;

/** Per-test decision statistics, higher = more OoD. */
export function statistics(s: SetScores, ref: OodReference | null): Partial<Record<OodTest, number[]>> {
  const confidence = { 'max-softmax': Array.from(s.maxProb, (v) => -v) };
  if (!ref) return confidence;
  const p = Array.from(s.lx, (v) => pValues(ref, v));
  return {
    'one-tailed': p.map((v) => -v.oneTailed),
    'two-tailed': p.map((v) => -v.twoTailed),
    typicality: p.map((v) => -v.typicality),
    complexity: Array.from(s.bitsPerDim, (v, i) => v - s.pngBitsPerDim[i]),
    ...confidence,
  };
}

export async function oodEvaluation(
  model: InferenceModel,
  inSet: ImageDataset,
  outSets: ImageDataset[],
  /** the training-set likelihood reference; null for a model without a likelihood */
  reference: OodReference | null,
  onProgress?: (set: string, done: number, total: number) => void,
): Promise<{ report: OodReport; scores: Array<SetScores & { predictions: Int32Array }> }> {
  const id = await scoreSet(model, inSet, (d, t) => onProgress?.(inSet.name, d, t));
  const scores: Array<SetScores & { predictions: Int32Array }> = [id];
  const idStats = statistics(id, reference);
  const idEntropy = mean(id.entropy);
  const sets: OodSetResult[] = [];
  for (const ds of outSets) {
    const s = await scoreSet(model, ds, (d, t) => onProgress?.(ds.name, d, t));
    scores.push(s);
    const st = statistics(s, reference);
    const tests = Object.fromEntries(OOD_TESTS.filter((t) => st[t]).map((t) => [t, detectionMetrics(idStats[t] as number[], st[t] as number[])]));
    sets.push({ name: ds.name, images: datasetSize(ds), meanLx: mean(s.lx), meanBitsPerDim: mean(s.bitsPerDim), meanPngBitsPerDim: mean(s.pngBitsPerDim), meanEntropy: mean(s.entropy), deltaEntropy: mean(s.entropy) - idEntropy, tests });
  }
  const report: OodReport = {
    inDistribution: { name: inSet.name, images: datasetSize(inSet), meanLx: mean(id.lx), meanBitsPerDim: mean(id.bitsPerDim), meanPngBitsPerDim: mean(id.pngBitsPerDim), meanEntropy: idEntropy, accuracy: id.correct / datasetSize(inSet) },
    reference: reference?.source ?? null,
    sets,
  };
  return { report, scores };
}

export function formatOodTable(r: OodReport): string {
  const id = r.inDistribution;
  const lxText = Number.isNaN(id.meanLx) ? 'no likelihood' : `mean L_X ${id.meanLx.toFixed(3)}`;
  const head = `in-distribution: ${id.name} (${id.images} images, accuracy ${(100 * id.accuracy).toFixed(2)} %, ${lxText}, mean entropy ${id.meanEntropy.toFixed(3)} nats); reference: ${r.reference ?? 'none'}`;
  const f = (m: DetectionMetrics | undefined, key: keyof DetectionMetrics) => (m ? m[key].toFixed(1) : '–');
  const rows = [
    '| OoD set | images | mean L_X | Δ entropy | AUROC 1-tailed | AUROC 2-tailed | AUROC typicality | AUROC complexity | AUROC max-softmax | AUPR-in / AUPR-out (2-tailed) | FPR@95 % TPR (2-tailed) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of r.sets) {
    const t = s.tests;
    const two = t['two-tailed'];
    rows.push(
      `| ${s.name} | ${s.images} | ${Number.isNaN(s.meanLx) ? '–' : s.meanLx.toFixed(3)} | ${s.deltaEntropy.toFixed(3)} | ${f(t['one-tailed'], 'auroc')} | ${f(two, 'auroc')} | ${f(t.typicality, 'auroc')} | ${f(t.complexity, 'auroc')} | ${f(t['max-softmax'], 'auroc')} | ${f(two, 'auprIn')} / ${f(two, 'auprOut')} | ${f(two, 'fprAt95Tpr')} |`,
    );
  }
  return [head, '', ...rows].join('\n');
}
