import { describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray, tf, useBackend } from './helpers.js';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
type ConvCase = { x: [number, number, number, number]; k: [number, number, number, number]; stride: number; pad: Pad };
const torchPad1: Pad = [[0, 0], [1, 1], [1, 1], [0, 0]];

const cases: ConvCase[] = [
  { x: [2, 8, 8, 3], k: [3, 3, 3, 4], stride: 1, pad: 'same' },
  { x: [2, 8, 8, 3], k: [3, 3, 3, 4], stride: 1, pad: 'valid' },
  { x: [3, 9, 7, 2], k: [3, 3, 2, 5], stride: 2, pad: 'same' },
  { x: [2, 8, 8, 4], k: [3, 3, 4, 4], stride: 2, pad: 'same' },
  { x: [2, 9, 9, 2], k: [3, 3, 2, 3], stride: 2, pad: 'valid' },
  { x: [4, 6, 6, 8], k: [1, 1, 8, 6], stride: 1, pad: 'same' },
  { x: [1, 10, 10, 3], k: [2, 2, 3, 2], stride: 2, pad: 'valid' },
  { x: [2, 7, 7, 3], k: [5, 5, 3, 2], stride: 1, pad: 'same' },
  { x: [2, 14, 14, 3], k: [3, 3, 3, 4], stride: 2, pad: torchPad1 },
  { x: [2, 15, 15, 2], k: [3, 3, 2, 4], stride: 2, pad: torchPad1 },
  { x: [2, 6, 6, 3], k: [3, 3, 3, 4], stride: 1, pad: torchPad1 },
];

async function convGrads(backend: 'wasm' | 'cpu', c: ConvCase) {
  await useBackend(backend);
  const x = tf.tensor4d(randomArray(c.x.reduce((a, b) => a * b), 3), c.x);
  const w = tf.tensor4d(randomArray(c.k.reduce((a, b) => a * b), 7), c.k);
  const y0 = tf.conv2d(x, w, c.stride, c.pad);
  const dy = tf.tensor(randomArray(y0.size, 11), y0.shape);
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad));
  const [gx, gw] = g([x, w], dy);
  const result = { y: y0.dataSync().slice(), gx: gx.dataSync().slice(), gw: gw.dataSync().slice() };
  tf.dispose([x, w, y0, dy, gx, gw]);
  return result;
}

describe('wasm training kernels match the cpu backend', () => {
  for (const c of cases) {
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
