/**
 * Benchmark: train an MNIST generative classifier at β = 1 within a CPU time budget and record
 * test accuracy and bits/dim. Writes bench/results/mnist-beta1.json and .md.
 *
 *   npm run build && node dist/bench/mnist-beta1.js [--arch tiny-mnist] [--epochs 6] [--minutes 105]
 *
 * If the time budget ends before the last epoch, the model as it stands is evaluated (after BN
 * re-estimation) and the report says so.
 */
import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { engineInfo, initEngine } from '../src/engine/backend.js';
import { DEFAULT_TRAIN_OPTIONS, reestimateBatchNorm, train } from '../src/train/trainer.js';
import type { TrainOptions } from '../src/train/trainer.js';
import { isArchName } from '../src/gc/presets.js';
import { loadDataset } from '../src/data/registry.js';
import { evaluate } from '../src/eval/evaluate.js';
import { projectRoot } from '../src/util/paths.js';

const cli = new Command('mnist-beta1')
  .option('--arch <name>', 'architecture', 'tiny-mnist')
  .option('--epochs <n>', 'epochs', Number, 6)
  .option('--minutes <m>', 'training time budget', Number, 105)
  .option('--batch-size <n>', 'batch size', Number, 128)
  .option('--micro-batch <n>', 'gradient-accumulation chunk', Number)
  .option('--out <dir>', 'run folder', 'runs/bench-mnist-beta1')
  .option('--resume', 'continue an interrupted benchmark run', false)
  .parse();

const o = cli.opts();
if (!isArchName(o.arch)) throw new Error(`unknown architecture ${o.arch}`);
const backend = await initEngine();
const epochs: number = o.epochs;
const opts: TrainOptions = {
  ...DEFAULT_TRAIN_OPTIONS,
  dataset: 'mnist',
  arch: o.arch,
  beta: 1,
  epochs,
  timeBudgetSeconds: o.minutes * 60,
  batchSize: o.batchSize,
  microBatch: o.microBatch,
  optimizer: 'adam',
  lr: 1e-3,
  weightDecay: 0,
  lrDecayEpochs: [Math.round(0.6 * epochs * 10) / 10, Math.round(0.85 * epochs * 10) / 10],
  lrDecayFactor: 0.1,
  augment: { shift: 2, flip: false, dequantize: true, noiseStd: 0.01 },
  evalEveryEpochs: 1,
  evalLimit: 2000,
  outDir: o.out,
};

const started = Date.now();
let lastLog = 0;
const result = await train(opts, {
  onPhase: (p) => console.error(`… ${p}`),
  onStep: ({ state, metrics, imagesPerSecond, stepsPerEpoch }) => {
    if (Date.now() - lastLog < 30_000) return;
    lastLog = Date.now();
    console.error(`epoch ${state.epoch} step ${state.batchInEpoch}/${stepsPerEpoch} loss ${metrics.loss.toFixed(3)} acc ${(100 * metrics.accuracy).toFixed(1)}% ${imagesPerSecond.toFixed(0)} img/s`);
  },
  onEpochEnd: ({ state, eval: ev }) => ev && console.error(`epoch ${state.epoch}: test acc (first ${ev.images}) ${(100 * ev.accuracy).toFixed(2)}%`),
}, o.resume);

let final = result.final;
if (!final) {
  // time budget reached before the last epoch: evaluate the model as it stands
  const trainSet = await loadDataset('mnist', 'train');
  reestimateBatchNorm(result.model, trainSet, opts, opts.bnReestimateBatches);
  final = await evaluate(result.model, await loadDataset('mnist', 'test'));
}
const report = {
  benchmark: 'mnist-beta1',
  arch: o.arch,
  parameters: result.model.countParams().total,
  beta: 1,
  backend,
  engine: engineInfo(),
  machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}`,
  budgetMinutes: o.minutes,
  epochsPlanned: epochs,
  epochsCompleted: result.state.epoch + result.state.batchInEpoch / Math.floor(60000 / o.batchSize),
  stoppedByBudget: result.stoppedEarly,
  trainMinutes: result.state.trainSeconds / 60,
  wallMinutes: (Date.now() - started) / 60000,
  settings: { optimizer: opts.optimizer, lr: opts.lr, lrDecayEpochs: opts.lrDecayEpochs, batchSize: opts.batchSize, augment: opts.augment },
  testAccuracy: final.accuracy,
  testBitsPerDim: final.bitsPerDim,
  testLx: final.lx,
  testLy: final.ly,
  target: { testAccuracy: 0.99 },
  command: `node dist/bench/mnist-beta1.js --arch ${o.arch} --epochs ${epochs} --minutes ${o.minutes}`,
  date: new Date().toISOString(),
};
const dir = join(projectRoot(), 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'mnist-beta1.json'), JSON.stringify(report, null, 2) + '\n');
const md = [
  '| benchmark | arch | params | epochs | train time | test accuracy | bits/dim | target |',
  '|---|---|---|---|---|---|---|---|',
  `| mnist β=1 | ${o.arch} | ${report.parameters.toLocaleString('en')} | ${report.epochsCompleted.toFixed(2)}${report.stoppedByBudget ? ' (budget)' : ''} | ${report.trainMinutes.toFixed(1)} min | ${(100 * final.accuracy).toFixed(2)} % | ${final.bitsPerDim.toFixed(3)} | ≥ 99.0 % |`,
  '',
  `Command: \`${report.command}\` (${report.machine}, ${backend} backend, ${report.engine.threads} wasm thread(s)${report.engine.native ? `, ${report.engine.native} kernels on ${report.engine.nativeThreads} thread(s)` : ''}).`,
].join('\n');
writeFileSync(join(dir, 'mnist-beta1.md'), md + '\n');
console.log(md);
result.model.dispose();
