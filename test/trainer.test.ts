import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, tinyRunOptions, useBackend } from './helpers.js';
import { TrainingDivergedError, train, CHECKPOINT_FILE, METRICS_FILE, OPTIONS_FILE } from '../src/train/trainer.js';
import type { TrainOptions } from '../src/train/trainer.js';
import { loadModel, MODEL_FILE } from '../src/io/checkpoint.js';
import { loadSafetensors, saveSafetensors } from '../src/io/safetensors.js';
import { projectRoot } from '../src/util/paths.js';
import { LOCK_FILE } from '../src/train/run_lock.js';
import { spawnSync } from 'node:child_process';

beforeAll(async () => {
  await useBackend('wasm');
});

const base = tinyRunOptions;

function weights(dir: string, file = MODEL_FILE): Map<string, Float32Array> {
  const f = loadSafetensors(join(dir, file));
  return new Map([...f.tensors].map(([k, v]) => [k, v.data as Float32Array]));
}

// data-parallel workers run the compiled library (dist/), built by npm run build / npm ci
const workerBuilt = existsSync(join(projectRoot(), 'dist', 'src', 'train', 'data_parallel_worker.js'));

describe('training', () => {
  it('an interrupted run resumed from its checkpoint ends with exactly the same weights', async () => {
    const straight = mkdtempSync(join(tmpdir(), 'gc-straight-'));
    const live: number[] = [];
    const r1 = await train(base(straight), { onStep: () => void live.push(tf.memory().numTensors) });
    // no tensor leaks from one step to the next (the epoch-end evaluation included)
    expect(new Set(live.slice(1)).size, `live tensors per step: ${live}`).toBe(1);
    expect(r1.stoppedEarly).toBe(false);
    expect(r1.state.step).toBe(6);
    r1.model.dispose();

    const split = mkdtempSync(join(tmpdir(), 'gc-split-'));
    const part = await train({ ...base(split), maxSteps: 4 }); // stops mid-epoch 1
    expect(part.stoppedEarly).toBe(true);
    expect(part.state).toMatchObject({ step: 4, epoch: 1, batchInEpoch: 1 });
    part.model.dispose();
    const rest = await train({ ...base(split), maxSteps: undefined }, {}, true);
    expect(rest.state.step).toBe(6);
    rest.model.dispose();

    const a = weights(straight);
    const b = weights(split);
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
    for (const [k, v] of a) expect(Array.from(b.get(k)!), k).toEqual(Array.from(v));
    // metrics log and evaluation were written
    const lines = readFileSync(join(straight, METRICS_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.some((l) => l.type === 'eval')).toBe(true);
    expect(lines.at(-1).type).toBe('final');
    expect(existsSync(join(straight, 'eval.json'))).toBe(true);
  });

  it('a resumed β = ∞ run keeps β = ∞ (train.json stores Infinity as null) and ends with the straight run\'s weights', async () => {
    const inf = (dir: string): TrainOptions => ({ ...base(dir), beta: Infinity });
    const straight = mkdtempSync(join(tmpdir(), 'gc-inf-straight-'));
    (await train(inf(straight))).model.dispose();
    const split = mkdtempSync(join(tmpdir(), 'gc-inf-split-'));
    (await train({ ...inf(split), maxSteps: 4 })).model.dispose();
    expect(JSON.parse(readFileSync(join(split, OPTIONS_FILE), 'utf8')).beta).toBeNull();
    (await train({ outDir: split } as TrainOptions, {}, true)).model.dispose();
    const a = weights(straight);
    const b = weights(split);
    for (const [k, v] of a) expect(Array.from(b.get(k)!), k).toEqual(Array.from(v));
  });

  it('a resumed run may move the decays it has not reached (and ends as the straight run of the new schedule), not those it has', async () => {
    // 3 steps per epoch; stopped after 4 steps the last step taken sat at epoch 1.0
    const straight = mkdtempSync(join(tmpdir(), 'gc-replan-straight-'));
    (await train({ ...base(straight), lrDecayEpochs: [1.5] })).model.dispose();
    const replanned = mkdtempSync(join(tmpdir(), 'gc-replan-'));
    (await train({ ...base(replanned), lrDecayEpochs: [1.8], maxSteps: 4 })).model.dispose();
    (await train({ outDir: replanned, lrDecayEpochs: [1.5] } as TrainOptions, {}, true)).model.dispose();
    const a = weights(straight);
    const b = weights(replanned);
    for (const [k, v] of a) expect(Array.from(b.get(k)!), k).toEqual(Array.from(v));
    // train.json now describes the schedule the run followed
    expect(JSON.parse(readFileSync(join(replanned, OPTIONS_FILE), 'utf8')).lrDecayEpochs).toEqual([1.5]);
    // and the same run without the change would have differed (the comparison above can fail)
    const kept = mkdtempSync(join(tmpdir(), 'gc-replan-kept-'));
    (await train({ ...base(kept), lrDecayEpochs: [1.8] })).model.dispose();
    const c = weights(kept);
    expect([...a].some(([k, v]) => v.some((x, i) => x !== c.get(k)![i]))).toBe(true);

    // a decay already passed (epoch 0.5, with steps at 0.67 and 1.0 after it) cannot move
    const passed = mkdtempSync(join(tmpdir(), 'gc-replan-passed-'));
    (await train({ ...base(passed), lrDecayEpochs: [0.5], maxSteps: 4 })).model.dispose();
    await expect(train({ outDir: passed, lrDecayEpochs: [0.9] } as TrainOptions, {}, true)).rejects.toThrow(
      /cannot change --lr-decay-epochs from 0\.5 to 0\.9: the run is at epoch 1\.33, and the decays behind it \(0\.5\) would become 0\.9/,
    );
    expect(JSON.parse(readFileSync(join(passed, OPTIONS_FILE), 'utf8')).lrDecayEpochs).toEqual([0.5]);
    // nor can the run end before where it already is
    await expect(train({ outDir: passed, epochs: 1 } as TrainOptions, {}, true)).rejects.toThrow(
      /cannot shorten the run to 1 epochs: it has already trained 1\.33 \(--epochs 2\)/,
    );
  });

  it.skipIf(!workerBuilt)('data-parallel (2 worker threads): a run resumed from its checkpoint ends with the straight run\'s weights', async () => {
    // the resumed run's worker starts from the checkpoint's weights and Adam moments
    const dp = (dir: string): TrainOptions => ({ ...base(dir), workers: 2 });
    const straight = mkdtempSync(join(tmpdir(), 'gc-dp-straight-'));
    const r1 = await train(dp(straight));
    expect(r1.state.step).toBe(6);
    r1.model.dispose();
    const split = mkdtempSync(join(tmpdir(), 'gc-dp-split-'));
    (await train({ ...dp(split), maxSteps: 4 })).model.dispose();
    (await train({ ...dp(split), maxSteps: undefined }, {}, true)).model.dispose();
    const a = weights(straight);
    const b = weights(split);
    for (const [k, v] of a) expect(Array.from(b.get(k)!), k).toEqual(Array.from(v));
    // and it trained differently from a single replica only through per-shard batch norm: close, not equal
    const single = mkdtempSync(join(tmpdir(), 'gc-dp-single-'));
    (await train(base(single))).model.dispose();
    const c = weights(single);
    const differs = [...a].filter(([k, v]) => v.some((x, i) => x !== c.get(k)![i])).length;
    expect(differs).toBeGreaterThan(0);
  }, 120_000);

  it('refuses to overwrite an existing run without --resume', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gc-twice-'));
    const r = await train({ ...base(dir), maxSteps: 1 });
    r.model.dispose();
    await expect(train(base(dir))).rejects.toThrow(/already holds a training run.*--resume/);
  });

  it('refuses a second process in a run folder, takes over a stale lock, and releases it when done', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gc-lock-'));
    // a live owner (this very process stands in for another trainer)
    writeFileSync(join(dir, LOCK_FILE), `${process.pid}\n`);
    await expect(train({ ...base(dir), maxSteps: 1 })).rejects.toThrow(new RegExp(`is being trained by process ${process.pid}`));
    expect(existsSync(join(dir, CHECKPOINT_FILE))).toBe(false);
    // an owner that has exited: the lock is stale
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(join(dir, LOCK_FILE), `${gone}\n`);
    const r = await train({ ...base(dir), maxSteps: 1 });
    r.model.dispose();
    expect(existsSync(join(dir, CHECKPOINT_FILE))).toBe(true);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('stops with a clear error on a non-finite loss and keeps the last good checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gc-nan-'));
    const opts = { ...base(dir), optimizer: 'sgd' as const, lr: 1e12, clipNorm: 0, burnInSteps: 0, checkpointEverySteps: 1, epochs: 50 };
    await expect(train(opts)).rejects.toThrow(TrainingDivergedError);
    // the checkpoint on disk holds only finite values and can be loaded
    const ck = loadSafetensors(join(dir, CHECKPOINT_FILE));
    for (const [name, t] of ck.tensors) expect(t.data.every(Number.isFinite), name).toBe(true);
    expect(JSON.parse(ck.metadata.state).step).toBeGreaterThan(0);
    const log = readFileSync(join(dir, METRICS_FILE), 'utf8');
    expect(log).toMatch(/"type":"diverged"/);
  });

  it('loading rejects checkpoints from another architecture, corrupt files and NaN weights', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gc-load-'));
    const r = await train({ ...base(dir), epochs: 1, trainLimit: 16, evalEveryEpochs: 0 });
    r.model.dispose();
    expect(() => loadModel(dir).dispose()).not.toThrow();

    // config of another architecture against these weights
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, arch: 'ibinn-mnist' }));
    expect(() => loadModel(dir)).toThrow(/does not match this architecture: tensor .* (is missing|has shape)/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, arch: 'resnet-9000' }));
    expect(() => loadModel(dir)).toThrow(/unknown architecture "resnet-9000"/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));

    // truncated weights
    const bytes = readFileSync(join(dir, MODEL_FILE));
    writeFileSync(join(dir, MODEL_FILE), bytes.subarray(0, bytes.length - 100));
    expect(() => loadModel(dir)).toThrow(/not a valid safetensors file \(tensor .* outside the file/);

    // NaN weights
    writeFileSync(join(dir, MODEL_FILE), bytes);
    const f = loadSafetensors(join(dir, MODEL_FILE));
    const arrays = [...f.tensors.values()];
    arrays[3].data[0] = NaN;
    saveSafetensors(join(dir, MODEL_FILE), arrays);
    expect(() => loadModel(dir)).toThrow(/corrupt: tensor .* NaN/);
    expect(() => loadModel(join(dir, 'nowhere'))).toThrow(/model folder .*nowhere does not exist/);
  });
});
