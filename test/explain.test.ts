import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { runCli, tf, useBackend } from './helpers.js';
import { AXIS_90, RADIUS_90, decisionSpace, explainSentence } from '../src/explain/decision_space.js';
import { classSimilarity, clusterOrder, expectedUncertainty, gramOf, normalCdf } from '../src/explain/class_similarity.js';
import { lda, pcaOfMeans } from '../src/explain/latent_projection.js';
import { classSamples, explainImage, meanGram } from '../src/explain/explain.js';
import { GenerativeClassifier } from '../src/gc/model.js';
import { createClassifier } from '../src/gc/factory.js';
import { defaultConfig } from '../src/gc/presets.js';
import { saveModel } from '../src/io/checkpoint.js';
import { MersenneTwister } from '../src/util/rng.js';

beforeAll(async () => {
  await useBackend('wasm');
});

const DIGITS = Array.from({ length: 10 }, (_, i) => String(i));
const norm = (v: ArrayLike<number>) => Math.hypot(...Array.from(v));

describe('decision space (Fig. 6)', () => {
  const rng = new MersenneTwister(3);
  const d = 12;
  const means = Array.from({ length: 5 }, () => rng.normalArray(d, 2));
  const flat = new Float32Array(5 * d);
  means.forEach((m, i) => flat.set(m, i * d));

  it('places μ₁ at the origin, μ₂ on the axis, and keeps distances inside the span exact', () => {
    const z = rng.normalArray(d, 2);
    const post = [0.5, 0.3, 0.1, 0.06, 0.04];
    const ds = decisionSpace(z, [0, 1, 2, 3, 4], flat, post, null);
    expect(ds.means[0].h).toBeCloseTo(0, 6);
    expect(ds.means[0].r).toBeCloseTo(0, 6);
    expect(ds.means[1].h).toBeCloseTo(ds.separation, 5);
    expect(ds.means[1].r).toBeCloseTo(0, 5);
    expect(ds.separation).toBeCloseTo(norm(means[1].map((v, j) => v - means[0][j])), 5);
    // every mean lies in the span: h² + r² = ‖μ_k − μ₁‖²
    for (let k = 2; k < 5; k++) expect(ds.means[k].h ** 2 + ds.means[k].r ** 2).toBeCloseTo(norm(means[k].map((v, j) => v - means[0][j])) ** 2, 3);
    // z splits into its in-span part (h, r) and the rest
    const total = norm(z.map((v, j) => v - means[0][j])) ** 2;
    expect(Math.abs(ds.input.h ** 2 + ds.input.r ** 2 + ds.offSpan ** 2 - total) / total).toBeLessThan(1e-6);
    // the 90 % constants
    expect(normalCdf(AXIS_90)).toBeCloseTo(0.95, 6);
    expect(RADIUS_90 ** 2).toBeCloseTo(7.779, 3);
  });

  it('labels the four cases of Fig. 6 and says so in a sentence', () => {
    const names = ['cat', 'dog', 'fox', 'owl', 'elk'];
    const z = means[0];
    const confident = decisionSpace(z, [0, 1, 2, 3, 4], flat, [0.97, 0.02, 0.005, 0.003, 0.002], 0.4);
    expect(confident.case).toBe('confident');
    expect(explainSentence(confident, names, 0.4)).toMatch(/^This is cat \(p = 0\.97\); likelihood test p = 0\.400\.$/);
    const ood = decisionSpace(z, [0, 1, 2, 3, 4], flat, [0.97, 0.02, 0.005, 0.003, 0.002], 0.001);
    expect(ood.case).toBe('ood');
    expect(explainSentence(ood, names, 0.001)).toMatch(/This is neither/);
    // overlapping classes (close means) vs well-separated ones, same posterior
    const close = Float32Array.from(flat);
    for (let j = 0; j < d; j++) close[d + j] = flat[j] + (j === 0 ? 1 : 0); // ‖μ₂ − μ₁‖ = 1
    const amb = decisionSpace(z, [0, 1, 2, 3, 4], close, [0.6, 0.35, 0.03, 0.01, 0.01], 0.4);
    expect(amb.pairUncertainty).toBeCloseTo(expectedUncertainty(1), 6);
    expect(amb.case).toBe('ambiguous');
    expect(explainSentence(amb, names, 0.4)).toMatch(/This is cat \(p = 0\.60\) or dog \(p = 0\.35\): these classes overlap/);
    const far = Float32Array.from(flat);
    for (let j = 0; j < d; j++) far[d + j] = flat[j] + (j === 0 ? 8 : 0);
    const unc = decisionSpace(z, [0, 1, 2, 3, 4], far, [0.6, 0.35, 0.03, 0.01, 0.01], 0.4);
    expect(unc.case).toBe('uncertain');
    expect(explainSentence(unc, names, 0.4)).toMatch(/well separated .* but this input lies between them/);
  });
});

