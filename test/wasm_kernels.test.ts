import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray, tf, useBackend } from './helpers.js';
import { convCases, convGrads } from './conv_cases.js';
import { engineInfo, initEngine } from '../src/engine/backend.js';

// These tests cover the pure wasm kernels: keep the native accelerator out of this process.
beforeAll(async () => {
  await initEngine({ backend: 'wasm', native: false, quiet: true });
  expect(engineInfo().native).toBeNull();
});

describe('wasm training kernels match the cpu backend', () => {
  for (const c of convCases) {
    it(`conv ${c.x.join('x')} * ${c.k.join('x')} stride ${c.stride} pad ${JSON.stringify(c.pad)}`, async () => {
      const ref = await convGrads('cpu', c);
      const before = (await useBackend('wasm'), tf.memory().numTensors);
      const got = await convGrads('wasm', c);
      expect(tf.memory().numTensors).toBe(before);
      expect(maxAbsDiff(got.y, ref.y)).toBeLessThan(1e-4);
      expect(maxAbsDiff(got.gx, ref.gx)).toBeLessThan(1e-4);
      expect(maxAbsDiff(got.gw, ref.gw)).toBeLessThan(1e-4);
    });
  }

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
