/**
 * Targeted Carlini–Wagner L2 attack (paper §4.6, Eq. 24) and its detection-aware variant (Eq. 25),
 * for generative and discriminative classifiers alike.
 *
 * The attacked image is x_att = ½(tanh(w) + 1), so it stays in [0, 1]; w is optimised with Adam on
 *   L(w) = ‖x_att − x‖² + c·max(max_{y≠t} l_y − l_t, −κ) + d·(m − log q(x_att))²
 * where l are the classifier's logits (for a GC −½‖z − μ_y‖² + log w_y: only differences enter, so
 * they equal log q(x|y) up to a shared term), log q is per dimension (−L_X, the scale of the stored
 * training reference) and m its training median. The other classes' maximum masks the target with
 * −∞ (not a multiplication by zero or a subtracted constant, which break on logits of −10⁵).
 *
 * All images of a batch are attacked at once; each has its own stopping rule: an image stops when
 * its objective has not improved (by more than 1e-6 relative, float32 rounding) for `patience`
 * steps — it then leaves the batch, so later steps cost less — or at `maxSteps`.
 * The reported image is the iterate with the lowest objective. With `binarySearchSteps` > 0, c is
 * searched per image as in the original CW attack (starting at `c`; halving towards success, ×10
 * while failing), keeping the successful attack with the smallest perturbation.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../gc/classifier.js';
import { GenerativeClassifier } from '../gc/model.js';
import { DiscriminativeClassifier } from '../gc/discriminative.js';
import { perSampleLx } from '../gc/ib_loss.js';

export interface CwOptions {
  /** confidence margin κ (Infinity: the margin term never clips) */
  kappa: number;
  /** weight of the misclassification term (initial value when searching) */
  c: number;
  /** weight of the detection-aware likelihood term (0: plain CW); GCs only */
  d: number;
  /** training median of log q(x) per dimension (needed when d > 0) */
  medianLogQ?: number;
  lr: number;
  patience: number;
  maxSteps: number;
  /** outer binary-search steps over c (0: fixed c, as the paper) */
  binarySearchSteps: number;
  /** record the latent code of these batch positions at every step (GCs) */
  traceLatent?: number[];
  onStep?: (step: number, active: number) => void;
}

export const DEFAULT_CW: CwOptions = { kappa: 1, c: 10, d: 0, lr: 0.01, patience: 20, maxSteps: 500, binarySearchSteps: 0 };

export interface CwImageResult {
  /** attacked image, [H·W·C] in [0, 1] */
  adversarial: Float32Array;
  target: number;
  /** argmax of the logits of the reported image equals the target */
  success: boolean;
  /** l_t − max_{y≠t} l_y of the reported image */
  margin: number;
  /** squared L2 distance to the original (sum over pixels and channels) */
  l2Squared: number;
  /** steps run (summed over search rounds) */
  steps: number;
  /** the c of the reported iterate */
  c: number;
}

export interface CwTrace {
  index: number;
  /** latent codes per step */
  z: Float32Array[];
  /** l_t − max_{y≠t} l_y per step */
  margins: number[];
}

/** Logits and per-dimension log q(x) (null for a DC) of [0,1] images, differentiable in x. */
export function attackOutputs(model: Classifier, x01: tf.Tensor4D): { logits: tf.Tensor2D; logQ: tf.Tensor1D | null; z: tf.Tensor2D | null } {
  if (model instanceof GenerativeClassifier) {
    const { z, logdet } = model.latent(x01);
    const logits = model.logits(z, true);
    return { logits, logQ: tf.neg(perSampleLx(logits, logdet, model.dims)) as tf.Tensor1D, z };
  }
  if (model instanceof DiscriminativeClassifier) return { logits: model.logits(x01), logQ: null, z: null };
  throw new Error('the attack needs a trustgc classifier loaded with tfjs (not the ONNX runtime): gradients flow through the model');
}

/** max over y ≠ t of the logits, with the target masked by −∞. */
export function otherMax(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const isTarget = tf.cast(tf.oneHot(tf.cast(targets, 'int32'), logits.shape[1]), 'bool');
    const masked = tf.where(isTarget, tf.fill(logits.shape, -Infinity), logits);
    return tf.max(masked, 1) as tf.Tensor1D;
  });
}

