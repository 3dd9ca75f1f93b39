/**
 * The names of the kernels a piece of code calls, in order (for benchmarks and tests that count
 * the engine's per-call overhead). Wraps the engine's runKernel for the duration of `fn`.
 */
import * as tf from '@tensorflow/tfjs-core';

export function recordKernelCalls(fn: () => void): string[] {
  const engine = tf.engine();
  const original = engine.runKernel;
  const names: string[] = [];
  engine.runKernel = function (this: typeof engine, ...args: Parameters<typeof original>) {
    names.push(args[0]);
    return original.apply(this, args);
  } as typeof original;
  try {
    fn();
  } finally {
    engine.runKernel = original;
  }
  return names;
}
