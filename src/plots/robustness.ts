/** Figures of a robustness report: error against severity per corruption, and detection AUROC per corruption. */
import type { TopLevelSpec } from 'vega-lite';
import type { RobustnessReport } from '../eval/robustness.js';
import { aurocBand } from '../eval/robustness_report.js';
import { renderSvg, svgToPng } from './render.js';

export function errorBySeveritySpec(r: RobustnessReport): TopLevelSpec {
  const values: Array<Record<string, unknown>> = [];
  for (const x of [r, ...(r.baseline ? [r.baseline] : [])]) {
    const label = x === r ? x.model : `${x.model} (baseline)`;
    for (const c of x.corruptions) {
      values.push({ model: label, corruption: c, severity: 0, error: 100 * x.clean.error });
      for (const s of x.settings.filter((q) => q.corruption === c)) values.push({ model: label, corruption: c, severity: s.severity, error: 100 * s.error });
    }
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Error under corruption (severity 0 = clean): ${r.dataset}`,
    data: { values },
    facet: { field: 'corruption', type: 'nominal', title: null, sort: r.corruptions },
    columns: 5,
    spec: {
      width: 150,
      height: 110,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'severity', type: 'quantitative', scale: { domain: [0, 5] }, axis: { tickCount: 6 } },
        y: { field: 'error', type: 'quantitative', title: 'error %' },
        color: { field: 'model', type: 'nominal', legend: { orient: 'top', labelLimit: 600, title: null } },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

export function aurocSpec(r: RobustnessReport): TopLevelSpec {
  const values = r.perCorruption
    .filter((p) => p.auroc)
    .map((p) => ({ corruption: p.corruption, auroc: p.auroc!['two-tailed'], band: aurocBand(p.auroc!['two-tailed']) }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Detecting corrupted images by likelihood (two-tailed test, mean over severities): ${r.model}`,
    data: { values },
    width: 520,
    height: 260,
    layer: [
      {
        mark: 'bar',
        encoding: {
          x: { field: 'corruption', type: 'nominal', sort: r.corruptions, axis: { labelAngle: -40 }, title: null },
          y: { field: 'auroc', type: 'quantitative', scale: { domain: [0, 100] }, title: 'AUROC %' },
          color: {
            field: 'band',
            type: 'nominal',
            scale: { domain: ['good', 'some', 'random'], range: ['#4c9a43', '#e8a33d', '#c9483e'] },
            legend: { title: 'detection', orient: 'top' },
          },
        },
      },
      { mark: { type: 'rule', strokeDash: [4, 3] }, data: { values: [{ y: 85 }, { y: 55 }] }, encoding: { y: { field: 'y', type: 'quantitative' } } },
    ],
  } as TopLevelSpec;
}

/** PNGs (and SVGs) of the report's figures. */
export async function robustnessFigures(r: RobustnessReport): Promise<Array<{ name: string; title: string; svg: string; png: Buffer }>> {
  const out: Array<{ name: string; title: string; svg: string; png: Buffer }> = [];
  const error = await renderSvg(errorBySeveritySpec(r));
  out.push({ name: 'error_by_severity', title: 'Error against severity per corruption', svg: error, png: svgToPng(error) });
  if (r.perCorruption.some((p) => p.auroc)) {
    const a = await renderSvg(aurocSpec(r));
    out.push({ name: 'ood_auroc', title: 'OoD detection AUROC of corrupted vs clean images per corruption', svg: a, png: svgToPng(a) });
  }
  return out;
}
