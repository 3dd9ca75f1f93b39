/** Convolution configurations the kernel tests run on every engine path, and their gradients. */
import { expect, it } from 'vitest';
import { maxAbsDiff, randomArray, tf, useBackend } from './helpers.js';

export type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
export type ConvCase = { x: [number, number, number, number]; k: [number, number, number, number]; stride: number; pad: Pad };
const torchPad1: Pad = [[0, 0], [1, 1], [1, 1], [0, 0]];

export const convCases: ConvCase[] = [
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
  // stride 2, 'valid', last row/column unused: oneDNN cannot take that padding (falls back)
  { x: [2, 8, 8, 3], k: [3, 3, 3, 4], stride: 2, pad: 'valid' },
];

export async function convGrads(backend: 'wasm' | 'cpu', c: ConvCase) {
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


/** One test per configuration: the wasm backend (with whatever kernels are registered) against cpu. */
export function convCaseTests(): void {
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
}
