/**
 * Figures of the adversarial experiment: original / attacked / amplified perturbation panels
 * (paper Figs. 12, 14) and the attack's path through latent space projected onto the plane of the
 * class means it passes closest to (Figs. 11, 22).
 */
import type { TopLevelSpec } from 'vega-lite';
import { cellPng, escapeXml } from './corruption_grid.js';
import { renderSvg, svgToPng } from './render.js';
import { meanPlane, projector } from '../explain/latent_projection.js';
import type { AttackRun } from '../attack/attack_eval.js';
import type { CwTrace } from '../attack/carlini_wagner.js';

const toBytes = (a: Float32Array) => Uint8Array.from(a, (v) => Math.round(255 * Math.min(1, Math.max(0, v))));

/** Rows of [original | attacked | perturbation], the perturbation scaled so its largest value reaches the range. */
export async function attackPanelsPng(run: AttackRun, shape: [number, number, number], classNames: string[], count = 6): Promise<Buffer> {
  const [h, w, c] = shape;
  const size = h * w * c;
  const cell = 96;
  const gap = 6;
  const labelH = 30;
  const rows = Math.min(count, run.report.images.length);
  const width = 3 * (cell + gap) + 260;
  const height = 30 + rows * (cell + labelH);
  const parts: string[] = [`<text x="${gap}" y="18" font-size="13" font-weight="bold">original · attacked · perturbation (amplified; grey = 0)</text>`];
  for (let r = 0; r < rows; r++) {
    const img = run.report.images[r];
    const orig = run.originals.subarray(r * size, (r + 1) * size);
    const adv = run.adversarials.subarray(r * size, (r + 1) * size);
    let peak = 1e-12;
    for (let j = 0; j < size; j++) peak = Math.max(peak, Math.abs(adv[j] - orig[j]));
    const delta = Float32Array.from(adv, (v, j) => 0.5 + (0.5 * (v - orig[j])) / peak);
    const y = 30 + r * (cell + labelH);
    const pngs = await Promise.all([orig, adv, delta].map((a) => cellPng(toBytes(a), h, w, c, cell)));
    pngs.forEach((href, k) => parts.push(`<image x="${gap + k * (cell + gap)}" y="${y}" width="${cell}" height="${cell}" href="${href}"/>`));
    const text = `${classNames[img.label]} → target ${classNames[img.target]}: ${img.success ? 'success' : 'failed'}, predicted ${classNames[img.prediction]} (p = ${img.confidence.toFixed(3)}); perturbation ×${(0.5 / peak).toFixed(1)}, mean L2 ${img.corruption.toFixed(4)}`;
    parts.push(`<text x="${3 * (cell + gap) + gap}" y="${y + cell / 2}" font-size="11">${escapeXml(text.slice(0, 48))}</text>`);
    parts.push(`<text x="${3 * (cell + gap) + gap}" y="${y + cell / 2 + 14}" font-size="11">${escapeXml(text.slice(48))}</text>`);
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, sans-serif">${parts.join('')}</svg>`;
  return svgToPng(svg, 1);
}

/**
 * 2-D coordinates of a latent trajectory and of the five class means it passes closest to, in the
 * plane through those means (their mean and first two principal directions).
 */
export function trajectoryProjection(trace: CwTrace, means: Float32Array, classes: number): { path: Array<{ step: number; x: number; y: number; margin: number }>; centres: Array<{ cls: number; x: number; y: number }> } {
  const d = means.length / classes;
  const closest = new Float64Array(classes).fill(Infinity);
  for (const z of trace.z) {
    for (let k = 0; k < classes; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (z[j] - means[k * d + j]) ** 2;
      closest[k] = Math.min(closest[k], s);
    }
  }
  const chosen = Array.from(closest, (v, k) => [v, k] as const).sort((a, b) => a[0] - b[0]).slice(0, Math.min(5, classes)).map(([, k]) => k);
  const { centre, axes } = meanPlane(means, d, chosen);
  const project = projector(centre, axes);
  return {
    path: trace.z.map((z, step) => {
      const [x, y] = project(z);
      return { step, x, y, margin: trace.margins[step] };
    }),
    centres: chosen.map((k) => {
      const [x, y] = project(means, k * d);
      return { cls: k, x, y };
    }),
  };
}

export function trajectorySpec(p: ReturnType<typeof trajectoryProjection>, classNames: string[], kappa: number, title: string): TopLevelSpec {
  const reached = (m: number) => (Number.isFinite(kappa) ? m >= kappa : m > 0);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 420,
    height: 360,
    layer: [
      {
        data: { values: p.path.map((q) => ({ ...q, phase: reached(q.margin) ? 'margin reached' : 'before' })) },
        mark: { type: 'line', point: false },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: 'plane axis 1' },
          y: { field: 'y', type: 'quantitative', title: 'plane axis 2' },
          order: { field: 'step', type: 'quantitative' },
          strokeDash: { field: 'phase', type: 'nominal', scale: { domain: ['before', 'margin reached'], range: [[3, 3], [1, 0]] }, legend: { title: 'attack', orient: 'bottom' } },
          color: { value: '#c9483e' },
        },
      },
      {
        data: { values: [p.path[0], p.path[p.path.length - 1]].map((q, i) => ({ ...q, label: i ? 'end' : 'start' })) },
        mark: { type: 'point', filled: true, size: 60, color: '#c9483e' },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, shape: { field: 'label', type: 'nominal', legend: { title: null, orient: 'bottom' } } },
      },
      {
        data: { values: p.centres.map((c) => ({ ...c, name: classNames[c.cls] })) },
        mark: { type: 'point', shape: 'cross', size: 120, color: '#333' },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
      },
      {
        data: { values: p.centres.map((c) => ({ ...c, name: `μ ${classNames[c.cls]}` })) },
        mark: { type: 'text', dx: 12, dy: -8, fontSize: 12 },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, text: { field: 'name' } },
      },
    ],
  } as TopLevelSpec;
}

export async function trajectoryPlot(p: ReturnType<typeof trajectoryProjection>, classNames: string[], kappa: number, title: string): Promise<{ svg: string; png: Buffer }> {
  const svg = await renderSvg(trajectorySpec(p, classNames, kappa, title));
  return { svg, png: svgToPng(svg) };
}
