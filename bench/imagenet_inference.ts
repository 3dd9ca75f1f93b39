/**
 * ImageNet GC inference benchmark: seconds per 224×224 image through the full model of the paper
 * (imagenet-resnet50-inn, 77.5 M parameters, 9.149 G MACs), for 1 crop and for 10 crops (one
 * batch of 10), on each engine path, plus the cost of decoding/resizing/cropping a JPEG and the
 * process's peak resident memory. Weights are random: speed and memory do not depend on them.
 * Each engine path runs in its own process. Writes bench/results/imagenet-inference.json and .md.
 *
 *   npm run bench:imagenet [-- --rounds 3]
 */
import { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import sharp from 'sharp';
import { engineInfo, initEngine, tf } from '../src/engine/backend.js';
import { nativeAddonPath } from '../src/engine/native_kernels.js';
import { GenerativeClassifier } from '../src/gc/model.js';
import { defaultConfig } from '../src/gc/presets.js';
import { cropSpec, imageCrops } from '../src/data/crops.js';
import { projectRoot } from '../src/util/paths.js';
import { exportOnnx } from '../src/onnx/export.js';
import { OnnxClassifier, onnxAvailable } from '../src/onnx/runtime.js';
import type { InferenceModel } from '../src/gc/model.js';

interface Measurement {
  engine: string;
  threads: number;
  native: string | null;
  secondsPerImage1Crop: number;
  secondsPerImage10Crops: number;
  /** decode + resize + crop of a 500×375 JPEG */
  preprocessSeconds1Crop: number;
  preprocessSeconds10Crops: number;
  peakRssMB: number;
}

const cli = new Command('imagenet-inference')
  .option('--rounds <n>', 'timed rounds per measurement (best is reported)', Number, 3)
  .option('--child <json>', '(internal) measure one engine path in this process')
  .parse();
const o = cli.opts();

async function timeIt(rounds: number, f: () => Promise<void>): Promise<number> {
  await f(); // warm-up: kernel set-up, primitive caches
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    await f();
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  return best;
}

type Spec = { native: boolean; threads?: number; onnx?: boolean };

async function child(spec: Spec): Promise<Measurement> {
  await initEngine({ native: spec.native, threads: spec.threads, quiet: true });
  const info = engineInfo();
  const classes = Array.from({ length: 1000 }, (_, i) => String(i));
  const model = new GenerativeClassifier(defaultConfig('imagenet-resnet50-inn', classes));
  const forwardWith = (m: InferenceModel, n: number) => async () => {
    const x = tf.randomUniform([n, 224, 224, 3]);
    const r = await m.infer(x);
    await r.logits.data();
    tf.dispose([x, ...Object.values(r)]);
  };
  let one: number;
  let ten: number;
  if (spec.onnx) {
    // graphs traced at batch 1 and batch 10 (one image, one image's ten crops)
    const single = await OnnxClassifier.fromBytes(exportOnnx(model, { batch: 1 }).bytes, model.config);
    one = await timeIt(o.rounds, forwardWith(single, 1));
    await single.dispose();
    const tenCrops = await OnnxClassifier.fromBytes(exportOnnx(model, { batch: 10 }).bytes, model.config);
    ten = await timeIt(o.rounds, forwardWith(tenCrops, 10));
    await tenCrops.dispose();
  } else {
    one = await timeIt(o.rounds, forwardWith(model, 1));
    ten = await timeIt(o.rounds, forwardWith(model, 10));
  }
  // preprocessing of a typical ImageNet-sized photo
  const dir = mkdtempSync(join(tmpdir(), 'trustgc-bench-'));
  const file = join(dir, 'photo.jpg');
  const noise = Buffer.alloc(500 * 375 * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  await sharp(noise, { raw: { width: 500, height: 375, channels: 3 } }).jpeg({ quality: 90 }).toFile(file);
  const pre1 = await timeIt(o.rounds, async () => void (await imageCrops(file, cropSpec(224, 1))));
  const pre10 = await timeIt(o.rounds, async () => void (await imageCrops(file, cropSpec(224, 10))));
  return {
    engine: spec.onnx ? 'onnxruntime-node' : info.native ? `wasm + ${info.native}` : 'wasm',
    threads: spec.onnx ? os.cpus().length : info.native ? info.nativeThreads : info.threads,
    native: info.native,
    secondsPerImage1Crop: one,
    secondsPerImage10Crops: ten,
    preprocessSeconds1Crop: pre1,
    preprocessSeconds10Crops: pre10,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
  };
}

if (o.child) {
  console.log(JSON.stringify(await child(JSON.parse(o.child))));
  process.exit(0);
}

const cores = os.cpus().length;
const specs: Spec[] = [{ native: false, threads: cores }];
if (existsSync(nativeAddonPath())) specs.push({ native: true });
if (await onnxAvailable()) specs.push({ native: false, onnx: true });
const results: Measurement[] = [];
const script = fileURLToPath(import.meta.url);
for (const spec of specs) {
  console.error(`… measuring ${JSON.stringify(spec)}`);
  const env = spec.native ? { ...process.env, TRUSTGC_NATIVE_THREADS: String(cores) } : process.env;
  const run = spawnSync(process.execPath, [script, '--rounds', String(o.rounds), '--child', JSON.stringify(spec)], { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  if (run.status !== 0) throw new Error(`benchmark child failed: ${run.stderr.slice(-2000)}`);
  results.push(JSON.parse(run.stdout.trim().split('\n').pop() as string));
}

const report = {
  benchmark: 'imagenet-inference',
  model: 'imagenet-resnet50-inn (random weights)',
  macsPerImage: 9.149e9,
  machine: `${os.cpus()[0].model}, ${cores} cores`,
  date: new Date().toISOString(),
  results,
};
const outDir = join(projectRoot(), 'bench', 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'imagenet-inference.json'), JSON.stringify(report, null, 2) + '\n');
const rows = results.map(
  (r) =>
    `| ${r.engine} | ${r.threads} | ${r.secondsPerImage1Crop.toFixed(2)} | ${r.secondsPerImage10Crops.toFixed(2)} | ${((2 * 6.917) / r.secondsPerImage1Crop).toFixed(1)} | ${(1000 * r.preprocessSeconds1Crop).toFixed(0)} / ${(1000 * r.preprocessSeconds10Crops).toFixed(0)} | ${r.peakRssMB.toFixed(0)} |`,
);
const md = [
  `# ImageNet GC inference (${report.model}, ${report.machine}, ${report.date.slice(0, 10)})`,
  '',
  '| engine | threads | s / image, 1 crop | s / image, 10 crops | GFLOP/s of learned convolutions (1 crop) | JPEG decode+resize+crop ms (1 / 10 crops) | peak RSS MB |',
  '|---|---|---|---|---|---|---|',
  ...rows,
  '',
  'Reproduce: `npm run bench:imagenet -- --rounds 2`',
  '',
].join('\n');
writeFileSync(join(outDir, 'imagenet-inference.md'), md);
console.log(md);
