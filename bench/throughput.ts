/**
 * Throughput benchmark: training and inference images/s of the IB-INN presets on every engine path
 * trustgc has (wasm on 1 thread, on all threads, with the native oneDNN kernels when built) and of
 * the same architecture in PyTorch (bench/torch/ibinn_throughput.py; Debian python3-torch, a
 * development tool only), same batch sizes, same machine, run one after the other. Each
 * configuration runs in its own process (thread counts are fixed per process); peak memory is the
 * process's maximum resident set size. Data-parallel rows train with one single-threaded replica
 * per core (src/train/data_parallel.ts). The machine's speed drifts (shared host), so every
 * configuration, PyTorch included, is measured --repeats times in interleaved order and the best
 * round and the median of the per-repeat medians are reported.
 * Writes bench/results/throughput.json and throughput.md.
 *
 *   npm run bench:throughput [-- --archs ibinn-mnist,ibinn-cifar10 --rounds 5]
 */
import { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { engineInfo, initEngine, tf } from '../src/engine/backend.js';
import { nativeAddonPath } from '../src/engine/native_kernels.js';
import { GenerativeClassifier } from '../src/gc/model.js';
import { defaultConfig, isArchName } from '../src/gc/presets.js';
import type { ArchName } from '../src/gc/presets.js';
import { exportOnnx } from '../src/onnx/export.js';
import { OnnxClassifier, onnxAvailable } from '../src/onnx/runtime.js';
import { Optimizer } from '../src/train/optimizer.js';
import { TrainingStep } from '../src/train/step.js';
import { DataParallelStep } from '../src/train/data_parallel.js';
import { projectRoot } from '../src/util/paths.js';

interface Measurement {
  engine: string;
  arch: string;
  threads: number;
  native?: string | null;
  parameters: number;
  trainBatch: number;
  inferBatch: number;
  trainImagesPerSecond: number;
  trainImagesPerSecondMedian: number;
  inferImagesPerSecond: number;
  inferImagesPerSecondMedian: number;
  peakRssMB: number;
  /** tfjs only: peak bytes of live tensors during one training step (tf.profile), MB */
  stepPeakTensorMB?: number;
}

const cli = new Command('throughput')
  .option('--archs <list>', 'presets', 'ibinn-mnist,ibinn-cifar10')
  .option('--rounds <n>', 'timed rounds per measurement', Number, 5)
  .option('--train-batch <n>', 'training batch (one forward/backward pass)', Number, 32)
  .option('--infer-batch <n>', 'inference batch', Number, 100)
  .option('--python <path>', 'Python with PyTorch', '/usr/bin/python3')
  .option('--repeats <n>', 'interleaved repeats of every configuration', Number, 2)
  .option('--child <json>', '(internal) measure one configuration in this process')
  .parse();
const o = cli.opts();

function best(times: number[]): { best: number; median: number } {
  const sorted = [...times].sort((a, b) => a - b);
  return { best: sorted[0], median: sorted[Math.floor(sorted.length / 2)] };
}

function timed(fn: () => void, warmup: number, rounds: number) {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    fn();
    times.push((performance.now() - t) / 1000);
  }
  return best(times);
}

/** Deterministic synthetic batch: throughput does not depend on pixel values. */
function syntheticImages(n: number, size: number): Float32Array {
  const x = new Float32Array(n * size);
  let s = 12345;
  for (let i = 0; i < x.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    x[i] = (s >>> 8) / 16777216;
  }
  return x;
}

interface ChildSpec {
  arch: string;
  threads: number;
  native: boolean;
  /** inference on onnxruntime-node (ONNX export) instead of tfjs; no training */
  onnx?: boolean;
  /** data-parallel training replicas (each single-threaded); no inference */
  replicas?: number;
  trainBatch: number;
  inferBatch: number;
  rounds: number;
}

async function measureOnnxChild(spec: ChildSpec): Promise<Measurement> {
  await initEngine({ backend: 'wasm', threads: spec.threads, native: false, quiet: true });
  const model = new GenerativeClassifier(defaultConfig(spec.arch as ArchName, Array.from({ length: 10 }, (_, i) => String(i))));
  const { height, width, channels } = model.config.input;
  const onnx = await OnnxClassifier.fromBytes(exportOnnx(model, { batch: spec.inferBatch }).bytes, model.config, { threads: spec.threads });
  const xi = tf.tensor4d(syntheticImages(spec.inferBatch, height * width * channels), [spec.inferBatch, height, width, channels]);
  const run = async () => {
    const out = await onnx.infer(xi);
    tf.dispose(Object.values(out));
  };
  await run();
  const times: number[] = [];
  for (let i = 0; i < spec.rounds; i++) {
    const t = performance.now();
    await run();
    times.push((performance.now() - t) / 1000);
  }
  const infer = best(times);
  return {
    engine: 'onnxruntime',
    arch: spec.arch,
    threads: spec.threads,
    native: null,
    parameters: model.countParams().total,
    trainBatch: 0,
    inferBatch: spec.inferBatch,
    trainImagesPerSecond: NaN,
    trainImagesPerSecondMedian: NaN,
    inferImagesPerSecond: spec.inferBatch / infer.best,
    inferImagesPerSecondMedian: spec.inferBatch / infer.median,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
  };
}

