/** Reliability diagrams: accuracy per confidence bin with error bars, against the diagonal. */
import type { TopLevelSpec } from 'vega-lite';
import type { CalibrationResult } from '../eval/calibration.js';
import { writePlot } from './render.js';

export function reliabilitySpec(r: CalibrationResult, title: string): TopLevelSpec {
  const convention = r.convention === 'ibinn' ? 'all class probabilities, 17 bins (IB-INN)' : 'top-1 confidence, 15 bins';
  const values = r.bins.map((b) => ({
    confidence: b.confidence,
    accuracy: b.accuracy,
    lower: Math.max(0, b.accuracy - b.errorBar),
    upper: Math.min(1, b.accuracy + b.errorBar),
    count: b.count,
  }));
  const scale = { domain: [0, 1] };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle: `${convention} · ECE ${r.ece.toFixed(2)} %, MCE ${r.mce.toFixed(2)} %${Number.isNaN(r.oce) ? '' : `, OCE ${r.oce.toFixed(2)}`}` },
    width: 320,
    height: 320,
    layer: [
      { data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] }, mark: { type: 'line', color: '#999', strokeDash: [4, 4] }, encoding: { x: { field: 'x', type: 'quantitative', scale }, y: { field: 'y', type: 'quantitative', scale } } },
      {
        data: { values },
        mark: { type: 'rule', color: '#4c78a8' },
        encoding: { x: { field: 'confidence', type: 'quantitative', scale }, y: { field: 'lower', type: 'quantitative', scale }, y2: { field: 'upper' } },
      },
      {
        data: { values },
        mark: { type: 'point', filled: true, color: '#4c78a8', size: 40 },
        encoding: {
          x: { field: 'confidence', type: 'quantitative', scale, title: 'confidence' },
          y: { field: 'accuracy', type: 'quantitative', scale, title: 'fraction correct' },
          tooltip: [{ field: 'count', type: 'quantitative' }],
        },
      },
    ],
  };
}

/** reliability-ibinn.(svg|png) and reliability-top1.(svg|png). */
export async function writeReliabilityDiagrams(results: CalibrationResult[], dir: string, title: string, prefix = ''): Promise<string[]> {
  const files: string[] = [];
  for (const r of results) files.push(...(await writePlot(reliabilitySpec(r, title), dir, `${prefix}reliability-${r.convention}`)));
  return files;
}
