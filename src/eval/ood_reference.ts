/**
 * In-distribution reference for out-of-distribution tests (paper §3.3): the L_X scores
 * (−log q(x) per dimension) of training images, stored next to a model as ood_reference.json.
 * A new image's p-value is the fraction of reference images at least as extreme:
 *   one-tailed   — less likely than the image (OoD = unusually unlikely)
 *   two-tailed   — in the same tail of the score distribution, doubled (the paper's quantile test)
 *   typicality   — at least as far from the mean score (Nalisnick et al.)
 * (+1 in numerator and denominator, so a p-value is never 0.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { writeFileAtomic } from '../io/safetensors.js';
import type { InferenceModel } from '../gc/model.js';
import type { ImageDataset } from '../data/dataset.js';
import { datasetSize, firstN } from '../data/dataset.js';
import { evalBatches } from '../data/batches.js';

export const OOD_REFERENCE_FILE = 'ood_reference.json';

export interface OodReference {
  format: 'trustgc-ood-reference';
  version: 1;
  score: 'lx';
  /** L_X of the reference images, nats per dimension, ascending */
  values: number[];
  source: string;
  created: string;
}

export interface OodPValues {
  oneTailed: number;
  twoTailed: number;
  typicality: number;
}

export function makeReference(scores: ArrayLike<number>, source: string): OodReference {
  const values = Array.from(scores).filter(Number.isFinite).sort((a, b) => a - b);
  if (values.length < 2) throw new Error(`an OoD reference needs at least 2 finite scores, got ${values.length}`);
  return { format: 'trustgc-ood-reference', version: 1, score: 'lx', values, source, created: new Date().toISOString() };
}

/** Number of sorted values < x (lower bound) and ≤ x (upper bound). */
function bounds(sorted: number[], x: number): [number, number] {
  const search = (strict: boolean) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (strict ? sorted[mid] < x : sorted[mid] <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return [search(true), search(false)];
}

export function pValues(ref: OodReference, lx: number): OodPValues {
  const v = ref.values;
  const n = v.length;
  const [below, atOrBelow] = bounds(v, lx);
  const atOrAbove = n - below;
  const oneTailed = (1 + atOrAbove) / (n + 1); // reference images with L_X ≥ this one's
  const lower = (1 + atOrBelow) / (n + 1);
  const twoTailed = Math.min(1, 2 * Math.min(lower, oneTailed));
  const { mean, deviations } = typicalityTable(ref);
  const [closer] = bounds(deviations, Math.abs(lx - mean));
  return { oneTailed, twoTailed, typicality: (1 + n - closer) / (n + 1) };
}

const typicalityTables = new WeakMap<OodReference, { mean: number; deviations: number[] }>();

/** Mean of the reference and its sorted absolute deviations from it, computed once per reference. */
function typicalityTable(ref: OodReference): { mean: number; deviations: number[] } {
  let t = typicalityTables.get(ref);
  if (!t) {
    const mean = ref.values.reduce((s, x) => s + x, 0) / ref.values.length;
    t = { mean, deviations: ref.values.map((x) => Math.abs(x - mean)).sort((a, b) => a - b) };
    typicalityTables.set(ref, t);
  }
  return t;
}

export function saveReference(dir: string, ref: OodReference): void {
  writeFileAtomic(join(dir, OOD_REFERENCE_FILE), JSON.stringify(ref) + '\n');
}

/** The model's reference, or null when it has none. */
export function loadReference(dir: string): OodReference | null {
  const file = join(dir, OOD_REFERENCE_FILE);
  if (!existsSync(file)) return null;
  let ref: OodReference;
  try {
    ref = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (ref.format !== 'trustgc-ood-reference' || !Array.isArray(ref.values) || ref.values.length < 2) {
    throw new Error(`${file} is not a trustgc OoD reference`);
  }
  return ref;
}

/** L_X of the first `limit` images of a data set (eval mode), as an OoD reference. */
export async function referenceFromDataset(model: InferenceModel, ds: ImageDataset, limit = 5000): Promise<OodReference> {
  const subset = firstN(ds, limit);
  const scores: number[] = [];
  for (const batch of evalBatches(subset, 256)) {
    const x = tf.tensor4d(batch.x, [batch.size, ds.height, ds.width, ds.channels]);
    const r = await model.infer(x);
    scores.push(...(r.lx.dataSync() as Float32Array));
    tf.dispose([x, ...Object.values(r)]);
  }
  return makeReference(scores, `${ds.name}: first ${datasetSize(subset)} images`);
}
