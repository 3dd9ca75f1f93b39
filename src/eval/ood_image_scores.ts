/**
 * Per-image OoD scores and verdicts of an `ood` run, one row per scored image (the in-distribution
 * test images and every OoD set), written as CSV or JSON lines. The verdict is the one `predict` and
 * the API give: out of distribution when the two-tailed p-value is below α.
 */
import { writeFileSync } from 'node:fs';
import type { SetScores } from './ood.js';
import type { OodReference } from './ood_reference.js';
import { pValues } from './ood_reference.js';
import { InputError } from '../util/errors.js';

export interface ImageScoreRow {
  set: string;
  /** 'in' for the in-distribution test set, 'out' for the OoD sets */
  role: 'in' | 'out';
  index: number;
  /** the image file, for sets read from a folder */
  file: string | null;
  predicted: string;
  maxProbability: number;
  entropy: number;
  lx: number | null;
  bitsPerDim: number | null;
  /** model bits/dim − PNG bits/dim (Serrà et al.) */
  complexity: number | null;
  pTwoTailed: number | null;
  pOneTailed: number | null;
  pTypicality: number | null;
  /** null for a model without a likelihood (the DC baseline) */
  verdict: 'in-distribution' | 'out-of-distribution' | null;
}

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

export function imageScoreRows(
  scores: Array<SetScores & { predictions: Int32Array }>,
  files: Array<string[] | undefined>,
  classNames: string[],
  reference: OodReference | null,
  alpha: number,
): ImageScoreRow[] {
  const rows: ImageScoreRow[] = [];
  scores.forEach((s, k) => {
    for (let i = 0; i < s.lx.length; i++) {
      const p = reference && Number.isFinite(s.lx[i]) ? pValues(reference, s.lx[i]) : null;
      rows.push({
        set: s.name,
        role: k === 0 ? 'in' : 'out',
        index: i,
        file: files[k]?.[i] ?? null,
        predicted: classNames[s.predictions[i]] ?? String(s.predictions[i]),
        maxProbability: s.maxProb[i],
        entropy: s.entropy[i],
        lx: finite(s.lx[i]),
        bitsPerDim: finite(s.bitsPerDim[i]),
        complexity: finite(s.bitsPerDim[i] - s.pngBitsPerDim[i]),
        pTwoTailed: p?.twoTailed ?? null,
        pOneTailed: p?.oneTailed ?? null,
        pTypicality: p?.typicality ?? null,
        verdict: p ? (p.twoTailed < alpha ? 'out-of-distribution' : 'in-distribution') : null,
      });
    }
  });
  return rows;
}

function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const text = typeof v === 'number' ? String(Number(v.toPrecision(7))) : String(v);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Writes the rows as CSV (header line, RFC 4180 quoting) or JSON lines, by the file's extension. */
export function writeImageScores(file: string, rows: ImageScoreRow[]): void {
  if (/\.jsonl$/i.test(file)) {
    writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));
  } else if (/\.csv$/i.test(file)) {
    const columns = Object.keys(rows[0] ?? { set: 0 }) as Array<keyof ImageScoreRow>;
    writeFileSync(file, [columns.join(','), ...rows.map((r) => columns.map((c) => csvField(r[c])).join(','))].join('\n') + '\n');
  } else {
    throw new InputError(`--scores ${file}: name a .csv or a .jsonl file`);
  }
}
