/**
 * Tensors on another tensor's buffer without a kernel call: what the Reshape kernel does, minus
 * the engine's fixed per-call cost (~10 µs, paid hundreds of times a training step by the
 * optimizer's and batch norm's flattening). Only where no gradient tape records: a view is
 * invisible to autodiff, so under a tape these fall back to a real Reshape.
 */
import * as tf from '@tensorflow/tfjs-core';

interface ViewingEngine {
  isTapeOn(): boolean;
  makeTensorFromTensorInfo(info: { dataId: object; shape: number[]; dtype: tf.DataType }): tf.Tensor;
  backend: { incRef(dataId: object): void };
}

/** `t` with shape `shape` (same size), as a new tensor object on t's buffer. */
export function reshapeView<R extends tf.Rank = tf.Rank>(t: tf.Tensor, shape: readonly number[]): tf.Tensor<R> {
  const engine = tf.engine() as unknown as ViewingEngine;
  const size = shape.reduce((a, b) => a * b, 1);
  if (engine.isTapeOn() || size !== t.size || shape.some((d) => d < 0)) {
    const reshaped: tf.Tensor = tf.reshape(t, [...shape]);
    return reshaped as tf.Tensor<R>;
  }
  // the owning backend counts references per buffer; the engine counts tensor objects
  engine.backend.incRef(t.dataId);
  return engine.makeTensorFromTensorInfo({ dataId: t.dataId, shape: [...shape], dtype: t.dtype }) as tf.Tensor<R>;
}

/** A second tensor object on t's buffer, same shape. */
export function alias<T extends tf.Tensor>(t: T): T {
  return reshapeView(t, t.shape) as T;
}

/** `t` as a vector (a view outside gradient tapes). */
export function flatView(t: tf.Tensor): tf.Tensor1D {
  return reshapeView<tf.Rank.R1>(t, [t.size]);
}
