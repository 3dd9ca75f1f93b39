import { initEngine, tf } from '../src/engine/backend.js';
import { DEFAULT_TRAIN_OPTIONS } from '../src/train/trainer.js';
import type { TrainOptions } from '../src/train/trainer.js';

/** A two-epoch tiny-mnist run of 3 steps an epoch with an evaluation after each: training tests in seconds. */
export const tinyRunOptions = (outDir: string): TrainOptions => ({
  ...DEFAULT_TRAIN_OPTIONS,
  dataset: 'mnist',
  arch: 'tiny-mnist',
  epochs: 2,
  batchSize: 16,
  trainLimit: 48, // 3 steps per epoch
  testLimit: 64,
  evalEveryEpochs: 1,
  evalLimit: 32,
  bnReestimateBatches: 2,
  optimizer: 'adam',
  lr: 1e-3,
  checkpointEverySteps: 2,
  augment: { shift: 1, flip: false, dequantize: true, noiseStd: 0.01 },
  outDir,
});

/** Deterministic pseudo-random floats in [-1, 1) (test inputs must not depend on tfjs RNG). */
export function randomArray(n: number, seed = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export async function useBackend(name: 'wasm' | 'cpu'): Promise<void> {
  await initEngine({ backend: name, quiet: true });
  if (tf.getBackend() !== name) throw new Error(`backend ${name} not available`);
}

/** Runs the CLI in-process; returns what it printed with console.log and the error message, if any. */
export async function runCli(args: string[]): Promise<{ error?: string; out: string }> {
  const { buildCli } = await import('../src/cli/main.js');
  const program = buildCli({ throwOnError: true });
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(' '));
  try {
    await program.parseAsync(['node', 'trustgc', ...args]);
    return { out: lines.join('\n') };
  } catch (e) {
    return { error: (e as Error).message, out: lines.join('\n') };
  } finally {
    console.log = log;
  }
}

export { tf };