function targetLogit(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  return tf.sum(tf.mul(logits, tf.oneHot(tf.cast(targets, 'int32'), logits.shape[1])), 1) as tf.Tensor1D;
}

/** Attacks a batch of [0,1] images (shape [B, H, W, C]) towards the given target classes. */
export function carliniWagner(model: Classifier, images: tf.Tensor4D, targets: Int32Array, options: Partial<CwOptions> = {}): { results: CwImageResult[]; traces: CwTrace[] } {
  const opts = { ...DEFAULT_CW, ...options };
  const b = images.shape[0];
  if (targets.length !== b) throw new Error(`${targets.length} targets for ${b} images`);
  for (const t of targets) if (!Number.isInteger(t) || t < 0 || t >= model.classes) throw new Error(`target class ${t} is not one of the model's ${model.classes} classes`);
  if (opts.d > 0 && model.kind !== 'gc') throw new Error('the detection-aware attack (d > 0) needs a generative classifier: a DC has no likelihood to keep typical');
  if (opts.d > 0 && opts.medianLogQ === undefined) throw new Error('d > 0 needs the training median of log q(x) (the model\'s ood_reference.json)');
  if (!(opts.kappa >= 0)) throw new Error(`kappa must be ≥ 0 (or Infinity), got ${opts.kappa}`);

  const cs = new Float64Array(b).fill(opts.c);
  const lower = new Float64Array(b).fill(0);
  const upper = new Float64Array(b).fill(Infinity);
  const best: CwImageResult[] = [];
  let traces: CwTrace[] = [];
  const rounds = Math.max(1, opts.binarySearchSteps);
  for (let round = 0; round < rounds; round++) {
    const run = attackRound(model, images, targets, cs, opts);
    if (round === 0) traces = run.traces;
    for (let i = 0; i < b; i++) {
      const r = run.results[i];
      const prev = best[i];
      const better = !prev || (r.success && (!prev.success || r.l2Squared < prev.l2Squared)) || (!r.success && !prev.success && r.margin > prev.margin);
      if (better) best[i] = { ...r, steps: r.steps + (prev?.steps ?? 0) };
      else prev.steps += r.steps;
      // binary search on c: success → try smaller c, failure → larger
      if (r.success) {
        upper[i] = Math.min(upper[i], cs[i]);
        cs[i] = (lower[i] + upper[i]) / 2;
      } else {
        lower[i] = Math.max(lower[i], cs[i]);
        cs[i] = Number.isFinite(upper[i]) ? (lower[i] + upper[i]) / 2 : cs[i] * 10;
      }
    }
  }
  return { results: best, traces };
}

