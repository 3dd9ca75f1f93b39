import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, tf, useBackend } from './helpers.js';
import type { Inference, InferenceModel } from '../src/gc/model.js';
import { defaultConfig } from '../src/gc/presets.js';
import type { ImageDataset } from '../src/data/dataset.js';
import { corruptDataset } from '../src/corrupt/dataset.js';
import type { CorruptionName } from '../src/corrupt/corruptions.js';
import { makeReference } from '../src/eval/ood_reference.js';
import { robustnessEvaluation } from '../src/eval/robustness.js';
import { aurocBand, robustnessHtml, robustnessMarkdown } from '../src/eval/robustness_report.js';
import { GenerativeClassifier } from '../src/gc/model.js';
import { saveModel } from '../src/io/checkpoint.js';
import { loadImageFolder } from '../src/data/image_folder.js';

beforeAll(async () => {
  await useBackend('wasm');
});

/**
 * A transparent two-class "classifier" on 8×8 grey images: class 1 when the mean pixel exceeds a
 * threshold; its L_X grows with the distance of the mean from 0.5 and with pixel roughness, so
 * corrupted images look unusual to it. Its errors can be recomputed by hand.
 */
class ThresholdModel implements InferenceModel {
  readonly classes = 2;
  readonly config = { ...defaultConfig('tiny-mnist', ['dark', 'bright']), input: { height: 8, width: 8, channels: 1, mean: [0.5], std: [0.5] } };
  constructor(readonly threshold: number) {}
  static meanOf(pixels: ArrayLike<number>): number {
    let s = 0;
    for (let i = 0; i < pixels.length; i++) s += pixels[i];
    return s / pixels.length;
  }
  static lxOf(pixels: ArrayLike<number>): number {
    const m = ThresholdModel.meanOf(pixels);
    let rough = 0;
    for (let i = 1; i < pixels.length; i++) rough += Math.abs(pixels[i] - pixels[i - 1]);
    return (m - 0.5) ** 2 + rough / pixels.length;
  }
  infer(x: tf.Tensor): Inference {
    const data = x.dataSync();
    const b = x.shape[0];
    const logits: number[] = [];
    const lx: number[] = [];
    for (let i = 0; i < b; i++) {
      const img = data.subarray(i * 64, (i + 1) * 64);
      const m = ThresholdModel.meanOf(img);
      logits.push(0, 20 * (m - this.threshold));
      lx.push(ThresholdModel.lxOf(img));
    }
    return tf.tidy(() => {
      const l = tf.tensor2d(logits, [b, 2]);
      const posterior = tf.softmax(l) as tf.Tensor2D;
      const lxT = tf.tensor1d(lx);
      return { logits: l, posterior, logPxGivenY: tf.zerosLike(l) as tf.Tensor2D, logPx: tf.neg(lxT) as tf.Tensor1D, bitsPerDim: lxT.clone() as tf.Tensor1D, lx: lxT, prediction: tf.argMax(l, 1) as tf.Tensor1D };
    });
  }
}

function greyScenes(n: number): ImageDataset {
  const pixels = new Uint8Array(n * 64);
  const labels = new Int32Array(n);
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  for (let i = 0; i < n; i++) {
    const base = i % 2 ? 0.62 : 0.38;
    for (let p = 0; p < 64; p++) pixels[i * 64 + p] = Math.round(255 * Math.min(1, Math.max(0, base + 0.15 * (rand() - 0.5) + 0.05 * Math.sin(p))));
    labels[i] = i % 2;
  }
  return { name: 'scenes8', classNames: ['dark', 'bright'], height: 8, width: 8, channels: 1, pixels, labels };
}

const CORRUPTIONS: CorruptionName[] = ['brightness', 'contrast', 'fog', 'gaussian_noise'];

function handError(ds: ImageDataset, threshold: number): number {
  let wrong = 0;
  for (let i = 0; i < ds.labels.length; i++) {
    const m = ThresholdModel.meanOf(Array.from(ds.pixels.subarray(i * 64, (i + 1) * 64), (v) => v / 255));
    if ((m > threshold ? 1 : 0) !== ds.labels[i]) wrong++;
  }
  return wrong / ds.labels.length;
}