describe('class similarity (Figs. 8–9, Appendix B)', () => {
  it('Φ is accurate', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-1)).toBeCloseTo(0.158655, 6);
  });

  it('the expected confidence between two unit Gaussians is Φ(Δμ/2) (Monte Carlo)', () => {
    const rng = new MersenneTwister(11);
    const dims = 16;
    for (const delta of [0.8, 1.683, 3]) {
      const n = 60_000;
      let total = 0;
      for (let i = 0; i < n; i++) {
        // class A at 0, class B at delta·e₁; z ~ N(μ_A, I); only the first coordinate differs
        let dA = 0;
        let dB = 0;
        for (let j = 0; j < dims; j++) {
          const z = rng.normal();
          dA += z * z;
          dB += (z - (j === 0 ? delta : 0)) ** 2;
        }
        const pA = 1 / (1 + Math.exp(-0.5 * (dB - dA)));
        total += Math.max(pA, 1 - pA);
      }
      expect(Math.abs(total / n - normalCdf(delta / 2))).toBeLessThan(0.004);
    }
    expect(expectedUncertainty(1.683)).toBeCloseTo(0.2, 3); // the paper's tabby vs tiger cat example
  });

  it('distances from the Gram matrix, most similar pairs first, clusters contiguous in the order', () => {
    // two groups of classes far apart, tight inside
    const rows = new Float32Array(6 * 3);
    const pts = [[0, 0, 0], [0.2, 0, 0], [0, 0.3, 0], [10, 0, 0], [10, 0.1, 0], [10.4, 0, 0]];
    pts.forEach((p, i) => rows.set(p, 3 * i));
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const shuffled = [3, 0, 4, 1, 5, 2];
    const s = classSimilarity(gramOf(Float32Array.from(shuffled.flatMap((i) => pts[i])), 6), shuffled.map((i) => names[i]));
    expect(s.distances[0]).toBe(0);
    const firstGroup = s.order.slice(0, 3).map((i) => s.classes[i]).sort().join('');
    expect(['abc', 'def']).toContain(firstGroup);
    expect(s.closestPairs[0].deltaMu).toBeCloseTo(0.1, 5);
    expect(s.uncertainty[1]).toBeCloseTo(expectedUncertainty(s.distances[1]), 12);
    expect(clusterOrder(Float64Array.of(0, 1, 1, 0), 2).sort()).toEqual([0, 1]);
  });

  it('the low-rank head\'s Gram matrix equals that of its materialised means', () => {
    const m = new GenerativeClassifier(defaultConfig('imagenet-mini', DIGITS));
    try {
      const means = m.head.means();
      const direct = gramOf(means.dataSync() as Float32Array, 10);
      means.dispose();
      const fast = meanGram(m);
      for (let i = 0; i < 100; i++) expect(Math.abs(fast[i] - direct[i])).toBeLessThan(1e-6 * Math.max(1, Math.abs(direct[i])));
    } finally {
      m.dispose();
    }
  });
});

