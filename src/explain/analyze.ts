/**
 * Everything the classifier says about each image of a batch, in one pass: top classes with
 * posteriors, log p(x), bits/dim, the three OoD p-values and a verdict, and for generative
 * classifiers the Fig. 1-style explanation. The HTTP API and the browser explorer both answer
 * with this, so they cannot disagree. No Node imports.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../gc/classifier.js';
import { GenerativeClassifier, checkImageBatch, inferenceFrom } from '../gc/model.js';
import { pValues } from '../eval/ood_pvalues.js';
import type { OodPValues, OodReference } from '../eval/ood_pvalues.js';
import { DEFAULT_THRESHOLDS } from './decision_space.js';
import type { DecisionSpace } from './decision_space.js';
import { explainCodes } from './explain.js';

export interface AnalysisOptions {
  /** significance level of the two-tailed OoD test behind the verdict */
  alpha?: number;
  /** how many classes to list */
  topK?: number;
  /** compute the decision space and sentence (GCs) */
  explain?: boolean;
}

export interface ImageAnalysis {
  top: Array<{ class: number; name: string; probability: number }>;
  /** p(y|x) for every class */
  posterior: number[];
  /** log p(x), nats, [0,1]-pixel space (NaN for a discriminative model) */
  logPx: number;
  bitsPerDim: number;
  /** L_X, nats per dimension: the score the OoD reference holds */
  lx: number;
  /** predictive entropy, nats */
  entropy: number;
  /** p-values against the model's reference and the verdict; null without a reference (or for a DC) */
  ood: (OodPValues & { alpha: number; test: 'two-tailed'; outOfDistribution: boolean }) | null;
  /** Fig. 1-style verdict from the decision space (GCs, when asked for) */
  explanation: { case: DecisionSpace['case']; sentence: string; decision: DecisionSpace } | null;
}

export function analyzeBatch(model: Classifier, x01: tf.Tensor4D, reference: OodReference | null, opts: AnalysisOptions = {}): ImageAnalysis[] {
  const alpha = opts.alpha ?? DEFAULT_THRESHOLDS.alpha;
  const topK = opts.topK ?? 5;
  const gc = model instanceof GenerativeClassifier ? model : null;
  checkImageBatch(model.config, x01);
  type Values = { posterior: Float32Array; logPx: Float32Array; bpd: Float32Array; lx: Float32Array; z: Float32Array | null };
  let out: Values | undefined;
  tf.tidy(() => {
    let inf;
    let z: Float32Array | null = null;
    if (gc) {
      const lat = gc.latent(x01);
      inf = inferenceFrom(gc.config, gc.logits(lat.z, true), lat.logdet, gc.head.logClassWeights());
      if (opts.explain !== false) z = lat.z.dataSync() as Float32Array;
    } else {
      inf = model.infer(x01) as ReturnType<GenerativeClassifier['infer']>;
    }
    out = {
      posterior: inf.posterior.dataSync() as Float32Array,
      logPx: inf.logPx.dataSync() as Float32Array,
      bpd: inf.bitsPerDim.dataSync() as Float32Array,
      lx: inf.lx.dataSync() as Float32Array,
      z,
    };
  });
  if (!out) throw new Error('inference produced no result');
  const v: Values = out;
  const m = model.classes;
  const names = model.config.classNames;
  const ref = gc ? reference : null;
  const explanations = gc && v.z ? explainCodes(gc, v.z, v.posterior, v.lx, ref, { ...DEFAULT_THRESHOLDS, alpha }) : null;
  return Array.from({ length: x01.shape[0] }, (_, i) => {
    const posterior = Array.from(v.posterior.subarray(i * m, (i + 1) * m));
    const order = Array.from(posterior.keys()).sort((a, b) => posterior[b] - posterior[a]).slice(0, Math.min(topK, m));
    let entropy = 0;
    for (const p of posterior) if (p > 0) entropy -= p * Math.log(p);
    const pv = ref ? pValues(ref, v.lx[i]) : null;
    const e = explanations?.[i];
    return {
      top: order.map((c) => ({ class: c, name: names[c], probability: posterior[c] })),
      posterior,
      logPx: v.logPx[i],
      bitsPerDim: v.bpd[i],
      lx: v.lx[i],
      entropy,
      ood: pv ? { ...pv, alpha, test: 'two-tailed' as const, outOfDistribution: pv.twoTailed < alpha } : null,
      explanation: e ? { case: e.decision.case, sentence: e.sentence, decision: e.decision } : null,
    };
  });
}
