/**
 * Corruption benchmark on MNIST (paper §4.5 / Table 5 at our scale), timed: all 10 000 test images
 * under 15 corruptions × 5 severities (750 000 corrupted images).
 *
 *   1. the discriminative baseline alone: its errors normalise mCE (report kept for reuse);
 *   2. the generative classifier with that baseline report: the timed "corrupt everything and
 *      evaluate one model" run the issue asks to finish in under 30 minutes.
 *
 * Models are trained beforehand (README). The engine is the CLI's `auto`: onnxruntime when the
 * folder has model.onnx (`trustgc export-onnx`), tfjs otherwise — recorded in the results.
 * Writes bench/results/robustness.{json,md} and the full reports under bench/results/robustness/.
 *
 *   npm run build && node dist/bench/robustness.js --gc runs/bench-mnist-beta1 --dc runs/dc-tiny-mnist
 */
import { Command } from 'commander';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { engineInfo, initEngine } from '../src/engine/backend.js';
import { loadDataset } from '../src/data/registry.js';
import { firstN } from '../src/data/dataset.js';
import { loadInferenceModel } from '../src/onnx/runtime.js';
import { ONNX_FILE } from '../src/onnx/runtime.js';
import { robustnessEvaluation } from '../src/eval/robustness.js';
import type { RobustnessReport } from '../src/eval/robustness.js';
import { robustnessMarkdown } from '../src/eval/robustness_report.js';
import { ensureReference } from '../src/cli/trust_commands.js';
import { writeRobustnessReport } from '../src/cli/robustness_commands.js';
import { CORRUPTION_NAMES } from '../src/corrupt/corruptions.js';
import { projectRoot } from '../src/util/paths.js';

const o = new Command('robustness-bench')
  .requiredOption('--gc <dir>', 'trained generative classifier (MNIST)')
  .requiredOption('--dc <dir>', 'trained discriminative baseline (MNIST)')
  .option('--limit <n>', 'test images (default: all 10 000)', Number)
  .option('--seed <n>', 'corruption seed', Number, 0)
  .parse()
  .opts();

await initEngine({ quiet: true });
const outDir = join(projectRoot(), 'bench', 'results');
const reportRoot = join(outDir, 'robustness');
mkdirSync(reportRoot, { recursive: true });
const test = firstN(await loadDataset('mnist', 'test'), o.limit);

async function run(dir: string, baseline: RobustnessReport | null): Promise<{ report: RobustnessReport; engine: string; seconds: number }> {
  const started = Date.now();
  const model = await loadInferenceModel(dir, 'auto');
  const engine = existsSync(join(dir, ONNX_FILE)) ? 'onnxruntime-node' : `tfjs ${engineInfo().backend}${engineInfo().native ? ' + oneDNN' : ''}`;
  const reference = await ensureReference(dir, model, 'mnist');
  let last = -1;
  const report = await robustnessEvaluation(test, { name: dir, model, reference }, baseline, {
    seed: o.seed,
    onProgress: (phase, d, t) => {
      if (phase === 'corruptions' && Math.floor((10 * d) / t) !== last) {
        last = Math.floor((10 * d) / t);
        console.error(`  ${dir}: ${d}/${t} settings, ${((Date.now() - started) / 1000).toFixed(0)} s`);
      }
    },
  });
  await model.dispose();
  return { report, engine, seconds: (Date.now() - started) / 1000 };
}

console.error(`… baseline ${o.dc}`);
const dc = await run(o.dc, null);
// kept in the repository: JSON (the DC's is reusable as --baseline), Markdown, PNG figures
await writeRobustnessReport(dc.report, join(reportRoot, 'dc'), test, o.seed, CORRUPTION_NAMES, false, true);
console.error(`… generative classifier ${o.gc}`);
const gc = await run(o.gc, dc.report);
await writeRobustnessReport(gc.report, join(reportRoot, 'gc'), test, o.seed, CORRUPTION_NAMES, false, true);

const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}`;
const images = test.labels.length;
const corrupted = images * CORRUPTION_NAMES.length * 5;
const timing = (x: { report: RobustnessReport; engine: string; seconds: number }) => ({
  engine: x.engine,
  wallSeconds: x.seconds,
  corruptSeconds: x.report.timing.corruptSeconds,
  evaluateSeconds: x.report.timing.evaluateSeconds,
  imagesPerSecond: (corrupted + images) / x.seconds,
});
const results = {
  date: new Date().toISOString(),
  machine,
  dataset: test.name,
  images,
  corruptedImages: corrupted,
  seed: o.seed,
  gc: { dir: o.gc, ...timing(gc), summary: gc.report.summary, clean: gc.report.clean },
  dc: { dir: o.dc, ...timing(dc), summary: dc.report.summary, clean: dc.report.clean },
  targetMinutes: 30,
};
writeFileSync(join(outDir, 'robustness.json'), JSON.stringify(results, null, 2) + '\n');
const md = [
  `# Corruption robustness on MNIST (${results.date.slice(0, 10)}, ${machine})`,
  '',
  `${images} test images × 15 corruptions × 5 severities = ${corrupted.toLocaleString('en')} corrupted images, seed ${o.seed}.`,
  '',
  '| run | engine | wall time | corrupting | evaluating | images/s | target |',
  '|---|---|---|---|---|---|---|',
  `| GC ${o.gc} (baseline report reused) | ${gc.engine} | ${(gc.seconds / 60).toFixed(1)} min | ${gc.report.timing.corruptSeconds.toFixed(0)} s | ${gc.report.timing.evaluateSeconds.toFixed(0)} s | ${results.gc.imagesPerSecond.toFixed(0)} | < 30 min: ${gc.seconds < 1800 ? 'met' : 'NOT met'} |`,
  `| DC ${o.dc} (baseline) | ${dc.engine} | ${(dc.seconds / 60).toFixed(1)} min | ${dc.report.timing.corruptSeconds.toFixed(0)} s | ${dc.report.timing.evaluateSeconds.toFixed(0)} s | ${results.dc.imagesPerSecond.toFixed(0)} | – |`,
  '',
  'Command: `npm run bench:robustness -- --gc ' + o.gc + ' --dc ' + o.dc + '` (reports and figures in bench/results/robustness/{gc,dc}/; `trustgc robustness --report` also writes the HTML page).',
  '',
  robustnessMarkdown(gc.report),
].join('\n');
writeFileSync(join(outDir, 'robustness.md'), md);
console.log(md);
