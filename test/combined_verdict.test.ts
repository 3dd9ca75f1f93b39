/**
 * The combined OoD verdict: its p-values are conformal — on in-distribution images exchangeable with
 * the calibration images, the share called OoD at α is α up to sampling noise — whatever the three
 * tests measure; an image beyond every reference image gets the smallest p-value any image gets. Checked
 * on a stand-in model whose likelihood and posterior are known functions of the pixels.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tf, runCli, useBackend } from './helpers.js';
import { combinedPValues, fitCombinedVerdict, imageEvidence, wilsonInterval } from '../src/eval/combined_verdict.js';
import type { InferenceModel, Inference } from '../src/gc/model.js';
import type { ImageDataset } from '../src/data/dataset.js';
import { MersenneTwister } from '../src/util/rng.js';
import { projectRoot } from '../src/util/paths.js';

beforeAll(async () => {
  await useBackend('wasm');
});

/** 4-pixel images; L_X = mean pixel, class = brighter half, posterior from the difference. */
const standIn: InferenceModel = {
  config: { input: { height: 2, width: 2, channels: 1 } } as InferenceModel['config'],
  classes: 2,
  infer(x: tf.Tensor): Inference {
    return tf.tidy(() => {
      const flat = tf.reshape(x, [x.shape[0], 4]);
      const lx = tf.mean(flat, 1) as tf.Tensor1D;
      const left = tf.sum(tf.slice(flat, [0, 0], [-1, 2]), 1);
      const right = tf.sum(tf.slice(flat, [0, 2], [-1, 2]), 1);
      const logits = tf.stack([tf.mul(left, 3), tf.mul(right, 3)], 1) as tf.Tensor2D;
      const posterior = tf.softmax(logits) as tf.Tensor2D;
      const logPx = tf.mul(lx, -4) as tf.Tensor1D;
      const logPxGivenY = tf.add(tf.expandDims(logPx, 1), tf.log(tf.add(posterior, 1e-9))) as tf.Tensor2D;
      return { logits, posterior, logPxGivenY, logPx, bitsPerDim: tf.clone(lx), lx, prediction: tf.argMax(logits, 1) as tf.Tensor1D };
    });
  },
};

function sample(n: number, seed: number, shift = 0): ImageDataset {
  const rng = new MersenneTwister(seed);
  const pixels = Uint8Array.from({ length: n * 4 }, () => Math.min(255, Math.max(0, Math.round(128 + shift + 40 * rng.normal()))));
  return { name: `sample-${seed}`, classNames: ['a', 'b'], height: 2, width: 2, channels: 1, pixels, labels: new Int32Array(n) };
}

describe('combined OoD verdict', () => {
  it('Wilson interval of a proportion', () => {
    const [lo, hi] = wilsonInterval(5, 100);
    expect(lo).toBeCloseTo(0.0215, 3);
    expect(hi).toBeCloseTo(0.1118, 3);
    expect(wilsonInterval(0, 10)[0]).toBe(0);
  });

  it('calls α of exchangeable in-distribution images OoD, and shifted images far more often', async () => {
    const vm = await fitCombinedVerdict(standIn, sample(2000, 1), sample(4000, 2));
    const fresh = combinedPValues(vm, await imageEvidence(standIn, sample(6000, 3))).p;
    for (const alpha of [0.01, 0.05, 0.2]) {
      const k = fresh.reduce((s, v) => s + (v < alpha ? 1 : 0), 0);
      // a 99.9 % interval of the observed rate must contain α
      const [lo, hi] = wilsonInterval(k, fresh.length, 3.29);
      expect(alpha).toBeGreaterThanOrEqual(lo);
      expect(alpha).toBeLessThanOrEqual(hi);
    }
    expect(Math.min(...fresh)).toBeGreaterThanOrEqual(1 / 4001);
    const shifted = combinedPValues(vm, await imageEvidence(standIn, sample(1000, 4, 60))).p;
    expect(shifted.reduce((s, v) => s + (v < 0.05 ? 1 : 0), 0) / 1000).toBeGreaterThan(0.5);
    // beyond every reference image: the smallest p-value any image gets (calibration images tied at
    // the references' floor count against it, so it is (1 + ties) / (n + 1), not below)
    const extreme = combinedPValues(vm, await imageEvidence(standIn, { ...sample(1, 5), pixels: Uint8Array.from([255, 255, 255, 255]) })).p;
    expect(extreme[0]).toBeLessThanOrEqual(Math.min(...fresh, ...shifted));
    expect(extreme[0]).toBeLessThan(0.01);
  });

  it('ood reports it for a GC, with its false-positive rate and interval, and not for a DC', async () => {
    const gc = await runCli(['ood', '--model', join(projectRoot(), 'zoo', 'mnist-gc-beta1'), '--limit-in', '400', '--limit-out', '100', '--out', 'uniform,rotate90', '--json']);
    expect(gc.error, gc.error).toBeUndefined();
    const c = JSON.parse(gc.out).combined;
    expect(c.calibration).toMatch(/mnist-test \(random half A, 5000 images\)/);
    expect(c.falsePositives.map((f: { alpha: number; images: number }) => [f.alpha, f.images])).toEqual([[0.01, 400], [0.05, 400]]);
    for (const f of c.falsePositives) expect(f.interval[0]).toBeLessThanOrEqual(f.rate), expect(f.interval[1]).toBeGreaterThanOrEqual(f.rate);
    expect(c.sets.map((s: { name: string }) => s.name)).toEqual(['uniform noise', 'rotated 90° (without 0)']);
    const dc = await runCli(['ood', '--model', join(projectRoot(), 'zoo', 'mnist-dc'), '--limit', '100', '--out', 'uniform', '--json']);
    expect(JSON.parse(dc.out).combined).toBeUndefined();
  });
});
