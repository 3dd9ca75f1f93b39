import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useBackend } from './helpers.js';
import { calibration, ibinnBinEdges } from '../src/eval/calibration.js';
import { auroc, averagePrecision, detectionMetrics, fprAtTpr } from '../src/eval/ood_metrics.js';
import { buildOodSet } from '../src/data/ood_sets.js';
import type { ImageDataset } from '../src/data/dataset.js';
import { GenerativeClassifier } from '../src/gc/model.js';
import { defaultConfig } from '../src/gc/presets.js';
import { saveModel } from '../src/io/checkpoint.js';
import { buildCli } from '../src/cli/main.js';

beforeAll(async () => {
  await useBackend('wasm');
});

/** n images of 2 classes, all predicting class 0 with probability p; `wrong` of them are class 1. */
function twoClass(n: number, p: number, wrong: number): { probs: Float32Array; labels: Int32Array } {
  const probs = new Float32Array(2 * n);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    probs[2 * i] = p;
    probs[2 * i + 1] = 1 - p;
    labels[i] = i < wrong ? 1 : 0;
  }
  return { probs, labels };
}

describe('calibration', () => {
  it('uses the IB-INN code\'s 17 bins', () => {
    const e = ibinnBinEdges();
    expect(e).toHaveLength(18);
    expect(e[0]).toBeCloseTo(-1e-6, 12);
    expect(e[4]).toBeCloseTo(0.05, 12);
    expect(e[5]).toBeCloseTo(0.15, 12);
    expect(e[13]).toBeCloseTo(0.95, 12);
    expect(e[17]).toBeCloseTo(1.000001, 12);
  });

  it('a calibrated predictor has zero ECE and MCE in both conventions', () => {
    const { probs, labels } = twoClass(1000, 0.8, 200); // 80 % confident, 80 % right
    for (const c of ['ibinn', 'top1'] as const) {
      const r = calibration(probs, labels, 2, c);
      expect(r.ece).toBeCloseTo(0, 4);
      expect(r.mce).toBeCloseTo(0, 4);
    }
    expect(calibration(probs, labels, 2, 'ibinn').bins.map((b) => b.count)).toEqual([1000, 1000]);
  });

  it('an overconfident predictor: ECE, MCE and OCE measure it', () => {
    const { probs, labels } = twoClass(1000, 0.999, 100); // 99.9 % confident, 90 % right
    const top1 = calibration(probs, labels, 2, 'top1');
    expect(top1.ece).toBeCloseTo(100 * (0.999 - 0.9), 3);
    expect(top1.oce).toBeCloseTo(0.1 / 0.003, 6);
    expect(top1.overconfidentImages).toBe(1000);
    const ib = calibration(probs, labels, 2, 'ibinn');
    // bins [0.9875, 1] (centre 0.99375, 90 % right) and [0, 0.0125) (centre 0.00625, 10 % right)
    expect(ib.mce).toBeCloseTo(100 * (0.99375 - 0.9), 3);
    expect(ib.ece).toBeCloseTo(100 * (0.99375 - 0.9 + 0.1 - 0.00625) / 2, 3);
    const none = calibration(twoClass(100, 0.9, 10).probs, twoClass(100, 0.9, 10).labels, 2, 'top1');
    expect(Number.isNaN(none.oce)).toBe(true);
  });

  it('rejects mismatched inputs', () => {
    expect(() => calibration(new Float32Array(5), new Int32Array(2), 2, 'top1')).toThrow(/5 probabilities for 2 images × 2 classes/);
  });
});

describe('OoD detection metrics', () => {
  it('AUROC, average precision and FPR@95 on hand-checked cases', () => {
    expect(auroc([3, 4], [1, 2])).toBe(1);
    expect(auroc([1, 2], [3, 4])).toBe(0);
    expect(auroc([1, 2], [1, 2])).toBe(0.5);
    expect(auroc([2, 3], [1, 2])).toBe(0.875); // one tie counts half
    expect(averagePrecision([3, 4], [1, 2])).toBe(1);
    expect(averagePrecision([1, 4], [2, 3])).toBeCloseTo(0.5 * 1 + 0.5 * 0.5, 12);
    // the threshold that flags 19 of these 20 is 11: of [0, 9.5, 11, 30], 11 and 30 are flagged
    expect(fprAtTpr([10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29], [0, 9.5, 11, 30])).toBe(0.5);
    const m = detectionMetrics([0, 1, 2, 3], [10, 11, 12, 13]);
    expect(m).toEqual({ auroc: 100, auprIn: 100, auprOut: 100, fprAt95Tpr: 0 });
  });
});

