/**
 * Class similarity (paper §4.3.2, Figs. 8–9, Appendix B): the distances Δμ between class means and
 * the expected pairwise uncertainty between two classes. For samples of class A (unit Gaussian
 * around μ_A) judged between A and B only, the expected confidence max(p_A, p_B) is Φ(Δμ/2)
 * (closed form of the Appendix B integral), so the expected uncertainty is 1 − Φ(Δμ/2) = Φ(−Δμ/2).
 * Classes are ordered by average-linkage hierarchical clustering so that similar ones sit together.
 */

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 via erf, |error| < 1.5e-7). */
export function normalCdf(x: number): number {
  const t = 1 / (1 + (0.3275911 * Math.abs(x)) / Math.SQRT2);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(x * x) / 2);
  return x >= 0 ? 0.5 * (1 + y) : 0.5 * (1 - y);
}

export function expectedUncertainty(deltaMu: number): number {
  return normalCdf(-deltaMu / 2);
}

/** Pairwise distances ‖μ_A − μ_B‖ from the Gram matrix of the means (float64, [M·M]). */
export function distancesFromGram(gram: Float64Array, m: number): Float64Array {
  const out = new Float64Array(m * m);
  for (let a = 0; a < m; a++) {
    for (let b = 0; b < m; b++) {
      const sq = gram[a * m + a] + gram[b * m + b] - 2 * gram[a * m + b];
      out[a * m + b] = a === b ? 0 : Math.sqrt(Math.max(0, sq));
    }
  }
  return out;
}

/** Gram matrix of row vectors (float64 accumulation), rows given as one [M·D] array. */
export function gramOf(rows: ArrayLike<number>, m: number): Float64Array {
  const d = rows.length / m;
  const g = new Float64Array(m * m);
  for (let a = 0; a < m; a++) {
    for (let b = a; b < m; b++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += rows[a * d + j] * rows[b * d + j];
      g[a * m + b] = s;
      g[b * m + a] = s;
    }
  }
  return g;
}

/**
 * Leaf order of an average-linkage (UPGMA) clustering of a distance matrix: the order in which the
 * dendrogram's leaves appear, so that merged clusters are contiguous.
 */
export function clusterOrder(dist: Float64Array, m: number): number[] {
  type Cluster = { members: number[]; size: number };
  const clusters: Array<Cluster | null> = Array.from({ length: m }, (_, i) => ({ members: [i], size: 1 }));
  const d = Float64Array.from(dist);
  for (let merge = 0; merge < m - 1; merge++) {
    let best = Infinity;
    let bi = -1;
    let bj = -1;
    for (let i = 0; i < m; i++) {
      if (!clusters[i]) continue;
      for (let j = i + 1; j < m; j++) {
        if (!clusters[j]) continue;
        if (d[i * m + j] < best) {
          best = d[i * m + j];
          bi = i;
          bj = j;
        }
      }
    }
    const a = clusters[bi]!;
    const b = clusters[bj]!;
    // new average distances of the merged cluster (kept in slot bi)
    for (let k = 0; k < m; k++) {
      if (!clusters[k] || k === bi || k === bj) continue;
      const v = (a.size * d[bi * m + k] + b.size * d[bj * m + k]) / (a.size + b.size);
      d[bi * m + k] = v;
      d[k * m + bi] = v;
    }
    clusters[bi] = { members: [...a.members, ...b.members], size: a.size + b.size };
    clusters[bj] = null;
  }
  return clusters.find((c) => c)!.members;
}

export interface ClassSimilarity {
  classes: string[];
  /** Δμ, [M·M] */
  distances: Float64Array;
  /** 1 − Φ(Δμ/2), [M·M] (diagonal: ½ by the formula; shown as such) */
  uncertainty: Float64Array;
  /** clustering order of the class indices */
  order: number[];
  /** the most similar pairs, most similar first */
  closestPairs: Array<{ a: number; b: number; deltaMu: number; uncertainty: number }>;
}

export function classSimilarity(gram: Float64Array, classNames: string[], pairs = 10): ClassSimilarity {
  const m = classNames.length;
  const distances = distancesFromGram(gram, m);
  const uncertainty = distances.map((v) => expectedUncertainty(v));
  const all: ClassSimilarity['closestPairs'] = [];
  for (let a = 0; a < m; a++) for (let b = a + 1; b < m; b++) all.push({ a, b, deltaMu: distances[a * m + b], uncertainty: uncertainty[a * m + b] });
  all.sort((x, y) => x.deltaMu - y.deltaMu);
  return { classes: classNames, distances, uncertainty, order: clusterOrder(distances, m), closestPairs: all.slice(0, pairs) };
}
