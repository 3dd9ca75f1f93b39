import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray, tf } from './helpers.js';
import { initEngine } from '../src/engine/backend.js';
import { nativeAddonPath, nativeStatus } from '../src/engine/native_kernels.js';
import { FUSED_KERNELS, batchNormTraining, channelAffine, setFusedKernels, softClampAffine } from '../src/inn/fused_ops.js';
import type { SoftClampAffineOptions } from '../src/inn/fused_ops.js';
import { Optimizer } from '../src/train/optimizer.js';
import type { OptimizerKind } from '../src/train/optimizer.js';

const built = existsSync(nativeAddonPath()) && process.env.TRUSTGC_NATIVE !== '0';

/** Runs fn with the fused kernels on or off; returns every output as plain arrays. */
function both(fn: () => tf.Tensor[]): { fused: Float32Array[]; composite: Float32Array[] } {
  const run = (on: boolean) => {
    setFusedKernels(on);
    try {
      return tf.tidy(() => fn()).map((t) => {
        const d = t.dataSync().slice() as Float32Array;
        t.dispose();
        return d;
      });
    } finally {
      setFusedKernels(true);
    }
  };
  const composite = run(false);
  const fused = run(true);
  return { fused, composite };
}

async function kernelNames(fn: () => void): Promise<string[]> {
  const info = await tf.profile(() => tf.tidy(fn));
  return info.kernels.map((k) => k.name);
}