describe('OoD sets', () => {
  const base: ImageDataset = { name: 'b', classNames: ['a', 'b'], height: 4, width: 4, channels: 3, pixels: Uint8Array.from({ length: 2 * 48 }, (_, i) => (i * 37) % 256), labels: new Int32Array(2) };

  it('are shaped like the in-distribution set, seeded, and transform as documented', async () => {
    for (const name of ['uniform', 'gaussian', 'constant', 'inverted', 'noisy', 'rgb-rotated', 'downscaled']) {
      const a = await buildOodSet(name, base, { count: 2 });
      const b = await buildOodSet(name, base, { count: 2 });
      expect([a.height, a.width, a.channels, a.labels.length], name).toEqual([4, 4, 3, 2]);
      expect(Array.from(a.pixels), name).toEqual(Array.from(b.pixels));
    }
    const inv = await buildOodSet('inverted', base, { count: 2 });
    expect(inv.pixels[5]).toBe(255 - base.pixels[5]);
    const constant = await buildOodSet('constant', base, { count: 1 });
    expect(constant.pixels[0]).toBe(constant.pixels[45]);
    const down = await buildOodSet('downscaled', base, { count: 1 });
    expect(down.pixels[0]).toBe(down.pixels[3]); // a 2×2 cell shares one value per channel
    await expect(buildOodSet('rgb-rotated', { ...base, channels: 1, pixels: base.pixels.subarray(0, 32) }, { count: 1 })).rejects.toThrow(/colour/);
    await expect(buildOodSet('svhn', base, { count: 1 })).rejects.toThrow(/unknown OoD set "svhn"/);
  });
});

describe('calibration and ood commands', () => {
  it('run on a saved model and write reports and reliability diagrams', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trustgc-trust-'));
    const m = new GenerativeClassifier(defaultConfig('tiny-mnist', Array.from({ length: 10 }, (_, i) => String(i))));
    saveModel(join(dir, 'model'), m);
    m.dispose();
    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => lines.push(a.join(' '));
    try {
      await buildCli({ throwOnError: true }).parseAsync(['node', 'trustgc', 'calibration', '--model', join(dir, 'model'), '--limit', '200', '--out', join(dir, 'cal')]);
      await buildCli({ throwOnError: true }).parseAsync(['node', 'trustgc', 'ood', '--model', join(dir, 'model'), '--out', 'uniform,inverted', '--limit', '100', '--report', join(dir, 'ood'), '--json']);
    } finally {
      console.log = log;
    }
    expect(lines.join('\n')).toMatch(/IB-INN \(all class probabilities, 17 bins\) \| 200 \|/);
    for (const f of ['calibration.json', 'reliability-ibinn.svg', 'reliability-ibinn.png', 'reliability-top1.png']) expect(existsSync(join(dir, 'cal', f)), f).toBe(true);
    expect(readFileSync(join(dir, 'cal', 'reliability-ibinn.png')).subarray(1, 4).toString()).toBe('PNG');
    const report = JSON.parse(readFileSync(join(dir, 'ood', 'ood.json'), 'utf8'));
    expect(report.sets.map((s: { name: string }) => s.name)).toEqual(['uniform noise', 'inverted images']);
    expect(Object.keys(report.sets[0].tests)).toEqual(['one-tailed', 'two-tailed', 'typicality', 'complexity', 'max-softmax']);
    for (const f of ['ood-lx.png', 'ood-confidence.svg']) expect(existsSync(join(dir, 'ood', f)), f).toBe(true);
    expect(existsSync(join(dir, 'model', 'ood_reference.json'))).toBe(true); // built from training images when missing
  }, 120_000);
});

describe('discriminative baseline', () => {
  it('is about as large as the GC of its preset, trains and evaluates through the same commands', async () => {
    const { createClassifier } = await import('../src/gc/factory.js');
    const digits = Array.from({ length: 10 }, (_, i) => String(i));
    for (const arch of ['tiny-mnist', 'small-mnist', 'ibinn-mnist', 'ibinn-cifar10'] as const) {
      const gc = createClassifier(defaultConfig(arch, digits));
      const dc = createClassifier(defaultConfig(arch, digits, 0, 'dc'));
      const ratio = dc.countParams().total / gc.countParams().total;
      expect(ratio, arch).toBeGreaterThan(0.9);
      expect(ratio, arch).toBeLessThan(1.1);
      expect(dc.kind).toBe('dc');
      gc.dispose();
      dc.dispose();
    }
    const dir = mkdtempSync(join(tmpdir(), 'trustgc-dc-'));
    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => lines.push(a.join(' '));
    try {
      await buildCli({ throwOnError: true }).parseAsync(['node', 'trustgc', 'train', '--model-type', 'dc', '--arch', 'tiny-mnist', '--optimizer', 'adam', '--batch-size', '64', '--train-limit', '1280', '--test-limit', '500', '--epochs', '1', '--out', join(dir, 'dc'), '--json']);
      const result = JSON.parse(lines.join('\n'));
      expect(result.accuracy).toBeGreaterThan(0.5); // 20 steps already separate digits well above chance
      expect(result.lx).toBeNull(); // no likelihood (NaN in JSON)
      lines.length = 0;
      await buildCli({ throwOnError: true }).parseAsync(['node', 'trustgc', 'ood', '--model', join(dir, 'dc'), '--out', 'uniform', '--limit', '100', '--json']);
      const ood = JSON.parse(lines.join('\n'));
      expect(Object.keys(ood.sets[0].tests)).toEqual(['max-softmax']);
      expect(ood.reference).toBeNull();
    } finally {
      console.log = log;
    }
    expect(existsSync(join(dir, 'dc', 'ood_reference.json'))).toBe(false);
  }, 300_000);
});
