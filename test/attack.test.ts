import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, tf, useBackend } from './helpers.js';
import { DEFAULT_TRAIN_OPTIONS, train } from '../src/train/trainer.js';
import { loadModel, saveModel } from '../src/io/checkpoint.js';
import type { Classifier } from '../src/gc/classifier.js';
import { createClassifier } from '../src/gc/factory.js';
import { defaultConfig } from '../src/gc/presets.js';
import { attackOutputs, carliniWagner, otherMax } from '../src/attack/carlini_wagner.js';
import { attackSamples, medianLogQ, runAttack } from '../src/attack/attack_eval.js';
import { loadReference } from '../src/eval/ood_reference.js';
import type { OodReference } from '../src/eval/ood_reference.js';
import { loadMnist } from '../src/data/mnist.js';

const DIGITS = Array.from({ length: 10 }, (_, i) => String(i));
let dir = '';
let gc: Classifier;
let reference: OodReference;
const test = loadMnist('test');

beforeAll(async () => {
  await useBackend('wasm');
  // a small GC trained for 120 steps (about 90 % test accuracy), with its training reference
  dir = mkdtempSync(join(tmpdir(), 'trustgc-attack-'));
  await train({
    ...DEFAULT_TRAIN_OPTIONS,
    dataset: 'mnist',
    arch: 'tiny-mnist',
    epochs: 1,
    batchSize: 64,
    trainLimit: 64 * 120,
    testLimit: 500,
    evalEveryEpochs: 0,
    optimizer: 'adam',
    lr: 2e-3,
    outDir: join(dir, 'gc'),
  });
  gc = loadModel(join(dir, 'gc'));
  reference = loadReference(join(dir, 'gc'))!;
}, 300_000);