describe('latent layouts (Fig. 19)', () => {
  it('LDA finds the discriminative direction; PCA of the means places the means exactly', () => {
    const rng = new MersenneTwister(2);
    const n = 600;
    const f = 5;
    const x = new Float32Array(n * f);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 3;
      // the classes differ along dimension 2 only, where the noise is small; the other dimensions
      // carry ten times more variance, which PCA would pick and LDA must ignore
      for (let j = 0; j < f; j++) x[i * f + j] = j === 2 ? 0.5 * rng.normal() + 3 * labels[i] : 5 * rng.normal();
    }
    const p = lda(x, labels, 3);
    const spread = Math.abs(p.centres[2].x - p.centres[0].x);
    let within = 0;
    for (const q of p.points) within += (q.x - p.centres[q.label].x) ** 2;
    expect(spread / Math.sqrt(within / n)).toBeGreaterThan(8); // 6 apart at a within-class s.d. near 0.5
    const means = Float32Array.of(1, 0, 0, 0, 2, 0, 0, 0, 3);
    const pca = pcaOfMeans(means, 3, means, Int32Array.of(0, 1, 2));
    pca.points.forEach((q, i) => {
      expect(q.x).toBeCloseTo(pca.centres[i].x, 6);
      expect(q.y).toBeCloseTo(pca.centres[i].y, 6);
    });
  });
});

