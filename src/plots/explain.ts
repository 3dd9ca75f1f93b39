/** Figures of the native explanations: decision space (Fig. 6), class similarity (Figs. 8–9), latent layout (Fig. 19), samples. */
import type { TopLevelSpec } from 'vega-lite';
import { AXIS_90, RADIUS_90 } from '../explain/decision_space.js';
import type { DecisionSpace } from '../explain/decision_space.js';
import type { ClassSimilarity } from '../explain/class_similarity.js';
import type { Projection } from '../explain/latent_projection.js';
import type { ReceptiveField } from '../explain/receptive_field.js';
import type { PlanarModel } from '../explain/planar.js';
import type { ClassHeatmaps } from '../explain/heatmap.js';
import type { DctInfluence } from '../explain/dct_influence.js';
import { cellPng, escapeXml } from './corruption_grid.js';
import { renderSvg, svgToPng } from './render.js';

export async function renderFigure(spec: TopLevelSpec): Promise<{ svg: string; png: Buffer }> {
  const svg = await renderSvg(spec);
  return { svg, png: svgToPng(svg) };
}

/** The five nearest means with their 90 % regions (half-ellipses: r ≥ 0) and the input, axes scaled so the regions look round. */
export function decisionSpaceSpec(ds: DecisionSpace, classNames: string[], title: string): TopLevelSpec {
  const regions: Array<Record<string, unknown>> = [];
  ds.means.forEach((m, i) => {
    for (let k = 0; k <= 48; k++) {
      const t = (Math.PI * k) / 48;
      regions.push({ cls: classNames[m.cls], rank: i, h: m.h + AXIS_90 * Math.cos(t), r: Math.max(0, m.r + RADIUS_90 * Math.sin(t)), k });
    }
  });
  const role = (i: number) => (i === 0 ? 'top-1' : i === 1 ? 'top-2' : 'top-3…5');
  const points = ds.means.map((m, i) => ({ h: m.h, r: m.r, label: `μ ${classNames[m.cls]} (${ds.posterior[i].toFixed(2)})`, role: role(i) }));
  const hs = [...regions.map((p) => p.h as number), ds.input.h];
  const rs = [...regions.map((p) => p.r as number), ds.input.r];
  const hSpan = Math.max(...hs) - Math.min(...hs) + 1;
  const rSpan = Math.max(...rs) + 1;
  const unit = 320 / Math.max(hSpan / AXIS_90, rSpan / RADIUS_90);
  const colour = { field: 'role', type: 'nominal', scale: { domain: ['top-1', 'top-2', 'top-3…5', 'input'], range: ['#c9483e', '#3b6fb6', '#8a8a8a', '#000000'] }, legend: { title: null, orient: 'bottom' } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: Math.round((unit * hSpan) / AXIS_90),
    height: Math.round((unit * rSpan) / RADIUS_90),
    layer: [
      {
        data: { values: regions.map((p) => ({ ...p, role: role(p.rank as number) })) },
        mark: { type: 'line', strokeDash: [4, 3], opacity: 0.7 },
        encoding: { x: { field: 'h', type: 'quantitative', title: `along μ ${classNames[ds.classes[0]]} → μ ${classNames[ds.classes[1]]}` }, y: { field: 'r', type: 'quantitative', title: 'distance from that axis within the 5-D span' }, detail: { field: 'cls' }, order: { field: 'k' }, color: colour },
      },
      { data: { values: points }, mark: { type: 'point', shape: 'cross', size: 140, filled: true }, encoding: { x: { field: 'h', type: 'quantitative' }, y: { field: 'r', type: 'quantitative' }, color: colour } },
      { data: { values: points }, mark: { type: 'text', dy: -12, fontSize: 11 }, encoding: { x: { field: 'h', type: 'quantitative' }, y: { field: 'r', type: 'quantitative' }, text: { field: 'label' } } },
      { data: { values: [{ h: ds.input.h, r: ds.input.r, role: 'input' }] }, mark: { type: 'point', filled: true, size: 90 }, encoding: { x: { field: 'h', type: 'quantitative' }, y: { field: 'r', type: 'quantitative' }, color: colour } },
    ],
  } as TopLevelSpec;
}

