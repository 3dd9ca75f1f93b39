import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, useBackend } from './helpers.js';
import { overconfidenceSentence, spearman, trendSentence } from '../src/experiment/sweep_report.js';
import type { SweepModelResult } from '../src/experiment/beta_sweep.js';
import { fwhm } from '../src/explain/receptive_field.js';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('trend comparison', () => {
  it('Spearman correlation: monotone, reversed, ties, too few points', () => {
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 45])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    expect(spearman([1, 2, 3, 4], [1, 1, 2, 2])).toBeCloseTo(0.894427191, 6);
    expect(spearman([1, 2], [1, 2])).toBeNaN();
    expect(spearman([1, 2, 3, 4], [5, NaN, 6, 7])).toBeCloseTo(1, 12);
  });

  it('says whether the paper\'s trend over β holds', () => {
    const gc = (beta: number, accuracy: number) => ({ kind: 'gc', beta, accuracy }) as SweepModelResult;
    const paper = (k: string) => ({ '1': 67.3, '2': 71.73, '4': 73.69, inf: 76.27 })[k];
    const rising = [gc(1, 90), gc(2, 93), gc(4, 95), gc(Infinity, 96)];
    expect(trendSentence('Accuracy', rising, (r) => r.accuracy, paper)).toMatch(/rises with β in the paper \(Spearman ρ = 1\.00 over β = 1, 2, 4, ∞\); here it rises with β \(ρ = 1\.00\): the trend holds at our scale\./);
    const falling = [gc(1, 96), gc(2, 95), gc(4, 93), gc(Infinity, 90)];
    expect(trendSentence('Accuracy', falling, (r) => r.accuracy, paper)).toMatch(/here it falls with β \(ρ = -1\.00\): the trend does not hold at our scale\./);
    expect(trendSentence('Accuracy', [gc(1, 90), gc(3, 91)], (r) => r.accuracy, paper)).toMatch(/too few β values/);
  });

  it('compares the DC\'s overconfidence with the classifying GCs only (β = 0 does not classify)', () => {
    const model = (kind: 'gc' | 'dc', beta: number | null, oce: number) => ({ kind, beta, calibration: { oce } }) as SweepModelResult;
    const gcs = [model('gc', 0, 278.4), model('gc', 1, 0.5), model('gc', 8, 0.1), model('gc', Infinity, 0.3)];
    expect(overconfidenceSentence(gcs, model('dc', null, 0.26))).toMatch(/0\.26 against 0\.10–0\.50 for the GCs with β > 0: the DC lies within the GCs' range, unlike the paper/);
    expect(overconfidenceSentence(gcs, model('dc', null, 0.9))).toMatch(/the DC is the most overconfident, as in the paper/);
    expect(overconfidenceSentence(gcs, model('dc', null, 0.05))).toMatch(/the DC is the least overconfident, unlike the paper/);
    expect(overconfidenceSentence([model('gc', 0, 278.4)], model('dc', null, 0.05))).toMatch(/no GC with β > 0 to compare/);
    // stored evaluations hold NaN as null: no prediction above 99.7 % confidence
    expect(overconfidenceSentence(gcs, model('dc', null, null as unknown as number))).toMatch(/The DC's OCE is undefined: it gives no prediction with confidence above 99\.7 %/);
    expect(overconfidenceSentence([...gcs, model('gc', 2, NaN)], model('dc', null, 0.9))).toMatch(/against 0\.10–0\.50/);
  });
});

describe('experiment beta-sweep', () => {
  it('trains a GC per β and the DC, evaluates everything, writes the report, and resumes without redoing work', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'trustgc-sweep-')), 'sweep');
    const args = ['experiment', 'beta-sweep', '--dataset', 'mnist', '--betas', 'inf,1', '--epochs', '1', '--train-limit', '256', '--test-limit', '300', '--ood-images', '100', '--robustness-images', '6', '--attack-images', '4', '--rf-images', '4', '--latent-images', '100', '--out', out];
    const first = await runCli(args);
    expect(first.error).toBeUndefined();
    expect(first.out).toMatch(/\| DC \| [0-9.]+ \| – \|/);
    expect(first.out).toMatch(/\| 1 \| [0-9.]+ \| [0-9.]+ \|/);
    expect(first.out).toMatch(/\| ∞ \| /);
    for (const name of ['dc', 'beta-1', 'beta-inf']) {
      expect(existsSync(join(out, 'models', name, 'model.safetensors')), name).toBe(true);
      expect(existsSync(join(out, 'eval', `${name}.json`)), name).toBe(true);
    }
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    for (const section of ['## Table 3', '## Table 4', '## OoD detection', '## Table 5', '## Tables 7–9', '## Fig. 4', '## Fig. 19']) expect(md).toContain(section);
    expect(md).toMatch(/Bits\/dim .* in the paper \(Spearman ρ = 1\.00 over β = 1, ∞\)|too few β values/);
    expect(md).toMatch(/GC at β = ∞ vs\. the DC: [0-9.]+ % vs\. [0-9.]+ %/);
    const html = readFileSync(join(out, 'report', 'index.html'), 'utf8');
    expect(html).not.toContain('missing figure');
    expect((html.match(/data:image\/svg\+xml;base64,/g) ?? []).length).toBeGreaterThanOrEqual(5); // trade-off, RF, 3 latent layouts
    const stored = JSON.parse(readFileSync(join(out, 'eval', 'beta-1.json'), 'utf8'));
    expect(stored.receptiveField.fwhm).toBeGreaterThan(0);
    expect(stored.attack.success).toBeGreaterThanOrEqual(0);
    expect(stored.attack.success).toBeLessThanOrEqual(100);
    // a second run reuses the models and their evaluations
    const trained = statSync(join(out, 'models', 'beta-1', 'model.safetensors')).mtimeMs;
    const evaluated = statSync(join(out, 'eval', 'beta-1.json')).mtimeMs;
    const again = await runCli(args);
    expect(again.error).toBeUndefined();
    expect(statSync(join(out, 'models', 'beta-1', 'model.safetensors')).mtimeMs).toBe(trained);
    expect(statSync(join(out, 'eval', 'beta-1.json')).mtimeMs).toBe(evaluated);
    expect(again.out.split('\n').filter((l) => l.startsWith('| '))).toEqual(first.out.split('\n').filter((l) => l.startsWith('| ')));
    // an evaluation stored before the FWHM was taken on pixel cells gets it from its stored profile
    expect(stored.receptiveField.cell).toBe(2); // tiny-mnist starts with a Haar transform
    const { cell: _cell, ...oldField } = { ...stored.receptiveField, fwhm: 1.5 };
    writeFileSync(join(out, 'eval', 'beta-1.json'), JSON.stringify({ ...stored, receptiveField: oldField }));
    expect((await runCli(args)).error).toBeUndefined();
    const upgraded = JSON.parse(readFileSync(join(out, 'eval', 'beta-1.json'), 'utf8')).receptiveField;
    expect(upgraded).toEqual({ ...stored.receptiveField, fwhm: fwhm(stored.receptiveField.profile, 2) });
    expect(upgraded.fwhm).toBe(stored.receptiveField.fwhm);
  }, 600_000);

  it('rejects bad β lists with a clear error', async () => {
    expect((await runCli(['experiment', 'beta-sweep', '--betas', '1,-2'])).error).toMatch(/β values are non-negative numbers or inf, got "-2"/);
    expect((await runCli(['experiment', 'beta-sweep', '--betas', '1,1'])).error).toMatch(/lists a value twice/);
  });
});
