/**
 * The adversarial experiment of paper §4.6 / Tables 7–9: fixed random test images with fixed random
 * target classes, attacked with CW (optionally detection-aware), and per model the columns
 * Confidence, Corruption, Success, OoD AUROC (one- and two-tailed; typicality too), predictive
 * entropy of clean and attacked images, and the clean-vs-training sanity AUROC ("p(x) Val").
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../gc/classifier.js';
import type { ImageDataset } from '../data/dataset.js';
import { datasetSize, sampleSize } from '../data/dataset.js';
import { MersenneTwister } from '../util/rng.js';
import { pValues } from '../eval/ood_reference.js';
import type { OodReference } from '../eval/ood_reference.js';
import { auroc } from '../eval/ood_metrics.js';
import { carliniWagner, DEFAULT_CW } from './carlini_wagner.js';
import type { CwOptions, CwTrace } from './carlini_wagner.js';

export interface AttackSetting {
  n: number;
  seed: number;
  kappa: number;
  d: number;
  c: number;
  lr: number;
  patience: number;
  maxSteps: number;
  binarySearchSteps: number;
  /** images attacked together */
  batch: number;
}

export const DEFAULT_ATTACK: AttackSetting = { n: 200, seed: 0, kappa: 1, d: 0, c: DEFAULT_CW.c, lr: DEFAULT_CW.lr, patience: DEFAULT_CW.patience, maxSteps: DEFAULT_CW.maxSteps, binarySearchSteps: 0, batch: 200 };

export interface AttackImage {
  index: number;
  label: number;
  target: number;
  /** prediction on the clean image */
  cleanPrediction: number;
  prediction: number;
  success: boolean;
  /** max class posterior of the attacked image */
  confidence: number;
  /** mean over pixels of the per-pixel (channel-vector) L2 norm of x_att − x, [0,1] units */
  corruption: number;
  /** log q(x) per dimension, clean and attacked (NaN for a DC) */
  logQClean: number;
  logQAttacked: number;
  steps: number;
}

export interface AttackReport {
  format: 'trustgc-attack';
  version: 1;
  model: string;
  modelType: 'gc' | 'dc';
  dataset: string;
  setting: AttackSetting;
  metrics: {
    /** mean max posterior of attacked images, % */
    confidence: number;
    /** mean per-pixel L2 perturbation */
    corruption: number;
    /** % of attacks whose attacked image is classified as the target */
    success: number;
    /** AUROC (%) of attacked (positive) vs. clean images per likelihood test; null for a DC */
    ood: { oneTailed: number; twoTailed: number; typicality: number } | null;
    /** mean predictive entropy (nats) */
    entropyClean: number;
    entropyAttacked: number;
    /** AUROC (%) of the clean images against the training reference itself (two-tailed; ≈ 50 expected) */
    cleanVsTraining: number | null;
    /** training median of log q(x) per dim, and the mean |log q − median| of clean and attacked images */
    medianLogQ: number | null;
    meanDeviationClean: number | null;
    meanDeviationAttacked: number | null;
    meanSteps: number;
  };
  images: AttackImage[];
  seconds: number;
}

export interface AttackRun {
  report: AttackReport;
  /** originals and attacked images, [n·H·W·C] each, in report order */
  originals: Float32Array;
  adversarials: Float32Array;
  traces: CwTrace[];
}

/** The same images and targets for every model: a seeded choice of test images and of a target ≠ label. */
export function attackSamples(ds: ImageDataset, n: number, seed: number): { indices: number[]; targets: number[] } {
  if (n > datasetSize(ds)) throw new Error(`--n ${n} exceeds the ${datasetSize(ds)} images of ${ds.name}`);
  const rng = new MersenneTwister((seed * 2654435761 + 97) >>> 0);
  const indices = Array.from(rng.permutation(datasetSize(ds)).subarray(0, n));
  const classes = ds.classNames.length;
  const targets = indices.map((i) => (ds.labels[i] + 1 + rng.intInclusive(classes - 2)) % classes);
  return { indices, targets };
}

export function medianLogQ(ref: OodReference): number {
  const v = ref.values;
  const mid = v.length >> 1;
  return -(v.length % 2 ? v[mid] : 0.5 * (v[mid - 1] + v[mid]));
}

const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
const entropyOf = (p: Float32Array, classes: number, i: number) => {
  let h = 0;
  for (let k = 0; k < classes; k++) {
    const q = p[i * classes + k];
    if (q > 0) h -= q * Math.log(q);
  }
  return h;
};

