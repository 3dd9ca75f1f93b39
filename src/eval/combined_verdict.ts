/**
 * One OoD verdict from the evidence a generative classifier has, with a false-positive rate that is
 * α by construction. Four p-values per image, each against training images:
 *   marginal     two-tailed quantile test of L_X = −log p(x)/D (the verdict `predict` gives today)
 *   class        two-tailed test of −log p(x | ŷ)/D against training images the model puts in the
 *                same class ŷ: "likely for some image, unlikely for the class it would be" — a
 *                signal no softmax has
 *   posterior    one-tailed test of 1 − max p(y|x) (high = unsure), the GC's own confidence
 *   complexity   two-tailed test of bits/dim − PNG bits/dim (Serrà et al. 2020): flags images whose
 *                likelihood is high only because they are simple (flat, smooth, digits for a
 *                photo model), which the marginal test misses
 * combined by their minimum, which is then calibrated on a separate validation set of
 * in-distribution images: p = (1 + #{validation images with a minimum ≤ this one's}) / (1 + n).
 * For an in-distribution image exchangeable with the validation images P(p ≤ α) ≤ α (a conformal
 * p-value), whatever the dependence between the four tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { InferenceModel } from '../gc/model.js';
import type { ImageDataset } from '../data/dataset.js';
import { evalBatches } from '../data/batches.js';
import { InputError } from '../util/errors.js';
import { pngBits } from './ood.js';
import { bounds } from './ood_pvalues.js';

export const VERDICT_FILE = 'ood_verdict.json';

export interface ImageEvidence {
  lx: Float64Array;
  /** −log p(x | ŷ)/D for the predicted class */
  classLx: Float64Array;
  predicted: Int32Array;
  /** 1 − max p(y|x) */
  doubt: Float64Array;
  /** bits/dim − PNG bits/dim */
  complexity: Float64Array;
}

export interface CombinedVerdictModel {
  format: 'trustgc-ood-verdict';
  version: 1;
  /** sorted reference values: L_X, per predicted class the class-conditional score, doubt */
  marginal: number[];
  perClass: number[][];
  doubt: number[];
  complexity: number[];
  /** sorted minimum p-values of the validation images */
  calibration: number[];
  source: { reference: string; calibration: string };
}

export type EvidenceName = 'marginal' | 'class' | 'posterior' | 'complexity';

/** The four scores of every image of a set. */
export async function imageEvidence(model: InferenceModel, ds: ImageDataset): Promise<ImageEvidence> {
  const n = ds.labels.length;
  const out: ImageEvidence = { lx: new Float64Array(n), classLx: new Float64Array(n), predicted: new Int32Array(n), doubt: new Float64Array(n), complexity: new Float64Array(n) };
  const dims = ds.height * ds.width * ds.channels;
  let at = 0;
  for (const batch of evalBatches(ds, 256)) {
    const x = tf.tensor4d(batch.x, [batch.size, ds.height, ds.width, ds.channels]);
    const r = await model.infer(x);
    const lx = r.lx.dataSync();
    const bpd = r.bitsPerDim.dataSync();
    const logPxGivenY = r.logPxGivenY.dataSync();
    const logPx = r.logPx.dataSync();
    const posterior = r.posterior.dataSync();
    const pred = r.prediction.dataSync();
    const c = model.classes;
    for (let i = 0; i < batch.size; i++) {
      const y = pred[i];
      out.lx[at + i] = lx[i];
      // −log p(x|ŷ)/D in L_X's units: L_X plus the per-dimension log-ratio of p(x) to p(x|ŷ)
      out.classLx[at + i] = lx[i] + (logPx[i] - logPxGivenY[i * c + y]) / dims;
      out.predicted[at + i] = y;
      let max = 0;
      for (let k = 0; k < c; k++) max = Math.max(max, posterior[i * c + k]);
      out.doubt[at + i] = 1 - max;
      out.complexity[at + i] = bpd[i];
    }
    tf.dispose([x, ...Object.values(r)]);
    at += batch.size;
  }
  const png = await pngBits(ds);
  for (let i = 0; i < n; i++) out.complexity[i] -= png[i];
  if (out.lx.some((v) => !Number.isFinite(v))) throw new InputError('the combined OoD verdict needs a generative classifier (this model has no likelihood)');
  return out;
}

