/**
 * Micro-benchmark of the kernels training depends on: a 3×3, 64→64 convolution at 32×32, batch
 * 32, stride 1, 'same' (forward; the three kernels forward, input gradient and filter gradient back
 * to back; forward + both gradients through autograd) and a 1024³ matrix product (the
 * practical peak of each engine path), in GFLOP/s (1 MAC = 2 FLOP), best and median of several
 * rounds. Every engine path runs in its own process (thread counts are fixed per process): wasm on
 * 1 and on all threads, with the native oneDNN kernels when built, and PyTorch on the same shapes
 * when Debian's python3-torch is installed (reference only).
 * Writes bench/results/kernels.json and kernels.md.
 *
 *   npm run bench:kernels [-- --rounds 5]
 */
import { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { engineInfo, initEngine, tf } from '../src/engine/backend.js';
import { nativeAddonPath } from '../src/engine/native_kernels.js';
import { projectRoot } from '../src/util/paths.js';

const cli = new Command('kernels')
  .option('--rounds <n>', 'timed rounds', Number, 5)
  .option('--python <path>', 'Python with PyTorch', '/usr/bin/python3')
  .option('--child <json>', '(internal) measure one engine path in this process')
  .parse();
const o = cli.opts();

const [B, H, W, C, K] = [32, 32, 32, 64, 3];
const convGflop = (2 * B * H * W * C * C * K * K) / 1e9;
const N = 1024;
const matmulGflop = (2 * N * N * N) / 1e9;

interface Row {
  path: string;
  threads: number;
  convForwardGflops: number;
  convForwardGflopsMedian: number;
  convFwdBwdGflops: number;
  convFwdBwdGflopsMedian: number;
  /** the three convolution kernels (forward, input gradient, filter gradient) back to back */
  convKernelsGflops: number;
  convKernelsGflopsMedian: number;
  matmulGflops: number;
  matmulGflopsMedian: number;
}

function timeIt(fn: () => void, rounds: number): { best: number; median: number } {
  fn(); // warm-up (kernel set-up, primitive creation, memory growth)
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    fn();
    times.push((performance.now() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  return { best: times[0], median: times[Math.floor(times.length / 2)] };
}

interface Spec {
  threads: number;
  native: boolean;
  /** oneDNN's blocked activation layout (TRUSTGC_CONV_LAYOUT=blocked) instead of tfjs's NHWC */
  blocked?: boolean;
  rounds: number;
}

async function measure(spec: Spec): Promise<Row> {
  // A native row runs its threads in oneDNN, with one wasm thread (the library's default when the
  // addon is loaded); a wasm row runs them in the threaded wasm build.
  if (spec.native) process.env.TRUSTGC_NATIVE_THREADS = String(spec.threads);
  if (spec.blocked) process.env.TRUSTGC_CONV_LAYOUT = 'blocked';
  await initEngine({ backend: 'wasm', threads: spec.native ? 1 : spec.threads, native: spec.native, quiet: true });
  const x = tf.randomNormal([B, H, W, C]) as tf.Tensor4D;
  const w = tf.randomNormal([K, K, C, C], 0, 0.05) as tf.Tensor4D;
  // (never return a typed array from tf.tidy: tidy walks the returned value looking for tensors)
  const fwd = timeIt(() => tf.tidy(() => void tf.conv2d(x, w, 1, 'same').dataSync()), spec.rounds);
  const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'));
  // forward + input gradient + filter gradient = 3× the forward work
  const both = timeIt(() => tf.tidy(() => void grads([x, w]).forEach((g) => g.dataSync())), spec.rounds);
  // The kernels alone, as a training step calls them: no autograd bookkeeping, no all-ones dy, no
  // copies back to JavaScript (the wasm backend's kernels have finished when runKernel returns).
  const dy = tf.randomNormal([B, H, W, C]);
  const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC' } as const;
  const kernels = timeIt(
    () =>
      tf.tidy(() => {
        tf.conv2d(x, w, 1, 'same');
        tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: [B, H, W, C] });
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: [K, K, C, C] });
      }),
    spec.rounds,
  );
  const a = tf.randomNormal([N, N]);
  const b = tf.randomNormal([N, N]);
  const mm = timeIt(() => tf.tidy(() => void tf.matMul(a, b).dataSync()), spec.rounds);
  tf.dispose([x, w, dy, a, b]);
  const info = engineInfo();
  return {
    path: info.native ? `wasm + ${info.native}${spec.blocked ? ', blocked layout' : ''}` : 'wasm',
    threads: info.native ? info.nativeThreads : info.threads,
    convForwardGflops: convGflop / fwd.best,
    convForwardGflopsMedian: convGflop / fwd.median,
    convFwdBwdGflops: (3 * convGflop) / both.best,
    convFwdBwdGflopsMedian: (3 * convGflop) / both.median,
    convKernelsGflops: (3 * convGflop) / kernels.best,
    convKernelsGflopsMedian: (3 * convGflop) / kernels.median,
    matmulGflops: matmulGflop / mm.best,
    matmulGflopsMedian: matmulGflop / mm.median,
  };
}