function attackRound(model: Classifier, images: tf.Tensor4D, targets: Int32Array, cs: Float64Array, opts: CwOptions): { results: CwImageResult[]; traces: CwTrace[] } {
  const b = images.shape[0];
  const per = images.size / b;
  const shape = images.shape.slice(1) as [number, number, number];
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  const x = images.dataSync() as Float32Array;
  // w₀ = atanh(2x − 1), x pulled slightly inside (0, 1); w and Adam's moments live in plain arrays
  // so that each step only runs the images still active (a finished image costs nothing)
  const w = Float32Array.from(x, (v) => Math.atanh(2 * Math.min(1 - 1e-6, Math.max(1e-6, v)) - 1));
  const m = new Float32Array(w.length);
  const v = new Float32Array(w.length);
  const active = new Uint8Array(b).fill(1);
  const bestLoss = new Float64Array(b).fill(Infinity);
  const since = new Int32Array(b);
  const steps = new Int32Array(b);
  const bestImage = new Float32Array(images.size);
  const bestMargin = new Float64Array(b).fill(-Infinity);
  const bestL2 = new Float64Array(b);
  const bestPred = new Int32Array(b).fill(-1);
  const traces: CwTrace[] = (opts.traceLatent ?? []).filter((i) => i < b).map((index) => ({ index, z: [], margins: [] }));
  const useLikelihood = opts.d > 0;

  for (let step = 0; step < opts.maxSteps; step++) {
    const rows = Array.from(active.keys()).filter((i) => active[i]);
    if (!rows.length) break;
    const n = rows.length;
    const gather = (src: Float32Array) => {
      const out = new Float32Array(n * per);
      rows.forEach((i, k) => out.set(src.subarray(i * per, (i + 1) * per), k * per));
      return out;
    };
    type StepParts = { loss: Float32Array; margin: Float32Array; l2: Float32Array; pred: Int32Array; x: Float32Array; z: Float32Array | null };
    const holder: { parts?: StepParts } = {};
    const gradData = tf.tidy(() => {
      const wA = tf.tensor4d(gather(w), [n, ...shape]);
      const xA = tf.tensor4d(gather(x), [n, ...shape]);
      const tA = tf.tensor1d(rows.map((i) => targets[i]), 'int32');
      const cA = tf.tensor1d(rows.map((i) => cs[i]));
      const g = tf.grad((wIn: tf.Tensor) => {
        const xAtt = tf.mul(tf.add(tf.tanh(wIn), 1), 0.5) as tf.Tensor4D;
        const out = attackOutputs(model, xAtt);
        const l2 = tf.sum(tf.square(tf.sub(xAtt, xA)), [1, 2, 3]) as tf.Tensor1D;
        const margin = tf.sub(otherMax(out.logits, tA), targetLogit(out.logits, tA)) as tf.Tensor1D; // want ≤ −κ
        const adv = Number.isFinite(opts.kappa) ? tf.maximum(margin, -opts.kappa) : margin;
        let loss = tf.add(l2, tf.mul(cA, adv)) as tf.Tensor1D;
        if (useLikelihood && out.logQ) loss = tf.add(loss, tf.mul(opts.d, tf.square(tf.sub(opts.medianLogQ!, out.logQ)))) as tf.Tensor1D;
        holder.parts = {
          loss: loss.dataSync() as Float32Array,
          margin: margin.dataSync() as Float32Array,
          l2: l2.dataSync() as Float32Array,
          pred: tf.argMax(out.logits, 1).dataSync() as Int32Array,
          x: xAtt.dataSync() as Float32Array,
          z: traces.length && out.z ? (out.z.dataSync() as Float32Array) : null,
        };
        return tf.sum(loss) as tf.Scalar;
      })(wA);
      return g.dataSync() as Float32Array;
    });
    const p = holder.parts!;
    // bookkeeping on the iterate just evaluated (before its update)
    rows.forEach((i, k) => {
      steps[i]++;
      if (!Number.isFinite(p.loss[k])) throw new Error(`attack objective of image ${i} is not finite at step ${step}`);
      // float32 objectives: changes below 1e-6 relative are rounding, not progress
      const improved = bestLoss[i] === Infinity || p.loss[k] < bestLoss[i] - 1e-6 * Math.abs(bestLoss[i]);
      if (improved) {
        bestLoss[i] = p.loss[k];
        since[i] = 0;
        bestImage.set(p.x.subarray(k * per, (k + 1) * per), i * per);
        bestMargin[i] = -p.margin[k];
        bestL2[i] = p.l2[k];
        bestPred[i] = p.pred[k];
      } else if (++since[i] >= opts.patience) active[i] = 0;
    });
    for (const tr of traces) {
      const k = rows.indexOf(tr.index);
      if (!p.z || k < 0) continue;
      const d = p.z.length / n;
      tr.z.push(p.z.slice(k * d, (k + 1) * d));
      tr.margins.push(-p.margin[k]);
    }
    // Adam step for every image that was evaluated and is still running
    const t = step + 1;
    const c1 = 1 - beta1 ** t;
    const c2 = 1 - beta2 ** t;
    rows.forEach((i, k) => {
      if (!active[i]) return;
      for (let j = 0; j < per; j++) {
        const g = gradData[k * per + j];
        const at = i * per + j;
        m[at] = beta1 * m[at] + (1 - beta1) * g;
        v[at] = beta2 * v[at] + (1 - beta2) * g * g;
        w[at] -= (opts.lr * (m[at] / c1)) / (Math.sqrt(v[at] / c2) + eps);
      }
    });
    opts.onStep?.(step + 1, active.reduce((acc, a) => acc + a, 0));
  }
  const results: CwImageResult[] = Array.from({ length: b }, (_, i) => ({
    adversarial: bestImage.slice(i * per, (i + 1) * per),
    target: targets[i],
    success: bestPred[i] === targets[i],
    margin: bestMargin[i],
    l2Squared: bestL2[i],
    steps: steps[i],
    c: cs[i],
  }));
  return { results, traces };
}
