/**
 * One image under every corruption and severity, as a labelled grid (rows: corruptions, columns:
 * clean and severities 1–5). Cells are upscaled with nearest-neighbour so pixels stay visible.
 */
import sharp from 'sharp';
import { svgToPng } from './render.js';
import { CORRUPTION_NAMES, corruptBytes } from '../corrupt/corruptions.js';
import type { CorruptionName } from '../corrupt/corruptions.js';

export interface GridOptions {
  corruptions?: readonly CorruptionName[];
  seed?: number;
  /** displayed cell side in pixels */
  cell?: number;
  title?: string;
}

export async function cellPng(bytes: Uint8Array, h: number, w: number, c: number, cell: number): Promise<string> {
  const img = sharp(Buffer.from(bytes), { raw: { width: w, height: h, channels: c as 1 | 3 } });
  const png = await (c === 1 ? img.toColourspace('b-w') : img).resize(cell, cell, { kernel: 'nearest', fit: 'fill' }).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

export const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** SVG of the grid for one HWC 8-bit image (index = its position in the data set, for the seed). */
export async function corruptionGridSvg(bytes: Uint8Array, h: number, w: number, c: number, index: number, opts: GridOptions = {}): Promise<string> {
  const names = opts.corruptions ?? CORRUPTION_NAMES;
  const cell = opts.cell ?? 84;
  const gap = 4;
  const labelW = 130;
  const top = opts.title ? 48 : 28;
  const width = labelW + 6 * (cell + gap);
  const height = top + names.length * (cell + gap);
  const parts: string[] = [];
  if (opts.title) parts.push(`<text x="${width / 2}" y="18" font-size="14" text-anchor="middle" font-weight="bold">${escapeXml(opts.title)}</text>`);
  ['clean', 's1', 's2', 's3', 's4', 's5'].forEach((label, col) => {
    parts.push(`<text x="${labelW + col * (cell + gap) + cell / 2}" y="${top - 8}" font-size="12" text-anchor="middle">${label}</text>`);
  });
  const clean = await cellPng(bytes, h, w, c, cell);
  for (let row = 0; row < names.length; row++) {
    const y = top + row * (cell + gap);
    parts.push(`<text x="${labelW - 8}" y="${y + cell / 2 + 4}" font-size="12" text-anchor="end">${names[row]}</text>`);
    parts.push(`<image x="${labelW}" y="${y}" width="${cell}" height="${cell}" href="${clean}"/>`);
    for (let s = 1; s <= 5; s++) {
      const corrupted = await corruptBytes(bytes, h, w, c, names[row], s, opts.seed ?? 0, index);
      parts.push(`<image x="${labelW + s * (cell + gap)}" y="${y}" width="${cell}" height="${cell}" href="${await cellPng(corrupted, h, w, c, cell)}"/>`);
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, sans-serif">${parts.join('')}</svg>`;
}

export async function corruptionGridPng(bytes: Uint8Array, h: number, w: number, c: number, index: number, opts: GridOptions = {}): Promise<Buffer> {
  return svgToPng(await corruptionGridSvg(bytes, h, w, c, index, opts), 1);
}
