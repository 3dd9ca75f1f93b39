/**
 * Per-shape comparison behind the native addon's choice between oneDNN's direct convolution
 * kernels and the lowered-GEMM kernels (native/src/gemm_conv.cc): the forward and filter-gradient
 * passes of the 3×3 convolutions of the IB-INN presets (batch 32) and of bench:kernels, timed in
 * both modes in interleaved order (the host's speed drifts), medians. Calls the addon directly on
 * plain buffers, so no tfjs overhead is included. Needs the addon (npm run build:native).
 * Writes bench/results/conv-lowering.json and conv-lowering.md.
 *
 *   node dist/bench/conv_lowering.js [--rounds 21]
 */
import { Command } from 'commander';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { nativeAddonPath } from '../src/engine/native_kernels.js';
import type { NativeAddon } from '../src/engine/native_kernels.js';
import { projectRoot } from '../src/util/paths.js';

const o = new Command('conv_lowering').option('--rounds <n>', 'timed rounds per shape and mode', Number, 21).parse().opts();

if (!existsSync(nativeAddonPath())) throw new Error('the native addon is not built (npm run build:native)');
process.env.OMP_WAIT_POLICY ??= 'PASSIVE'; // as the library loads it
const addon = createRequire(import.meta.url)(nativeAddonPath()) as NativeAddon;
const threads = availableParallelism();
addon.setNumThreads(threads);

// [batch, size, input channels, output channels]: 3×3, stride 1, 'same'
const shapes: Array<[number, number, number, number]> = [
  [32, 32, 64, 64], // bench:kernels
  [32, 16, 32, 32], [32, 8, 64, 64], [32, 8, 24, 64], [32, 16, 6, 32], [32, 32, 16, 16], [32, 32, 2, 16], [32, 16, 8, 32],
  [32, 32, 16, 2], // ibinn-cifar10
  [32, 14, 32, 32], [32, 7, 64, 64], [32, 7, 8, 64], [32, 14, 2, 32], [32, 14, 32, 2], // ibinn-mnist
];

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const fill = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => (((i * 7919 + seed * 104729) % 1000) / 1000) - 0.5);

interface Row {
  shape: string;
  forwardDirectUs: number;
  forwardLoweredUs: number;
  filterDirectUs: number;
  filterLoweredUs: number;
}
const rows: Row[] = [];
for (const [n, size, c, out] of shapes) {
  const g = [n, size, size, c, 3, 3, out, size, size, 1, 1, 1, 1, 1, 1, 1, 1];
  const x = fill(n * size * size * c, 1);
  const w = fill(9 * c * out, 2);
  const dy = fill(n * size * size * out, 3);
  const y = new Float32Array(n * size * size * out);
  const dw = new Float32Array(9 * c * out);
  const t = { fd: [] as number[], fl: [] as number[], bd: [] as number[], bl: [] as number[] };
  const time = (mode: number, fn: () => void, into: number[] | undefined) => {
    addon.setConvLowering(mode);
    const s = performance.now();
    fn();
    into?.push((performance.now() - s) * 1000);
  };
  for (let r = -1; r < o.rounds; r++) {
    const keep = r >= 0; // round -1 warms up (oneDNN compiles its kernels)
    time(0, () => addon.conv2dForward(x, w, y, g), keep ? t.fd : undefined);
    time(2, () => addon.conv2dForward(x, w, y, g), keep ? t.fl : undefined);
    time(0, () => addon.conv2dBackwardFilter(x, dy, dw, g), keep ? t.bd : undefined);
    time(2, () => addon.conv2dBackwardFilter(x, dy, dw, g), keep ? t.bl : undefined);
  }
  rows.push({
    shape: `${n}×${size}×${size}, ${c}→${out}`,
    forwardDirectUs: median(t.fd),
    forwardLoweredUs: median(t.fl),
    filterDirectUs: median(t.bd),
    filterLoweredUs: median(t.bl),
  });
  console.error(`… ${rows.at(-1)!.shape}`);
}
addon.setConvLowering(1);

const command = `node dist/bench/conv_lowering.js --rounds ${o.rounds}`;
const machine = `${threads} × ${cpus()[0]?.model ?? 'cpu'}`;
const dir = join(projectRoot(), 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'conv-lowering.json'), JSON.stringify({ benchmark: 'conv-lowering', library: addon.version(), threads, machine, rows, command, date: new Date().toISOString() }, null, 2) + '\n');
const f = (v: number) => v.toFixed(0);
const md = [
  '| 3×3 conv, batch × size, channels | forward: oneDNN µs | lowered µs | ratio | filter gradient: oneDNN µs | lowered µs | ratio |',
  '|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.shape} | ${f(r.forwardDirectUs)} | ${f(r.forwardLoweredUs)} | ${(r.forwardLoweredUs / r.forwardDirectUs).toFixed(2)} | ${f(r.filterDirectUs)} | ${f(r.filterLoweredUs)} | ${(r.filterLoweredUs / r.filterDirectUs).toFixed(2)} |`,
  ),
  '',
  `Medians of ${o.rounds} interleaved rounds, ${addon.version()} on ${threads} threads, ${machine}; ratio < 1: the lowering is faster. Command: \`${command}\`.`,
].join('\n');
writeFileSync(join(dir, 'conv-lowering.md'), md + '\n');
console.log(md);
