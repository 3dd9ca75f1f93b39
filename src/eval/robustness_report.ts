/**
 * Robustness reports as tables: a Table-5-like summary (clean error, mCE, rel. mCE, Δ entropy, OoD
 * AUROC overall and per corruption with the paper's colour bands) plus per-severity detail, in
 * Markdown and as a self-contained HTML page.
 */
import type { CorruptionName } from '../corrupt/corruptions.js';
import type { RobustnessReport } from './robustness.js';

export const SHORT_NAMES: Record<CorruptionName, string> = {
  gaussian_noise: 'Gauss.',
  shot_noise: 'Shot',
  impulse_noise: 'Impulse',
  defocus_blur: 'Defocus',
  glass_blur: 'Glass',
  motion_blur: 'Motion',
  zoom_blur: 'Zoom',
  snow: 'Snow',
  frost: 'Frost',
  fog: 'Fog',
  brightness: 'Bright',
  contrast: 'Contrast',
  elastic_transform: 'Elastic',
  pixelate: 'Pixel',
  jpeg_compression: 'JPEG',
};

/** The paper's colour code for detection AUROC (%): ≥ 85 good, > 55 some, otherwise random or worse. */
export type Band = 'good' | 'some' | 'random';
export function aurocBand(v: number): Band {
  return v >= 85 ? 'good' : v > 55 ? 'some' : 'random';
}
const MARK: Record<Band, string> = { good: '●', some: '◐', random: '○' };
const COLOUR: Record<Band, string> = { good: '#b7e1b0', some: '#fbd89a', random: '#f4a6a6' };

const pct = (v: number | undefined, digits = 1) => (v === undefined || Number.isNaN(v) ? '—' : (100 * v).toFixed(digits));
const num = (v: number | undefined, digits = 1) => (v === undefined || Number.isNaN(v) ? '—' : v.toFixed(digits));

interface Row {
  label: string;
  cells: string[];
  /** per corruption AUROC (or undefined) to colour */
  aurocs: Array<number | undefined>;
  overall?: number;
}

function summaryRows(r: RobustnessReport): { head: string[]; rows: Row[] } {
  const head = ['model', 'clean error %', 'mCE', 'rel. mCE', 'Δ entropy (nats)', 'OoD AUROC %', ...r.corruptions.map((c) => SHORT_NAMES[c])];
  const rowOf = (x: RobustnessReport, isBaseline: boolean): Row => ({
    label: `${x.model}${isBaseline ? ' (baseline)' : ''}`,
    cells: [
      pct(x.clean.error, 2),
      isBaseline ? '100 (ref.)' : num(x.summary.mCE),
      isBaseline ? '100 (ref.)' : num(x.summary.relativeMCE),
      num(x.summary.deltaEntropy, 3),
    ],
    overall: x.summary.oodAuroc,
    aurocs: x.corruptions.map((c) => x.perCorruption.find((p) => p.corruption === c)?.auroc?.['two-tailed']),
  });
  const rows = [rowOf(r, false)];
  if (r.baseline) rows.push(rowOf(r.baseline, true));
  return { head, rows };
}

