/**
 * The baseline OoD detectors (detectors.ts) run on a model's own outputs, beside its likelihood:
 * logits for max softmax, max logit and energy; the DC's pooled penultimate features (the GC's
 * latent z) for Mahalanobis and KNN; ViM on the DC, whose head is linear (the GC's head is
 * quadratic in z, so ViM does not apply). Fitted on training images, scored on the in-distribution
 * test set and each OoD set, reported with the same metrics as the likelihood tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../gc/classifier.js';
import { GenerativeClassifier } from '../gc/model.js';
import { DiscriminativeClassifier } from '../gc/discriminative.js';
import type { ImageDataset } from '../data/dataset.js';
import { evalBatches } from '../data/batches.js';
import { Energy, KNearest, Mahalanobis, MaxLogit, MaxSoftmax, VirtualLogit } from './detectors.js';
import type { DetectorInput, OodDetector } from './detectors.js';
import { detectionMetrics } from './ood_metrics.js';
import type { DetectionMetrics } from './ood_metrics.js';

export interface BaselineReport {
  /** which features the feature detectors read */
  features: 'penultimate' | 'latent z';
  fitImages: number;
  detectors: string[];
  sets: Array<{ name: string; tests: Record<string, DetectionMetrics> }>;
}

/** Logits and features of every image of a set, and its labels. */
function outputs(model: Classifier, ds: ImageDataset): DetectorInput {
  const logits: Float32Array[] = [];
  const features: Float32Array[] = [];
  let dims = 0;
  for (const batch of evalBatches(ds, 128)) {
    tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [batch.size, ds.height, ds.width, ds.channels]);
      let f: tf.Tensor2D;
      let l: tf.Tensor2D;
      if (model instanceof GenerativeClassifier) {
        f = model.latent(x).z;
        l = model.logits(f, true);
      } else if (model instanceof DiscriminativeClassifier) {
        f = model.features(x);
        l = model.fc.apply(f) as tf.Tensor2D;
      } else {
        throw new Error('baseline detectors need a tfjs generative or discriminative classifier');
      }
      dims = f.shape[1];
      features.push(f.dataSync() as Float32Array);
      logits.push(l.dataSync() as Float32Array);
    });
  }
  const join = (parts: Float32Array[]) => {
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) out.set(p, (at += p.length) - p.length);
    return out;
  };
  return { logits: join(logits), classes: model.classes, features: join(features), dims, labels: ds.labels };
}

/** The detectors that apply to a model. */
export function baselineDetectors(model: Classifier, knnK = 50): OodDetector[] {
  const list: OodDetector[] = [new MaxSoftmax(), new MaxLogit(), new Energy(), new Mahalanobis(), new KNearest(knnK)];
  if (model instanceof DiscriminativeClassifier) {
    // the head computes f·W + b with W stored dims × classes; ViM takes W classes × dims
    const w = model.fc.weight.dataSync() as Float32Array;
    const [dims, classes] = model.fc.weight.shape;
    const wt = new Float32Array(classes * dims);
    for (let j = 0; j < dims; j++) for (let c = 0; c < classes; c++) wt[c * dims + j] = w[j * classes + c];
    list.push(new VirtualLogit(wt, model.fc.bias.dataSync() as Float32Array));
  }
  return list;
}

export async function baselineDetection(model: Classifier, train: ImageDataset, inSet: ImageDataset, outSets: ImageDataset[], opts: { knnK?: number } = {}): Promise<BaselineReport> {
  const detectors = baselineDetectors(model, opts.knnK);
  const fit = outputs(model, train);
  for (const d of detectors) d.fit(fit);
  const inputs = outputs(model, inSet);
  const inScores = detectors.map((d) => d.score(inputs));
  const sets = outSets.map((ds) => {
    const o = outputs(model, ds);
    return { name: ds.name, tests: Object.fromEntries(detectors.map((d, k) => [d.name, detectionMetrics(inScores[k], d.score(o))])) };
  });
  return { features: model instanceof GenerativeClassifier ? 'latent z' : 'penultimate', fitImages: train.labels.length, detectors: detectors.map((d) => d.name), sets };
}

export function formatBaselineTable(r: BaselineReport): string {
  const head = `baseline detectors (fitted on ${r.fitImages} training images; features: ${r.features}) — AUROC %`;
  const rows = [head, ['set', ...r.detectors].join(' | ')];
  for (const s of r.sets) rows.push([s.name, ...r.detectors.map((d) => s.tests[d].auroc.toFixed(1))].join(' | '));
  return rows.join('\n');
}
