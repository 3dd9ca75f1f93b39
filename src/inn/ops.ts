/**
 * Small tensor helpers shared by the invertible blocks (NHWC layout, channels last).
 * Only ops with registered gradients on every backend are used (no depthToSpace/stridedSlice).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Splits the channel (last) axis into [0, c1) and [c1, C). */
export function splitChannels(x: tf.Tensor, c1: number): [tf.Tensor, tf.Tensor] {
  const c = x.shape[x.rank - 1];
  const [a, b] = tf.split(x, [c1, c - c1], x.rank - 1);
  return [a, b];
}

export function concatChannels(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.concat([a, b], a.rank - 1);
}

/**
 * Checkerboard space-to-depth (i-RevNet): [B,H,W,C] → [B,H/2,W/2,4C], output channel 4c + k
 * holds the pixel at offset k = (0,0), (0,1), (1,0), (1,1) of each 2×2 cell.
 */
export function spaceToDepth2(x: tf.Tensor): tf.Tensor {
  const [b, h, w, c] = x.shape;
  if (h % 2 !== 0 || w % 2 !== 0) throw new Error(`downsampling needs even height and width, got ${h}×${w}`);
  const t = tf.reshape(x, [b, h / 2, 2, w / 2, 2, c]);
  return tf.reshape(tf.transpose(t, [0, 1, 3, 5, 2, 4]), [b, h / 2, w / 2, 4 * c]);
}

export function depthToSpace2(y: tf.Tensor): tf.Tensor {
  const [b, h2, w2, c4] = y.shape;
  const c = c4 / 4;
  const t = tf.reshape(y, [b, h2, w2, c, 2, 2]);
  return tf.reshape(tf.transpose(t, [0, 1, 4, 2, 5, 3]), [b, 2 * h2, 2 * w2, c]);
}

/** Applies a C×C matrix to the channel axis: out[..., o] = Σ_i m[o, i] · x[..., i]. */
export function mixChannels(x: tf.Tensor, m: tf.Tensor, transpose = false): tf.Tensor {
  const c = x.shape[x.rank - 1];
  const flat = tf.reshape(x, [-1, c]) as tf.Tensor2D;
  // x·mᵀ applies m; x·m applies mᵀ (the inverse of an orthogonal m).
  const out = tf.matMul(flat, m as tf.Tensor2D, false, !transpose);
  return tf.reshape(out, x.shape);
}

/**
 * out[..., i] = x[..., index[i]] for a permutation `index` whose inverse is `inverse`. The
 * gradient is the inverse gather, so no scatter (UnsortedSegmentSum) kernel is needed.
 */
export function gatherChannels(x: tf.Tensor, index: tf.Tensor1D, inverse: tf.Tensor1D): tf.Tensor {
  const axis = x.rank - 1;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: tf.gather(args[0] as tf.Tensor, index, axis),
    gradFunc: (dy: tf.Tensor) => tf.gather(dy, inverse, axis),
  }));
  return op(x);
}