describe('explanations of a model, and the explain command', () => {
  it('samples, decision space of an image, all subcommands and predict --explain', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trustgc-explain-'));
    const gc = new GenerativeClassifier(defaultConfig('tiny-mnist', DIGITS));
    saveModel(join(dir, 'gc'), gc);
    const dc = createClassifier(defaultConfig('tiny-mnist', DIGITS, 0, 'dc'));
    saveModel(join(dir, 'dc'), dc);
    dc.dispose();
    try {
      const rows = classSamples(gc, 3, 0.5, 1, [2, 7]);
      expect(rows.map((r) => r.length)).toEqual([3, 3]);
      for (const img of rows.flat()) {
        expect(img.length).toBe(784);
        for (const v of img) expect(v >= 0 && v <= 1).toBe(true);
      }
      expect(classSamples(gc, 3, 0.5, 1, [2, 7])[1][2]).toEqual(rows[1][2]); // seeded
      const still = classSamples(gc, 2, 0, 1, [4])[0];
      for (let j = 0; j < 784; j++) expect(Math.abs(still[0][j] - still[1][j])).toBeLessThan(1e-5); // T = 0: the class mean itself
      const e = explainImage(gc, tf.zeros([1, 28, 28, 1]) as tf.Tensor4D, null);
      expect(e.decision.classes).toHaveLength(5);
      expect(e.posterior.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(e.decision.posterior[0]).toBe(Math.max(...e.posterior));
    } finally {
      gc.dispose();
    }

    const ds = await runCli(['explain', 'decision-space', '--model', join(dir, 'gc'), '--index', '3', '--out', join(dir, 'ds.png'), '--json']);
    expect(ds.error).toBeUndefined();
    const parsed = JSON.parse(ds.out);
    expect(['confident', 'ambiguous', 'uncertain', 'ood']).toContain(parsed.decision.case);
    expect(existsSync(join(dir, 'ds.png'))).toBe(true);
    const sim = await runCli(['explain', 'similarity', '--model', join(dir, 'gc'), '--out', join(dir, 'sim')]);
    expect(sim.error).toBeUndefined();
    expect(sim.out).toMatch(/\| classes \| Δμ \| expected uncertainty % \|/);
    expect(JSON.parse(readFileSync(join(dir, 'sim', 'similarity.json'), 'utf8')).order).toHaveLength(10);
    expect(existsSync(join(dir, 'sim', 'distances.png'))).toBe(true);
    expect((await runCli(['explain', 'samples', '--model', join(dir, 'gc'), '--per-class', '2', '--out', join(dir, 'samples.png')])).error).toBeUndefined();
    expect(readFileSync(join(dir, 'samples.png')).subarray(1, 4).toString()).toBe('PNG');
    expect((await runCli(['explain', 'latent', '--model', join(dir, 'gc'), '--limit', '200', '--out', join(dir, 'latent-gc.png')])).error).toBeUndefined();
    expect((await runCli(['explain', 'latent', '--model', join(dir, 'dc'), '--limit', '300', '--out', join(dir, 'latent-dc.png')])).error).toBeUndefined();
    expect(existsSync(join(dir, 'latent-dc.svg'))).toBe(true);
    const planar = await runCli(['explain', 'planar', '--model', join(dir, 'gc'), '--train-limit', '300', '--test-limit', '100', '--steps', '20', '--out', join(dir, 'planar.png'), '--json']);
    expect(planar.error).toBeUndefined();
    expect(JSON.parse(planar.out).centres).toHaveLength(20);
    expect(existsSync(join(dir, 'planar.png'))).toBe(true);
    const rf = await runCli(['explain', 'receptive-field', '--model', join(dir, 'gc'), '--limit', '4', '--out', join(dir, 'rf.png')]);
    expect(rf.error).toBeUndefined();
    expect(rf.out).toMatch(/FWHM [\d.]+ px of 28 \(centre row, averaged over 2-px cells; feature map 7×7×16/);
    expect((await runCli(['explain', 'decision-space', '--model', join(dir, 'dc')])).error).toMatch(/needs a generative classifier/);
    expect((await runCli(['explain', 'samples', '--model', join(dir, 'gc'), '--classes', 'seven', '--out', join(dir, 'x.png')])).error).toMatch(/unknown class "seven"/);

    const img = join(dir, 'digit.png');
    await sharp(Buffer.alloc(28 * 28, 30), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(img);
    const pred = await runCli(['predict', '--model', join(dir, 'gc'), img, '--explain', '--json']);
    expect(pred.error).toBeUndefined();
    const out = JSON.parse(pred.out);
    expect(out[0].explanation.sentence).toMatch(/^This is/);
  }, 120_000);
});

describe('effective receptive field (Eq. 10, Fig. 4)', () => {
  it('FWHM of a Gaussian profile is 2.355σ', async () => {
    const { fwhm } = await import('../src/explain/receptive_field.js');
    const sigma = 3;
    const profile = Array.from({ length: 41 }, (_, i) => Math.exp(-((i - 20) ** 2) / (2 * sigma * sigma)));
    expect(fwhm(profile)).toBeCloseTo(2.3548 * sigma, 1);
  });

  it('takes the FWHM on 2-px cells after a Haar transform, where the sensitivity alternates pixel by pixel', async () => {
    const { fwhm, cellAverage, sensitivityCell } = await import('../src/explain/receptive_field.js');
    expect(cellAverage([1, 3, 5, 7], 2)).toEqual([2, 4, 6]);
    expect(() => cellAverage([1, 2], 0)).toThrow(/cell must be a positive integer, got 0/);
    // a wide field (σ = 5 px) seen through the alternation of the MNIST β = ∞ profile (1, 0.48, …)
    const sigma = 5;
    const profile = Array.from({ length: 41 }, (_, i) => Math.exp(-((i - 20) ** 2) / (2 * sigma * sigma)) * (i % 2 === 0 ? 1 : 0.48));
    expect(fwhm(profile)).toBeLessThan(2.5); // one peak of the alternation
    expect(Math.abs(fwhm(profile, 2) - 2.3548 * sigma)).toBeLessThan(0.5); // the field
    const haar = new GenerativeClassifier(defaultConfig('tiny-mnist', DIGITS));
    const noHaar = new GenerativeClassifier(defaultConfig('tiny-rgb32', DIGITS));
    expect([sensitivityCell(haar), sensitivityCell(noHaar)]).toEqual([2, 1]);
    [haar, noHaar].forEach((m) => m.dispose());
  });

  it('the sensitivity map is Σ_l |∂u_l/∂x| of the centre column, checked by finite differences', async () => {
    const { receptiveField, featureMapBeforePooling, fwhm } = await import('../src/explain/receptive_field.js');
    const m = new GenerativeClassifier(defaultConfig('tiny-mnist', DIGITS, 4));
    try {
      const img = Float32Array.from({ length: 784 }, (_, i) => 0.5 + 0.4 * Math.sin(0.37 * i));
      const rf = receptiveField(m, img, 1);
      expect(rf.featureShape).toEqual([7, 7, 16]);
      expect(rf.cell).toBe(2);
      expect(rf.fwhm).toBe(fwhm(rf.profile, 2));
      for (const v of rf.sensitivity) expect(v >= 0).toBe(true);
      const centre = (x: Float32Array) =>
        tf.tidy(() => tf.slice(featureMapBeforePooling(m, tf.tensor4d(x, [1, 28, 28, 1])), [0, 3, 3, 0], [1, 1, 1, 16]).dataSync() as Float32Array);
      for (const [y, x] of [[13, 13], [12, 15], [9, 20]]) {
        const h = 1e-3;
        const plus = Float32Array.from(img);
        const minus = Float32Array.from(img);
        plus[y * 28 + x] += h;
        minus[y * 28 + x] -= h;
        const up = centre(plus);
        const down = centre(minus);
        const fd = up.reduce((s, v, l) => s + Math.abs((v - down[l]) / (2 * h)), 0);
        expect(Math.abs(fd - rf.sensitivity[y * 28 + x]) / rf.sensitivity[y * 28 + x]).toBeLessThan(0.03);
      }
    } finally {
      m.dispose();
    }
  }, 60_000);
});

describe('planar decision space (Fig. 7)', () => {
  it('fine-tunes planar means; the 2-D posterior equals the full-dimensional one of μ = o + B·a', async () => {
    const { fitPlanarMeans, planarProject } = await import('../src/explain/planar.js');
    const rng = new MersenneTwister(8);
    const d = 8;
    const classes = 4;
    const n = 800;
    // classes on a circle in dimensions 0–1, noise everywhere; means deliberately rotated out of
    // that plane so the PCA start is poor and fine-tuning has work to do
    const truth = Array.from({ length: classes }, (_, c) => [3 * Math.cos((2 * Math.PI * c) / classes), 3 * Math.sin((2 * Math.PI * c) / classes)]);
    const codes = new Float32Array(n * d);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % classes;
      for (let j = 0; j < d; j++) codes[i * d + j] = rng.normal() + (j < 2 ? truth[labels[i]][j] : 0);
    }
    const means = new Float32Array(classes * d);
    for (let c = 0; c < classes; c++) for (let j = 0; j < d; j++) means[c * d + j] = j < 2 ? 0.3 * truth[c][j] : j === 2 + c ? 2 : 0;
    const m = fitPlanarMeans(codes, labels, means, classes, { steps: 300, lr: 0.05 });
    expect(m.accuracyAfter).toBeGreaterThan(m.accuracyBefore);
    expect(m.accuracyAfter).toBeGreaterThan(0.85);
    // B has orthonormal columns
    let b00 = 0;
    let b11 = 0;
    let b01 = 0;
    for (let j = 0; j < d; j++) {
      b00 += m.basis[2 * j] ** 2;
      b11 += m.basis[2 * j + 1] ** 2;
      b01 += m.basis[2 * j] * m.basis[2 * j + 1];
    }
    expect(b00).toBeCloseTo(1, 4);
    expect(b11).toBeCloseTo(1, 4);
    expect(b01).toBeCloseTo(0, 4);
    // exactness: logit differences from the full distances ‖z − μ_y‖² equal those of the plane
    const { xy, prediction } = planarProject(m, codes.subarray(0, 5 * d));
    for (let i = 0; i < 5; i++) {
      const full = Array.from({ length: classes }, (_, c) => {
        let s = 0;
        for (let j = 0; j < d; j++) {
          const mu = m.origin[j] + m.basis[2 * j] * m.centres[2 * c] + m.basis[2 * j + 1] * m.centres[2 * c + 1];
          s += (codes[i * d + j] - mu) ** 2;
        }
        return s;
      });
      const plane = Array.from({ length: classes }, (_, c) => (xy[2 * i] - m.centres[2 * c]) ** 2 + (xy[2 * i + 1] - m.centres[2 * c + 1]) ** 2);
      for (let c = 1; c < classes; c++) expect(full[c] - full[0]).toBeCloseTo(plane[c] - plane[0], 3);
      expect(prediction[i]).toBe(full.indexOf(Math.min(...full)));
    }
  }, 60_000);
});

describe('class-posterior heatmaps (Eqs. 14–21, Fig. 10)', () => {
  it('sum over positions to log q(y|x); S is spread by the 0.03 contrast rule; other layouts are refused', async () => {
    const { classHeatmaps, CONTRAST } = await import('../src/explain/heatmap.js');
    const m = new GenerativeClassifier(defaultConfig('imagenet-mini', DIGITS, 2));
    try {
      const x = tf.tensor4d(Float32Array.from({ length: 32 * 32 * 3 }, (_, i) => 0.5 + 0.4 * Math.sin(0.11 * i)), [1, 32, 32, 3]);
      const h = classHeatmaps(m, x, 4, 3); // chunks of 3 classes exercise the batching
      const inf = m.infer(x);
      const logPost = Array.from(tf.log(inf.posterior).dataSync());
      tf.dispose(Object.values(inf));
      expect(h.classes).toHaveLength(4);
      h.classes.forEach((y, i) => {
        const sum = h.maps[i].reduce((a, v) => a + v, 0);
        expect(Math.abs(sum - logPost[y])).toBeLessThan(1e-3 * Math.max(1, Math.abs(logPost[y])));
        expect(h.logPosterior[i]).toBeCloseTo(logPost[y], 3);
      });
      expect(h.sShare.reduce((a, v) => a + v, 0)).toBeCloseTo(h.s, 3);
      expect(Math.min(...h.r)).toBe(0);
      expect(Math.max(...h.r)).toBe(1);
      // S_kl ∝ r_kl + 0.03
      const k = h.sShare[0] / (h.r[0] + CONTRAST);
      h.r.forEach((v, p) => expect(h.sShare[p]).toBeCloseTo(k * (v + CONTRAST), 3));
      expect(() => classHeatmaps(new GenerativeClassifier(defaultConfig('tiny-mnist', DIGITS)), tf.zeros([1, 28, 28, 1]) as tf.Tensor4D)).toThrow(/transforms the DCT coefficients further \(PERM_FC_0, FC_0\)/);
      x.dispose();
      // through the CLI, on an image file
      const dir = mkdtempSync(join(tmpdir(), 'trustgc-heat-'));
      saveModel(join(dir, 'mini'), m);
      const img = join(dir, 'x.png');
      await sharp(Buffer.from(Array.from({ length: 40 * 40 * 3 }, (_, i) => (i * 7) % 256)), { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(img);
      const r = await runCli(['explain', 'heatmap', '--model', join(dir, 'mini'), '--image', img, '--top', '2', '--out', join(dir, 'heat.png')]);
      expect(r.error).toBeUndefined();
      expect(r.out.split('\n')).toHaveLength(2);
      for (const line of r.out.split('\n')) {
        const [, a, b] = line.match(/= (-?[\d.]+) = Σ of its \d+×\d+ map \((-?[\d.]+)\)/)!;
        expect(Number(a)).toBeCloseTo(Number(b), 3);
      }
      expect(readFileSync(join(dir, 'heat.png')).subarray(1, 4).toString()).toBe('PNG');
    } finally {
      m.dispose();
    }
  }, 60_000);
});

describe('DCT component influence (Fig. 18)', () => {
  it('equals the class standard deviation of the materialised means, per coefficient, averaged over channels', async () => {
    const { dctInfluence } = await import('../src/explain/dct_influence.js');
    const { DctPooling } = await import('../src/inn/dct.js');
    const { RandomPermutation } = await import('../src/inn/permute.js');
    const m = new GenerativeClassifier(defaultConfig('imagenet-mini', DIGITS, 5));
    try {
      const inf = dctInfluence(m, 4);
      const n = (m.inn.nodes.find((x) => x.module instanceof DctPooling)!.module as InstanceType<typeof DctPooling>).n;
      expect(inf.n).toBe(n);
      const perm = m.inn.nodes[m.inn.nodes.length - 1].module as InstanceType<typeof RandomPermutation>;
      const means = m.head.means();
      const raw = perm.inverse(means);
      const rows = raw.dataSync() as Float32Array;
      tf.dispose([means, raw]);
      const d = m.dims;
      const c = d / (n * n);
      for (const [kh, kw] of [[0, 0], [1, 2], [n - 1, n - 1]]) {
        let s = 0;
        for (let ch = 0; ch < c; ch++) {
          const j = (kw * n + kh) * c + ch;
          const vals = Array.from({ length: 10 }, (_, y) => rows[y * d + j]);
          const mean = vals.reduce((a, v) => a + v, 0) / 10;
          s += Math.sqrt(vals.reduce((a, v) => a + (v - mean) ** 2, 0) / 10);
        }
        expect(inf.spread[kh * n + kw]).toBeCloseTo(s / c, 5);
      }
      expect(() => dctInfluence(new GenerativeClassifier(defaultConfig('tiny-mnist', DIGITS)))).toThrow(/ImageNet layouts/);
    } finally {
      m.dispose();
    }
  });
});
