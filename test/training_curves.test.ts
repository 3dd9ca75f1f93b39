import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, tinyRunOptions, useBackend } from './helpers.js';
import { METRICS_FILE, OPTIONS_FILE, train } from '../src/train/trainer.js';
import type { TrainOptions } from '../src/train/trainer.js';
import { CURVE_FILE, curvesMarkdown, epochCurve, parseMetricsLog, readTrainingCurve } from '../src/train/training_curves.js';

beforeAll(async () => {
  await useBackend('wasm');
});

const rec = (type: string, step: number, epoch: number, extra: Record<string, unknown> = {}) => ({ type, step, epoch, ...extra });

describe('training curves', () => {
  it('averages each epoch’s logged steps, attaches the evaluation after it, and lets a resumed run’s re-logged steps win', () => {
    const records = [
      rec('train', 1, 0.5, { loss: 4, lx: 2, accuracy: 0.2, lr: 1e-3, time: 1 }),
      rec('train', 2, 1, { loss: 2, lx: 1, accuracy: 0.4, lr: 1e-3, time: 2 }),
      rec('eval', 2, 1, { accuracy: 0.5, bitsPerDim: 6, images: 100 }),
      rec('train', 3, 1.5, { loss: 999, lx: 999, accuracy: 0, lr: 1e-3, time: 3 }), // lost with the killed process
      rec('train', 3, 1.5, { loss: 1.5, lx: 0.5, accuracy: 0.6, lr: 1e-3, time: 3.5 }), // logged again after resuming
      rec('train', 4, 2, { loss: 0.5, lx: 0.25, accuracy: 0.8, lr: 1e-4, time: 4.5 }),
      rec('final', 4, 2, { accuracy: 0.7, bitsPerDim: 5, images: 1000 }),
    ];
    const { points, divergedAtStep } = epochCurve(records);
    expect(divergedAtStep).toBeNull();
    expect(points.map((p) => p.epoch)).toEqual([1, 2]);
    expect(points[0].trainAccuracy).toBeCloseTo(0.3, 12);
    expect(points[0]).toMatchObject({ trainLoss: 3, trainLx: 1.5, testAccuracy: 0.5, testImages: 100, final: false, seconds: 2 });
    expect(points[1]).toMatchObject({ trainLoss: 1, trainLx: 0.375, lr: 1e-4, testAccuracy: 0.7, testBitsPerDim: 5, testImages: 1000, final: true, seconds: 4.5 });
    // a discriminative run logs no L_X: the field stays empty rather than 0
    const dc = epochCurve([rec('train', 1, 1, { loss: 1, lx: null, accuracy: 0.5 })]).points[0];
    expect(dc.trainLx).toBeNull();
    expect(epochCurve([rec('train', 1, 0.5, { loss: 1 }), rec('diverged', 2, 0, { loss: null })]).divergedAtStep).toBe(2);
  });

  it('skips a torn last line but names the line of damage elsewhere', () => {
    const good = JSON.stringify(rec('train', 1, 0.5, { loss: 1 }));
    expect(parseMetricsLog(`${good}\n${good}\n{"type":"tra`, 'm.jsonl')).toHaveLength(2);
    expect(() => parseMetricsLog(`${good}\n{oops\n${good}\n`, 'm.jsonl')).toThrow(/m\.jsonl line 2 is not valid JSON/);
    expect(() => parseMetricsLog(`${good}\n{"type":"train"}\n${good}\n`, 'm.jsonl')).toThrow(/line 2 is not a training-log record/);
  });

  it('reads a real run, resumed or not, to the same curve; the CLI plots runs side by side', async () => {
    const options = (outDir: string): TrainOptions => ({ ...tinyRunOptions(outDir), logEverySteps: 1 });
    const straight = mkdtempSync(join(tmpdir(), 'gc-curve-straight-'));
    (await train(options(straight))).model.dispose();
    const split = mkdtempSync(join(tmpdir(), 'gc-curve-split-'));
    (await train({ ...options(split), maxSteps: 4 })).model.dispose();
    (await train(options(split), {}, true)).model.dispose();

    const a = readTrainingCurve(straight);
    const b = readTrainingCurve(split);
    expect(a).toMatchObject({ modelType: 'gc', beta: 1, epochsPlanned: 2, divergedAtStep: null });
    expect(a.points.map((p) => [p.epoch, p.testImages, p.final])).toEqual([[1, 32, false], [2, 64, true]]);
    // the epoch mean is the mean of that epoch's three logged steps
    const log = readFileSync(join(straight, METRICS_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const firstEpoch = log.filter((r) => r.type === 'train' && r.epoch <= 1).map((r) => r.loss as number);
    expect(firstEpoch).toHaveLength(3);
    expect(a.points[0].trainLoss).toBeCloseTo(firstEpoch.reduce((s, x) => s + x, 0) / 3, 10);
    const strip = (c: typeof a) => c.points.map(({ seconds: _s, ...rest }) => rest);
    expect(strip(b)).toEqual(strip(a));

    const out = mkdtempSync(join(tmpdir(), 'gc-curves-out-'));
    const r = await runCli(['curves', straight, split, '--labels', 'straight,resumed', '--out', out]);
    expect(r.error).toBeUndefined();
    expect(r.out).toMatch(/\| straight \| 1 \| 2 \|/);
    for (const f of ['curves.md', 'curves.json', 'curves.svg', 'curves.png']) expect(existsSync(join(out, f)), f).toBe(true);
    const svg = readFileSync(join(out, 'curves.svg'), 'utf8');
    expect(svg).toContain('resumed');
    expect(svg).toContain('held-out accuracy (%)');
    expect(readFileSync(join(out, 'curves.md'), 'utf8')).toContain('## resumed');
  }, 120_000);

  it('reads a zoo model’s stored curve and names what is missing', async () => {
    const zoo = mkdtempSync(join(tmpdir(), 'gc-curve-zoo-'));
    writeFileSync(join(zoo, OPTIONS_FILE), JSON.stringify({ modelType: 'gc', beta: null, epochs: 1 }));
    const points = epochCurve([rec('train', 1, 1, { loss: 1, accuracy: 0.5 }), rec('final', 1, 1, { accuracy: 0.6, images: 10 })]).points;
    writeFileSync(join(zoo, CURVE_FILE), JSON.stringify({ points }));
    const c = readTrainingCurve(zoo, 'zoo model');
    expect(c).toMatchObject({ label: 'zoo model', beta: Infinity, points });
    expect(curvesMarkdown([c])).toMatch(/\| zoo model \| ∞ \| 1 \| – \| 50\.00 % \| 60\.00 % \(1\) \| 60\.00 % \| – \|/);

    const empty = join(zoo, 'empty');
    mkdirSync(empty);
    expect(() => readTrainingCurve(empty)).toThrow(/has no training log \(metrics\.jsonl\) or stored curve/);
    expect(() => readTrainingCurve(join(zoo, 'nowhere'))).toThrow(/nowhere does not exist/);
    const r = await runCli(['curves', zoo, zoo, '--labels', 'one']);
    expect(r.error).toMatch(/--labels names 1 runs but 2 folders were given/);
    expect((await runCli(['curves', zoo, zoo])).error).toMatch(/two runs are labelled "gc-curve-zoo-\w+": name them with --labels/);
  });
});