describe.skipIf(!built)('fused kernels (native addon) equal the composite tfjs ops', () => {
  beforeAll(async () => {
    await initEngine({ backend: 'wasm', native: true, quiet: true });
    expect(nativeStatus().loaded).toBe(true);
    expect(tf.getBackend()).toBe('wasm');
  });

  for (const relu of [false, true]) {
    it(`training batch norm${relu ? ' + ReLU' : ''}: output, batch statistics and all three gradients`, async () => {
      const shape = [3, 5, 4, 6];
      const x = tf.tensor4d(randomArray(360, 3).map((v) => 2 * v + 0.7), shape as [number, number, number, number]);
      const gamma = tf.tensor1d(randomArray(6, 4).map((v) => 1 + 0.5 * v));
      const beta = tf.tensor1d(randomArray(6, 5));
      const w = tf.tensor4d(randomArray(360, 6), shape as [number, number, number, number]);
      const f = (xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor, stats?: tf.Tensor[]) =>
        batchNormTraining(xi, g, b, 1e-4, (m, v) => stats?.push(tf.keep(m.clone()), tf.keep(v.clone())), relu);
      const r = both(() => {
        const stats: tf.Tensor[] = [];
        const y = f(x, gamma, beta, stats);
        const grads = tf.grads((xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(xi, g, b), w)))([x, gamma, beta]);
        return [y, ...stats, ...grads];
      });
      expect(r.fused).toHaveLength(6);
      for (let i = 0; i < r.fused.length; i++) expect(maxAbsDiff(r.fused[i], r.composite[i])).toBeLessThan(2e-5);
      if (relu) expect(Math.min(...r.fused[0])).toBe(0);
      const names = await kernelNames(() => void tf.grads((xi: tf.Tensor) => tf.sum(f(xi, gamma, beta)))([x]));
      expect(names).toContain(FUSED_KERNELS.batchNorm);
      expect(names).toContain(FUSED_KERNELS.batchNormGrad);
      expect(names).not.toContain('Relu');
      tf.dispose([x, gamma, beta, w]);
    });
  }

  for (const relu of [false, true]) {
    it(`per-channel affine map${relu ? ' + ReLU' : ''} (ActNorm, evaluation-mode batch norm): output and gradients`, async () => {
      const shape: [number, number, number, number] = [2, 3, 5, 4];
      const x = tf.tensor4d(randomArray(120, 11).map((v) => 3 * v), shape);
      const scale = tf.tensor1d(randomArray(4, 12).map((v) => 1 + v));
      const shift = tf.tensor1d(randomArray(4, 13));
      const w = tf.tensor4d(randomArray(120, 14), shape);
      const loss = (xi: tf.Tensor, si: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(channelAffine(xi, si, bi, relu), w));
      const r = both(() => [channelAffine(x, scale, shift, relu), ...tf.grads(loss)([x, scale, shift])]);
      for (let i = 0; i < 4; i++) expect(maxAbsDiff(r.fused[i], r.composite[i])).toBeLessThan(2e-5);
      if (relu) expect(r.fused[0].filter((v) => v === 0).length).toBeGreaterThan(10);
      const names = await kernelNames(() => void tf.grads(loss)([x, scale, shift]));
      expect(names).toContain(FUSED_KERNELS.channelAffine);
      expect(names).toContain(FUSED_KERNELS.channelAffineGrad);
      expect(() => channelAffine(x, tf.ones([3]), shift)).toThrow(/one value per channel \(4\)/);
      tf.dispose([x, scale, shift, w]);
    });
  }

  const affineCases: Array<{ name: string; shape: number[]; options: SoftClampAffineOptions }> = [
    { name: 'IB-INN coupling (NHWC)', shape: [2, 3, 4, 5], options: { clamp: 0.7, inScale: 0.1, shiftScale: 1 } },
    { name: 'ImageNet coupling (scaled shift)', shape: [3, 2, 2, 4], options: { clamp: 0.7, inScale: 0.1, shiftScale: 0.1 } },
    { name: 'downsampling coupling, flat vectors', shape: [4, 7], options: { clamp: 1.5, inScale: 0.2, shiftScale: 1 } },
  ];
  for (const { name, shape, options } of affineCases) {
    it(`soft-clamped affine, ${name}: v, log-det and gradients of u and a`, async () => {
      const size = shape.reduce((p, d) => p * d, 1);
      const aShape = [...shape.slice(0, -1), 2 * shape[shape.length - 1]];
      const u = tf.tensor(randomArray(size, 7), shape);
      // large coefficients too, so the clamp saturates
      const a = tf.tensor(randomArray(2 * size, 8).map((v) => 30 * v), aShape);
      const wv = tf.tensor(randomArray(size, 9), shape);
      const wl = tf.tensor1d(randomArray(shape[0], 10));
      const loss = (ui: tf.Tensor, ai: tf.Tensor) => {
        const { v, logdet } = softClampAffine(ui, ai, options);
        return tf.add(tf.sum(tf.mul(v, wv)), tf.sum(tf.mul(logdet, wl)));
      };
      const r = both(() => {
        const { v, logdet } = softClampAffine(u, a, options);
        return [v, logdet, ...tf.grads(loss)([u, a])];
      });
      for (let i = 0; i < 4; i++) expect(maxAbsDiff(r.fused[i], r.composite[i])).toBeLessThan(2e-5);
      const names = await kernelNames(() => void tf.grads(loss)([u, a]));
      expect(names).toContain(FUSED_KERNELS.affine);
      expect(names).toContain(FUSED_KERNELS.affineGrad);
      expect(names).not.toContain('Tanh');

      // and against central finite differences of the fused forward (float64 arithmetic in JS)
      const lossAt = (uv: Float32Array, av: Float32Array) =>
        tf.tidy(() => loss(tf.tensor(uv, shape), tf.tensor(av, aShape)).dataSync()[0]);
      const uv = u.dataSync().slice() as Float32Array;
      const av = a.dataSync().slice() as Float32Array;
      const [gu, ga] = r.fused.slice(2);
      const h = 1e-2;
      for (const i of [0, 3, size - 1]) {
        const up = uv.slice(); up[i] += h;
        const dn = uv.slice(); dn[i] -= h;
        expect((lossAt(up, av) - lossAt(dn, av)) / (2 * h)).toBeCloseTo(gu[i], 2);
      }
      for (const i of [0, 1, 2 * size - 1]) {
        const up = av.slice(); up[i] += h;
        const dn = av.slice(); dn[i] -= h;
        expect((lossAt(uv, up) - lossAt(uv, dn)) / (2 * h)).toBeCloseTo(ga[i], 2);
      }
      tf.dispose([u, a, wv, wl]);
    });
  }

  for (const kind of ['sgd', 'adam'] as OptimizerKind[]) {
    it(`${kind} update of parameter groups (weight decay, momentum or none, clipping scale): fused equals composite over 3 steps`, () => {
      const run = (on: boolean) => {
        setFusedKernels(on);
        try {
          const params = [[3, 4], [5], [2, 2, 3]].map((shape, k) => ({
            name: `p${k}`,
            variable: tf.tidy(() => tf.variable(tf.tensor(randomArray(shape.reduce((a, b) => a * b, 1), 20 + k), shape))),
            trainable: true,
          }));
          const opt = new Optimizer(
            [
              { name: 'a', params: params.slice(0, 2), lrScale: 1, momentum: 0.9, weightDecay: 1e-2 },
              { name: 'b', params: params.slice(2), lrScale: 3, momentum: 0, weightDecay: 0 },
            ],
            { kind },
          );
          for (let step = 0; step < 3; step++) {
            const grads = new Map(params.map((p, k) => [p.name, tf.tensor(randomArray(p.variable.size, 40 + 3 * step + k), p.variable.shape)] as [string, tf.Tensor]));
            opt.apply(grads, 0.05, step === 1 ? 0.5 : 1);
            tf.dispose([...grads.values()]);
          }
          const out = [...params.map((p) => p.variable.dataSync().slice()), ...opt.stateArrays().map((a) => a.data.slice())] as Float32Array[];
          params.forEach((p) => p.variable.dispose());
          opt.dispose();
          return out;
        } finally {
          setFusedKernels(true);
        }
      };
      const before = tf.memory().numTensors;
      const composite = run(false);
      const fusedOut = run(true);
      expect(tf.memory().numTensors).toBe(before); // nothing left behind by either path
      expect(fusedOut.length).toBe(composite.length);
      for (let i = 0; i < composite.length; i++) expect(maxAbsDiff(fusedOut[i], composite[i])).toBeLessThan(1e-6);
    });
  }

  it('says which shapes do not fit', () => {
    expect(() => softClampAffine(tf.zeros([2, 3, 3, 4]), tf.zeros([2, 3, 3, 6]), { clamp: 1, inScale: 1, shiftScale: 1 })).toThrow(
      /softClampAffine: coefficients of shape \[2,3,3,6\] do not match input \[2,3,3,4\]/,
    );
  });
});
