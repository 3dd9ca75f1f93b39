/** Histograms of OoD scores per data set: L_X (GCs) and the top class posterior (every classifier). */
import type { TopLevelSpec } from 'vega-lite';
import type { SetScores } from '../eval/ood.js';
import { writePlot } from './render.js';

/** Values between the 0.5 % and 99.5 % quantiles of all sets pooled, so a far-off set does not squash the rest. */
function clippedRange(all: number[]): [number, number] {
  const sorted = all.filter(Number.isFinite).sort((a, b) => a - b);
  const q = (f: number) => sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))];
  return [q(0.005), q(0.995)];
}

export function histogramSpec(sets: SetScores[], field: 'lx' | 'maxProb', title: string): TopLevelSpec {
  const [lo, hi] = field === 'lx' ? clippedRange(sets.flatMap((s) => Array.from(s.lx))) : [0, 1];
  const values = sets.flatMap((s) => Array.from(s[field], (v) => ({ set: s.name, score: Math.min(hi, Math.max(lo, v)) })));
  const label = field === 'lx' ? 'L_X = −log q(x) per dimension (nats; clipped to the pooled 0.5–99.5 % range)' : 'max_y p(y|x)';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 480,
    height: 260,
    data: { values },
    transform: [
      { bin: { maxbins: 60, extent: [lo, hi] }, field: 'score', as: ['bin_start', 'bin_end'] },
      { aggregate: [{ op: 'count', as: 'n' }], groupby: ['set', 'bin_start', 'bin_end'] },
      { joinaggregate: [{ op: 'sum', field: 'n', as: 'total' }], groupby: ['set'] },
      { calculate: 'datum.n / datum.total', as: 'fraction' },
    ],
    mark: { type: 'bar', opacity: 0.55, binSpacing: 0 },
    encoding: {
      x: { field: 'bin_start', type: 'quantitative', title: label, bin: { binned: true } },
      x2: { field: 'bin_end' },
      y: { field: 'fraction', type: 'quantitative', stack: null, title: 'fraction of the set' },
      color: { field: 'set', type: 'nominal', title: 'data set' },
    },
  };
}

/** ood-lx.(svg|png) for models with a likelihood, ood-confidence.(svg|png) always. */
export async function writeScoreHistograms(sets: SetScores[], dir: string, title: string, prefix = ''): Promise<string[]> {
  const files: string[] = [];
  if (sets.length && !Number.isNaN(sets[0].lx[0])) files.push(...(await writePlot(histogramSpec(sets, 'lx', title), dir, `${prefix}ood-lx`)));
  files.push(...(await writePlot(histogramSpec(sets, 'maxProb', title), dir, `${prefix}ood-confidence`)));
  return files;
}
