import { beforeAll, describe, expect, it } from 'vitest';
import { randomArray, tf, useBackend } from './helpers.js';
import { GenerativeClassifier } from '../src/gc/model.js';
import { defaultConfig } from '../src/gc/presets.js';
import { GaussianMixtureHead } from '../src/gc/gmm_head.js';
import { ibLoss, lossWeights, smoothedTargets } from '../src/gc/ib_loss.js';
import { EVAL } from '../src/inn/module.js';
import { MersenneTwister } from '../src/util/rng.js';
import { initEngine } from '../src/engine/backend.js';

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

beforeAll(async () => {
  // Finite differences in float32 sit near their noise floor here (ReLU kinks within 1e-4 of the
  // test point); run them on the pure wasm kernels, whose results the native kernels are checked
  // against separately (test/native_kernels.test.ts compares whole IB-loss gradients).
  await initEngine({ backend: 'wasm', native: false, quiet: true });
  await useBackend('wasm');
});

describe('IB loss', () => {
  it('weights: paper L_X + β·L_Y divided by (1+β); β = 0 and β = ∞ limits', () => {
    expect(lossWeights({ beta: 1, formulation: 'imagenet' })).toEqual([0.5, 0.5]);
    expect(lossWeights({ beta: 1, formulation: 'ibinn' })).toEqual([1, 1]);
    expect(lossWeights({ beta: 0, formulation: 'imagenet' })).toEqual([1, 0]);
    expect(lossWeights({ beta: Infinity, formulation: 'imagenet' })).toEqual([0, 1]);
    expect(lossWeights({ beta: Infinity, formulation: 'ibinn' })).toEqual([0, 2]);
    const [a, b] = lossWeights({ beta: 8, formulation: 'imagenet' });
    expect(b / a).toBeCloseTo(8, 12);
    expect(() => lossWeights({ beta: -1, formulation: 'ibinn' })).toThrow(/β must be/);
  });

  it('label smoothing gives (1−ε)·onehot + ε/M', () => {
    const t = smoothedTargets(tf.tensor1d([2, 0]), 4, 0.05).arraySync() as number[][];
    expect(t[0][2]).toBeCloseTo(0.95 + 0.0125, 6);
    expect(t[0][1]).toBeCloseTo(0.0125, 6);
    expect(t[1].reduce((a, v) => a + v, 0)).toBeCloseTo(1, 6);
  });

  it('L_X and L_Y match a hand computation', () => {
    const logits = tf.tensor2d([[-1, -3], [-2, -0.5]]);
    const logdet = tf.tensor1d([0.7, -0.2]);
    const targets = tf.tensor2d([[1, 0], [0, 1]]);
    const { lx, ly, loss } = ibLoss(logits, logdet, targets, 4, { beta: 3, formulation: 'imagenet' });
    const lse = (a: number, b: number) => Math.max(a, b) + Math.log(1 + Math.exp(-Math.abs(a - b)));
    const lx0 = (-lse(-1, -3) - 0.7) / 4;
    const lx1 = (-lse(-2, -0.5) + 0.2) / 4;
    const ce0 = -(-1 - lse(-1, -3));
    const ce1 = -(-0.5 - lse(-2, -0.5));
    expect(lx.dataSync()[0]).toBeCloseTo((lx0 + lx1) / 2, 5);
    expect(ly.dataSync()[0]).toBeCloseTo((ce0 + ce1) / 2, 5);
    expect(loss.dataSync()[0]).toBeCloseTo(0.25 * (lx0 + lx1) / 2 + 0.75 * (ce0 + ce1) / 2, 5);
  });
});

describe('GMM head', () => {
  it('low-rank distances (factorised) equal distances to the materialised means', () => {
    const head = new GaussianMixtureHead({ classes: 5, dims: 40, muInit: 3.5, learnClassWeights: false, lowRank: { meanDims: 12, k: 3, init: 0.3 } }, new MersenneTwister(1));
    const z = tf.tensor2d(randomArray(3 * 40, 4), [3, 40]);
    const fast = head.squaredDistances(z);
    const mu = head.means();
    const slow = tf.sum(tf.square(tf.sub(tf.expandDims(z, 1), tf.expandDims(mu, 0))), 2);
    expect(tf.max(tf.abs(tf.sub(fast, slow))).dataSync()[0]).toBeLessThan(1e-4);
    expect(head.countParams()).toBe(5 * 12 + 5 * 3 + 3 * 28);
    // uniform weights when not learned
    expect(head.logClassWeights().dataSync()[0]).toBeCloseTo(-Math.log(5), 6);
  });
});

describe('gradients of the full IB loss', () => {
  it('match central finite differences along random directions', () => {
    const model = new GenerativeClassifier(defaultConfig('tiny-mnist', DIGITS, 11));
    const x = tf.tensor4d(randomArray(3 * 784, 21).map((v) => (v + 1) / 2), [3, 28, 28, 1]);
    const labels = tf.tensor1d([3, 1, 4], 'int32');
    const params = model.namedParams().filter((p) => p.trainable);
    const chosen = ['inn.CONV_1_0.s.1.weight', 'inn.CONV_1_2.s.4.weight', 'inn.CONV_2_3.act_norm', 'inn.DOWN_1.s_hi.6.bias', 'inn.FC_0.s2.3.weight', 'head.mu', 'head.phi'];
    const loss = () => model.lossTerms(x, labels, { beta: 2, labelSmoothing: 0.05 }, EVAL).loss;
    for (const name of chosen) {
      const p = params.find((q) => q.name === name);
      expect(p, name).toBeDefined();
      const v = p!.variable;
      const { grads } = tf.variableGrads(loss, [v]);
      const dir = tf.tensor(randomArray(v.size, 99), v.shape);
      const analytic = tf.sum(tf.mul(grads[v.name], dir)).dataSync()[0];
      // ReLU kinks and float32 round-off pull in opposite directions: take the best of several
      // step sizes (the estimate converges to the analytic value as the step shrinks).
      const orig = v.clone();
      let best = Infinity;
      for (const eps of [1e-2, 1e-3, 1e-4]) {
        v.assign(tf.add(orig, tf.mul(dir, eps)));
        const up = loss().dataSync()[0];
        v.assign(tf.sub(orig, tf.mul(dir, eps)));
        const down = loss().dataSync()[0];
        v.assign(orig);
        best = Math.min(best, Math.abs((up - down) / (2 * eps) - analytic) / Math.abs(analytic));
      }
      expect(Math.abs(analytic), name).toBeGreaterThan(1e-4);
      expect(best, name).toBeLessThan(1e-2);
    }
    model.dispose();
  });
});
