/**
 * How the engine keeps a kernel's inputs and outputs for its gradient.
 *
 * While a gradient tape records, tfjs saves the tensors a kernel's gradient needs by cloning each
 * one (`Engine.clone`): an Identity kernel call plus a tape node per tensor (the project's wasm
 * Identity copies nothing, but is still a kernel call). In an ibinn-mnist training step that was
 * ~2 150 of its ~6 450 kernel calls, each paying the engine's fixed per-call cost (~10 µs), which
 * no second thread shares.
 *
 * tfjs tensors are immutable (a Variable's assign swaps its buffer, it never writes into one, and
 * every project kernel writes only its own outputs), so a saved tensor can share the buffer of the
 * tensor it saves, exactly as the Reshape kernel does: one reference count up, one Tensor object,
 * no kernel and no tape node. Disposing the saved tensor drops the reference again.
 *
 * Not a public tfjs API: the method is replaced on the engine instance, checked to exist first,
 * and `TRUSTGC_SHARE_SAVED=0` (or `shareSavedTensors(false)`) restores tfjs's own.
 */
import * as tf from '@tensorflow/tfjs-core';
import { bufferView } from './views.js';

/** The engine members used here (tfjs-core 4.22 `Engine`). */
interface SavingEngine {
  saveTensorsForBackwardMode(tensors: tf.Tensor[]): tf.Tensor[];
  keep<T extends tf.Tensor>(t: T): T;
  state: { gradientDepth: number };
}

const METHOD = 'saveTensorsForBackwardMode';

let original: SavingEngine[typeof METHOD] | undefined;

function savingEngine(): SavingEngine {
  const engine = tf.engine() as unknown as SavingEngine;
  if (typeof engine[METHOD] !== 'function') {
    throw new Error(`trustgc engine: this tfjs-core has no Engine.${METHOD}; pin @tensorflow/tfjs-core 4.22.0`);
  }
  return engine;
}

/**
 * Saves tensors for the backward pass by sharing their buffers (true) or by tfjs's cloning
 * (false). Returns whether sharing is now on.
 */
export function shareSavedTensors(on = typeof process === 'undefined' || process.env?.TRUSTGC_SHARE_SAVED !== '0'): boolean {
  const engine = savingEngine();
  original ??= engine[METHOD];
  if (!on) {
    engine[METHOD] = original;
    return false;
  }
  const cloning = original;
  engine[METHOD] = (tensors: tf.Tensor[]) => {
    // Inside a nested tape (higher-order gradients) the outer tape must see how each saved
    // tensor derives from its source: keep tfjs's recorded clone there.
    if (engine.state.gradientDepth > 1) return cloning.call(engine, tensors);
    return tensors.map((t) => engine.keep(bufferView(t)));
  };
  return true;
}
