import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray, tf, useBackend } from './helpers.js';
import { convCaseTests } from './conv_cases.js';
import { engineInfo, initEngine } from '../src/engine/backend.js';

// These tests cover the pure wasm kernels: keep the native accelerator out of this process.
beforeAll(async () => {
  await initEngine({ backend: 'wasm', native: false, quiet: true });
  expect(engineInfo().native).toBeNull();
});

describe('wasm training kernels match the cpu backend', () => {
  convCaseTests();

  it('UnsortedSegmentSum (gather gradient) matches cpu, including repeated indices', async () => {
    const run = async (backend: 'wasm' | 'cpu') => {
      await useBackend(backend);
      const x = tf.tensor2d(randomArray(5 * 6, 5), [5, 6]);
      const idx = tf.tensor1d([4, 0, 0, 2, 5, 1, 3], 'int32');
      const dy = tf.tensor2d(randomArray(5 * 7, 9), [5, 7]);
      const g = tf.grad((a: tf.Tensor) => tf.gather(a, idx, 1));
      const gx = g(x, dy).dataSync().slice();
      const seg = tf.unsortedSegmentSum(tf.tensor2d(randomArray(12, 4), [4, 3]), tf.tensor1d([1, 0, 1, 3], 'int32'), 5).dataSync().slice();
      return { gx, seg };
    };
    const ref = await run('cpu');
    const got = await run('wasm');
    expect(maxAbsDiff(got.gx, ref.gx)).toBeLessThan(1e-6);
    expect(maxAbsDiff(got.seg, ref.seg)).toBeLessThan(1e-6);
  });
});

describe('wasm fast paths match the cpu backend', () => {
  const run = async (backend: 'wasm' | 'cpu') => {
    await useBackend(backend);
    const results: Float32Array[] = [];
    const keep = (t: tf.Tensor) => results.push(t.dataSync().slice() as Float32Array);
    tf.tidy(() => {
      const a = tf.tensor4d(randomArray(3 * 5 * 4 * 2, 1), [3, 5, 4, 2]);
      const b = tf.tensor4d(randomArray(3 * 5 * 4 * 3, 2), [3, 5, 4, 3]);
      keep(tf.concat([a, b], 3)); // short rows: element loop
      keep(tf.concat([a, b, a], -1));
      keep(tf.concat([a, a], 1)); // not the last axis
      const [p, q, r] = tf.split(tf.concat([a, b], 3), [1, 3, 1], 3);
      [p, q, r].forEach(keep);
      const big = tf.tensor4d(randomArray(4 * 6 * 5 * 7, 3), [4, 6, 5, 7]);
      keep(tf.sum(big, [0, 1, 2])); // leading axes: matmul path
      keep(tf.mean(big, [0, 1, 2], true));
      keep(tf.sum(big, [1, 2, 3])); // trailing axes: stock kernel
      keep(tf.mean(big, [2, 0, 1]));
      const m = tf.tensor2d(randomArray(9 * 7, 4), [9, 7]);
      const n = tf.tensor2d(randomArray(9 * 5, 5), [9, 5]);
      const o = tf.tensor2d(randomArray(5 * 7, 6), [5, 7]);
      keep(tf.matMul(m, n, true, false)); // 7×9 · 9×5
      keep(tf.matMul(n, o, false, false));
      keep(tf.matMul(m, o, false, true)); // 9×7 · 7×5
      keep(tf.matMul(o, n, true, true)); // 7×5 · 5×9
      keep(tf.cast(tf.greater(big, 0), 'float32'));
      keep(tf.clone(big));
      keep(tf.cast(big, 'float32'));
    });
    return results;
  };

  it('concat, split, leading-axes sum/mean, transposed matmul, identity and cast', async () => {
    const ref = await run('cpu');
    const before = (await useBackend('wasm'), tf.memory().numTensors);
    const got = await run('wasm');
    expect(tf.memory().numTensors).toBe(before);
    expect(got.length).toBe(ref.length);
    ref.forEach((r, i) => {
      expect(got[i].length, `result ${i}`).toBe(r.length);
      expect(maxAbsDiff(got[i], r), `result ${i}`).toBeLessThan(1e-5);
    });
  });

  it('a shared (identity) tensor survives disposal of its source', async () => {
    await useBackend('wasm');
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.clone(a);
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    b.dispose();
  });
});
