/** Test-set metrics of a generative classifier: accuracy, L_X, L_Y, bits/dim. */
import * as tf from '@tensorflow/tfjs-core';
import type { InferenceModel } from '../gc/model.js';
import type { ImageDataset } from '../data/dataset.js';
import { datasetSize } from '../data/dataset.js';
import { evalBatches } from '../data/batches.js';

export interface EvalResult {
  dataset: string;
  images: number;
  /** top-1 accuracy in [0, 1] */
  accuracy: number;
  /** mean L_X, nats per dimension (normalised-input space, as trained) */
  lx: number;
  /** mean L_Y = cross entropy of p(y|x) against the true label, nats */
  ly: number;
  /** mean −log₂ p(x) per dimension in [0,1]-pixel space, 8-bit bins */
  bitsPerDim: number;
  seconds: number;
}

export function checkCompatible(model: InferenceModel, ds: ImageDataset): void {
  const i = model.config.input;
  if (ds.height !== i.height || ds.width !== i.width || ds.channels !== i.channels) {
    throw new Error(`data set ${ds.name} has ${ds.height}×${ds.width}×${ds.channels} images, model ${model.config.arch} expects ${i.height}×${i.width}×${i.channels}`);
  }
  if (ds.classNames.length !== model.classes) {
    throw new Error(`data set ${ds.name} has ${ds.classNames.length} classes, the model ${model.classes}`);
  }
}

export async function evaluate(
  model: InferenceModel,
  ds: ImageDataset,
  opts: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<EvalResult> {
  checkCompatible(model, ds);
  const start = Date.now();
  const total = datasetSize(ds);
  let correct = 0;
  let lx = 0;
  let ly = 0;
  let bpd = 0;
  let done = 0;
  for (const batch of evalBatches(ds, opts.batchSize ?? 256)) {
    const x = tf.tensor4d(batch.x, [batch.size, ds.height, ds.width, ds.channels]);
    const r = await model.infer(x);
    const sums = tf.tidy(() => {
      const labels = tf.tensor1d(batch.labels, 'int32');
      const ce = tf.neg(tf.sum(tf.mul(tf.oneHot(labels, model.classes), tf.logSoftmax(r.logits)), 1));
      const hits = tf.sum(tf.cast(tf.equal(r.prediction, labels), 'float32'));
      return tf.stack([hits, tf.sum(r.lx), tf.sum(ce), tf.sum(r.bitsPerDim)]).dataSync();
    });
    correct += sums[0];
    lx += sums[1];
    ly += sums[2];
    bpd += sums[3];
    tf.dispose([x, ...Object.values(r)]);
    done += batch.size;
    opts.onProgress?.(done, total);
  }
  return { dataset: ds.name, images: total, accuracy: correct / total, lx: lx / total, ly: ly / total, bitsPerDim: bpd / total, seconds: (Date.now() - start) / 1000 };
}

/** Likelihood figures; discriminative baselines have none (NaN). */
const likelihood = (v: number) => (Number.isNaN(v) ? 'n/a (no likelihood)' : v.toFixed(4));

export function formatEvalTable(r: EvalResult): string {
  const rows: Array<[string, string]> = [
    ['data set', `${r.dataset} (${r.images} images)`],
    ['accuracy', `${(100 * r.accuracy).toFixed(2)} %`],
    ['L_X (nats/dim)', likelihood(r.lx)],
    ['L_Y (nats)', r.ly.toFixed(4)],
    ['bits/dim', likelihood(r.bitsPerDim)],
    ['time', `${r.seconds.toFixed(1)} s`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

/** Class posteriors of every image, [images, classes] row-major. */
export async function posteriors(model: InferenceModel, ds: ImageDataset): Promise<Float32Array> {
  const out = new Float32Array(datasetSize(ds) * model.classes);
  let at = 0;
  for (const batch of evalBatches(ds, 256)) {
    const x = tf.tensor4d(batch.x, [batch.size, ds.height, ds.width, ds.channels]);
    const r = await model.infer(x);
    out.set(r.posterior.dataSync(), at);
    tf.dispose([x, ...Object.values(r)]);
    at += batch.size * model.classes;
  }
  return out;
}