describe('Carlini–Wagner attack', () => {
  it('masks the target with −∞, exact even for logits near −10⁵', () => {
    const logits = tf.tensor2d([[-1e5, -1e5 + 3, -1e5 + 1], [5, 1, 7]]);
    expect(Array.from(otherMax(logits, tf.tensor1d([1, 2], 'int32')).dataSync())).toEqual([-1e5 + 1, 5]);
    const g = tf.grad((l: tf.Tensor) => tf.sum(otherMax(l as tf.Tensor2D, tf.tensor1d([1, 2], 'int32'))))(logits);
    expect(Array.from(g.dataSync())).toEqual([0, 0, 1, 1, 0, 0]);
  });

  it('the same images and targets for every model; targets differ from the labels', () => {
    const a = attackSamples(test, 50, 3);
    expect(attackSamples(test, 50, 3)).toEqual(a);
    expect(new Set(a.indices).size).toBe(50);
    a.indices.forEach((i, k) => expect(a.targets[k]).not.toBe(test.labels[i]));
    expect(new Set(a.targets).size).toBeGreaterThan(5);
    expect(attackSamples(test, 50, 4).indices).not.toEqual(a.indices);
  });

  it('gradients of the objective are finite, also at saturated pixels, and match finite differences', () => {
    const n = 3;
    const data = new Float32Array(n * 784);
    data.set(Array.from(test.pixels.subarray(0, 784), (v) => v / 255), 0);
    data.fill(1, 784, 2 * 784); // all white: w at atanh(1 − 2e-6)
    for (let i = 0; i < 784; i++) data[2 * 784 + i] = 0.5 + 0.3 * Math.sin(i); // mid-grey texture
    const x = tf.tensor4d(data, [n, 28, 28, 1]);
    const targets = tf.tensor1d([3, 4, 5], 'int32');
    const w0 = tf.atanh(tf.sub(tf.mul(tf.clipByValue(x, 1e-6, 1 - 1e-6), 2), 1));
    const median = medianLogQ(reference);
    // the objective with κ = ∞ (no kink) and the likelihood term, per batch
    const objectiveFor = (xRef: tf.Tensor4D, t: tf.Tensor1D) => (w: tf.Tensor) =>
      tf.tidy(() => {
        const xa = tf.mul(tf.add(tf.tanh(w), 1), 0.5) as tf.Tensor4D;
        const out = attackOutputs(gc, xa);
        const margin = tf.sub(otherMax(out.logits, t), tf.sum(tf.mul(out.logits, tf.oneHot(t, 10)), 1));
        const det = tf.square(tf.sub(median, out.logQ!));
        return tf.sum(tf.add(tf.add(tf.sum(tf.square(tf.sub(xa, xRef)), [1, 2, 3]), tf.mul(10, margin)), tf.mul(66, det))) as tf.Scalar;
      });
    const g = tf.grad(objectiveFor(x, targets))(w0);
    for (const v of g.dataSync()) expect(Number.isFinite(v)).toBe(true);
    // directional derivatives by central differences (h = 1e-3 in w), along the gradient and two
    // random directions, on the textured image alone (directions average out float32 noise that
    // single coordinates would not)
    const one = tf.slice(x, [2, 0, 0, 0], [1, 28, 28, 1]) as tf.Tensor4D;
    const objective = objectiveFor(one, tf.tensor1d([5], 'int32'));
    const wOne = tf.slice(w0, [2, 0, 0, 0], [1, 28, 28, 1]);
    const gd = tf.grad(objective)(wOne).dataSync();
    const gNorm = Math.hypot(...gd);
    const w0d = wOne.dataSync();
    const rand = (k: number) => Float32Array.from({ length: 784 }, (_, i) => Math.sin(1 + i * (k + 1.7)));
    for (const dir of [Float32Array.from(gd), rand(1), rand(2)]) {
      const len = Math.hypot(...dir);
      const u = dir.map((v) => v / len);
      const h = 1e-3;
      const at = (delta: number) => {
        const t = tf.tensor4d(w0d.map((v, i) => v + delta * u[i]), [1, 28, 28, 1]);
        const v = objective(t).dataSync()[0];
        t.dispose();
        return v;
      };
      const fd = (at(h) - at(-h)) / (2 * h);
      const analytic = u.reduce((acc, v, i) => acc + v * gd[i], 0);
      expect(Math.abs(fd - analytic)).toBeLessThan(0.01 * gNorm);
    }
  }, 60_000);

  it('reaches its targets on a trained GC, and d > 0 keeps the likelihood near the training median', async () => {
    const plain = await runAttack(gc, 'gc', test, reference, { n: 8, kappa: 1, d: 0, maxSteps: 400, seed: 1 });
    expect(plain.report.metrics.success).toBeGreaterThanOrEqual(87.5);
    for (const img of plain.report.images) if (img.success) expect(img.prediction).toBe(img.target);
    expect(plain.report.metrics.corruption).toBeGreaterThan(0);
    expect(plain.report.metrics.ood).not.toBeNull();
    const aware = await runAttack(gc, 'gc', test, reference, { n: 8, kappa: 1, d: 1000, maxSteps: 400, seed: 1 });
    expect(aware.report.images.map((i) => i.index)).toEqual(plain.report.images.map((i) => i.index));
    expect(aware.report.metrics.meanDeviationAttacked!).toBeLessThan(plain.report.metrics.meanDeviationAttacked!);
    expect(aware.report.metrics.meanDeviationAttacked!).toBeLessThan(0.5 * plain.report.metrics.meanDeviationAttacked!);
  }, 240_000);

  it('runs against a DC too; a detection-aware attack on a DC is refused', async () => {
    const dc = createClassifier(defaultConfig('tiny-mnist', DIGITS, 0, 'dc'));
    try {
      const x = tf.tensor4d(Array.from(test.pixels.subarray(0, 2 * 784), (v) => v / 255), [2, 28, 28, 1]);
      const { results } = carliniWagner(dc, x, Int32Array.from([3, 9]), { kappa: 0.01, maxSteps: 300 });
      expect(results.filter((r) => r.success).length).toBe(2);
      expect(() => carliniWagner(dc, x, Int32Array.from([3, 9]), { d: 66, medianLogQ: 0 })).toThrow(/needs a generative classifier/);
      expect(() => carliniWagner(dc, x, Int32Array.from([3, 12]))).toThrow(/target class 12/);
    } finally {
      dc.dispose();
    }
  }, 120_000);

  it('attack command writes the table, panels and latent trajectory; bad options are named', async () => {
    const out = join(dir, 'report');
    const r = await runCli(['attack', '--model', join(dir, 'gc'), '--n', '4', '--kappa', 'inf', '--max-steps', '60', '--report', out]);
    expect(r.error).toBeUndefined();
    expect(r.out).toMatch(/\| Confidence % \| Corruption \| Success % \| OoD 1-tailed \| OoD 2-tailed/);
    expect(r.out).toMatch(/\| ∞ \| 0 \|/);
    for (const f of ['attack-kinf-d0.json', 'attack-kinf-d0.md', 'attack-kinf-d0-panels.png', 'attack-kinf-d0-trajectory.png']) expect(existsSync(join(out, f)), f).toBe(true);
    expect((await runCli(['attack', '--model', join(dir, 'gc'), '--kappa', 'big'])).error).toMatch(/--kappa must be a number ≥ 0 or inf/);
    const dcDir = join(dir, 'dc');
    const dc = createClassifier(defaultConfig('tiny-mnist', DIGITS, 0, 'dc'));
    saveModel(dcDir, dc);
    dc.dispose();
    expect((await runCli(['attack', '--model', dcDir, '--n', '2', '--d', '66'])).error).toMatch(/needs a generative classifier/);
  }, 120_000);
});
