/**
 * Where a training step spends its time: runs the trainer's step on a synthetic batch, reports the
 * best wall time and CPU time per step over --rounds steps, then one step under tf.profile: wall
 * time per kernel name (sum, calls, mean) and the kernel count. --detail lists chosen kernels by
 * input shapes. TRUSTGC_FUSED=0 shows the composite ops instead of the fused kernels.
 *
 *   npm run build && node dist/bench/profile_step.js --arch ibinn-mnist [--batch 32] [--threads 1]
 *       [--no-native] [--detail Multiply,Add]
 */
import { Command } from 'commander';
import { engineInfo, initEngine, tf } from '../src/engine/backend.js';
import { GenerativeClassifier } from '../src/gc/model.js';
import { defaultConfig, isArchName } from '../src/gc/presets.js';
import { Optimizer } from '../src/train/optimizer.js';
import { TrainingStep } from '../src/train/step.js';

const o = new Command('profile_step')
  .option('--arch <name>', 'preset', 'ibinn-mnist')
  .option('--batch <n>', 'training batch', Number, 32)
  .option('--threads <n>', 'wasm threads', Number, 1)
  .option('--no-native', 'wasm kernels only')
  .option('--rounds <n>', 'timed steps', Number, 10)
  .option('--top <n>', 'kernel names to list', Number, 30)
  .option('--detail <names>', 'comma-separated kernel names to break down by input shapes', '')
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

const wall: number[] = [];
const cpu0 = process.cpuUsage();
for (let i = 0; i < o.rounds; i++) {
  const t = performance.now();
  step.run(batch, { ...settings, seed: seed++ });
  wall.push(performance.now() - t);
}
const cpu = process.cpuUsage(cpu0);
const bestMs = Math.min(...wall);
const cpuMs = (cpu.user + cpu.system) / 1000 / o.rounds;
const profile = await tf.profile(() => void step.run(batch, { ...settings, seed: seed++ }));

type Tally = { ms: number; calls: number };
const tally = (keyOf: (k: (typeof profile.kernels)[number]) => string | undefined) => {
  const out = new Map<string, Tally>();
  for (const k of profile.kernels) {
    const key = keyOf(k);
    if (key === undefined) continue;
    const e = out.get(key) ?? { ms: 0, calls: 0 };
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.calls++;
    out.set(key, e);
  }
  return [...out.entries()].sort((a, b) => b[1].ms - a[1].ms);
};
const byName = tally((k) => k.name);
const kernelMs = byName.reduce((s, [, e]) => s + e.ms, 0);

console.log(JSON.stringify(engineInfo()));
console.log(
  `${o.arch}, batch ${o.batch}: best step ${bestMs.toFixed(1)} ms (${((o.batch * 1000) / bestMs).toFixed(1)} img/s), ` +
    `CPU ${cpuMs.toFixed(1)} ms/step, ${profile.kernels.length} kernels, kernel time ${kernelMs.toFixed(1)} ms`,
);
const line = (key: string, e: Tally, width: number) =>
  `${key.padEnd(width)} ${e.ms.toFixed(2).padStart(9)} ms ${String(e.calls).padStart(6)} calls ${((e.ms / e.calls) * 1000).toFixed(0).padStart(7)} µs`;
for (const [name, e] of byName.slice(0, o.top)) console.log(line(name, e, 28));
for (const name of (o.detail as string).split(',').filter(Boolean)) {
  console.log(`-- ${name} by input shapes`);
  for (const [shapes, e] of tally((k) => (k.name === name ? JSON.stringify(k.inputShapes) : undefined)).slice(0, 25)) {
    console.log(line(shapes.length > 60 ? `${shapes.slice(0, 59)}…` : shapes, e, 60));
  }
}