function twoTailed(sorted: number[], v: number): number {
  const n = sorted.length;
  const [below, atOrBelow] = bounds(sorted, v);
  return Math.min(1, 2 * Math.min((1 + atOrBelow) / (n + 1), (1 + n - below) / (n + 1)));
}

function upperTail(sorted: number[], v: number): number {
  const [below] = bounds(sorted, v);
  return (1 + sorted.length - below) / (sorted.length + 1);
}

/** The four p-values of one image. */
export function evidencePValues(vm: Pick<CombinedVerdictModel, 'marginal' | 'perClass' | 'doubt' | 'complexity'>, e: ImageEvidence, i: number): Record<EvidenceName, number> {
  const perClass = vm.perClass[e.predicted[i]];
  return {
    marginal: twoTailed(vm.marginal, e.lx[i]),
    // a class no reference image was put in: no evidence either way from it
    class: perClass.length >= 2 ? twoTailed(perClass, e.classLx[i]) : 1,
    posterior: upperTail(vm.doubt, e.doubt[i]),
    complexity: twoTailed(vm.complexity, e.complexity[i]),
  };
}

const minP = (p: Record<EvidenceName, number>) => Math.min(p.marginal, p.class, p.posterior, p.complexity);
const sorted = (a: ArrayLike<number>) => Array.from(a).sort((x, y) => x - y);

/** Fits the references on one set of in-distribution images and calibrates on another. */
export async function fitCombinedVerdict(model: InferenceModel, reference: ImageDataset, validation: ImageDataset): Promise<CombinedVerdictModel> {
  const ref = await imageEvidence(model, reference);
  const perClass: number[][] = Array.from({ length: model.classes }, () => []);
  ref.predicted.forEach((y, i) => perClass[y].push(ref.classLx[i]));
  const base = { marginal: sorted(ref.lx), perClass: perClass.map(sorted), doubt: sorted(ref.doubt), complexity: sorted(ref.complexity) };
  const val = await imageEvidence(model, validation);
  const calibration = sorted(Array.from({ length: val.lx.length }, (_, i) => minP(evidencePValues(base, val, i))));
  return { format: 'trustgc-ood-verdict', version: 1, ...base, calibration, source: { reference: `${reference.name}: ${reference.labels.length} images`, calibration: `${validation.name}: ${validation.labels.length} images` } };
}

/** The calibrated combined p-value of every image, and the four p-values it rests on. */
export function combinedPValues(vm: CombinedVerdictModel, e: ImageEvidence): { p: Float64Array; parts: Array<Record<EvidenceName, number>> } {
  const n = e.lx.length;
  const p = new Float64Array(n);
  const parts: Array<Record<EvidenceName, number>> = [];
  for (let i = 0; i < n; i++) {
    const part = evidencePValues(vm, e, i);
    parts.push(part);
    const [, atOrBelow] = bounds(vm.calibration, minP(part));
    p[i] = (1 + atOrBelow) / (1 + vm.calibration.length);
  }
  return { p, parts };
}

/** Wilson score interval of a proportion (95 % by default), in [0, 1]. */
export function wilsonInterval(successes: number, n: number, z = 1.96): [number, number] {
  if (n === 0) return [0, 1];
  const phat = successes / n;
  const denom = 1 + (z * z) / n;
  const centre = (phat + (z * z) / (2 * n)) / denom;
  const half = (z * Math.sqrt((phat * (1 - phat)) / n + (z * z) / (4 * n * n))) / denom;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

export function parseVerdictModel(text: string, source: string): CombinedVerdictModel {
  let v: CombinedVerdictModel;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${source} is not valid JSON (${(e as Error).message})`);
  }
  if (v?.format !== 'trustgc-ood-verdict' || !Array.isArray(v.calibration) || !Array.isArray(v.perClass)) throw new InputError(`${source} is not a trustgc OoD verdict model`);
  return v;
}
