import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray, tf, useBackend } from './helpers.js';
import { initEngine } from '../src/engine/backend.js';
import { nativeAddonPath, nativeKernelCalls, nativeStatus } from '../src/engine/native_kernels.js';
import type { NativeAddon } from '../src/engine/native_kernels.js';
import { FUSED_KERNELS, batchNormTraining, channelAffine, setFusedKernels, softClampAffine } from '../src/inn/fused_ops.js';
import { FlatGradients, Optimizer } from '../src/train/optimizer.js';

const built = existsSync(nativeAddonPath()) && process.env.TRUSTGC_NATIVE !== '0';

/** The loaded addon itself (require returns the instance the engine loaded). */
const addon = () => createRequire(import.meta.url)(nativeAddonPath()) as NativeAddon;

function outputs(fn: () => tf.Tensor[]): Float32Array[] {
  return tf.tidy(fn).map((t) => {
    const d = t.dataSync().slice() as Float32Array;
    t.dispose();
    return d;
  });
}

describe.skipIf(!built)('native copy kernels and multi-threaded fused kernels', () => {
  beforeAll(async () => {
    await initEngine({ backend: 'wasm', native: true, quiet: true });
    expect(nativeStatus().loaded).toBe(true);
  });
  afterAll(() => addon().setNumThreads(nativeStatus().threads ?? 1));

  it('Concat and SplitV along every axis equal the cpu backend (short and long rows, uneven pieces)', async () => {
    const cases: Array<{ shapes: number[][]; axis: number }> = [
      { shapes: [[4, 5, 6, 2], [4, 5, 6, 3], [4, 5, 6, 1]], axis: 3 }, // channel concat of a coupling
      { shapes: [[3, 2, 70], [3, 4, 70]], axis: 1 }, // long rows (memcpy per row)
      { shapes: [[2, 3], [5, 3]], axis: 0 }, // contiguous pieces
      { shapes: [[7], [0], [9]], axis: 0 }, // an empty piece
      { shapes: [[2, 3, 5], [2, 3, 7]], axis: -1 },
    ];
    const run = async (backend: 'wasm' | 'cpu') => {
      await useBackend(backend);
      const out: Float32Array[] = [];
      cases.forEach(({ shapes, axis }, i) => {
        const parts = shapes.map((s, k) => tf.tensor(randomArray(s.reduce((a, b) => a * b, 1), 10 * i + k), s));
        const whole = tf.concat(parts, axis);
        out.push(whole.dataSync().slice() as Float32Array);
        const a = axis < 0 ? axis + shapes[0].length : axis;
        for (const piece of tf.split(whole, shapes.map((s) => s[a]), axis)) {
          out.push(piece.dataSync().slice() as Float32Array);
          piece.dispose();
        }
        tf.dispose([...parts, whole]);
      });
      return out;
    };
    const ref = await run('cpu');
    const before = nativeKernelCalls();
    const got = await run('wasm');
    expect(got.length).toBe(ref.length);
    for (let i = 0; i < ref.length; i++) expect(Array.from(got[i])).toEqual(Array.from(ref[i]));
    const after = nativeKernelCalls();
    expect(after.Concat.native - before.Concat.native).toBe(cases.length);
    expect(after.SplitV.native - before.SplitV.native).toBe(cases.length);
  });

  it('the copy and sum-of-squares entry points check their geometry', () => {
    const lib = addon();
    const src = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const dst = new Float32Array(4);
    lib.copyRows(src, dst, [2, 2, 3, 1, 2, 0]);
    expect(Array.from(dst)).toEqual([2, 3, 5, 6]);
    expect(() => lib.copyRows(src, dst, [3, 2, 3, 1, 2, 0])).toThrow(/rows run past the end/);
    expect(() => lib.copyRows(src, dst, [1, 3, 3, 1, 3, 0])).toThrow(/inconsistent row geometry/);
    expect(lib.sumOfSquares(src)).toBe(91);
    expect(() => lib.sumOfSquares([1, 2] as never)).toThrow(/x must be a Float32Array/);
  });

  it('the global gradient norm in one pass agrees with float64 arithmetic (closer than square-then-sum)', () => {
    const values = [randomArray(100_003, 1), randomArray(17, 2)];
    const exact = Math.sqrt(values.reduce((s, v) => s + v.reduce((t, x) => t + x * x, 0), 0));
    const flat = new FlatGradients(values.map((v) => tf.tensor1d(v)));
    setFusedKernels(false);
    const composite = flat.norm();
    setFusedKernels(true);
    const fusedNorm = flat.norm();
    flat.dispose();
    expect(Math.abs(fusedNorm - exact) / exact).toBeLessThan(1e-7);
    expect(Math.abs(composite - exact) / exact).toBeLessThan(1e-5);
  });

  it('large fused kernels give the same bits on one and on two threads', async () => {
    // big enough to be split over threads (≥ 2¹⁵ floats), with row counts that are no multiple
    // of the reduction block
    const shape: [number, number, number, number] = [5, 17, 19, 24];
    const size = shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor4d(randomArray(size, 3).map((v) => 2 * v + 0.3), shape);
    const w = tf.tensor4d(randomArray(size, 4), shape);
    const gamma = tf.tensor1d(randomArray(24, 5).map((v) => 1 + 0.5 * v));
    const beta = tf.tensor1d(randomArray(24, 6));
    const a = tf.tensor4d(randomArray(2 * size, 7).map((v) => 3 * v), [5, 17, 19, 48]);
    const opts = { clamp: 0.7, inScale: 0.1, shiftScale: 1 };
    const compute = () =>
      outputs(() => {
        const bn = (xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => batchNormTraining(xi, g, b, 1e-4, () => {}, true);
        const ca = (xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => channelAffine(xi, g, b, true);
        const af = (ui: tf.Tensor, ai: tf.Tensor) => {
          const { v, logdet } = softClampAffine(ui, ai, opts);
          return tf.add(tf.sum(tf.mul(v, w)), tf.sum(logdet));
        };
        const { v, logdet } = softClampAffine(x, a, opts);
        const parts = tf.split(a, [20, 28], 3);
        return [
          bn(x, gamma, beta),
          ...tf.grads((xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(bn(xi, g, b), w)))([x, gamma, beta]),
          ca(x, gamma, beta),
          ...tf.grads((xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(ca(xi, g, b), w)))([x, gamma, beta]),
          v,
          logdet,
          ...tf.grads(af)([x, a]),
          ...parts,
          tf.concat([parts[1], x, parts[0]], 3),
        ];
      });
    const profile = await tf.profile(() => void compute());
    const names = profile.kernels.map((k) => k.name);
    for (const k of [FUSED_KERNELS.batchNorm, FUSED_KERNELS.batchNormGrad, FUSED_KERNELS.channelAffine, FUSED_KERNELS.channelAffineGrad, FUSED_KERNELS.affine, FUSED_KERNELS.affineGrad]) {
      expect(names).toContain(k);
    }
    const optimizerRun = () => {
      const p = { name: 'p', variable: tf.variable(tf.tensor1d(randomArray(70_001, 8))), trainable: true };
      const opt = new Optimizer([{ name: 'g', params: [p], lrScale: 1, momentum: 0.9, weightDecay: 1e-3 }], { kind: 'adam' });
      for (let s = 0; s < 2; s++) {
        const g = tf.tensor1d(randomArray(70_001, 9 + s));
        const flat = new FlatGradients([g]);
        opt.applyFlat(flat, 0.01, 1 / Math.max(1, flat.norm()));
        flat.dispose();
      }
      const out = [p.variable.dataSync().slice() as Float32Array, ...opt.stateArrays().map((s) => s.data)];
      p.variable.dispose();
      opt.dispose();
      return out;
    };
    const lib = addon();
    lib.setNumThreads(1);
    const one = [...compute(), ...optimizerRun()];
    lib.setNumThreads(2);
    expect(lib.getNumThreads()).toBe(2);
    const two = [...compute(), ...optimizerRun()];
    expect(two.length).toBe(one.length);
    for (let i = 0; i < one.length; i++) expect(maxAbsDiff(two[i], one[i]), `output ${i}`).toBe(0);
    tf.dispose([x, w, gamma, beta, a]);
  });
});
