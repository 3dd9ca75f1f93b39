/**
 * Where a training step spends its time: runs the trainer's step on a synthetic batch under
 * tf.profile and prints wall time per kernel name (sum, calls, mean), the kernel total against the
 * step's wall time (the rest is tfjs bookkeeping and JavaScript between kernels).
 *
 *   node dist/bench/profile_step.js --arch ibinn-mnist --batch 32 [--threads 1] [--no-native]
 */
import { Command } from 'commander';
import { initEngine, tf } from '../src/engine/backend.js';
import { GenerativeClassifier } from '../src/gc/model.js';
import { defaultConfig, isArchName } from '../src/gc/presets.js';
import { Optimizer } from '../src/train/optimizer.js';
import { TrainingStep } from '../src/train/step.js';

const o = new Command('profile_step')
  .option('--arch <name>', 'preset', 'ibinn-mnist')
  .option('--batch <n>', 'training batch', Number, 32)
  .option('--threads <n>', 'wasm threads', Number, 1)
  .option('--no-native', 'wasm kernels only')
  .option('--top <n>', 'kernels to list', Number, 30)
  .option('--rounds <n>', 'timed steps', Number, 10)
  .parse()
  .opts();

if (!isArchName(o.arch)) throw new Error(`unknown architecture ${o.arch}`);
await initEngine({ backend: 'wasm', threads: o.threads, native: o.native });
const model = new GenerativeClassifier(defaultConfig(o.arch, Array.from({ length: 10 }, (_, i) => String(i))));
const { height, width, channels } = model.config.input;
const x = Float32Array.from({ length: o.batch * height * width * channels }, (_, i) => ((i * 7919) % 255) / 255);
const trainable = model.namedParams().filter((p) => p.trainable);
const optimizer = new Optimizer([{ name: 'all', params: trainable, lrScale: 1, momentum: 0.9, weightDecay: 1e-4 }], { kind: 'sgd' });
const step = new TrainingStep(model, optimizer);
const batch = { x, labels: Int32Array.from({ length: o.batch }, (_, i) => i % 10), size: o.batch };
const settings = { lr: 1e-4, scale: 1, chunk: o.batch, beta: 1, labelSmoothing: 0.01, clipNorm: 8 };
let seed = 1;
for (let i = 0; i < 3; i++) step.run(batch, { ...settings, seed: seed++ });
const rounds = o.rounds;
const wall: number[] = [];
const cpu0 = process.cpuUsage();
for (let i = 0; i < rounds; i++) {
  const t = performance.now();
  step.run(batch, { ...settings, seed: seed++ });
  wall.push(performance.now() - t);
}
const cpu = process.cpuUsage(cpu0);
const stepMs = [...wall].sort((a, b) => a - b)[0];
const cpuMs = (cpu.user + cpu.system) / 1000 / rounds;
const profile = await tf.profile(() => void step.run(batch, { ...settings, seed: seed++ }));
const byName = new Map<string, { ms: number; calls: number }>();
let total = 0;
for (const k of profile.kernels) {
  const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
  e.ms += ms;
  e.calls++;
  byName.set(k.name, e);
  total += ms;
}
const info = (await import('../src/engine/backend.js')).engineInfo();
console.log(JSON.stringify(info));
console.log(`${o.arch}, batch ${o.batch}: best step ${stepMs.toFixed(1)} ms (${((o.batch * 1000) / stepMs).toFixed(1)} img/s), CPU ${cpuMs.toFixed(1)} ms/step, ` +
  `${profile.kernels.length} kernels, kernel time ${total.toFixed(1)} ms`);
const rows = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, o.top);
for (const [name, e] of rows) console.log(`${name.padEnd(28)} ${e.ms.toFixed(2).padStart(9)} ms ${String(e.calls).padStart(6)} calls ${(e.ms / e.calls * 1000).toFixed(0).padStart(7)} µs`);
if (process.env.PROFILE_DETAIL) {
  for (const name of process.env.PROFILE_DETAIL.split(',')) {
    const bySize = new Map<string, { ms: number; calls: number }>();
    for (const k of profile.kernels.filter((k) => k.name === name)) {
      const size = k.outputShapes.map((s) => s.reduce((a, b) => a * b, 1)).reduce((a, b) => a + b, 0);
      const key = `${JSON.stringify(k.inputShapes)}`;
      const e = bySize.get(key) ?? { ms: 0, calls: 0 };
      e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      e.calls++;
      bySize.set(key, e);
    }
    console.log(`-- ${name}`);
    for (const [key, e] of [...bySize.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) console.log(`${key.padEnd(50)} ${e.ms.toFixed(2).padStart(8)} ms ${String(e.calls).padStart(5)} calls`);
  }
}
