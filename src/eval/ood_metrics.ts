/**
 * Detection metrics for OoD scores (higher score = more likely out of distribution; OoD is the
 * positive class): AUROC, AUPR-in (in-distribution as positive, score negated), AUPR-out, and the
 * false-positive rate at 95 % true-positive rate. Ties are handled exactly (AUROC = Mann–Whitney U
 * with half credit for ties; precision–recall steps are taken per distinct threshold).
 */

export interface DetectionMetrics {
  /** percent */
  auroc: number;
  auprIn: number;
  auprOut: number;
  /** percent of in-distribution inputs flagged when 95 % of OoD inputs are */
  fprAt95Tpr: number;
}

/** AUROC of separating `pos` (higher scores) from `neg`, in [0, 1]. */
export function auroc(pos: ArrayLike<number>, neg: ArrayLike<number>): number {
  const all = [...Array.from(pos, (s) => [s, 1] as const), ...Array.from(neg, (s) => [s, 0] as const)].sort((a, b) => a[0] - b[0]);
  // rank sum of the positives with average ranks for ties
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j][0] === all[i][0]) j++;
    const avgRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (all[k][1] === 1) rankSum += avgRank;
    i = j;
  }
  const np = pos.length;
  const nn = neg.length;
  return (rankSum - (np * (np + 1)) / 2) / (np * nn);
}

/** Average precision of retrieving `pos` by descending score (area under the PR curve, step-wise). */
export function averagePrecision(pos: ArrayLike<number>, neg: ArrayLike<number>): number {
  const all = [...Array.from(pos, (s) => [s, 1] as const), ...Array.from(neg, (s) => [s, 0] as const)].sort((a, b) => b[0] - a[0]);
  let tp = 0;
  let fp = 0;
  let ap = 0;
  let prevRecall = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j][0] === all[i][0]) {
      if (all[j][1] === 1) tp++;
      else fp++;
      j++;
    }
    const recall = tp / pos.length;
    ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
    i = j;
  }
  return ap;
}

/** Fraction of `neg` at or above the threshold that catches 95 % of `pos`. */
export function fprAtTpr(pos: ArrayLike<number>, neg: ArrayLike<number>, tpr = 0.95): number {
  const sorted = Array.from(pos).sort((a, b) => b - a);
  const threshold = sorted[Math.max(0, Math.ceil(tpr * sorted.length) - 1)];
  let flagged = 0;
  for (let i = 0; i < neg.length; i++) if (neg[i] >= threshold) flagged++;
  return flagged / neg.length;
}

export function detectionMetrics(inScores: ArrayLike<number>, outScores: ArrayLike<number>): DetectionMetrics {
  if (inScores.length === 0 || outScores.length === 0) throw new Error('OoD metrics need scores for both sets');
  const negate = (a: ArrayLike<number>) => Array.from(a, (v) => -v);
  return {
    auroc: 100 * auroc(outScores, inScores),
    auprIn: 100 * averagePrecision(negate(inScores), negate(outScores)),
    auprOut: 100 * averagePrecision(outScores, inScores),
    fprAt95Tpr: 100 * fprAtTpr(outScores, inScores),
  };
}
