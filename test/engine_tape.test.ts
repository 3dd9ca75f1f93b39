// The engine's changes to tfjs's gradient tape: saved tensors share buffers instead of being
// cloned, and the element-wise gradients skip needless Reshape and Cast kernels. Both must give
// the same gradients as tfjs's own code, leak nothing and call fewer kernels.
import { afterEach, describe, expect, it } from 'vitest';
import { randomArray, tf, useBackend } from './helpers.js';
import { shareSavedTensors } from '../src/engine/saved_tensors.js';
import { useLeanGradients } from '../src/engine/lean_gradients.js';
import { flatView, reshapeView } from '../src/engine/views.js';
import { recordKernelCalls } from '../src/engine/kernel_calls.js';

/** Gradients of f at the inputs, as plain arrays. */
function gradsOf(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): Float32Array[] {
  return tf.tidy(() => tf.grads(f)(inputs)).map((g) => {
    const d = g.dataSync().slice() as Float32Array;
    g.dispose();
    return d;
  });
}

const t = (shape: number[], seed: number) => tf.tensor(randomArray(shape.reduce((a, b) => a * b, 1), seed), shape);

// broadcasting patterns of the models: equal shapes, per-channel vectors, scalars, per-sample columns
const SHAPES: Array<[number[], number[]]> = [
  [[2, 3, 3, 4], [2, 3, 3, 4]],
  [[2, 3, 3, 4], [4]],
  [[4], [2, 3, 3, 4]],
  [[2, 3, 3, 4], [1, 1, 1, 4]],
  [[5], []],
  [[5, 3], [5, 1]],
];

const FUNCTIONS: Record<string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = {
  add: (a, b) => tf.sum(tf.mul(tf.add(a, b), tf.add(a, b))),
  sub: (a, b) => tf.sum(tf.square(tf.sub(a, b))),
  mul: (a, b) => tf.sum(tf.mul(tf.mul(a, b), a)),
  relu: (a, b) => tf.sum(tf.mul(tf.relu(tf.add(a, b)), b)),
};

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`gradient tape changes on ${backend}`, () => {
    afterEach(() => {
      useLeanGradients(true);
      shareSavedTensors(true);
    });

    for (const [name, f] of Object.entries(FUNCTIONS)) {
      for (const [sa, sb] of SHAPES) {
        it(`${name} [${sa}] with [${sb}]: lean gradients and shared saving equal tfjs's own`, async () => {
          await useBackend(backend);
          const a = t(sa, 3);
          const b = t(sb, 7);
          useLeanGradients(false);
          shareSavedTensors(false);
          const reference = gradsOf(f, [a, b]);
          useLeanGradients(true);
          shareSavedTensors(true);
          const before = tf.memory().numTensors;
          const lean = gradsOf(f, [a, b]);
          expect(tf.memory().numTensors).toBe(before);
          // the same kernels on the same values: bit-identical
          expect(lean).toEqual(reference);
          tf.dispose([a, b]);
        });
      }
    }

    it('a tensor that is both inputs of an Add gets both gradients (distinct gradient tensors)', async () => {
      await useBackend(backend);
      const x = tf.tensor1d([1, -2, 3]);
      const [g] = gradsOf((v) => tf.sum(tf.mul(tf.add(v, v), tf.tensor1d([1, 2, 3]))), [x]);
      expect(Array.from(g)).toEqual([2, 4, 6]);
      x.dispose();
    });

    it('second derivatives still work (the tape records the backward pass)', async () => {
      await useBackend(backend);
      const x = tf.tensor1d([0.5, -1.5, 2]);
      // d²/dx² Σ (x³ + x·x + x) = 6x + 2
      const f = (v: tf.Tensor) => tf.sum(tf.add(tf.add(tf.mul(tf.mul(v, v), v), tf.mul(v, v)), v));
      const second = tf.tidy(() => tf.grad((v: tf.Tensor) => tf.sum(tf.grad(f)(v)))(x));
      expect(Array.from(second.dataSync())).toEqual([5, -7, 14]);
      tf.dispose([x, second]);
    });

    it('a saved tensor outlives the disposal of the tensor it saves', async () => {
      await useBackend(backend);
      const x = tf.tensor1d([0.5, 1, 2]);
      const [g] = gradsOf((v) => {
        const e = tf.exp(v);
        const y = tf.sum(tf.mul(e, e));
        e.dispose(); // the Multiply's saved copies must keep e's values
        return y;
      }, [x]);
      const expected = [0.5, 1, 2].map((v) => 2 * Math.exp(2 * v));
      g.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
      x.dispose();
    });

    it('saving and the lean gradients call fewer kernels and leave no buffer behind', async () => {
      await useBackend(backend);
      const a = t([2, 3, 3, 4], 1);
      const b = t([4], 2);
      const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.relu(tf.mul(tf.add(x, y), x)));
      const count = () => recordKernelCalls(() => void gradsOf(f, [a, b]));
      useLeanGradients(false);
      shareSavedTensors(false);
      const tfjs = count();
      useLeanGradients(true);
      shareSavedTensors(true);
      const buffers = tf.memory().numDataBuffers;
      const ours = count();
      expect(tf.memory().numDataBuffers).toBe(buffers);
      expect(tfjs.filter((k) => k === 'Identity').length).toBeGreaterThan(0);
      expect(ours.filter((k) => k === 'Identity').length).toBe(0);
      expect(ours.filter((k) => k === 'Cast').length).toBe(0);
      expect(ours.length).toBeLessThan(tfjs.length);
      tf.dispose([a, b]);
    });

    it('views share the buffer outside a tape, need no kernel, and fall back to Reshape under one', async () => {
      await useBackend(backend);
      const x = t([2, 3, 4], 5);
      const buffers = tf.memory().numDataBuffers;
      let view!: tf.Tensor;
      const calls = recordKernelCalls(() => (view = reshapeView(x, [6, 4])));
      expect(calls).toEqual([]);
      expect(view.shape).toEqual([6, 4]);
      expect(tf.memory().numDataBuffers).toBe(buffers);
      x.dispose(); // the view keeps the buffer alive
      const flat = flatView(view);
      expect(flat.shape).toEqual([24]);
      expect(Array.from(flat.dataSync())).toEqual(Array.from(randomArray(24, 5)));
      flat.dispose();
      view.dispose();
      expect(tf.memory().numDataBuffers).toBe(buffers - 1);
      // under a tape the gradient must flow through: a real Reshape
      const v = t([2, 3], 9);
      const g = tf.tidy(() => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(reshapeView(a, [3, 2]), tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]))))(v));
      expect(Array.from(g.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
      tf.dispose([v, g]);
      expect(() => reshapeView(t([2, 3], 1), [4, 2])).toThrow();
    });
  });
}
