/**
 * The 2-D view of decision space around an input (paper §4.3.1, Fig. 6), and the Fig. 1-style
 * verdict it supports.
 *
 * Take the five class means nearest to the latent code z (the top-5 predictions, μ₁ = top-1) and
 * the 5-D linear span of those means. Horizontal axis: the line through μ₁ and μ₂, coordinate
 * h(v) = (v − μ₁)·a with a = (μ₂ − μ₁)/‖μ₂ − μ₁‖. Vertical axis: the distance from that line within
 * the span, r(v) = ‖P(v − μ₁) − h(v)·a‖ (P = projection onto the span). Every class is a unit
 * Gaussian, so 90 % of its mass lies within ±Φ⁻¹(0.95) = 1.645 along the axis and within the 90 %
 * quantile of a χ distribution with 4 degrees of freedom (the span minus the axis), 2.789, across it.
 *
 * The four cases of Fig. 6: a confident in-distribution decision; an uncertain decision because the
 * two top classes overlap (their means are close, so many of their inputs fall in between: the
 * expected pairwise uncertainty Φ(−Δμ/2) of Appendix B is high); an uncertain decision although the
 * classes are well separated (this input happens to lie between them); and an out-of-distribution
 * input (the likelihood test rejects it, whatever the posterior says).
 */
import { expectedUncertainty } from './class_similarity.js';

/** Φ⁻¹(0.95) */
export const AXIS_90 = 1.6448536269514722;
/** 90 % quantile of χ with 4 degrees of freedom: √(χ²₄ quantile 7.7794) */
export const RADIUS_90 = Math.sqrt(7.779440339734858);

export type DecisionCase = 'confident' | 'ambiguous' | 'uncertain' | 'ood';

export interface DecisionSpace {
  /** the five nearest classes, nearest first */
  classes: number[];
  posterior: number[];
  /** share of the full posterior held by these five */
  topFiveMass: number;
  /** (h, r) of each of the five means (μ₁ at 0, μ₂ on the axis) and of the input */
  means: Array<{ cls: number; h: number; r: number }>;
  input: { h: number; r: number };
  /** distance from z to the span (the part of z the view cannot show) */
  offSpan: number;
  /** ‖μ₂ − μ₁‖ */
  separation: number;
  /** expected uncertainty between the top two classes, Φ(−‖μ₂ − μ₁‖/2) */
  pairUncertainty: number;
  case: DecisionCase;
}

export interface CaseThresholds {
  /** posterior of the top class for a clear decision */
  confident: number;
  /** pairwise expected uncertainty Φ(−Δμ/2) above which two classes count as overlapping */
  overlap: number;
  /** two-tailed p-value below which the input is out of distribution */
  alpha: number;
}

export const DEFAULT_THRESHOLDS: CaseThresholds = { confident: 0.9, overlap: 0.05, alpha: 0.01 };

const dot = (a: Float64Array, b: Float64Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/**
 * Decision space of one latent code. `means` holds the rows of the five nearest classes in order
 * ([5·D]); `posterior` is the model's full posterior; `pValue` the two-tailed OoD p-value (null
 * without a reference).
 */
export function decisionSpace(z: ArrayLike<number>, classes: number[], means: ArrayLike<number>, posterior: ArrayLike<number>, pValue: number | null, thresholds: CaseThresholds = DEFAULT_THRESHOLDS): DecisionSpace {
  const k = classes.length;
  if (k < 2) throw new Error('the decision-space view needs at least two classes');
  const d = z.length;
  const mu = Array.from({ length: k }, (_, c) => Float64Array.from({ length: d }, (_, j) => means[c * d + j]));
  // orthonormal basis of span{μ₁ … μ_k} (Gram–Schmidt, twice for stability)
  const basis: Float64Array[] = [];
  for (const m of mu) {
    const v = Float64Array.from(m);
    for (let pass = 0; pass < 2; pass++) {
      for (const e of basis) {
        const c = dot(v, e);
        for (let j = 0; j < d; j++) v[j] -= c * e[j];
      }
    }
    const n = Math.sqrt(dot(v, v));
    if (n > 1e-9 * Math.sqrt(dot(m, m))) basis.push(v.map((x) => x / n));
  }
  const project = (v: Float64Array) => {
    const out = new Float64Array(d);
    for (const e of basis) {
      const c = dot(v, e);
      for (let j = 0; j < d; j++) out[j] += c * e[j];
    }
    return out;
  };
  const axis = mu[1].map((v, j) => v - mu[0][j]);
  const separation = Math.sqrt(dot(axis, axis));
  const a = axis.map((v) => v / separation);
  const coords = (v: Float64Array) => {
    const rel = project(v).map((x, j) => x - mu[0][j]);
    const h = dot(rel, a);
    const perp = rel.map((x, j) => x - h * a[j]);
    return { h, r: Math.sqrt(dot(perp, perp)) };
  };
  const zv = Float64Array.from(z);
  const pz = project(zv);
  const off = zv.map((v, j) => v - pz[j]);
  const input = coords(zv);
  const post = classes.map((c) => posterior[c]);
  const p1 = post[0];
  const pairUncertainty = expectedUncertainty(separation);
  let kind: DecisionCase;
  if (pValue !== null && pValue < thresholds.alpha) kind = 'ood';
  else if (p1 >= thresholds.confident) kind = 'confident';
  else kind = pairUncertainty >= thresholds.overlap ? 'ambiguous' : 'uncertain';
  return {
    classes,
    posterior: post,
    topFiveMass: post.reduce((s, v) => s + v, 0),
    means: mu.map((m, c) => ({ cls: classes[c], ...coords(m) })),
    input,
    offSpan: Math.sqrt(dot(off, off)),
    separation,
    pairUncertainty,
    case: kind,
  };
}

/**
 * A Fig. 1-style sentence — "this is a 7", "this is a 7 or a 1", "this is neither" — with the
 * numbers behind it.
 */
export function explainSentence(ds: DecisionSpace, classNames: string[], pValue: number | null): string {
  const name = (i: number) => classNames[ds.classes[i]];
  const p = (i: number) => ds.posterior[i].toFixed(ds.posterior[i] > 0.995 ? 4 : 2);
  const pv = pValue === null ? '' : `; likelihood test p = ${pValue < 1e-3 ? pValue.toExponential(1) : pValue.toFixed(3)}`;
  const shared = ds.classes.map((_, i) => i).filter((i) => i < 2 || ds.posterior[i] >= 0.05);
  const list = shared.map((i) => `${name(i)} (p = ${p(i)})`);
  const either = `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
  const overlap = `expected confusion of ${name(0)} and ${name(1)}: ${(100 * ds.pairUncertainty).toFixed(1)} %`;
  switch (ds.case) {
    case 'ood':
      return `This is neither: the model was not trained on inputs like this${pv}. Its nearest class would be ${name(0)} (p = ${p(0)}).`;
    case 'ambiguous':
      return `This is ${either}: these classes overlap (${overlap}), and the input lies where both occur${pv}.`;
    case 'uncertain':
      return `This is ${either}: the classes are well separated (${overlap}), but this input lies between them${pv}.`;
    default:
      return `This is ${name(0)} (p = ${p(0)})${pv}.`;
  }
}
