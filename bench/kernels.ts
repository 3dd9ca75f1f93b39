/**
 * Micro-benchmark of the convolution kernels training depends on: a 3×3, 64→64 convolution at
 * 32×32, batch 32, stride 1, 'same'. Reports GFLOP/s (1 MAC = 2 FLOP) of the forward pass and of
 * forward + both gradients, best and median of several rounds, on the chosen backends.
 * Writes bench/results/kernels.json and kernels.md.
 *
 *   npm run build && node dist/bench/kernels.js [--rounds 5] [--backends wasm,cpu]
 */
import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { initEngine, tf } from '../src/engine/backend.js';
import type { BackendName } from '../src/engine/backend.js';
import { projectRoot } from '../src/util/paths.js';

const cli = new Command('kernels')
  .option('--rounds <n>', 'timed rounds', Number, 5)
  .option('--backends <list>', 'backends to measure', 'wasm')
  .parse();
const o = cli.opts();

const [B, H, W, C, K] = [32, 32, 32, 64, 3];
const macs = B * H * W * C * C * K * K;
const gflop = (2 * macs) / 1e9;

function timeIt(fn: () => void, rounds: number): { best: number; median: number } {
  fn(); // warm-up (kernel set-up, memory growth)
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { best: times[0], median: times[Math.floor(times.length / 2)] };
}

const rows: Array<Record<string, number | string>> = [];
for (const backend of (o.backends as string).split(',') as BackendName[]) {
  await initEngine({ backend });
  const x = tf.randomNormal([B, H, W, C]) as tf.Tensor4D;
  const w = tf.randomNormal([K, K, C, C], 0, 0.05) as tf.Tensor4D;
  // (never return a typed array from tf.tidy: tidy walks the returned value looking for tensors)
  const fwd = timeIt(() => tf.tidy(() => void tf.conv2d(x, w, 1, 'same').dataSync()), o.rounds);
  const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'));
  // forward + input gradient + filter gradient = 3× the forward work
  const both = timeIt(() => tf.tidy(() => void grads([x, w]).forEach((g) => g.dataSync())), o.rounds);
  const row = {
    backend,
    forwardMs: fwd.best,
    forwardGflops: gflop / (fwd.best / 1000),
    forwardGflopsMedian: gflop / (fwd.median / 1000),
    fwdBwdMs: both.best,
    fwdBwdGflops: (3 * gflop) / (both.best / 1000),
    fwdBwdGflopsMedian: (3 * gflop) / (both.median / 1000),
  };
  rows.push(row);
  tf.dispose([x, w]);
}

const report = {
  benchmark: 'kernels',
  shape: { batch: B, height: H, width: W, cin: C, cout: C, kernel: K },
  gflopForward: gflop,
  threads: 1,
  machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}`,
  rows,
  command: `node dist/bench/kernels.js --rounds ${o.rounds} --backends ${o.backends}`,
  date: new Date().toISOString(),
};
const dir = join(projectRoot(), 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'kernels.json'), JSON.stringify(report, null, 2) + '\n');
const f = (v: number | string) => (typeof v === 'number' ? v.toFixed(1) : v);
const md = [
  '| backend | conv fwd ms | fwd GFLOP/s (best / median) | fwd+bwd ms | fwd+bwd GFLOP/s (best / median) |',
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.backend} | ${f(r.forwardMs)} | ${f(r.forwardGflops)} / ${f(r.forwardGflopsMedian)} | ${f(r.fwdBwdMs)} | ${f(r.fwdBwdGflops)} / ${f(r.fwdBwdGflopsMedian)} |`),
  '',
  `3×3 conv, 64→64, 32×32, batch 32 (${gflop.toFixed(2)} GFLOP forward), 1 thread, ${report.machine}. Command: \`${report.command}\`.`,
].join('\n');
writeFileSync(join(dir, 'kernels.md'), md + '\n');
console.log(md);
