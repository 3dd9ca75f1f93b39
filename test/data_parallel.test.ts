import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomArray, tf } from './helpers.js';
import { initEngine } from '../src/engine/backend.js';
import { GenerativeClassifier } from '../src/gc/model.js';
import { defaultConfig } from '../src/gc/presets.js';
import { RunContext } from '../src/inn/module.js';
import { FlatGradients, Optimizer } from '../src/train/optimizer.js';
import { TrainingStep } from '../src/train/step.js';
import type { StepSettings } from '../src/train/step.js';
import { DataParallelStep, shardSizes } from '../src/train/data_parallel.js';
import { projectRoot } from '../src/util/paths.js';
import { nativeStatus } from '../src/engine/native_kernels.js';

// The worker thread runs the compiled library (dist/), which `npm run build` (and npm ci) produce.
const workerBuilt = existsSync(join(projectRoot(), 'dist', 'src', 'train', 'data_parallel_worker.js'));

const CLASSES = [...'0123456789'];

function makeModel() {
  const model = new GenerativeClassifier(defaultConfig('tiny-mnist', CLASSES, 5));
  const trainable = model.namedParams().filter((p) => p.trainable);
  const optimizer = new Optimizer(
    [
      { name: 'inn', params: trainable.filter((p) => !p.name.startsWith('head.')), lrScale: 1, momentum: 0.9, weightDecay: 1e-4 },
      { name: 'head', params: trainable.filter((p) => p.name.startsWith('head.')), lrScale: 3, momentum: 0, weightDecay: 0 },
    ],
    { kind: 'sgd' },
  );
  return { model, optimizer };
}

function batchOf(size: number, seed: number) {
  return {
    x: randomArray(size * 784, seed).map((v) => (v + 1) / 2),
    labels: Int32Array.from({ length: size }, (_, i) => (i * 7 + seed) % 10),
    size,
  };
}

describe('shard sizes', () => {
  it('split a batch as evenly as possible, larger shards first', () => {
    expect(shardSizes(32, 2)).toEqual([16, 16]);
    expect(shardSizes(33, 2)).toEqual([17, 16]);
    expect(shardSizes(10, 4)).toEqual([3, 3, 2, 2]);
  });
});

describe.skipIf(!workerBuilt)('data-parallel training across worker threads', () => {
  beforeAll(async () => {
    await initEngine({ backend: 'wasm', quiet: true });
  });
  const disposeLater: Array<{ dispose(): void }> = [];
  afterAll(() => disposeLater.forEach((d) => d.dispose()));

  it('equals the same shards computed one after the other on this thread, step after step', async () => {
    const dp = makeModel();
    const ref = makeModel();
    const threadsBefore = nativeStatus().threads;
    const step = await DataParallelStep.create(dp.model, dp.optimizer, { replicas: 2, maxBatch: 24 });
    disposeLater.push(step);
    // the replicas are the parallelism: this thread's native kernels run on one thread meanwhile
    if (nativeStatus().loaded) expect(nativeStatus().threads).toBe(1);
    const refStep = new TrainingStep(ref.model, ref.optimizer);
    const losses: number[][] = [];
    for (let k = 0; k < 3; k++) {
      const batch = batchOf(k === 2 ? 23 : 24, 10 + k); // the last batch splits unevenly (12 + 11)
      const s: StepSettings = { lr: 0.01, scale: 1, chunk: 256, beta: 1, labelSmoothing: 0.01, clipNorm: 8, seed: 100 + k };
      const out = step.run(batch, s);

      // reference: replica r's shard with seed + r, shares summed in replica order; BN statistics of shard 0
      const sizes = shardSizes(batch.size, 2);
      const shard = (r: number) => {
        const from = r === 0 ? 0 : sizes[0];
        return { x: batch.x.slice(from * 784, (from + sizes[r]) * 784), labels: batch.labels.slice(from, from + sizes[r]), size: sizes[r] };
      };
      const ctx = [0, 1].map((r) => new RunContext(true, true, (s.seed + r) >>> 0));
      const g = [0, 1].map((r) => refStep.gradients(shard(r), s, ctx[r], sizes[r] / batch.size));
      const summed = new FlatGradients(g[0].flat.perGroup.map((t, i) => tf.addN([t, g[1].flat.perGroup[i]]) as tf.Tensor1D));
      const expected = refStep.apply(
        { loss: g[0].loss + g[1].loss, lx: g[0].lx + g[1].lx, ly: g[0].ly + g[1].ly, accuracy: g[0].accuracy + g[1].accuracy, flat: summed },
        s,
        ctx[0],
      );
      ctx[1].discard();
      g.forEach((x) => x.flat.dispose());
      losses.push([out.metrics.loss, expected.metrics.loss]);
      expect(out.finite).toBe(true);
      expect(out.metrics.loss).toBeCloseTo(expected.metrics.loss, 5);
      expect(out.metrics.gradNorm).toBeCloseTo(expected.metrics.gradNorm, 3);
    }
    // the parameters after three updates (which used the worker's gradients of its own, updated, replica)
    const refParams = new Map(ref.model.namedParams().map((p) => [p.name, p.variable.dataSync()]));
    let worst = 0;
    for (const p of dp.model.namedParams()) {
      const a = p.variable.dataSync();
      const b = refParams.get(p.name)!;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1e-3 + Math.abs(b[i])));
    }
    expect(worst).toBeLessThan(1e-5);
    // and the training changed something
    expect(losses[0][0]).not.toBeCloseTo(losses[2][0], 3);
    step.dispose();
    expect(nativeStatus().threads).toBe(threadsBefore);
    ref.optimizer.dispose();
  }, 120_000);

  it('names what it cannot do', async () => {
    const { model, optimizer } = makeModel();
    await expect(DataParallelStep.create(model, optimizer, { replicas: 1, maxBatch: 8 })).rejects.toThrow(/at least 2 replicas/);
    const step = await DataParallelStep.create(model, optimizer, { replicas: 2, maxBatch: 8 });
    disposeLater.push(step);
    const s: StepSettings = { lr: 0.01, scale: 1, chunk: 256, beta: 1, labelSmoothing: 0.01, clipNorm: 8, seed: 1 };
    expect(() => step.run(batchOf(9, 1), s)).toThrow(/batch of 9 exceeds the 8/);
    expect(() => step.run(batchOf(1, 1), s)).toThrow(/cannot be split over 2 replicas/);
    step.dispose();
    expect(() => step.run(batchOf(8, 1), s)).toThrow(/disposed/);
  }, 60_000);
});
