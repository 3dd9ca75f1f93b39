/**
 * The OoD reference (sorted L_X of in-distribution images) and the p-values of one image's L_X
 * against it. No Node imports: the browser explorer computes its verdicts with the same code.
 */

export interface OodReference {
  format: 'trustgc-ood-reference';
  version: 1;
  score: 'lx';
  /** L_X of the reference images, nats per dimension, ascending */
  values: number[];
  source: string;
  created: string;
}

export interface OodPValues {
  oneTailed: number;
  twoTailed: number;
  typicality: number;
}

export function makeReference(scores: ArrayLike<number>, source: string): OodReference {
  const values = Array.from(scores).filter(Number.isFinite).sort((a, b) => a - b);
  if (values.length < 2) throw new Error(`an OoD reference needs at least 2 finite scores, got ${values.length}`);
  return { format: 'trustgc-ood-reference', version: 1, score: 'lx', values, source, created: new Date().toISOString() };
}

/** Number of sorted values < x (lower bound) and ≤ x (upper bound). */
export function bounds(sorted: ArrayLike<number>, x: number): [number, number] {
  const search = (strict: boolean) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (strict ? sorted[mid] < x : sorted[mid] <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return [search(true), search(false)];
}

export function pValues(ref: OodReference, lx: number): OodPValues {
  const v = ref.values;
  const n = v.length;
  const [below, atOrBelow] = bounds(v, lx);
  const atOrAbove = n - below;
  const oneTailed = (1 + atOrAbove) / (n + 1); // reference images with L_X ≥ this one's
  const lower = (1 + atOrBelow) / (n + 1);
  const twoTailed = Math.min(1, 2 * Math.min(lower, oneTailed));
  const { mean, deviations } = typicalityTable(ref);
  const [closer] = bounds(deviations, Math.abs(lx - mean));
  return { oneTailed, twoTailed, typicality: (1 + n - closer) / (n + 1) };
}

const typicalityTables = new WeakMap<OodReference, { mean: number; deviations: number[] }>();

/** Mean of the reference and its sorted absolute deviations from it, computed once per reference. */
function typicalityTable(ref: OodReference): { mean: number; deviations: number[] } {
  let t = typicalityTables.get(ref);
  if (!t) {
    const mean = ref.values.reduce((s, x) => s + x, 0) / ref.values.length;
    t = { mean, deviations: ref.values.map((x) => Math.abs(x - mean)).sort((a, b) => a - b) };
    typicalityTables.set(ref, t);
  }
  return t;
}

/** Parses and checks an ood_reference.json text; `source` names it in errors. */
export function parseReference(text: string, source: string): OodReference {
  let ref: OodReference;
  try {
    ref = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source} is not valid JSON: ${(e as Error).message}`);
  }
  if (ref?.format !== 'trustgc-ood-reference' || !Array.isArray(ref.values) || ref.values.length < 2) {
    throw new Error(`${source} is not a trustgc OoD reference`);
  }
  return ref;
}