export function robustnessMarkdown(r: RobustnessReport): string {
  const out: string[] = [];
  const { head, rows } = summaryRows(r);
  out.push(`Corruption robustness of ${r.model} on ${r.dataset} (${r.images} images × ${r.corruptions.length} corruptions × ${r.severities.length} severities, seed ${r.seed}).`);
  out.push('');
  out.push(`| ${head.join(' | ')} |`);
  out.push(`|${head.map(() => '---').join('|')}|`);
  for (const row of rows) {
    const marked = (v: number | undefined) => (v === undefined ? '—' : `${v.toFixed(1)} ${MARK[aurocBand(v)]}`);
    out.push(`| ${[row.label, ...row.cells, marked(row.overall), ...row.aurocs.map(marked)].join(' | ')} |`);
  }
  out.push('');
  out.push('OoD: AUROC (%) of the two-tailed likelihood test separating corrupted from clean test images, averaged over the severities (per corruption) and over corruptions (OoD column). ● good (≥ 85), ◐ some (> 55), ○ random or worse (≤ 55). mCE and rel. mCE are normalised by the baseline\'s errors (100 = as robust as the baseline; lower is better).');
  if (r.summary.excluded.length) {
    out.push('');
    out.push(`Left out of the means: ${r.summary.excluded.map((e) => `${e.corruption} from ${e.from} (${e.reason})`).join('; ')}.`);
  }
  for (const x of [r, ...(r.baseline ? [r.baseline] : [])]) {
    out.push('');
    out.push(`Error (%) per severity — ${x.model} (clean ${pct(x.clean.error, 2)} %):`);
    out.push('');
    const hasLik = x.modelType === 'gc';
    out.push(`| corruption | ${x.severities.map((s) => `s${s}`).join(' | ')} | mean | CE | rel. CE | Δ entropy |${hasLik ? ' AUROC 2-tailed | AUROC 1-tailed | AUROC typicality |' : ''}`);
    out.push(`|---|${x.severities.map(() => '---').join('|')}|---|---|---|---|${hasLik ? '---|---|---|' : ''}`);
    for (const p of x.perCorruption) {
      const errs = x.severities.map((s) => pct(x.settings.find((q) => q.corruption === p.corruption && q.severity === s)?.error));
      const lik = hasLik ? ` ${num(p.auroc?.['two-tailed'])} | ${num(p.auroc?.['one-tailed'])} | ${num(p.auroc?.typicality)} |` : '';
      out.push(`| ${p.corruption} | ${errs.join(' | ')} | ${pct(p.meanError)} | ${num(p.ce)} | ${num(p.relativeCe)} | ${num(p.deltaEntropy, 3)} |${lik}`);
    }
  }
  out.push('');
  out.push(`Time: corrupting ${r.timing.corruptSeconds.toFixed(0)} s, evaluating ${r.timing.evaluateSeconds.toFixed(0)} s${r.baseline && r.baselineRan ? ` (+ baseline ${r.baseline.timing.evaluateSeconds.toFixed(0)} s)` : r.baseline ? ' (baseline errors read from its stored report)' : ''}, total ${r.timing.totalSeconds.toFixed(0)} s.`);
  return out.join('\n') + '\n';
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Self-contained HTML: the summary with coloured AUROC cells, the detail tables, and embedded PNG figures. */
export function robustnessHtml(r: RobustnessReport, figures: Array<{ title: string; png: Buffer }>): string {
  const { head, rows } = summaryRows(r);
  const cell = (v: number | undefined) => (v === undefined ? '<td>—</td>' : `<td style="background:${COLOUR[aurocBand(v)]}">${v.toFixed(1)}</td>`);
  const summary = [
    `<tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`,
    ...rows.map((row) => `<tr><th>${esc(row.label)}</th>${row.cells.map((c) => `<td>${esc(c)}</td>`).join('')}${cell(row.overall)}${row.aurocs.map(cell).join('')}</tr>`),
  ].join('\n');
  // the detail tables come from the Markdown (simple pipe tables → HTML)
  const md = robustnessMarkdown(r).split('\n');
  const html: string[] = [];
  let inTable = false;
  for (const line of md.slice(md.findIndex((l) => l.startsWith('Error (%)')))) {
    if (line.startsWith('|')) {
      if (/^\|(-{3}\|)+/.test(line)) continue;
      const cells = line.split('|').slice(1, -1).map((c) => c.trim());
      if (!inTable) {
        html.push('<table>');
        html.push(`<tr>${cells.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`);
        inTable = true;
      } else html.push(`<tr>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`);
    } else {
      if (inTable) html.push('</table>');
      inTable = false;
      if (line.trim()) html.push(`<p>${esc(line)}</p>`);
    }
  }
  if (inTable) html.push('</table>');
  const figs = figures.map((f) => `<figure><img src="data:image/png;base64,${f.png.toString('base64')}" alt="${esc(f.title)}"><figcaption>${esc(f.title)}</figcaption></figure>`).join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Robustness: ${esc(r.model)} on ${esc(r.dataset)}</title>
<style>body{font-family:DejaVu Sans,Helvetica,sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #bbb;padding:3px 6px;text-align:right}th{background:#f3f3f3}img{max-width:100%}figure{margin:1.5em 0}</style>
</head><body>
<h1>Corruption robustness: ${esc(r.model)} on ${esc(r.dataset)}</h1>
<p>${r.images} test images × ${r.corruptions.length} corruptions × ${r.severities.length} severities (seed ${r.seed}). Colours: <span style="background:${COLOUR.good}">good detection ≥ 85 %</span>, <span style="background:${COLOUR.some}">some detection &gt; 55 %</span>, <span style="background:${COLOUR.random}">random or worse ≤ 55 %</span> (two-tailed likelihood test, AUROC of corrupted vs. clean test images).</p>
<table>${summary}</table>
${html.join('\n')}
${figs}
</body></html>
`;
}