/** Heat map of the expected pairwise uncertainty 1 − Φ(Δμ/2) (or of Δμ itself), classes in clustering order. */
export function similaritySpec(s: ClassSimilarity, title: string, show: 'uncertainty' | 'distance' = 'uncertainty'): TopLevelSpec {
  const m = s.classes.length;
  const values: Array<Record<string, unknown>> = [];
  for (const a of s.order) for (const b of s.order) values.push({ a: s.classes[a], b: s.classes[b], uncertainty: a === b ? null : 100 * s.uncertainty[a * m + b], deltaMu: s.distances[a * m + b] });
  const names = s.order.map((i) => s.classes[i]);
  const side = Math.min(640, Math.max(240, 24 * m));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    width: side,
    height: side,
    mark: 'rect',
    encoding: {
      x: { field: 'a', type: 'nominal', sort: names, title: null, axis: m > 60 ? { labels: false, ticks: false } : {} },
      y: { field: 'b', type: 'nominal', sort: names, title: null, axis: m > 60 ? { labels: false, ticks: false } : {} },
      color:
        show === 'uncertainty'
          ? { field: 'uncertainty', type: 'quantitative', title: 'expected uncertainty %', scale: { scheme: 'viridis', type: 'log' } }
          : { field: 'deltaMu', type: 'quantitative', title: 'Δμ', scale: { scheme: 'viridis', reverse: true } },
      tooltip: [{ field: 'a' }, { field: 'b' }, { field: 'deltaMu', format: '.3f' }, { field: 'uncertainty', format: '.3g' }],
    },
  } as TopLevelSpec;
}

export function projectionSpec(p: Projection, classNames: string[], title: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 420,
    height: 380,
    layer: [
      {
        data: { values: p.points.map((q) => ({ ...q, cls: classNames[q.label] })) },
        mark: { type: 'circle', size: 10, opacity: 0.5 },
        encoding: { x: { field: 'x', type: 'quantitative', title: p.method === 'lda' ? 'LD 1' : 'PC 1 (of the means)' }, y: { field: 'y', type: 'quantitative', title: p.method === 'lda' ? 'LD 2' : 'PC 2' }, color: { field: 'cls', type: 'nominal', title: 'class', sort: classNames } },
      },
      {
        data: { values: p.centres.map((q) => ({ ...q, cls: classNames[q.label] })) },
        mark: { type: 'text', fontSize: 13, fontWeight: 'bold' },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, text: { field: 'cls' } },
      },
    ],
  } as TopLevelSpec;
}

/** Rows of class-conditional samples ([classes][n] images of h·w·c in [0,1]) as one PNG. */
export async function samplesPng(rows: Float32Array[][], shape: [number, number, number], classNames: string[], title: string): Promise<Buffer> {
  const [h, w, c] = shape;
  const cell = Math.max(48, Math.min(96, 3 * Math.max(h, w)));
  const gap = 3;
  const labelW = 90;
  const cols = Math.max(...rows.map((r) => r.length));
  const width = labelW + cols * (cell + gap);
  const height = 30 + rows.length * (cell + gap);
  const parts = [`<text x="${width / 2}" y="18" font-size="13" text-anchor="middle" font-weight="bold">${escapeXml(title)}</text>`];
  for (let r = 0; r < rows.length; r++) {
    const y = 30 + r * (cell + gap);
    parts.push(`<text x="${labelW - 6}" y="${y + cell / 2 + 4}" font-size="12" text-anchor="end">${escapeXml(classNames[r])}</text>`);
    for (let k = 0; k < rows[r].length; k++) {
      const bytes = Uint8Array.from(rows[r][k], (v) => Math.round(255 * Math.min(1, Math.max(0, v))));
      parts.push(`<image x="${labelW + k * (cell + gap)}" y="${y}" width="${cell}" height="${cell}" href="${await cellPng(bytes, h, w, c, cell)}"/>`);
    }
  }
  return svgToPng(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, sans-serif">${parts.join('')}</svg>`, 1);
}

/** Fig. 4: the sensitivity map (log colour) beside its cross-section through the centre row (log axis), with the FWHM. */
export function receptiveFieldSpec(rf: ReceptiveField, title: string): TopLevelSpec {
  const cells: Array<Record<string, number>> = [];
  const floor = Math.max(...rf.sensitivity) * 1e-6;
  for (let y = 0; y < rf.height; y++) for (let x = 0; x < rf.width; x++) cells.push({ x, y, s: Math.max(floor, rf.sensitivity[y * rf.width + x]) });
  const side = Math.min(320, 8 * Math.max(rf.height, rf.width));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    hconcat: [
      {
        data: { values: cells },
        width: side,
        height: side,
        mark: 'rect',
        encoding: {
          x: { field: 'x', type: 'ordinal', axis: null },
          y: { field: 'y', type: 'ordinal', axis: null },
          color: { field: 's', type: 'quantitative', scale: { type: 'log', scheme: 'inferno' }, title: 'sensitivity' },
        },
      },
      {
        data: { values: rf.profile.map((s, x) => ({ x, s: Math.max(floor, s) })) },
        width: side,
        height: side,
        title: `centre row; FWHM ${rf.fwhm.toFixed(1)} px${rf.cell > 1 ? ` (${rf.cell}-px cells)` : ''}`,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: 'pixel column' },
          y: { field: 's', type: 'quantitative', scale: { type: 'log' }, title: 'sensitivity Σ|∂u/∂x|' },
        },
      },
    ],
  } as TopLevelSpec;
}