describe('robustness evaluation', () => {
  const test = greyScenes(60);
  const gc = new ThresholdModel(0.5);
  const base = new ThresholdModel(0.47);
  const reference = makeReference(Array.from({ length: 60 }, (_, i) => ThresholdModel.lxOf(Array.from(test.pixels.subarray(i * 64, (i + 1) * 64), (v) => v / 255))), 'clean scenes');

  it('errors, mCE and rel. mCE match a hand computation on the same corrupted images', async () => {
    const r = await robustnessEvaluation(test, { name: 'gc', model: gc, reference }, { name: 'base', model: base, reference: null }, { corruptions: CORRUPTIONS, seed: 4 });
    expect(r.settings).toHaveLength(20);
    expect(r.clean.error).toBe(handError(test, 0.5));
    const ce: number[] = [];
    const rce: number[] = [];
    for (const c of CORRUPTIONS) {
      let e = 0;
      let eb = 0;
      let d = 0;
      let db = 0;
      for (let s = 1; s <= 5; s++) {
        const corrupted = await corruptDataset(test, c, s, { seed: 4 });
        const err = handError(corrupted, 0.5);
        const errBase = handError(corrupted, 0.47);
        expect(r.settings.find((x) => x.corruption === c && x.severity === s)!.error).toBeCloseTo(err, 12);
        expect(r.baseline!.settings.find((x) => x.corruption === c && x.severity === s)!.error).toBeCloseTo(errBase, 12);
        e += err;
        eb += errBase;
        d += err - handError(test, 0.5);
        db += errBase - handError(test, 0.47);
      }
      if (eb > 0) ce.push((100 * e) / eb);
      if (db > 0) rce.push((100 * d) / db);
      const reported = r.perCorruption.find((p) => p.corruption === c)!.ce;
      if (eb > 0) expect(reported).toBeCloseTo((100 * e) / eb, 9);
      else expect(reported).toBeUndefined();
    }
    expect(ce.length).toBeGreaterThan(0);
    expect(r.summary.mCE).toBeCloseTo(ce.reduce((a, b) => a + b, 0) / ce.length, 9);
    if (rce.length) expect(r.summary.relativeMCE).toBeCloseTo(rce.reduce((a, b) => a + b, 0) / rce.length, 9);
    expect(r.summary.excluded.length).toBe(2 * CORRUPTIONS.length - ce.length - rce.length);
    // Δ entropy is relative to the clean images; AUROCs exist for the model with a likelihood only
    for (const x of r.settings) expect(x.deltaEntropy).toBeCloseTo(x.meanEntropy - r.clean.meanEntropy, 12);
    expect(r.settings[0].auroc).toBeDefined();
    expect(r.baseline!.settings[0].auroc).toBeUndefined();
    expect(r.baseline!.summary.oodAuroc).toBeUndefined();
    // heavy noise makes the images rough: the likelihood test separates it well
    const noise = r.perCorruption.find((p) => p.corruption === 'gaussian_noise')!;
    expect(noise.auroc!['two-tailed']).toBeGreaterThan(85);

    // a stored baseline report gives the same normalisation; a mismatched one is refused
    const again = await robustnessEvaluation(test, { name: 'gc', model: gc, reference }, r.baseline!, { corruptions: CORRUPTIONS, seed: 4 });
    expect(again.summary.mCE).toBeCloseTo(r.summary.mCE!, 12);
    await expect(robustnessEvaluation(test, { name: 'gc', model: gc, reference }, r.baseline!, { corruptions: CORRUPTIONS, seed: 5 })).rejects.toThrow(/does not match this run: seed 4 ≠ 5/);
    await expect(robustnessEvaluation(test, { name: 'gc', model: gc, reference }, r.baseline!, { corruptions: ['snow'], seed: 4 })).rejects.toThrow(/no result for snow severity 1/);

    const md = robustnessMarkdown(r);
    expect(md).toMatch(/\| model \| clean error % \| mCE \| rel\. mCE \| Δ entropy \(nats\) \| OoD AUROC % \| Bright \| Contrast \| Fog \| Gauss\. \|/);
    expect(md).toMatch(/\| base \(baseline\) \| [\d.]+ \| 100 \(ref\.\) \|/);
    const html = robustnessHtml(r, []);
    expect(html).toMatch(/<td style="background:#b7e1b0">\d+\.\d<\/td>/);
  }, 60_000);

  it('colour bands follow the paper: ≥ 85 good, > 55 some, otherwise random', () => {
    expect([95, 85, 84.9, 55.1, 55, 20].map(aurocBand)).toEqual(['good', 'good', 'some', 'some', 'random', 'random']);
  });
});

