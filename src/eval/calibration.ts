/**
 * Calibration of class posteriors (paper §4.2), in two conventions:
 *
 * 'ibinn' — the IB-INN evaluation code (IBINN_SMALL.md §5.2): every class probability of every image
 *   is one prediction (correct iff it is the true class); 17 fixed bins, finer near 0 and 1; bins
 *   with ≤ 20 predictions dropped; accuracy compared with the bin *centre*.
 * 'top1' — the common convention (Guo et al.): the top-1 confidence of each image, 15 equal-width
 *   bins, accuracy compared with the bins' mean confidence.
 *
 * ECE = Σ n_b |acc_b − conf_b| / Σ n_b, MCE = max_b |acc_b − conf_b| (both in %), ICE (ibinn) =
 * trapezoidal integral of |q − p| over p (in %), and the overconfidence error
 * OCE = error rate among images with max probability > 1 − 0.003, divided by 0.003 (C_crit = 99.7 %).
 */

export type CalibrationConvention = 'ibinn' | 'top1';

export interface ReliabilityBin {
  lo: number;
  hi: number;
  /** predictions in the bin */
  count: number;
  correct: number;
  /** fraction correct */
  accuracy: number;
  /** what accuracy is compared with: the bin centre (ibinn) or the mean confidence (top1) */
  confidence: number;
  /** IB-INN error bar: q·sqrt(1/(n_correct + 1) + 1/n) */
  errorBar: number;
}

export interface CalibrationResult {
  convention: CalibrationConvention;
  /** percent */
  ece: number;
  mce: number;
  /** percent; ibinn convention only */
  ice?: number;
  /** dimensionless; NaN when no image is that confident */
  oce: number;
  /** images with max probability > 0.997 */
  overconfidentImages: number;
  bins: ReliabilityBin[];
  images: number;
}

/** The IB-INN code's 18 edges: 4 bins up to 0.05, 9 bins of 0.1, 4 bins from 0.95 up. */
export function ibinnBinEdges(): number[] {
  const lin = (a: number, b: number, n: number) => Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1));
  const low = lin(-1e-6, 0.05, 5);
  const mid = lin(0.05, 0.95, 10).slice(1, -1);
  const high = lin(0.05, -1e-6, 5).map((v) => 1 - v);
  return [...low, ...mid, ...high];
}

export const OCE_THRESHOLD = 0.003;

/** Overconfidence: error rate among images with max probability > 1 − 0.003, over 0.003. */
function overconfidence(probs: Float32Array, labels: ArrayLike<number>, classes: number): { oce: number; n: number } {
  let n = 0;
  let wrong = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[i * classes + c] > probs[i * classes + best]) best = c;
    if (probs[i * classes + best] > 1 - OCE_THRESHOLD) {
      n++;
      if (best !== labels[i]) wrong++;
    }
  }
  return { oce: n ? wrong / n / OCE_THRESHOLD : NaN, n };
}

function errorBar(q: number, correct: number, n: number): number {
  return q * Math.sqrt(1 / (correct + 1) + 1 / n);
}

/**
 * @param probs  class posteriors, row-major [images, classes]
 * @param labels true class per image
 */
export function calibration(probs: Float32Array, labels: ArrayLike<number>, classes: number, convention: CalibrationConvention): CalibrationResult {
  const images = labels.length;
  if (probs.length !== images * classes) throw new Error(`calibration: ${probs.length} probabilities for ${images} images × ${classes} classes`);
  if (images === 0) throw new Error('calibration needs at least one image');
  const { oce, n: overconfidentImages } = overconfidence(probs, labels, classes);
  if (convention === 'ibinn') {
    const edges = ibinnBinEdges();
    const nb = edges.length - 1;
    const count = new Float64Array(nb);
    const correct = new Float64Array(nb);
    for (let i = 0; i < images; i++) {
      for (let c = 0; c < classes; c++) {
        const p = probs[i * classes + c];
        // histogram semantics: [e_b, e_{b+1}), the last bin closed
        let b = 0;
        while (b < nb - 1 && p >= edges[b + 1]) b++;
        if (p < edges[0] || p > edges[nb]) continue;
        count[b]++;
        if (c === labels[i]) correct[b]++;
      }
    }
    const bins: ReliabilityBin[] = [];
    for (let b = 0; b < nb; b++) {
      if (count[b] <= 20) continue; // sparse bins dropped, as the official code
      const q = correct[b] / count[b];
      bins.push({ lo: edges[b], hi: edges[b + 1], count: count[b], correct: correct[b], accuracy: q, confidence: (edges[b] + edges[b + 1]) / 2, errorBar: errorBar(q, correct[b], count[b]) });
    }
    const total = bins.reduce((s, b) => s + b.count, 0);
    const gaps = bins.map((b) => Math.abs(b.accuracy - b.confidence));
    const ece = (100 * bins.reduce((s, b, i) => s + b.count * gaps[i], 0)) / total;
    const mce = 100 * Math.max(...gaps);
    let ice = 0;
    for (let i = 1; i < bins.length; i++) ice += ((gaps[i] + gaps[i - 1]) / 2) * (bins[i].confidence - bins[i - 1].confidence);
    return { convention, ece, mce, ice: 100 * ice, oce, overconfidentImages, bins, images };
  }
  const nb = 15;
  const count = new Float64Array(nb);
  const correct = new Float64Array(nb);
  const confSum = new Float64Array(nb);
  for (let i = 0; i < images; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[i * classes + c] > probs[i * classes + best]) best = c;
    const p = probs[i * classes + best];
    const b = Math.min(nb - 1, Math.floor(p * nb));
    count[b]++;
    confSum[b] += p;
    if (best === labels[i]) correct[b]++;
  }
  const bins: ReliabilityBin[] = [];
  for (let b = 0; b < nb; b++) {
    if (count[b] === 0) continue;
    const q = correct[b] / count[b];
    bins.push({ lo: b / nb, hi: (b + 1) / nb, count: count[b], correct: correct[b], accuracy: q, confidence: confSum[b] / count[b], errorBar: errorBar(q, correct[b], count[b]) });
  }
  const gaps = bins.map((b) => Math.abs(b.accuracy - b.confidence));
  const ece = (100 * bins.reduce((s, b, i) => s + b.count * gaps[i], 0)) / images;
  const mce = 100 * Math.max(...gaps);
  return { convention, ece, mce, oce, overconfidentImages, bins, images };
}

export function formatCalibration(results: CalibrationResult[]): string {
  const rows = ['| convention | images | ECE % | MCE % | ICE % | OCE (C_crit 99.7 %) | images > 99.7 % |', '|---|---|---|---|---|---|---|'];
  for (const r of results) {
    const name = r.convention === 'ibinn' ? 'IB-INN (all class probabilities, 17 bins)' : 'top-1 (15 equal bins)';
    rows.push(`| ${name} | ${r.images} | ${r.ece.toFixed(2)} | ${r.mce.toFixed(2)} | ${r.ice === undefined ? '–' : r.ice.toFixed(2)} | ${Number.isNaN(r.oce) ? 'n/a' : r.oce.toFixed(2)} | ${r.overconfidentImages} |`);
  }
  return rows.join('\n');
}
