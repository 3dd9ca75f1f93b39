import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { useThreadedWasm, wasmThreadsStatus } from '../src/engine/wasm_threads.js';
import { initEngine } from '../src/engine/backend.js';
import { maxAbsDiff, randomArray } from './helpers.js';

const root = join(import.meta.dirname, '..');

/** Runs a snippet in a fresh Node process (the thread count is fixed once per process). */
function runNode(code: string) {
  const file = join(mkdtempSync(join(tmpdir(), 'trustgc-threads-')), 'snippet.ts');
  writeFileSync(file, code.replaceAll('./src/', `${root}/src/`));
  return spawnSync(join(root, 'node_modules', '.bin', 'vite-node'), [file], { cwd: root, encoding: 'utf8', timeout: 60_000 });
}

describe('multi-threaded wasm backend', () => {
  it('runs conv and matmul on 2 threads with the cpu backend\'s results', async () => {
    // the first initEngine call fixes the thread count for the process
    await initEngine({ backend: 'cpu', threads: 2, native: false, quiet: true });
    const xv = randomArray(2 * 9 * 9 * 8, 3);
    const wv = randomArray(3 * 3 * 8 * 16, 4);
    const compute = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(xv, [2, 9, 9, 8]);
        const w = tf.tensor4d(wv, [3, 3, 8, 16]);
        const y = tf.conv2d(x, w, 1, 'same');
        const m = tf.matMul(tf.reshape(y, [-1, 16]), tf.reshape(w, [72, 16]), false, true);
        return [y.dataSync().slice(), m.dataSync().slice()];
      });
    const [yCpu, mCpu] = compute();
    await initEngine({ backend: 'wasm', quiet: true });
    expect(tf.getBackend()).toBe('wasm');
    expect(wasmThreadsStatus()).toEqual({ requested: 2, threads: 2 });
    const [yWasm, mWasm] = compute();
    expect(maxAbsDiff(yWasm, yCpu)).toBeLessThan(1e-4);
    expect(maxAbsDiff(mWasm, mCpu)).toBeLessThan(1e-3);
  });

  it('lets the process exit on its own once the work is done', () => {
    const r = runNode(
      `import { initEngine, engineInfo, tf } from './src/engine/backend.ts';
       await initEngine({ threads: 2 });
       tf.tidy(() => tf.conv2d(tf.ones([4, 16, 16, 8]), tf.ones([3, 3, 8, 8]), 1, 'same').dataSync());
       console.log(JSON.stringify(engineInfo()));`,
    );
    expect(r.error).toBeUndefined(); // a hang would end in a spawn timeout error
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ backend: 'wasm', threads: 2 });
  });

  it('falls back to the single-threaded build when the threaded one cannot start', () => {
    const r = runNode(
      `import { tf } from './src/engine/backend.ts';
       import '@tensorflow/tfjs-backend-wasm';
       import { useThreadedWasm, wasmThreadsStatus } from './src/engine/wasm_threads.ts';
       useThreadedWasm(2, () => {}, '/nonexistent/worker.cjs');
       await tf.setBackend('wasm');
       const y = tf.add(tf.ones([3]), 1).dataSync();
       console.log(JSON.stringify({ backend: tf.getBackend(), status: wasmThreadsStatus(), y: Array.from(y) }));`,
    );
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.backend).toBe('wasm');
    expect(out.status.threads).toBe(1);
    expect(out.status.fallbackReason).toMatch(/worker script missing/);
    expect(out.y).toEqual([2, 2, 2]);
  });

  it('rejects a bad thread count', () => {
    expect(() => useThreadedWasm(0)).toThrow(/positive integer/);
  });
});