/** Fig. 7: the exact 2-D posterior of a planar model — Voronoi regions shaded by the in-plane class density, test codes, centres. */
export function planarSpec(m: PlanarModel, xy: Float32Array, labels: ArrayLike<number>, classNames: string[], title: string, maxPoints = 1500): TopLevelSpec {
  const classes = m.centres.length / 2;
  const n = labels.length;
  const xs = [...Array.from({ length: classes }, (_, c) => m.centres[2 * c]), ...Array.from({ length: n }, (_, i) => xy[2 * i])];
  const ys = [...Array.from({ length: classes }, (_, c) => m.centres[2 * c + 1]), ...Array.from({ length: n }, (_, i) => xy[2 * i + 1])];
  const q = (a: number[], f: number) => [...a].sort((u, v) => u - v)[Math.floor(f * (a.length - 1))];
  const [x0, x1, y0, y1] = [q(xs, 0.005) - 1, q(xs, 0.995) + 1, q(ys, 0.005) - 1, q(ys, 0.995) + 1];
  const grid: Array<Record<string, unknown>> = [];
  const steps = 90;
  for (let i = 0; i < steps; i++) {
    for (let j = 0; j < steps; j++) {
      const px = x0 + ((i + 0.5) * (x1 - x0)) / steps;
      const py = y0 + ((j + 0.5) * (y1 - y0)) / steps;
      let best = Infinity;
      let cls = 0;
      let density = 0;
      for (let c = 0; c < classes; c++) {
        const d2 = (px - m.centres[2 * c]) ** 2 + (py - m.centres[2 * c + 1]) ** 2;
        density += Math.exp(-0.5 * d2) / classes;
        if (d2 < best) [best, cls] = [d2, c];
      }
      grid.push({ x: px, y: py, x2: px + (x1 - x0) / steps, y2: py + (y1 - y0) / steps, cls: classNames[cls], density });
    }
  }
  const stride = Math.max(1, Math.ceil(n / maxPoints));
  const points = Array.from({ length: Math.ceil(n / stride) }, (_, k) => k * stride).map((i) => ({ x: xy[2 * i], y: xy[2 * i + 1], cls: classNames[labels[i]] }));
  const colour = { field: 'cls', type: 'nominal', title: 'class', sort: classNames };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 460,
    height: 460,
    layer: [
      { data: { values: grid }, mark: { type: 'rect' }, encoding: { x: { field: 'x', type: 'quantitative', scale: { domain: [x0, x1], nice: false }, title: 'plane axis 1' }, x2: { field: 'x2' }, y: { field: 'y', type: 'quantitative', scale: { domain: [y0, y1], nice: false }, title: 'plane axis 2' }, y2: { field: 'y2' }, color: colour, opacity: { field: 'density', type: 'quantitative', scale: { range: [0.08, 0.55] }, legend: null } } },
      { data: { values: points }, mark: { type: 'circle', size: 9, opacity: 0.9, stroke: '#222', strokeWidth: 0.3 }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, color: colour } },
      { data: { values: Array.from({ length: classes }, (_, c) => ({ x: m.centres[2 * c], y: m.centres[2 * c + 1], cls: classNames[c] })) }, mark: { type: 'text', fontSize: 15, fontWeight: 'bold' }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, text: { field: 'cls' } } },
    ],
  } as TopLevelSpec;
}

