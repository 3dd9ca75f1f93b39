/**
 * Planar decision space (paper §4.3.1, Fig. 7): the class means of a trained GC are replaced by
 * means constrained to a plane, μ_y = o + B·a_y (B: D×2 with orthonormal columns), and only those
 * are fine-tuned with the INN frozen. Then ‖z − μ_y‖² = ‖z_⊥‖² + ‖π(z) − a_y‖² with the in-plane
 * coordinates π(z) = Bᵀ(z − o) and z_⊥ shared by all classes, so the posterior depends on π(z)
 * alone: the 2-D picture is exact, the decision boundaries are the Voronoi cells of the a_y, and
 * each class's in-plane density is a unit Gaussian around a_y. (o only shifts π(z) and the a_y
 * together, so it is fixed to the mean of the class means.)
 */
import * as tf from '@tensorflow/tfjs-core';
import { meanPlane } from './latent_projection.js';

export interface PlanarModel {
  /** origin o, [D] */
  origin: Float32Array;
  /** orthonormal basis, [D·2] row-major (column k of B is basis[j·2 + k]) */
  basis: Float32Array;
  /** in-plane class centres, [M·2] */
  centres: Float32Array;
  /** accuracy of the planar classifier on the fitting codes, before and after fine-tuning */
  accuracyBefore: number;
  accuracyAfter: number;
  steps: number;
}

export interface PlanarOptions {
  steps: number;
  lr: number;
  batch: number;
  seed: number;
  onStep?: (step: number, loss: number) => void;
}

export const DEFAULT_PLANAR: PlanarOptions = { steps: 400, lr: 0.05, batch: 512, seed: 0 };

/** Orthonormal columns from a D×2 matrix (Gram–Schmidt; differentiable). */
function orthonormal(b: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [c0, c1] = tf.split(b, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
    const e0 = tf.div(c0, tf.norm(c0));
    const r = tf.sub(c1, tf.mul(tf.sum(tf.mul(e0, c1)), e0));
    return tf.concat([e0, tf.div(r, tf.norm(r))], 1) as tf.Tensor2D;
  });
}

/** Logits −½‖π(z) − a_y‖² of codes [N, D] under a planar model (tensors). */
function planarLogits(z: tf.Tensor2D, origin: tf.Tensor1D, basis: tf.Tensor2D, centres: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const p = tf.matMul(tf.sub(z, origin), basis); // [N, 2]
    const d = tf.sum(tf.square(tf.sub(tf.expandDims(p, 1), tf.expandDims(centres, 0))), 2);
    return tf.mul(d, -0.5) as tf.Tensor2D;
  });
}

function accuracy(z: tf.Tensor2D, labels: tf.Tensor1D, origin: tf.Tensor1D, basis: tf.Tensor2D, centres: tf.Tensor2D): number {
  return tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(planarLogits(z, origin, basis, centres), 1), labels), 'float32')).dataSync()[0]);
}

/**
 * Fits the plane to latent codes `codes` ([N·D]) with labels: starts from the PCA plane of the
 * model's class means ([M·D]), then fine-tunes B and the a_y with Adam on the cross entropy.
 */
export function fitPlanarMeans(codes: Float32Array, labels: Int32Array, means: Float32Array, classes: number, options: Partial<PlanarOptions> = {}): PlanarModel {
  const opts = { ...DEFAULT_PLANAR, ...options };
  const n = labels.length;
  const d = codes.length / n;
  const {
    centre,
    axes: [e0, e1],
  } = meanPlane(means, d);
  const basis0 = new Float32Array(d * 2);
  for (let j = 0; j < d; j++) {
    basis0[2 * j] = e0[j];
    basis0[2 * j + 1] = e1[j];
  }
  const z = tf.tensor2d(codes, [n, d]);
  const y = tf.tensor1d(labels, 'int32');
  const origin = tf.tensor1d(Float32Array.from(centre));
  const b = tf.variable(tf.tensor2d(basis0, [d, 2])) as tf.Variable<tf.Rank.R2>;
  const a = tf.variable(tf.tidy(() => tf.matMul(tf.sub(tf.tensor2d(means, [classes, d]), origin), tf.tensor2d(basis0, [d, 2])))) as tf.Variable<tf.Rank.R2>;
  const optimizer = tf.train.adam(opts.lr);
  try {
    const before = accuracy(z, y, origin, orthonormal(b), a);
    let step = 0;
    let seed = opts.seed * 2654435761 + 1;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
    for (; step < opts.steps; step++) {
      const idx = tf.tensor1d(Array.from({ length: Math.min(opts.batch, n) }, () => Math.floor(rand() * n)), 'int32');
      const loss = optimizer.minimize(() =>
        tf.tidy(() => {
          const logits = planarLogits(tf.gather(z, idx) as tf.Tensor2D, origin, orthonormal(b), a);
          return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.gather(y, idx), classes), logits) as tf.Scalar;
        }),
        true,
        [b, a],
      );
      opts.onStep?.(step, loss!.dataSync()[0]);
      loss?.dispose();
      idx.dispose();
    }
    const basis = orthonormal(b);
    const after = accuracy(z, y, origin, basis, a);
    const model: PlanarModel = { origin: Float32Array.from(centre), basis: basis.dataSync() as Float32Array, centres: a.dataSync() as Float32Array, accuracyBefore: before, accuracyAfter: after, steps: step };
    basis.dispose();
    return model;
  } finally {
    optimizer.dispose();
    tf.dispose([z, y, origin, b, a]);
  }
}

/** In-plane coordinates π(z) of codes [N·D], and the planar posterior's prediction. */
export function planarProject(m: PlanarModel, codes: Float32Array): { xy: Float32Array; prediction: Int32Array } {
  const d = m.origin.length;
  const n = codes.length / d;
  const classes = m.centres.length / 2;
  const xy = new Float32Array(2 * n);
  const prediction = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let x = 0;
    let y = 0;
    for (let j = 0; j < d; j++) {
      const v = codes[i * d + j] - m.origin[j];
      x += v * m.basis[2 * j];
      y += v * m.basis[2 * j + 1];
    }
    xy[2 * i] = x;
    xy[2 * i + 1] = y;
    let best = Infinity;
    for (let c = 0; c < classes; c++) {
      const dist = (x - m.centres[2 * c]) ** 2 + (y - m.centres[2 * c + 1]) ** 2;
      if (dist < best) [best, prediction[i]] = [dist, c];
    }
  }
  return { xy, prediction };
}
