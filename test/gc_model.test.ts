import { beforeAll, describe, expect, it } from 'vitest';
import { tf, useBackend } from './helpers.js';
import { GenerativeClassifier } from '../src/gc/model.js';
import { defaultConfig } from '../src/gc/presets.js';
import { reconstructionError } from './flow_check.js';
import { RunContext } from '../src/inn/module.js';

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

beforeAll(async () => {
  await useBackend('wasm');
});

describe('presets', () => {
  it('IB-INN MNIST model has exactly the official 3 770 634 parameters', () => {
    const m = new GenerativeClassifier(defaultConfig('ibinn-mnist', DIGITS));
    const counts = m.countParams();
    expect(counts.inn).toBe(3_762_784);
    expect(counts.head).toBe(7_840 + 10);
    expect(counts.total).toBe(3_770_634);
    const names = m.namedParams().map((p) => p.name);
    expect(names).toContain('inn.CONV_1_0.s.1.weight'); // first conv after the leading ReLU
    expect(names).toContain('inn.DOWN_1.s_hi.3.weight');
    expect(names).toContain('inn.FC_0.s1.0.weight');
    m.dispose();
  });

  it('small-mnist sits between tiny-mnist and ibinn-mnist and inverts to float32 rounding', () => {
    const m = new GenerativeClassifier(defaultConfig('small-mnist', DIGITS));
    expect(m.countParams().total).toBe(1_613_906);
    // rounding accumulates over the whole network (tiny-mnist: 7.5e-5; small-mnist: 2.7e-4 on inputs in [-1, 1])
    expect(reconstructionError(m.inn, [28, 28, 1], 2)).toBeLessThan(1e-3);
    m.dispose();
  });

  it('small-rgb32 widens tiny-rgb32\'s convolutional stages and inverts to float32 rounding', () => {
    const small = new GenerativeClassifier(defaultConfig('small-rgb32', DIGITS));
    const tiny = new GenerativeClassifier(defaultConfig('tiny-rgb32', DIGITS));
    expect(small.countParams().total).toBe(2_915_070);
    // same dense coupling, so the extra weights sit in the convolutions (where tiny-rgb32 has only ~0.3 M)
    const convWeights = (m: GenerativeClassifier) => m.namedParams().filter((p) => p.trainable && /inn\.(CONV|DOWN)_/.test(p.name)).reduce((n, p) => n + p.variable.size, 0);
    expect(convWeights(small)).toBeGreaterThan(1.8 * convWeights(tiny));
    expect(small.countParams().total - convWeights(small)).toBe(tiny.countParams().total - convWeights(tiny));
    expect(reconstructionError(small.inn, [32, 32, 3], 2)).toBeLessThan(1e-3);
    [small, tiny].forEach((m) => m.dispose());
  });

  it('IB-INN CIFAR-10 model has exactly the official 11 193 154 parameters', () => {
    const m = new GenerativeClassifier(defaultConfig('ibinn-cifar10', DIGITS));
    expect(m.countParams().inn).toBe(11_162_424);
    expect(m.countParams().total).toBe(11_193_154);
    m.dispose();
  });

  it("dropout 'off' removes the subnets' dropout and nothing else", () => {
    // training-mode passes with different dropout seeds: the preset's dropout makes them differ, 'off' not
    const x = tf.randomUniform([4, 28, 28, 1], -1, 1, 'float32', 3);
    const twoPasses = (m: GenerativeClassifier) =>
      [1, 2].map((seed) => tf.tidy(() => m.inn.forward(x, new RunContext(true, false, seed)).y.dataSync() as Float32Array));
    const preset = new GenerativeClassifier(defaultConfig('small-mnist', DIGITS));
    const off = new GenerativeClassifier({ ...defaultConfig('small-mnist', DIGITS), dropout: 'off' });
    expect(off.countParams().total).toBe(preset.countParams().total);
    const [a, b] = twoPasses(preset);
    const [c, d] = twoPasses(off);
    expect(maxAbsDiff(a, b)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(c, d)).toBe(0);
    // both inverts in evaluation mode, where dropout never acts
    expect(reconstructionError(off.inn, [28, 28, 1], 2)).toBeLessThan(1e-3);
    expect(() => new GenerativeClassifier({ ...defaultConfig('tiny-mnist', DIGITS), dropout: 'none' as never })).toThrow(/config.dropout must be preset or off, got "none"/);
    [preset, off].forEach((m) => m.dispose());
    x.dispose();
  });

  it('class means start exactly muInit apart (official initialisation)', () => {
    const m = new GenerativeClassifier(defaultConfig('tiny-mnist', DIGITS));
    const mu = m.head.means();
    const d = tf.sum(tf.square(tf.sub(tf.expandDims(mu, 0), tf.expandDims(mu, 1))), 2).sqrt().arraySync() as number[][];
    for (let i = 0; i < 10; i++) for (let j = 0; j < 10; j++) expect(d[i][j]).toBeCloseTo(i === j ? 0 : 5, 4);
    m.dispose();
  });
});

describe('generative classifier outputs', () => {
  it('posterior, log p(x|y), log p(x) and bits/dim are consistent with Bayes rule', () => {
    const m = new GenerativeClassifier(defaultConfig('tiny-mnist', DIGITS, 3));
    const x = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 7);
    const r = m.infer(x);
    const post = r.posterior.arraySync() as number[][];
    const lpy = r.logPxGivenY.arraySync() as number[][];
    const lpx = r.logPx.arraySync() as number[];
    const logW = m.head.logClassWeights().arraySync() as number[];
    for (let b = 0; b < 4; b++) {
      expect(post[b].reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
      // log p(x) = log Σ_y p(x|y) p(y)
      const joint = lpy[b].map((v, y) => v + logW[y]);
      const mx = Math.max(...joint);
      const lse = mx + Math.log(joint.reduce((a, v) => a + Math.exp(v - mx), 0));
      expect(Math.abs(lse - lpx[b]) / Math.abs(lpx[b])).toBeLessThan(1e-5);
      // p(y|x) = p(x|y) p(y) / p(x)
      for (let y = 0; y < 10; y++) expect(post[b][y]).toBeCloseTo(Math.exp(joint[y] - lse), 4);
    }
    const bpd = r.bitsPerDim.arraySync() as number[];
    for (let b = 0; b < 4; b++) expect(bpd[b]).toBeCloseTo((-lpx[b] / 784 + Math.log(256)) / Math.log(2), 4);
    m.dispose();
  });

  it('rejects wrong shapes and NaN pixels with clear messages', () => {
    const m = new GenerativeClassifier(defaultConfig('tiny-mnist', DIGITS));
    expect(() => m.infer(tf.zeros([2, 32, 32, 3]))).toThrow(/shape \[2, 32, 32, 3\].*expects \[batch, 28, 28, 1\]/);
    const bad = tf.buffer([1, 28, 28, 1]);
    bad.set(NaN, 0, 3, 3, 0);
    expect(() => m.infer(bad.toTensor())).toThrow(/NaN/);
    m.dispose();
  });

  it('decode inverts the latent map back to pixels', () => {
    const m = new GenerativeClassifier(defaultConfig('tiny-mnist', DIGITS));
    const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 3);
    const { z } = m.latent(x);
    const back = m.decode(z);
    expect(tf.max(tf.abs(tf.sub(back, x))).dataSync()[0]).toBeLessThan(1e-4);
    m.dispose();
  });
});