export async function runAttack(
  model: Classifier,
  modelName: string,
  ds: ImageDataset,
  reference: OodReference | null,
  setting: Partial<AttackSetting> = {},
  hooks: { onProgress?: (done: number, total: number, step: number, active: number) => void; traceLatent?: number[] } = {},
): Promise<AttackRun> {
  const s = { ...DEFAULT_ATTACK, ...setting };
  const started = Date.now();
  if (model.kind === 'gc' && !reference && s.d > 0) throw new Error('the detection-aware attack needs the model\'s training reference (ood_reference.json)');
  const { indices, targets } = attackSamples(ds, s.n, s.seed);
  const size = sampleSize(ds);
  const shape = [ds.height, ds.width, ds.channels];
  const originals = new Float32Array(s.n * size);
  indices.forEach((idx, k) => {
    for (let j = 0; j < size; j++) originals[k * size + j] = ds.pixels[idx * size + j] / 255;
  });
  const adversarials = new Float32Array(s.n * size);
  const stepsOf = new Int32Array(s.n);
  let traces: CwTrace[] = [];
  const median = reference ? medianLogQ(reference) : undefined;
  for (let start = 0; start < s.n; start += s.batch) {
    const end = Math.min(s.n, start + s.batch);
    const x = tf.tensor4d(originals.subarray(start * size, end * size), [end - start, ...shape] as [number, number, number, number]);
    const options: Partial<CwOptions> = {
      kappa: s.kappa,
      c: s.c,
      d: s.d,
      medianLogQ: median,
      lr: s.lr,
      patience: s.patience,
      maxSteps: s.maxSteps,
      binarySearchSteps: s.binarySearchSteps,
      traceLatent: start === 0 ? hooks.traceLatent : undefined,
      onStep: (step, active) => hooks.onProgress?.(start, s.n, step, active),
    };
    try {
      const { results, traces: tr } = carliniWagner(model, x, Int32Array.from(targets.slice(start, end)), options);
      if (start === 0) traces = tr;
      results.forEach((r, k) => {
        adversarials.set(r.adversarial, (start + k) * size);
        stepsOf[start + k] = r.steps;
      });
    } finally {
      x.dispose();
    }
    // let progress output and timers run between batches
    await new Promise((r) => setImmediate(r));
  }

  const score = (data: Float32Array) => {
    const x = tf.tensor4d(data, [s.n, ...shape] as [number, number, number, number]);
    const r = model.infer(x);
    const out = { posterior: r.posterior.dataSync() as Float32Array, prediction: r.prediction.dataSync() as Int32Array, lx: r.lx.dataSync() as Float32Array };
    tf.dispose([x, ...Object.values(r)]);
    return out;
  };
  const clean = score(originals);
  const att = score(adversarials);
  const classes = model.classes;
  const images: AttackImage[] = indices.map((index, k) => {
    let corruption = 0;
    for (let p = 0; p < ds.height * ds.width; p++) {
      let sq = 0;
      for (let ch = 0; ch < ds.channels; ch++) sq += (adversarials[k * size + p * ds.channels + ch] - originals[k * size + p * ds.channels + ch]) ** 2;
      corruption += Math.sqrt(sq);
    }
    let confidence = 0;
    for (let c = 0; c < classes; c++) confidence = Math.max(confidence, att.posterior[k * classes + c]);
    return {
      index,
      label: ds.labels[index],
      target: targets[k],
      cleanPrediction: clean.prediction[k],
      prediction: att.prediction[k],
      success: att.prediction[k] === targets[k],
      confidence,
      corruption: corruption / (ds.height * ds.width),
      logQClean: -clean.lx[k],
      logQAttacked: -att.lx[k],
      steps: stepsOf[k],
    };
  });

  let ood: AttackReport['metrics']['ood'] = null;
  let cleanVsTraining: number | null = null;
  if (reference) {
    const p = (lx: Float32Array) => Array.from(lx, (v) => pValues(reference, v));
    const pc = p(clean.lx);
    const pa = p(att.lx);
    // lower p-value = more OoD: the statistic is −p
    const a = (key: 'oneTailed' | 'twoTailed' | 'typicality') => 100 * auroc(pa.map((v) => -v[key]), pc.map((v) => -v[key]));
    ood = { oneTailed: a('oneTailed'), twoTailed: a('twoTailed'), typicality: a('typicality') };
    const pr = reference.values.map((v) => pValues(reference, v));
    cleanVsTraining = 100 * auroc(pc.map((v) => -v.twoTailed), pr.map((v) => -v.twoTailed));
  }
  const report: AttackReport = {
    format: 'trustgc-attack',
    version: 1,
    model: modelName,
    modelType: model.kind,
    dataset: ds.name,
    setting: s,
    metrics: {
      confidence: 100 * mean(images.map((i) => i.confidence)),
      corruption: mean(images.map((i) => i.corruption)),
      success: 100 * mean(images.map((i) => (i.success ? 1 : 0))),
      ood,
      entropyClean: mean(indices.map((_, k) => entropyOf(clean.posterior, classes, k))),
      entropyAttacked: mean(indices.map((_, k) => entropyOf(att.posterior, classes, k))),
      cleanVsTraining,
      medianLogQ: median ?? null,
      meanDeviationClean: median === undefined ? null : mean(images.map((i) => Math.abs(i.logQClean - median))),
      meanDeviationAttacked: median === undefined ? null : mean(images.map((i) => Math.abs(i.logQAttacked - median))),
      meanSteps: mean(images.map((i) => i.steps)),
    },
    images,
    seconds: (Date.now() - started) / 1000,
  };
  return { report, originals, adversarials, traces };
}

const f = (v: number | null | undefined, digits = 1) => (v === null || v === undefined || Number.isNaN(v) ? '—' : v.toFixed(digits));
export const kappaText = (k: number) => (Number.isFinite(k) ? String(k) : '∞');

/** Table 7–9 columns, one row per report. */
export function attackMarkdown(reports: AttackReport[]): string {
  const rows = [
    '| model | κ | d | Confidence % | Corruption | Success % | OoD 1-tailed | OoD 2-tailed | OoD typicality | Entropy X | Entropy X_att | p(x) Val | mean steps | time |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of reports) {
    const m = r.metrics;
    rows.push(
      `| ${r.model} | ${kappaText(r.setting.kappa)} | ${r.setting.d} | ${f(m.confidence)} | ${f(m.corruption, 4)} | ${f(m.success)} | ${f(m.ood?.oneTailed)} | ${f(m.ood?.twoTailed)} | ${f(m.ood?.typicality)} | ${f(m.entropyClean, 3)} | ${f(m.entropyAttacked, 3)} | ${f(m.cleanVsTraining)} | ${f(m.meanSteps, 0)} | ${f(r.seconds, 0)} s |`,
    );
  }
  return rows.join('\n');
}