async function measureChild(spec: ChildSpec): Promise<Measurement> {
  if (!isArchName(spec.arch)) throw new Error(`unknown architecture ${spec.arch}`);
  if (spec.onnx) return measureOnnxChild(spec);
  const replicas = spec.replicas ?? 1;
  // A native row runs its threads in oneDNN and the fused kernels, with one wasm thread (as the
  // library does when the addon is loaded: the threaded wasm pool's waiting threads would compete
  // with OpenMP's for the same cores); data-parallel replicas run single-threaded.
  if (spec.native) process.env.TRUSTGC_NATIVE_THREADS = String(replicas > 1 ? 1 : spec.threads);
  await initEngine({ backend: 'wasm', threads: replicas > 1 || spec.native ? 1 : spec.threads, native: spec.native });
  const classes = Array.from({ length: 10 }, (_, i) => String(i));
  const model = new GenerativeClassifier(defaultConfig(spec.arch, classes));
  const { height, width, channels } = model.config.input;
  const pixels = height * width * channels;

  // inference: eval mode, everything the classifier reports
  const xi = tf.tensor4d(syntheticImages(spec.inferBatch, pixels), [spec.inferBatch, height, width, channels]);
  const infer = replicas > 1
    ? { best: NaN, median: NaN }
    : timed(
        () => {
          const out = model.infer(xi);
          out.logPx.dataSync();
          tf.dispose(Object.values(out));
        },
        1,
        spec.rounds,
      );
  xi.dispose();

  // training: the trainer's own step (IB loss, gradients, clipping, SGD with momentum)
  const trainable = model.namedParams().filter((p) => p.trainable);
  const optimizer = new Optimizer([{ name: 'all', params: trainable, lrScale: 1, momentum: 0.9, weightDecay: 1e-4 }], { kind: 'sgd' });
  const step = replicas > 1
    ? await DataParallelStep.create(model, optimizer, { replicas, maxBatch: spec.trainBatch })
    : new TrainingStep(model, optimizer);
  const batch = {
    x: syntheticImages(spec.trainBatch, pixels),
    labels: Int32Array.from({ length: spec.trainBatch }, (_, i) => i % 10),
    size: spec.trainBatch,
  };
  let seed = 1;
  const settings = { lr: 1e-4, scale: 1, chunk: spec.trainBatch, beta: 1, labelSmoothing: 0.01, clipNorm: 8 };
  const trainTimes = timed(() => void step.run(batch, { ...settings, seed: seed++ }), 2, spec.rounds);
  const profile = await tf.profile(() => void step.run(batch, { ...settings, seed: seed++ }));
  step.dispose();
  const info = engineInfo();
  return {
    engine: 'trustgc',
    arch: spec.arch,
    threads: replicas > 1 ? replicas : spec.native ? (info.nativeThreads ?? spec.threads) : info.threads,
    native: info.native,
    parameters: model.countParams().total,
    trainBatch: spec.trainBatch,
    inferBatch: spec.inferBatch,
    trainImagesPerSecond: spec.trainBatch / trainTimes.best,
    trainImagesPerSecondMedian: spec.trainBatch / trainTimes.median,
    inferImagesPerSecond: spec.inferBatch / infer.best,
    inferImagesPerSecondMedian: spec.inferBatch / infer.median,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    stepPeakTensorMB: profile.peakBytes / 1e6,
  };
}

function lastJsonLine(text: string): unknown {
  const line = text.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`no result in output:\n${text.slice(-2000)}`);
  return JSON.parse(line);
}

function runChild(spec: object): Measurement {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [self, '--child', JSON.stringify(spec)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`measurement ${JSON.stringify(spec)} failed:\n${r.stderr.slice(-3000)}`);
  return lastJsonLine(r.stdout) as Measurement;
}