describe('corrupt and robustness commands', () => {
  it('write corrupted image folders, the grid, the parameter table, and a full report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trustgc-robust-'));
    const m = new GenerativeClassifier(defaultConfig('tiny-mnist', Array.from({ length: 10 }, (_, i) => String(i))));
    saveModel(join(dir, 'model'), m);
    m.dispose();

    const one = await runCli(['corrupt', '--dataset', 'mnist', '--corruption', 'fog', '--severity', '3', '--limit', '12', '--out', join(dir, 'fog3')]);
    expect(one.error).toBeUndefined();
    const folder = await loadImageFolder(join(dir, 'fog3'), { channels: 1 });
    expect(folder.labels.length).toBe(12);
    expect([folder.height, folder.width]).toEqual([28, 28]);
    expect(JSON.parse(readFileSync(join(dir, 'fog3', 'corruption.json'), 'utf8')).settings[0]).toEqual({ corruption: 'fog', severity: 3, parameters: [0.75, 2.5] });
    const many = await runCli(['corrupt', '--dataset', 'mnist', '--corruption', 'snow,pixelate', '--severity', '1,5', '--limit', '3', '--out', join(dir, 'many'), '--grid', join(dir, 'grid.png'), '--list']);
    expect(many.error).toBeUndefined();
    expect(readdirSync(join(dir, 'many', 'pixelate')).sort()).toEqual(['1', '5']);
    expect(readFileSync(join(dir, 'grid.png')).subarray(1, 4).toString()).toBe('PNG');
    expect(many.out).toMatch(/\| motion_blur \| 5, 0\.875 \|/);
    expect((await runCli(['corrupt', '--dataset', 'mnist', '--corruption', 'fog', '--severity', '7', '--out', dir])).error).toMatch(/severity "7" must be 1–5/);
    expect((await runCli(['corrupt', '--dataset', 'mnist', '--corruption', 'rain', '--severity', '1', '--out', dir])).error).toMatch(/unknown corruption "rain"/);
    expect((await runCli(['corrupt', '--dataset', 'mnist'])).error).toMatch(/nothing to do/);

    // the model as its own baseline: every CE is exactly 100
    const args = ['robustness', '--model', join(dir, 'model'), '--dataset', 'mnist', '--limit', '20', '--corruptions', 'fog,contrast', '--severities', '1,5', '--engine', 'tfjs'];
    const run = await runCli([...args, '--baseline', join(dir, 'model'), '--report', join(dir, 'report')]);
    expect(run.error).toBeUndefined();
    const report = JSON.parse(readFileSync(join(dir, 'report', 'robustness.json'), 'utf8'));
    expect(report.settings).toHaveLength(4);
    for (const p of report.perCorruption) if (p.ce !== undefined) expect(p.ce).toBeCloseTo(100, 9);
    for (const f of ['robustness.md', 'robustness.html', 'error_by_severity.png', 'ood_auroc.svg', 'corruptions_grid.png', 'baseline-robustness.json']) expect(existsSync(join(dir, 'report', f)), f).toBe(true);
    const reuse = await runCli([...args, '--baseline', join(dir, 'report', 'baseline-robustness.json'), '--json']);
    expect(reuse.error).toBeUndefined();
    expect(JSON.parse(reuse.out).summary.mCE).toBeCloseTo(report.summary.mCE, 9);
    expect((await runCli([...args, '--baseline', join(dir, 'nope')])).error).toMatch(/--baseline .*nope does not exist/);
  }, 180_000);
});
