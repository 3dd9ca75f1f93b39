/**
 * Full-scale check of the official-checkpoint import: a checkpoint of the paper's full ImageNet
 * model (224×224, 1000 classes, official key layout, random weights) written by PyTorch from the
 * reference description is imported, and the imported model's outputs for a test image are
 * compared with PyTorch's. Reports import time, peak memory, model-folder size and the largest
 * output differences. Writes bench/results/imagenet-import.json and .md.
 *
 *   python3 test/fixtures/torch/make_fixtures.py --full /tmp/trustgc-full     (dev-only, python3-torch)
 *   npm run build && node dist/bench/imagenet_import_check.js --dir /tmp/trustgc-full
 */
import { Command } from 'commander';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import os from 'node:os';
import { engineInfo, initEngine, tf } from '../src/engine/backend.js';
import { importOfficialCheckpoint } from '../src/io/torch/import_official.js';
import { MODEL_FILE, saveModel } from '../src/io/checkpoint.js';
import { projectRoot } from '../src/util/paths.js';

const o = new Command('imagenet-import-check').option('--dir <folder>', 'folder with imagenet_full.pt and imagenet_full_expected.json', '/tmp/trustgc-full').parse().opts();
const checkpoint = join(o.dir, 'imagenet_full.pt');
if (!existsSync(checkpoint)) {
  console.error(`${checkpoint} not found; write it with: python3 test/fixtures/torch/make_fixtures.py --full ${o.dir}`);
  process.exit(2);
}
await initEngine({ quiet: true });
const maxAbs = (a: ArrayLike<number>, b: number[]) => {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const maxRef = (b: number[]) => b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
/** error after removing each image's mean over classes: what the posteriors see */
const centredError = (a: ArrayLike<number>, b: number[], classes: number) => {
  let m = 0;
  for (let i = 0; i < b.length / classes; i++) {
    let meanA = 0;
    let meanB = 0;
    for (let c = 0; c < classes; c++) (meanA += a[i * classes + c] / classes), (meanB += b[i * classes + c] / classes);
    for (let c = 0; c < classes; c++) m = Math.max(m, Math.abs(a[i * classes + c] - meanA - (b[i * classes + c] - meanB)));
  }
  return m;
};

let t = performance.now();
const { model, report } = importOfficialCheckpoint(checkpoint);
const importSeconds = (performance.now() - t) / 1000;
const out = mkdtempSync(join(tmpdir(), 'trustgc-imported-'));
t = performance.now();
saveModel(out, model);
const saveSeconds = (performance.now() - t) / 1000;

const exp = JSON.parse(readFileSync(join(o.dir, 'imagenet_full_expected.json'), 'utf8'));
const x = tf.tensor(exp.images_nhwc, exp.shape);
t = performance.now();
const { z, logdet } = model.latent(x);
const logits = tf.mul(model.head.squaredDistances(z), -0.5);
const zv = z.dataSync();
const forwardSeconds = (performance.now() - t) / 1000;
const recon = model.decode(z).dataSync();

const result = {
  benchmark: 'imagenet-import-check',
  checkpointMB: statSync(checkpoint).size / 2 ** 20,
  format: report.format,
  tensorsImported: report.imported,
  tensorsSkipped: report.skipped,
  mixingStorage: report.mixingStorage,
  parameters: model.countParams().total,
  importSeconds,
  saveSeconds,
  modelFolderMB: statSync(join(out, MODEL_FILE)).size / 2 ** 20,
  forwardSeconds,
  maxAbsErrorZ: maxAbs(zv, exp.z),
  maxAbsZ: maxRef(exp.z),
  maxAbsErrorLogdet: maxAbs(logdet.dataSync(), exp.logdet),
  logdet: exp.logdet[0],
  maxAbsErrorLogits: maxAbs(logits.dataSync(), exp.logits),
  maxAbsLogit: maxRef(exp.logits),
  maxAbsErrorLogitDifferences: centredError(logits.dataSync(), exp.logits, model.classes),
  maxAbsErrorPosterior: maxAbs(tf.softmax(logits).dataSync(), Array.from(tf.softmax(tf.tensor2d(exp.logits, [exp.shape[0], model.classes])).dataSync())),
  maxAbsReconstructionError: maxAbs(recon, exp.images_nhwc),
  peakRssMB: process.resourceUsage().maxRSS / 1024,
  engine: engineInfo(),
  machine: `${os.cpus()[0].model}, ${os.cpus().length} cores`,
  date: new Date().toISOString(),
};
const dir = join(projectRoot(), 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'imagenet-import.json'), JSON.stringify(result, null, 2) + '\n');
const md = [
  `# Official-checkpoint import at full scale (${result.machine}, ${result.date.slice(0, 10)})`,
  '',
  `PyTorch checkpoint of the full ImageNet model (${result.checkpointMB.toFixed(0)} MB, ${result.format} format, random weights, official key layout) imported and run on one 224×224 image.`,
  '',
  '| quantity | value |',
  '|---|---|',
  `| tensors imported / skipped | ${result.tensorsImported} / ${result.tensorsSkipped} |`,
  `| parameters | ${result.parameters.toLocaleString('en')} |`,
  `| import time | ${importSeconds.toFixed(1)} s |`,
  `| model folder (safetensors, permutations as indices) | ${result.modelFolderMB.toFixed(0)} MB |`,
  `| max abs error z (max abs z ${result.maxAbsZ.toFixed(2)}) | ${result.maxAbsErrorZ.toExponential(2)} |`,
  `| max abs error log-det (log-det ${result.logdet.toFixed(1)}) | ${result.maxAbsErrorLogdet.toExponential(2)} |`,
  `| max abs error logits (max abs logit ${result.maxAbsLogit.toFixed(0)}) | ${result.maxAbsErrorLogits.toExponential(2)} |`,
  `| max abs error of logits minus their mean over classes (what posteriors see) | ${result.maxAbsErrorLogitDifferences.toExponential(2)} |`,
  `| max abs error posteriors | ${result.maxAbsErrorPosterior.toExponential(2)} |`,
  `| max abs reconstruction error (inverse pass, [0,1] pixels) | ${result.maxAbsReconstructionError.toExponential(2)} |`,
  `| peak RSS (import + save + forward + inverse) | ${result.peakRssMB.toFixed(0)} MB |`,
  '',
  'Reproduce: `python3 test/fixtures/torch/make_fixtures.py --full /tmp/trustgc-full && npm run build && node dist/bench/imagenet_import_check.js`',
  '',
].join('\n');
writeFileSync(join(dir, 'imagenet-import.md'), md);
console.log(md);
model.dispose();
