/** Numerical checks shared by the block tests: reconstruction error and brute-force log-dets. */
import { tf } from './helpers.js';
import { randomArray } from './helpers.js';
import type { InvertibleModule } from '../src/inn/module.js';
import { logAbsDet } from '../src/util/linalg.js';

export function reconstructionError(module: InvertibleModule, inputShape: number[], batch = 3, seed = 1): number {
  return tf.tidy(() => {
    const size = inputShape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(randomArray(batch * size, seed), [batch, ...inputShape]);
    const { y } = module.forward(x);
    const back = module.inverse(y);
    return tf.max(tf.abs(tf.sub(back, x))).dataSync()[0];
  });
}

/**
 * Exact Jacobian of one sample by autodiff: the sample is replicated D times along the batch
 * axis, and the sum over b of output b's b-th entry differentiates to row b of J in sample b.
 */
export function bruteForceLogdet(module: InvertibleModule, inputShape: number[], seed = 2): { exact: number; reported: number } {
  return tf.tidy(() => {
    const d = inputShape.reduce((a, b) => a * b, 1);
    const sample = randomArray(d, seed);
    const batch = new Float32Array(d * d);
    for (let b = 0; b < d; b++) batch.set(sample, b * d);
    const x = tf.tensor(batch, [d, ...inputShape]);
    const selector = tf.eye(d);
    const f = (input: tf.Tensor) => tf.sum(tf.mul(tf.reshape(module.forward(input).y, [d, d]), selector));
    const jac = tf.grad(f)(x).dataSync(); // row b = ∂y_b/∂x
    const reported = module.forward(x.slice([0], [1])).logdet.dataSync()[0];
    return { exact: logAbsDet(jac, d), reported };
  });
}

export function relativeError(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(1, Math.abs(b));
}

/**
 * Replaces every trainable parameter by N(0, scale²) noise so that coupling coefficients are far
 * from their near-identity initialisation and dominate the log-det (a test then notices errors in
 * them, not just in ActNorm).
 */
export function scrambleParams(module: InvertibleModule, seed = 5, scale = 0.7): void {
  let s = seed;
  for (const p of module.namedParams()) {
    if (!p.trainable) continue;
    p.variable.assign(tf.tensor(randomArray(p.variable.size, s++), p.variable.shape).mul(scale * Math.sqrt(3)));
  }
}
