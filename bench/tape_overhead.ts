/**
 * What the engine's gradient-tape changes (src/engine/saved_tensors.ts, lean_gradients.ts) are
 * worth in a training step: the trainer's step on a synthetic batch, alternating step by step in
 * one process between tfjs's own tape handling (saved tensors cloned, tfjs's Add/Sub/Mul/Relu
 * gradients) and the engine's (shared saved tensors, lean gradients), so the host's drifting speed
 * hits both alike. Reports kernel calls per step and best / median step time of each.
 * Writes bench/results/tape-overhead.json and tape-overhead.md.
 *
 *   npm run bench:tape [-- --archs ibinn-mnist,ibinn-cifar10 --batch 32 --rounds 15]
 */
import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { engineInfo, initEngine, tf } from '../src/engine/backend.js';
import { shareSavedTensors } from '../src/engine/saved_tensors.js';
import { useLeanGradients } from '../src/engine/lean_gradients.js';
import { recordKernelCalls } from '../src/engine/kernel_calls.js';
import { GenerativeClassifier } from '../src/gc/model.js';
import { defaultConfig, isArchName } from '../src/gc/presets.js';
import { Optimizer } from '../src/train/optimizer.js';
import { TrainingStep } from '../src/train/step.js';
import { projectRoot } from '../src/util/paths.js';

const o = new Command('tape_overhead')
  .option('--archs <list>', 'presets', 'ibinn-mnist,ibinn-cifar10')
  .option('--batch <n>', 'training batch (one pass)', Number, 32)
  .option('--rounds <n>', 'timed steps per mode', Number, 15)
  .parse()
  .opts();

await initEngine({ backend: 'wasm', quiet: true });

interface Row {
  arch: string;
  batch: number;
  kernelsTfjs: number;
  kernelsEngine: number;
  bestMsTfjs: number;
  medianMsTfjs: number;
  bestMsEngine: number;
  medianMsEngine: number;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

const setMode = (engineTape: boolean) => {
  shareSavedTensors(engineTape);
  useLeanGradients(engineTape);
};

const rows: Row[] = [];
for (const arch of (o.archs as string).split(',')) {
  if (!isArchName(arch)) throw new Error(`unknown architecture ${arch}`);
  const model = new GenerativeClassifier(defaultConfig(arch, Array.from({ length: 10 }, (_, i) => String(i))));
  const { height, width, channels } = model.config.input;
  const b = o.batch as number;
  const x = Float32Array.from({ length: b * height * width * channels }, (_, i) => ((i * 7919) % 255) / 255);
  const trainable = model.namedParams().filter((p) => p.trainable);
  const optimizer = new Optimizer([{ name: 'all', params: trainable, lrScale: 1, momentum: 0.9, weightDecay: 1e-4 }], { kind: 'sgd' });
  const step = new TrainingStep(model, optimizer);
  const batch = { x, labels: Int32Array.from({ length: b }, (_, i) => i % 10), size: b };
  const settings = { lr: 1e-4, scale: 1, chunk: b, beta: 1, labelSmoothing: 0.01, clipNorm: 8 };
  let seed = 1;
  const run = () => void step.run(batch, { ...settings, seed: seed++ });
  const mode = (on: boolean) => (on ? 'engine' : 'tfjs');
  const kernels: Record<string, number> = {};
  const times: Record<string, number[]> = { tfjs: [], engine: [] };
  for (const on of [false, true]) {
    setMode(on);
    run(); // warm-up
    run();
    kernels[mode(on)] = recordKernelCalls(run).length;
  }
  for (let r = 0; r < o.rounds; r++) {
    for (const on of r % 2 ? [true, false] : [false, true]) {
      setMode(on);
      const t = performance.now();
      run();
      times[mode(on)].push(performance.now() - t);
    }
  }
  setMode(true);
  model.dispose();
  const row: Row = {
    arch,
    batch: b,
    kernelsTfjs: kernels.tfjs,
    kernelsEngine: kernels.engine,
    bestMsTfjs: Math.min(...times.tfjs),
    medianMsTfjs: median(times.tfjs),
    bestMsEngine: Math.min(...times.engine),
    medianMsEngine: median(times.engine),
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}

const info = engineInfo();
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`;
const command = `node dist/bench/tape_overhead.js --archs ${o.archs} --batch ${o.batch} --rounds ${o.rounds}`;
const dir = join(projectRoot(), 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'tape-overhead.json'), JSON.stringify({ benchmark: 'tape-overhead', engine: info, machine, rows, command, date: new Date().toISOString() }, null, 2) + '\n');
const f = (v: number) => v.toFixed(1);
const md = [
  '| preset | batch | kernel calls: tfjs tape | engine tape | step ms best / median: tfjs tape | engine tape | time ratio (medians) |',
  '|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.arch} | ${r.batch} | ${r.kernelsTfjs} | ${r.kernelsEngine} | ${f(r.bestMsTfjs)} / ${f(r.medianMsTfjs)} | ${f(r.bestMsEngine)} / ${f(r.medianMsEngine)} | ${(r.medianMsEngine / r.medianMsTfjs).toFixed(2)} |`,
  ),
  '',
  `${o.rounds} steps per mode, alternating in one process; engine: ${info.backend}${info.native ? ` + ${info.native} on ${info.nativeThreads} thread(s)` : ''}, ${machine}. ` +
    `"tfjs tape": saved tensors cloned and tfjs's Add/Sub/Mul/Relu gradients; "engine tape": shared saved tensors and the lean gradients (both with the kernel-free flattening views of the optimizer and batch norm). Command: \`${command}\`.`,
].join('\n');
writeFileSync(join(dir, 'tape-overhead.md'), md + '\n');
console.log(md);
