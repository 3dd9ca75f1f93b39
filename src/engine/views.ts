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

/**
 * A new tensor object on t's buffer, unchecked: invisible to any tape recording now (callers
 * make sure that does not matter) and `shape` must hold t.size values.
 */
export function bufferView(t: tf.Tensor, shape: readonly number[] = t.shape): tf.Tensor {
  const engine = tf.engine() as unknown as ViewingEngine;
  // the owning backend counts references per buffer; the engine counts tensor objects
  engine.backend.incRef(t.dataId);
  return engine.makeTensorFromTensorInfo({ dataId: t.dataId, shape: [...shape], dtype: t.dtype });
}

/** `t` with shape `shape` (same size), as a new tensor object on t's buffer. */
export function reshapeView<R extends tf.Rank = tf.Rank>(t: tf.Tensor, shape: readonly number[]): tf.Tensor<R> {
  const engine = tf.engine() as unknown as ViewingEngine;
  const size = shape.reduce((a, b) => a * b, 1);
  const view: tf.Tensor = engine.isTapeOn() || size !== t.size || shape.some((d) => d < 0) ? tf.reshape(t, [...shape]) : bufferView(t, shape);
  return view as tf.Tensor<R>;
}

/** A second tensor object on t's buffer, same shape. */
export function alias<T extends tf.Tensor>(t: T): T {
  return reshapeView(t, t.shape) as T;
}

/** `t` as a vector (a view outside gradient tapes). */
export function flatView(t: tf.Tensor): tf.Tensor1D {
  return reshapeView<tf.Rank.R1>(t, [t.size]);
}