function torchAvailable(python: string): string | undefined {
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

if (o.child) {
  console.log(JSON.stringify(await measureChild(JSON.parse(o.child))));
  process.exit(0);
}

const cores = os.availableParallelism();
const native = existsSync(nativeAddonPath());
const threadCounts = cores > 1 ? [1, cores] : [1];
const paths = [
  ...threadCounts.map((threads) => ({ label: 'trustgc wasm', threads, native: false, onnx: false, replicas: 1 })),
  ...(native ? threadCounts.map((threads) => ({ label: 'trustgc wasm + oneDNN', threads, native: true, onnx: false, replicas: 1 })) : []),
  ...(native && cores > 1 ? [{ label: 'trustgc wasm + oneDNN, data-parallel (training)', threads: cores, native: true, onnx: false, replicas: cores }] : []),
  ...((await onnxAvailable()) ? threadCounts.map((threads) => ({ label: 'trustgc onnxruntime-node (inference)', threads, native: false, onnx: true, replicas: 1 })) : []),
];
const torchVersion = torchAvailable(o.python);

function measureTorch(arch: string, threads: number): Measurement {
  const script = join(projectRoot(), 'bench', 'torch', 'ibinn_throughput.py');
  const r = spawnSync(o.python, [script, '--arch', arch, '--threads', String(threads), '--train-batch', String(o.trainBatch), '--infer-batch', String(o.inferBatch), '--rounds', String(o.rounds)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`PyTorch measurement failed:\n${r.stderr.slice(-3000)}`);
  return lastJsonLine(r.stdout) as Measurement;
}

/** Repeats of one configuration merged: the best round, the median of the medians, the largest memory. */
function merge(ms: Measurement[]): Measurement {
  // (a row without training or inference has null there: JSON has no NaN)
  const finite = (xs: Array<number | null>) => xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  const med = (xs: Array<number | null>) => {
    const f = finite(xs).sort((a, b) => a - b);
    return f.length ? f[Math.floor(f.length / 2)] : NaN;
  };
  const max = (xs: Array<number | null>) => (finite(xs).length ? Math.max(...finite(xs)) : NaN);
  return {
    ...ms[0],
    trainImagesPerSecond: max(ms.map((m) => m.trainImagesPerSecond)),
    trainImagesPerSecondMedian: med(ms.map((m) => m.trainImagesPerSecondMedian)),
    inferImagesPerSecond: max(ms.map((m) => m.inferImagesPerSecond)),
    inferImagesPerSecondMedian: med(ms.map((m) => m.inferImagesPerSecondMedian)),
    peakRssMB: Math.max(...ms.map((m) => m.peakRssMB)),
  };
}

const rows: Array<Measurement & { label: string }> = [];
for (const arch of (o.archs as string).split(',')) {
  const configs = [
    ...paths.map((p) => ({ label: p.label, run: () => runChild({ arch, threads: p.threads, native: p.native, onnx: p.onnx, replicas: p.replicas, trainBatch: o.trainBatch, inferBatch: o.inferBatch, rounds: o.rounds }) })),
    ...(torchVersion ? threadCounts.map((threads) => ({ label: `PyTorch ${torchVersion}`, threads, run: () => measureTorch(arch, threads) })) : []),
  ];
  const results: Measurement[][] = configs.map(() => []);
  for (let rep = 0; rep < o.repeats; rep++) {
    configs.forEach((c, i) => {
      console.error(`… ${arch}: ${c.label} (repeat ${rep + 1}/${o.repeats})`);
      results[i].push(c.run());
    });
  }
  configs.forEach((c, i) => rows.push({ ...merge(results[i]), label: c.label }));
}

const torchRow = (arch: string, threads: number) => rows.find((r) => r.engine === 'pytorch' && r.arch === arch && r.threads === threads);
const ratio = (v: number | null, ref: number | undefined) => (ref && v !== null && Number.isFinite(v) ? v / ref : undefined);
const table = rows.map((r) => {
  const t = torchRow(r.arch, r.threads);
  return {
    ...r,
    trainVsPytorch: r.engine === 'pytorch' ? undefined : ratio(r.trainImagesPerSecond, t?.trainImagesPerSecond),
    inferVsPytorch: r.engine === 'pytorch' ? undefined : ratio(r.inferImagesPerSecond, t?.inferImagesPerSecond),
  };
});
const command = `node dist/bench/throughput.js --archs ${o.archs} --rounds ${o.rounds} --repeats ${o.repeats} --train-batch ${o.trainBatch} --infer-batch ${o.inferBatch}`;
const report = {
  benchmark: 'throughput',
  machine: `${cores} × ${os.cpus()[0]?.model ?? 'cpu'}`,
  targets: { trainVsPytorch: 1.0, inferVsPytorch: 1.2 },
  rows: table,
  command,
  date: new Date().toISOString(),
};
const dir = join(projectRoot(), 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'throughput.json'), JSON.stringify(report, null, 2) + '\n');
const f = (v: number | undefined, d = 1) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));
const md = [
  '| preset | engine | threads | train img/s (best / median) | × PyTorch | infer img/s (best / median) | × PyTorch | peak RSS MB | tensors per training step, peak MB |',
  '|---|---|---|---|---|---|---|---|---|',
  ...table.map(
    (r) =>
      `| ${r.arch} | ${r.label} | ${r.threads} | ${f(r.trainImagesPerSecond)} / ${f(r.trainImagesPerSecondMedian)} | ${f(r.trainVsPytorch, 2)} | ${f(r.inferImagesPerSecond)} / ${f(r.inferImagesPerSecondMedian)} | ${f(r.inferVsPytorch, 2)} | ${f(r.peakRssMB, 0)} | ${f(r.stepPeakTensorMB, 0)} |`,
  ),
  '',
  `Training: batch ${o.trainBatch} in one pass (IB loss β = 1, gradients, clipping, SGD momentum step); inference: batch ${o.inferBatch}, eval mode, logits and log p(x). ` +
    `Best round and median of the per-repeat medians, ${o.rounds} rounds after warm-up in each of ${o.repeats} interleaved repeats; × PyTorch compares best with best at the same thread count (targets: training ≥ 1.0×, inference ≥ 1.2×). ` +
    `${report.machine}. Command: \`${command}\`.`,
].join('\n');
writeFileSync(join(dir, 'throughput.md'), md + '\n');
console.log(md);
