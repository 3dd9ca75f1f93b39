import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, useBackend } from './helpers.js';
import { readCard } from '../src/zoo/card.js';
import { markdownToHtml } from '../src/report/html.js';

let zoo: string;
let work: string;
const saved = process.env.TRUSTGC_ZOO;

beforeAll(async () => {
  await useBackend('wasm');
  work = mkdtempSync(join(tmpdir(), 'trustgc-zoo-'));
  zoo = join(work, 'zoo');
  process.env.TRUSTGC_ZOO = zoo;
  // one epoch of 384 images (6 steps): a real (if weak) model with a reference, trained by the CLI
  const trained = await runCli(['train', '--dataset', 'mnist', '--arch', 'tiny-mnist', '--optimizer', 'adam', '--lr', '0.001', '--batch-size', '64', '--epochs', '1', '--train-limit', '384', '--eval-every', '0', '--test-limit', '200', '--out', join(work, 'run')]);
  expect(trained.error).toBeUndefined();
});

afterAll(() => {
  if (saved === undefined) delete process.env.TRUSTGC_ZOO;
  else process.env.TRUSTGC_ZOO = saved;
});

describe('model zoo', () => {
  it('adds a model with a card of measured figures, lists it, and verifies it', async () => {
    const added = await runCli(['zoo', 'add', join(work, 'run'), '--name', 'tiny-test', '--dataset', 'mnist', '--command', 'trustgc train … (test)', '--budget', '6 steps', '--ood-images', '200', '--precision', 'f32']);
    expect(added.error).toBeUndefined();
    const card = readCard(join(zoo, 'tiny-test'));
    expect(card.kind).toBe('gc');
    expect(card.weights.dtype).toBe('F32');
    expect(card.parameters).toBe(694426);
    expect(card.measurement.testImages).toBe(10000);
    expect(card.measured.accuracy).toBeGreaterThan(10); // 6 steps already beat chance
    expect(Object.keys(card.measured.oodAuroc)).toHaveLength(5);
    expect(card.training.options.trainLimit).toBe(384);
    // the run's per-epoch curve travels with it (one epoch: the final evaluation on the test set)
    const curve = JSON.parse(readFileSync(join(zoo, 'tiny-test', 'training_curve.json'), 'utf8'));
    expect(curve.points).toHaveLength(1);
    expect(curve.points[0]).toMatchObject({ epoch: 1, final: true, testImages: 200 });
    const list = await runCli(['zoo', 'list']);
    expect(list.out).toMatch(/\| tiny-test \| mnist \| tiny-mnist GC \| 1 \| 694,426 \|/);
    const verified = await runCli(['zoo', 'verify', 'tiny-test']);
    expect(verified.error).toBeUndefined();
    expect(verified.out).toMatch(/tiny-test: verified/);
    expect(verified.out).not.toMatch(/OFF/);
  });

  it('lists a model trained with --dropout off as such', async () => {
    const file = join(zoo, 'tiny-test', 'card.json');
    const original = readFileSync(file, 'utf8');
    const card = JSON.parse(original);
    card.training.options.dropout = 'off';
    writeFileSync(file, JSON.stringify(card));
    try {
      expect((await runCli(['zoo', 'list'])).out).toMatch(/\| tiny-test \| mnist \| tiny-mnist GC, no dropout \| 1 \|/);
    } finally {
      writeFileSync(file, original);
    }
  });

  it('fails verification when a card figure is off by more than 0.5 pp, and names it', async () => {
    const file = join(zoo, 'tiny-test', 'card.json');
    const original = readFileSync(file, 'utf8');
    const card = JSON.parse(original);
    card.measured.accuracy += 0.6;
    writeFileSync(file, JSON.stringify(card));
    try {
      const r = await runCli(['zoo', 'verify', 'tiny-test']);
      expect(r.error).toMatch(/1 of 1 model\(s\) do not reproduce their card figures/);
      expect(r.out).toMatch(/\| accuracy % \| [0-9.]+ \| [0-9.]+ \| 0\.600 \| 0\.5 \| OFF \|/);
    } finally {
      writeFileSync(file, original);
    }
    expect((await runCli(['zoo', 'verify', 'nope'])).error).toMatch(/no zoo model "nope" \(known: tiny-test\)/);
  });

  it('converts a model to float16: half the bytes, re-measured figures on the card, the old ones kept, and it verifies', async () => {
    const before = readCard(join(zoo, 'tiny-test'));
    const r = await runCli(['zoo', 'convert', 'tiny-test', '--precision', 'f16']);
    expect(r.error).toBeUndefined();
    expect(r.out).toMatch(/tiny-test: F32 \(card, [0-9.]+ MB\) → F16 \(measured, [0-9.]+ MB\)/);
    const after = readCard(join(zoo, 'tiny-test'));
    expect(after.weights.dtype).toBe('F16');
    expect(after.weights.bytes).toBeLessThan(before.weights.bytes * 0.51);
    expect(statSync(join(zoo, 'tiny-test', 'model.safetensors')).size).toBe(after.weights.bytes);
    expect(after.convertedFrom?.dtype).toBe('F32');
    expect(after.convertedFrom?.measured).toEqual(before.measured);
    expect(Math.abs(after.measured.accuracy - before.measured.accuracy)).toBeLessThan(0.5);
    expect(Math.abs(after.measured.bitsPerDim! - before.measured.bitsPerDim!)).toBeLessThan(0.005);
    expect(after.measured.bitsPerDim).not.toBe(before.measured.bitsPerDim); // it really was measured again
    expect((await runCli(['zoo', 'convert', 'tiny-test', '--precision', 'f16'])).out).toMatch(/already F16/);
    expect((await runCli(['zoo', 'convert', 'tiny-test', '--precision', 'f8'])).error).toMatch(/--precision must be f16 or f32, got "f8"/);
    expect((await runCli(['zoo', 'convert', 'tiny-test', '--precision', 'f32'])).error).toMatch(/tiny-test is stored in F16: converting it to F32 cannot restore the rounded-off precision/);
    const verified = await runCli(['zoo', 'verify', 'tiny-test']);
    expect(verified.error).toBeUndefined();
    expect(verified.out).toMatch(/tiny-test: verified/);
  });

  it('re-measures a card from scratch: a fresh OoD reference, the old figures and the reason kept on the card', async () => {
    const before = readCard(join(zoo, 'tiny-test'));
    // a stale reference (every training score far out): re-measuring must not use it
    const refFile = join(zoo, 'tiny-test', 'ood_reference.json');
    const stale = JSON.parse(readFileSync(refFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(refFile, JSON.stringify({ ...stale, values: (stale.values as number[]).map(() => 1e6) }));
    expect((await runCli(['zoo', 'remeasure', 'tiny-test'])).error).toMatch(/--reason/);
    const r = await runCli(['zoo', 'remeasure', 'tiny-test', '--reason', 'test: stale reference']);
    expect(r.error).toBeUndefined();
    expect(r.out).toMatch(/tiny-test: card \(before\) against the new measurement/);
    expect(r.out).not.toMatch(/OFF/); // same weights, same data: the same figures as before the reference went stale
    const after = readCard(join(zoo, 'tiny-test'));
    expect(after.remeasuredFrom?.reason).toBe('test: stale reference');
    expect(after.remeasuredFrom?.measured).toEqual(before.measured);
    expect(after.measured.oodAuroc).toEqual(before.measured.oodAuroc);
    expect((JSON.parse(readFileSync(refFile, 'utf8')) as { values: number[] }).values.some((v) => v !== 1e6)).toBe(true);
    expect((await runCli(['zoo', 'remeasure', 'nope', '--reason', 'x'])).error).toMatch(/no zoo model "nope"/);
  });

  it('reproduces a model from its card: retrained with the same options, the same figures', async () => {
    const r = await runCli(['zoo', 'reproduce', 'tiny-test', '--out', join(work, 'again')]);
    expect(r.error).toBeUndefined();
    expect(existsSync(join(work, 'again', 'model.safetensors'))).toBe(true);
    expect(r.out).toMatch(/tiny-test retrained/);
    expect(r.out).not.toMatch(/OFF/);
  });

  it('the demo evaluates a zoo model and writes a self-contained report', async () => {
    const out = join(work, 'demo');
    const r = await runCli(['demo', '--model', join(zoo, 'tiny-test'), '--out', out]);
    expect(r.error).toBeUndefined();
    expect(r.out).toMatch(/model card: all figures reproduced/);
    for (const f of ['report.md', 'index.html', 'reliability-ibinn.svg', 'ood-lx.svg', 'similarity.svg', 'decision-space-ambiguous.svg', 'heatmap-ambiguous.png', 'decision-space-ood.svg']) expect(existsSync(join(out, f)), f).toBe(true);
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).not.toMatch(/missing figure/);
    expect((html.match(/src="data:image\/(svg\+xml|png);base64,/g) ?? []).length).toBeGreaterThanOrEqual(8);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/## Card figures/);
  });
});

describe('report HTML', () => {
  it('turns the reports\' Markdown into one page with tables, quotes, lists and embedded figures', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trustgc-html-'));
    writeFileSync(join(dir, 'f.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="2" height="2"/>');
    const html = markdownToHtml('# T\n\n> a **b** <c>\n\n- one\n- `two`\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n![fig](f.svg) ![gone](g.png)', 'T', dir);
    expect(html).toContain('<h1>T</h1>');
    expect(html).toContain('<blockquote>a <strong>b</strong> &lt;c&gt;</blockquote>');
    expect(html).toContain('<li><code>two</code></li>');
    expect(html).toContain('<tr><th>x</th><th>y</th></tr>');
    expect(html).toContain('<tr><td>1</td><td>2</td></tr>');
    expect(html).toMatch(/<img alt="fig" title="fig" src="data:image\/svg\+xml;base64,/);
    expect(html).toContain('[missing figure gone]');
  });
});
