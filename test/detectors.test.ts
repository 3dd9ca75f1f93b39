/**
 * The baseline OoD detectors against closed forms: softmax, max-logit and energy scores of known
 * logits; Mahalanobis distances of training data whose class means and shared covariance are known
 * exactly; KNN distances among known unit vectors; ViM's origin −W⁺b, its residual off the
 * principal subspace, and the Jacobi eigen-decomposition it rests on.
 */
import { describe, expect, it } from 'vitest';
import { Energy, KNearest, Mahalanobis, MaxLogit, MaxSoftmax, VirtualLogit } from '../src/eval/detectors.js';
import { symmetricEigen } from '../src/util/linalg.js';
import { MersenneTwister } from '../src/util/rng.js';

const f32 = (a: number[]) => Float32Array.from(a);

describe('logit detectors', () => {
  const logits = f32([2, 0, 0, -1, 3, 1]); // two rows of three classes
  const lse = (r: number[]) => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
  it('score − max softmax, − max logit and − logsumexp (higher = more OoD)', () => {
    const input = { logits, classes: 3 };
    const msp = new MaxSoftmax().score(input);
    expect(msp[0]).toBeCloseTo(-Math.exp(2 - lse([2, 0, 0])), 6);
    expect(msp[1]).toBeCloseTo(-Math.exp(3 - lse([-1, 3, 1])), 6);
    expect(Array.from(new MaxLogit().score(input))).toEqual([-2, -3]);
    const e = new Energy().score(input);
    expect(e[0]).toBeCloseTo(-lse([2, 0, 0]), 5);
    expect(e[1]).toBeCloseTo(-lse([-1, 3, 1]), 5);
  });
});

describe('Mahalanobis', () => {
  it('equals (x − μ_c)ᵀ Σ⁻¹ (x − μ_c) of the nearest class, with the sample means and shared covariance', () => {
    // class 0 around (0, 0), class 1 around (10, 0); offsets (±2, 0) and (0, ±1) give Σ = diag(2, 0.5) exactly
    const offsets = [[2, 0], [-2, 0], [0, 1], [0, -1]];
    const feats: number[] = [];
    const labels: number[] = [];
    for (const [c, mx] of [[0, 0], [1, 10]]) for (const [dx, dy] of offsets) feats.push(mx + dx, dy), labels.push(c);
    const det = new Mahalanobis();
    det.fit({ logits: new Float32Array(8 * 2), classes: 2, features: f32(feats), dims: 2, labels: Int32Array.from(labels) });
    const q = det.score({ logits: new Float32Array(3 * 2), classes: 2, features: f32([1, 1, 9, -0.5, 5, 0]), dims: 2 });
    // (1,1) to class 0: 1/2 + 1/0.5 = 2.5; (9,−0.5) to class 1: 1/2 + 0.25/0.5 = 1; (5,0): 25/2 to either
    const ridge = 1e-5; // the fit's ridge (1e-6 × mean variance) moves these by far less
    expect(q[0]).toBeCloseTo(2.5, 4);
    expect(q[1]).toBeCloseTo(1, 4);
    expect(Math.abs(q[2] - 12.5)).toBeLessThan(ridge * 12.5 * 10);
  });
});

describe('KNN', () => {
  it('is the distance to the k-th nearest normalised training feature', () => {
    const bank = f32([1, 0, 0, 1, -1, 0, 0, -1, 3, 3]); // normalised: e1, e2, −e1, −e2, (e1+e2)/√2
    const det = new KNearest(2);
    det.fit({ logits: new Float32Array(5), classes: 1, features: bank, dims: 2 });
    const s = det.score({ logits: new Float32Array(1), classes: 1, features: f32([5, 0]), dims: 2 });
    // query e1: cosines 1, 0, −1, 0, 1/√2 → the second largest is 1/√2; distance √(2 − 2/√2)
    expect(s[0]).toBeCloseTo(Math.sqrt(2 - Math.SQRT2), 5);
    expect(() => new KNearest(9).fit({ logits: new Float32Array(5), classes: 1, features: bank, dims: 2 })).toThrow(/at least 9/);
  });
});

describe('ViM', () => {
  it('the Jacobi eigen-decomposition is exact: A v = λ v, orthonormal, descending', () => {
    const rng = new MersenneTwister(3);
    const n = 12;
    const b = Array.from({ length: n * n }, () => rng.normal());
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j] += b[i * n + k] * b[j * n + k];
    const { values, vectors } = symmetricEigen(a, n);
    for (let k = 0; k < n; k++) {
      if (k > 0) expect(values[k]).toBeLessThanOrEqual(values[k - 1]);
      for (let i = 0; i < n; i++) {
        let av = 0;
        for (let j = 0; j < n; j++) av += a[i * n + j] * vectors[k][j];
        expect(Math.abs(av - values[k] * vectors[k][i])).toBeLessThan(1e-9 * values[0]);
      }
      for (let l = 0; l < n; l++) {
        const dot = vectors[k].reduce((s, v, i) => s + v * vectors[l][i], 0);
        expect(Math.abs(dot - (k === l ? 1 : 0))).toBeLessThan(1e-9);
      }
    }
  });

  it('measures the residual off the principal subspace, from the origin −W⁺b', () => {
    // 4-d features, a 2-class head W = [e1; e2], b = (1, −2): u = −W⁺b = (−1, 2, 0, 0)
    const weight = f32([1, 0, 0, 0, 0, 1, 0, 0]);
    const bias = f32([1, -2]);
    // training features: every sign combination of (±5, ±4, ±0.3, ±0.2) about u — the sample
    // covariance is exactly diag(25, 16, 0.09, 0.04), so the residual space is exactly dims 2 and 3
    const offsets = [5, 4, 0.3, 0.2];
    const n = 16;
    const feats = new Float32Array(n * 4);
    const origin = [-1, 2, 0, 0];
    for (let i = 0; i < n; i++) for (let j = 0; j < 4; j++) feats[i * 4 + j] = origin[j] + ((i >> j) & 1 ? 1 : -1) * offsets[j];
    const logitsOf = (f: Float32Array) => {
      const m = f.length / 4;
      const out = new Float32Array(m * 2);
      for (let i = 0; i < m; i++) (out[i * 2] = f[i * 4] + 1), (out[i * 2 + 1] = f[i * 4 + 1] - 2);
      return out;
    };
    const det = new VirtualLogit(weight, bias, 2);
    det.fit({ logits: logitsOf(feats), classes: 2, features: feats, dims: 4 });
    // two test points with the same logits: one on the principal plane, one 3 units off it
    const q = f32([4, 2, 0, 0, 4, 2, 3, 0]);
    const s = det.score({ logits: logitsOf(q), classes: 2, features: q, dims: 4 });
    // on the plane the residual is 0: the score is − logsumexp of the logits (5, 0)
    expect(s[0]).toBeCloseTo(-Math.log(Math.exp(5) + 1), 4);
    // α = mean training max logit / mean training residual = ((5 + 5 + 4 − 4) / 4) / √(0.3² + 0.2²)
    const alpha = 2.5 / Math.hypot(0.3, 0.2);
    expect(s[1] - s[0]).toBeCloseTo(3 * alpha, 3);
  });
});