/** The same three measurements in PyTorch (reference; not part of trustgc). */
const TORCH_SCRIPT = `
import json, sys, time, torch
threads, rounds = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
B, H, W, C, K, N = ${B}, ${H}, ${W}, ${C}, ${K}, ${N}
x = torch.randn(B, C, H, W, requires_grad=True); w = (torch.randn(C, C, K, K) * 0.05).requires_grad_()
a = torch.randn(N, N); b = torch.randn(N, N)
def t(fn):
    fn(); ts = []
    for _ in range(rounds):
        s = time.perf_counter(); fn(); ts.append(time.perf_counter() - s)
    ts.sort(); return ts[0], ts[len(ts) // 2]
def fwd():
    with torch.no_grad(): torch.nn.functional.conv2d(x, w, padding=1)
def both():
    y = torch.nn.functional.conv2d(x, w, padding=1); torch.autograd.grad(y.sum(), [x, w])
dy = torch.randn(B, C, H, W)
def kernels():
    with torch.no_grad():
        torch.nn.functional.conv2d(x, w, padding=1)
        torch.ops.aten.convolution_backward(dy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, True, False])
f, b2, k, m = t(fwd), t(both), t(kernels), t(lambda: a @ b)
g = 2 * B * H * W * C * C * K * K / 1e9; gm = 2 * N ** 3 / 1e9
print(json.dumps({'path': 'PyTorch ' + torch.__version__, 'threads': threads,
  'convForwardGflops': g / f[0], 'convForwardGflopsMedian': g / f[1],
  'convFwdBwdGflops': 3 * g / b2[0], 'convFwdBwdGflopsMedian': 3 * g / b2[1],
  'convKernelsGflops': 3 * g / k[0], 'convKernelsGflopsMedian': 3 * g / k[1],
  'matmulGflops': gm / m[0], 'matmulGflopsMedian': gm / m[1]}))
`;

function lastJson(text: string): Row {
  const line = text.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`no result in output:\n${text.slice(-2000)}`);
  return JSON.parse(line) as Row;
}

if (o.child) {
  console.log(JSON.stringify(await measure(JSON.parse(o.child))));
  process.exit(0);
}

const cores = os.availableParallelism();
const threadCounts = cores > 1 ? [1, cores] : [1];
const native = existsSync(nativeAddonPath());
const rows: Row[] = [];
const specs: Spec[] = [
  ...threadCounts.map((threads) => ({ threads, native: false, rounds: o.rounds })),
  ...(native ? threadCounts.map((threads) => ({ threads, native: true, rounds: o.rounds })) : []),
  ...(native ? [{ threads: cores, native: true, blocked: true, rounds: o.rounds }] : []),
];
for (const spec of specs) {
  console.error(`… wasm${spec.native ? ' + native' : ''}${spec.blocked ? ' (blocked layout)' : ''}, ${spec.threads} thread(s)`);
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify(spec)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`measurement failed:\n${r.stderr.slice(-3000)}`);
  rows.push(lastJson(r.stdout));
}
if (spawnSync(o.python, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0) {
  for (const threads of threadCounts) {
    console.error(`… PyTorch, ${threads} thread(s)`);
    const r = spawnSync(o.python, ['-c', TORCH_SCRIPT, String(threads), String(o.rounds)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`PyTorch measurement failed:\n${r.stderr.slice(-3000)}`);
    rows.push(lastJson(r.stdout));
  }
}

const command = `node dist/bench/kernels.js --rounds ${o.rounds}`;
const peak = Math.max(...rows.map((r) => r.matmulGflops));
const report = {
  benchmark: 'kernels',
  conv: { batch: B, height: H, width: W, cin: C, cout: C, kernel: K, gflopForward: convGflop },
  matmul: { m: N, k: N, n: N, gflop: matmulGflop },
  target: 'conv kernels (forward, input gradient, filter gradient) ≥ 60 % of the measured matmul peak (the best matmul of any path here)',
  machine: `${cores} × ${os.cpus()[0]?.model ?? 'cpu'}`,
  matmulPeakGflops: peak,
  rows: rows.map((r) => ({
    ...r,
    convFwdBwdOverPeak: r.convFwdBwdGflops / peak,
    convKernelsOverMatmul: r.convKernelsGflops / r.matmulGflops,
    convKernelsOverPeak: r.convKernelsGflops / peak,
  })),
  command,
  date: new Date().toISOString(),
};
const dir = join(projectRoot(), 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'kernels.json'), JSON.stringify(report, null, 2) + '\n');
const f = (v: number) => v.toFixed(1);
const md = [
  '| path | threads | conv fwd GFLOP/s (best / median) | conv kernels fwd+bwd GFLOP/s | ÷ own matmul | ÷ matmul peak | conv fwd+bwd via autograd GFLOP/s | ÷ matmul peak | matmul GFLOP/s |',
  '|---|---|---|---|---|---|---|---|---|',
  ...report.rows.map(
    (r) =>
      `| ${r.path} | ${r.threads} | ${f(r.convForwardGflops)} / ${f(r.convForwardGflopsMedian)} | ${f(r.convKernelsGflops)} / ${f(r.convKernelsGflopsMedian)} | ${(100 * r.convKernelsOverMatmul).toFixed(0)} % | **${(100 * r.convKernelsOverPeak).toFixed(1)} %** | ${f(r.convFwdBwdGflops)} / ${f(r.convFwdBwdGflopsMedian)} | ${(100 * r.convFwdBwdOverPeak).toFixed(1)} % | ${f(r.matmulGflops)} / ${f(r.matmulGflopsMedian)} |`,
  ),
  '',
  `3×3 conv, 64→64, 32×32, batch 32 (${convGflop.toFixed(2)} GFLOP forward; forward + both gradients = 3×). "Conv kernels": forward, input-gradient and filter-gradient kernels run back to back on fixed inputs (PyTorch: conv2d and aten.convolution_backward); "via autograd": tf.grads / torch.autograd.grad of the convolution, including the all-ones output gradient and, for trustgc, copying both gradients back to JavaScript. Matmul ${N}×${N}·${N}×${N}. Best of ${o.rounds} rounds after warm-up (median after the slash); matmul peak = the best matmul measured here (${peak.toFixed(1)} GFLOP/s). ${report.machine}. Command: \`${command}\`.`,
].join('\n');
writeFileSync(join(dir, 'kernels.md'), md + '\n');
console.log(md);
