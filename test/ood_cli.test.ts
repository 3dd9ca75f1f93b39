/**
 * `trustgc ood` with a user's own OoD images: a plain path (flat folder, nested folder or one file,
 * no `folder:` prefix, commas allowed), the set named after the folder, separate in- and
 * out-of-distribution limits, and every image's scores and verdict as CSV or JSON lines.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { runCli, useBackend } from './helpers.js';
import { parseOodSetList } from '../src/data/ood_sets.js';
import { InputError } from '../src/util/errors.js';
import { projectRoot } from '../src/util/paths.js';

const MODEL = join(projectRoot(), 'zoo', 'mnist-gc-beta1');
const tmp = mkdtempSync(join(tmpdir(), 'trustgc-ood-cli-'));
const flat = join(tmp, 'my, images'); // a folder name with a comma
const nested = join(tmp, 'glyphs');

/** A 40×40 RGB picture (other size and channels than the model's: the set is resized and greyed). */
async function picture(file: string, k: number): Promise<void> {
  const data = Buffer.alloc(40 * 40 * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * (k + 3) * 37) % 256;
  await sharp(data, { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(file);
}

beforeAll(async () => {
  await useBackend('wasm');
  mkdirSync(flat, { recursive: true });
  for (let k = 0; k < 6; k++) await picture(join(flat, k === 0 ? 'a,b.png' : `img-${k}.png`), k);
  for (const sub of ['x', 'y']) {
    mkdirSync(join(nested, sub), { recursive: true });
    for (let k = 0; k < 2; k++) await picture(join(nested, sub, `${sub}${k}.png`), k + 10);
  }
});

/** A minimal CSV reader for the test: RFC 4180 quotes, no line breaks inside fields. */
function parseCsv(text: string): Array<Record<string, string>> {
  const lines = text.trim().split('\n');
  const split = (line: string) => {
    const out: string[] = [];
    let field = '';
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') (field += '"'), i++;
        else if (c === '"') quoted = false;
        else field += c;
      } else if (c === '"') quoted = true;
      else if (c === ',') out.push(field), (field = '');
      else field += c;
    }
    out.push(field);
    return out;
  };
  const header = split(lines[0]);
  return lines.slice(1).map((l) => Object.fromEntries(split(l).map((v, i) => [header[i], v])));
}

describe('ood on a user\'s own images', () => {
  it('reads --out values: a path whole (commas and all), else a comma-separated list; unknown names are refused', () => {
    expect(parseOodSetList(['uniform,inverted'])).toEqual(['uniform', 'inverted']);
    expect(parseOodSetList([flat, 'constant'])).toEqual([flat, 'constant']);
    expect(parseOodSetList([`uniform,${nested}`])).toEqual(['uniform', nested]);
    expect(() => parseOodSetList(['uniform,nosuch'])).toThrow(InputError);
    expect(() => parseOodSetList(['uniform,nosuch'])).toThrow(/unknown OoD set "nosuch"/);
  });

  it('scores a flat folder, a nested folder and one file, named after them, with separate limits, and writes every image\'s verdict', async () => {
    const csv = join(tmp, 'out', 'scores.csv');
    const r = await runCli(['ood', '--no-combined', '--model', MODEL, '--in', 'mnist', '--limit-in', '40', '--limit-out', '5', '--out', flat, '--out', `${nested},uniform`, '--out', join(flat, 'img-1.png'), '--scores', csv, '--json']);
    expect(r.error, r.error).toBeUndefined();
    const report = JSON.parse(r.out);
    expect(report.inDistribution.images).toBe(40);
    expect(report.sets.map((s: { name: string; images: number }) => [s.name, s.images])).toEqual([
      ['my, images', 5],
      ['glyphs', 4],
      ['uniform noise', 5],
      ['img-1.png', 1],
    ]);
    const rows = parseCsv(readFileSync(csv, 'utf8'));
    expect(rows).toHaveLength(40 + 5 + 4 + 5 + 1);
    expect(rows.filter((x) => x.role === 'in')).toHaveLength(40);
    const mine = rows.filter((x) => x.set === 'my, images');
    expect(mine.map((x) => x.file)).toEqual([join(flat, 'a,b.png'), ...[1, 2, 3, 4].map((k) => join(flat, `img-${k}.png`))]);
    for (const x of rows) {
      const p = Number(x.pTwoTailed);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThanOrEqual(1);
      expect(x.verdict).toBe(p < 0.01 ? 'out-of-distribution' : 'in-distribution');
    }
    // the verdicts agree with the report: the same two-tailed test
    expect(rows.filter((x) => x.set === 'uniform noise').every((x) => x.verdict === 'out-of-distribution')).toBe(true);
  });

  it('writes JSON lines, and refuses a scores file of another kind before any work', async () => {
    const jsonl = join(tmp, 'scores.jsonl');
    const r = await runCli(['ood', '--no-combined', '--model', MODEL, '--limit-in', '10', '--limit-out', '3', '--out', flat, '--scores', jsonl, '--json']);
    expect(r.error, r.error).toBeUndefined();
    const rows = readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows).toHaveLength(13);
    expect(rows[10]).toMatchObject({ set: 'my, images', role: 'out', index: 0, file: join(flat, 'a,b.png') });
    expect(typeof rows[0].lx).toBe('number');
    expect((await runCli(['ood', '--no-combined', '--model', MODEL, '--out', flat, '--scores', join(tmp, 'scores.txt')])).error).toMatch(/\.csv or a \.jsonl/);
  });
});

describe('ood --baselines', () => {
  for (const name of ['mnist-gc-beta1', 'mnist-dc']) {
    it(`${name}: the detectors users would pick instead, in the same report, on the same images`, async () => {
      const r = await runCli(['ood', '--no-combined', '--model', join(projectRoot(), 'zoo', name), '--limit', '200', '--fit-limit', '300', '--out', 'uniform,inverted', '--baselines', '--json']);
      expect(r.error, r.error).toBeUndefined();
      const report = JSON.parse(r.out);
      const expected = ['msp', 'max-logit', 'energy', 'mahalanobis', 'knn', ...(name.includes('dc') ? ['vim'] : [])];
      expect(report.baselines.detectors).toEqual(expected);
      expect(report.baselines.features).toBe(name.includes('dc') ? 'penultimate' : 'latent z');
      report.baselines.sets.forEach((s: { name: string; tests: Record<string, { auroc: number }> }, k: number) => {
        expect(s.name).toBe(report.sets[k].name);
        for (const d of expected) expect(s.tests[d].auroc).toBeGreaterThanOrEqual(0), expect(s.tests[d].auroc).toBeLessThanOrEqual(100);
        // max softmax is computed twice, by the detector and by the likelihood report's confidence baseline
        expect(s.tests.msp.auroc).toBeCloseTo(report.sets[k].tests['max-softmax'].auroc, 6);
      });
    });
  }
});
