/**
 * Gradients of the most frequent element-wise kernels with fewer kernel calls than tfjs's own.
 *
 * tfjs's gradients of Add and Sub end every input gradient in a Reshape, even when nothing was
 * broadcast, and those of Multiply and Relu cast float32 tensors to float32 (a kernel call even
 * where, as in the project's wasm kernels, it copies nothing). In an ibinn-mnist training step
 * that was ~500 of the backward pass's kernel calls, each paying the engine's fixed per-call
 * cost. The gradients here compute the same values: they reduce and reshape only where a shape
 * was broadcast and cast only non-float inputs. Where tfjs would hand back a reshaped copy of dy,
 * they hand back a second tensor on dy's buffer (the tape accumulates and disposes every input
 * gradient separately, so it must be a distinct tensor object), or a real Reshape while a tape
 * records the backward pass (higher-order gradients).
 *
 * `useLeanGradients(false)` restores tfjs's registrations (tests compare both).
 */
import * as tf from '@tensorflow/tfjs-core';
import { alias } from './views.js';

type GradConfig = NonNullable<ReturnType<typeof tf.getGradient>>;

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * `g` (of the broadcast output shape) summed down to an input's shape. `fresh`: g was created by
 * this gradient, so it may be handed back as it is.
 */
function reduceTo(g: tf.Tensor, shape: number[], fresh: boolean): tf.Tensor {
  const axes = tf.backend_util.getReductionAxes(shape, g.shape);
  let r = g;
  if (axes.length > 0) {
    r = tf.sum(g, axes);
    fresh = true;
  }
  if (!sameShape(r.shape, shape)) return tf.reshape(r, shape);
  return fresh ? r : alias(r);
}

const asFloat = (t: tf.Tensor) => (t.dtype === 'float32' ? t : tf.cast(t, 'float32'));

const LEAN: GradConfig[] = [
  {
    kernelName: tf.Add,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const [a, b] = saved;
      const g = dy as tf.Tensor;
      return { a: () => reduceTo(g, a.shape, false), b: () => reduceTo(g, b.shape, false) };
    },
  },
  {
    kernelName: tf.Sub,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const [a, b] = saved;
      const g = dy as tf.Tensor;
      return { a: () => reduceTo(g, a.shape, false), b: () => tf.neg(reduceTo(g, b.shape, true)) };
    },
  },
  {
    kernelName: tf.Multiply,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const [a, b] = saved;
      const g = dy as tf.Tensor;
      return { a: () => reduceTo(tf.mul(g, asFloat(b)), a.shape, true), b: () => reduceTo(tf.mul(g, asFloat(a)), b.shape, true) };
    },
  },
  {
    kernelName: tf.Relu,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      return { x: () => tf.mul(dy as tf.Tensor, asFloat(tf.step(x))) };
    },
  },
];

let originals: GradConfig[] | undefined;

/**
 * Registers the lean gradients (true) or tfjs's own (false), globally. Call after tfjs's
 * gradients are loaded. Returns whether the lean ones are now active.
 */
export function useLeanGradients(on = true): boolean {
  originals ??= LEAN.map((g) => {
    const original = tf.getGradient(g.kernelName);
    if (!original) throw new Error(`trustgc engine: tfjs has no gradient for ${g.kernelName} to replace (load @tensorflow/tfjs first)`);
    return original;
  });
  for (const config of on ? LEAN : originals) tf.registerGradient(config);
  return on;
}
