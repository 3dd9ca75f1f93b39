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
import { makeReference, parseReference, pValues } from './ood_pvalues.js';
import type { OodPValues, OodReference } from './ood_pvalues.js';

export { makeReference, parseReference, pValues };
export type { OodPValues, OodReference };

export const OOD_REFERENCE_FILE = 'ood_reference.json';

export function saveReference(dir: string, ref: OodReference): void {
  writeFileAtomic(join(dir, OOD_REFERENCE_FILE), JSON.stringify(ref) + '\n');
}

/** The model's reference, or null when it has none. */
export function loadReference(dir: string): OodReference | null {
  const file = join(dir, OOD_REFERENCE_FILE);
  if (!existsSync(file)) return null;
  return parseReference(readFileSync(file, 'utf8'), file);
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
  const drawn = ds.storedByClass ? `${datasetSize(subset)} images, round-robin over the classes` : `first ${datasetSize(subset)} images`;
  return makeReference(scores, `${ds.name}: ${drawn}`);
}