/** Fig. 10: the input and, per top class, its Q map (N×N) laid over it, red = evidence for the class. */
export async function heatmapPng(image: Float32Array, shape: [number, number, number], h: Pick<ClassHeatmaps, 'n' | 'classes' | 'maps' | 'logPosterior'>, classNames: string[], title: string): Promise<Buffer> {
  const [ih, iw, c] = shape;
  const cell = 192;
  const gap = 10;
  const top = 40;
  const width = (h.classes.length + 1) * (cell + gap) + gap;
  const height = top + cell + 40;
  const bytes = Uint8Array.from(image, (v) => Math.round(255 * Math.min(1, Math.max(0, v))));
  const href = await cellPng(bytes, ih, iw, c, cell);
  const parts = [`<text x="${width / 2}" y="20" font-size="14" text-anchor="middle" font-weight="bold">${escapeXml(title)}</text>`];
  parts.push(`<image x="${gap}" y="${top}" width="${cell}" height="${cell}" href="${href}"/>`, `<text x="${gap + cell / 2}" y="${top + cell + 18}" font-size="12" text-anchor="middle">input</text>`);
  const all = h.maps.flatMap((m) => Array.from(m));
  const scale = Math.max(...all.map((v) => Math.abs(v - all.reduce((a, b) => a + b, 0) / all.length))) || 1;
  const mean = all.reduce((a, b) => a + b, 0) / all.length;
  const n = h.n;
  h.classes.forEach((cls, i) => {
    const x0 = gap + (i + 1) * (cell + gap);
    parts.push(`<image x="${x0}" y="${top}" width="${cell}" height="${cell}" href="${href}" opacity="0.55"/>`);
    for (let k = 0; k < n; k++) {
      for (let l = 0; l < n; l++) {
        const v = (h.maps[i][k * n + l] - mean) / scale; // −1 … 1
        const colour = v >= 0 ? `rgb(220,40,40)` : `rgb(40,80,220)`;
        parts.push(`<rect x="${x0 + (l * cell) / n}" y="${top + (k * cell) / n}" width="${cell / n}" height="${cell / n}" fill="${colour}" fill-opacity="${(0.6 * Math.abs(v)).toFixed(3)}"/>`);
      }
    }
    parts.push(`<text x="${x0 + cell / 2}" y="${top + cell + 18}" font-size="12" text-anchor="middle">${escapeXml(`${classNames[cls]}: q(y|x) = ${Math.exp(h.logPosterior[i]).toFixed(3)}`)}</text>`);
  });
  return svgToPng(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, sans-serif">${parts.join('')}</svg>`, 1);
}

/** Fig. 18: class spread of the means per DCT coefficient (rows kh, columns kw). */
export function dctInfluenceSpec(inf: DctInfluence, title: string): TopLevelSpec {
  const values: Array<Record<string, number>> = [];
  for (let kh = 0; kh < inf.n; kh++) for (let kw = 0; kw < inf.n; kw++) values.push({ kh, kw, spread: inf.spread[kh * inf.n + kw] });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    width: 260,
    height: 260,
    mark: 'rect',
    encoding: {
      x: { field: 'kw', type: 'ordinal', title: 'horizontal frequency kw' },
      y: { field: 'kh', type: 'ordinal', title: 'vertical frequency kh' },
      color: { field: 'spread', type: 'quantitative', scale: { scheme: 'viridis' }, title: 'std of μ over classes' },
    },
  } as TopLevelSpec;
}
