/**
 * Trustworthiness benchmark I on MNIST: a generative classifier (β = 1) next to its discriminative
 * ResNet baseline of the same size — test accuracy, calibration in both conventions, and OoD
 * detection on every built-in OoD set that fits 28×28 greyscale images. Both models are trained
 * beforehand with `trustgc train` (commands in the README). Writes bench/results/ood.json, ood.md
 * and the plots under bench/results/ood/.
 *
 *   npm run build && node dist/bench/ood.js --gc runs/bench-mnist-beta1 --dc runs/dc-tiny-mnist
 */
import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { engineInfo, initEngine } from '../src/engine/backend.js';
import { loadModel } from '../src/io/checkpoint.js';
import { loadDataset } from '../src/data/registry.js';
import { firstN } from '../src/data/dataset.js';
import { evaluate } from '../src/eval/evaluate.js';
import { calibration } from '../src/eval/calibration.js';
import { buildOodSet } from '../src/data/ood_sets.js';
import { formatOodTable, oodEvaluation } from '../src/eval/ood.js';
import { loadReference, referenceFromDataset, saveReference } from '../src/eval/ood_reference.js';
import { posteriors, formatCalibration } from '../src/cli/trust_commands.js';
import { writeReliabilityDiagrams } from '../src/plots/reliability.js';
import { writeScoreHistograms } from '../src/plots/ood_histograms.js';
import { projectRoot } from '../src/util/paths.js';

const o = new Command('ood-bench')
  .requiredOption('--gc <dir>', 'trained generative classifier (MNIST, β = 1)')
  .requiredOption('--dc <dir>', 'trained discriminative baseline (MNIST)')
  .option('--sets <list>', 'OoD sets', 'fashion-mnist,uniform,gaussian,constant,inverted,noisy,downscaled')
  .option('--limit <n>', 'images per OoD set and of the in-distribution test set', Number, 2000)
  .option('--fashion <dir>', 'also: a GC trained on Fashion-MNIST, against MNIST and the other sets (the pair where raw likelihood is known to fail)')
  .parse()
  .opts();

await initEngine({ quiet: true });
const outDir = join(projectRoot(), 'bench', 'results');
const plotDir = join(outDir, 'ood');
mkdirSync(plotDir, { recursive: true });
const test = await loadDataset('mnist', 'test');
const inSet = firstN(test, o.limit);
const outSets = [];
for (const name of String(o.sets).split(',')) outSets.push(await buildOodSet(name, inSet, { count: o.limit }));

const models: Record<string, unknown> = {};
const md: string[] = [`# Trustworthiness on MNIST: GC (β = 1) vs. discriminative baseline (${new Date().toISOString().slice(0, 10)})`, ''];
for (const [label, dir] of [['GC', o.gc], ['DC', o.dc]] as const) {
  console.error(`… ${label}: ${dir}`);
  const model = loadModel(dir);
  const params = model.countParams().total;
  const ev = await evaluate(model, test);
  const probs = await posteriors(model, test);
  const cal = (['ibinn', 'top1'] as const).map((c) => calibration(probs, test.labels, model.classes, c));
  const prefix = `${label.toLowerCase()}-`;
  const plots = await writeReliabilityDiagrams(cal, plotDir, `${label} (${model.config.arch}) on MNIST`, prefix);
  let reference = model.kind === 'gc' ? loadReference(dir) : null;
  if (model.kind === 'gc' && !reference) {
    reference = await referenceFromDataset(model, await loadDataset('mnist', 'train'), 5000);
    saveReference(dir, reference);
  }
  const { report, scores } = await oodEvaluation(model, inSet, outSets, reference);
  plots.push(...(await writeScoreHistograms(scores, plotDir, `${label} (${model.config.arch}): MNIST vs OoD sets`, prefix)));
  models[label] = { dir, arch: model.config.arch, kind: model.kind, parameters: params, eval: ev, calibration: cal, ood: report, plots: plots.map((f) => `ood/${f}`) };
  md.push(`## ${label}: ${model.config.arch}${model.kind === 'dc' ? ' discriminative ResNet' : ''}, ${params.toLocaleString('en')} parameters`, '');
  md.push(`Test accuracy ${(100 * ev.accuracy).toFixed(2)} % (10 000 images)${Number.isNaN(ev.bitsPerDim) ? '' : `, bits/dim ${ev.bitsPerDim.toFixed(3)}`}.`, '');
  md.push(formatCalibration(cal), '');
  md.push(formatOodTable(report), '');
  model.dispose();
}
if (o.fashion) {
  console.error(`… Fashion-MNIST GC: ${o.fashion}`);
  const model = loadModel(o.fashion);
  const fashionTest = await loadDataset('fashion-mnist', 'test');
  const fIn = firstN(fashionTest, o.limit);
  const fOut = [];
  for (const name of ['mnist', ...String(o.sets).split(',').filter((n) => n !== 'fashion-mnist')]) fOut.push(await buildOodSet(name, fIn, { count: o.limit }));
  let reference = loadReference(o.fashion);
  if (!reference) {
    reference = await referenceFromDataset(model, await loadDataset('fashion-mnist', 'train'), 5000);
    saveReference(o.fashion, reference);
  }
  const ev = await evaluate(model, fashionTest);
  const { report, scores } = await oodEvaluation(model, fIn, fOut, reference);
  const plots = await writeScoreHistograms(scores, plotDir, `GC (${model.config.arch}) trained on Fashion-MNIST`, 'fashion-gc-');
  models['GC-fashion'] = { dir: o.fashion, arch: model.config.arch, kind: model.kind, parameters: model.countParams().total, eval: ev, ood: report, plots: plots.map((f) => `ood/${f}`) };
  md.push(`## GC trained on Fashion-MNIST (${model.config.arch}), OoD = MNIST and the generated sets`, '');
  md.push(`Test accuracy ${(100 * ev.accuracy).toFixed(2)} %, bits/dim ${ev.bitsPerDim.toFixed(3)}.`, '');
  md.push(formatOodTable(report), '');
  model.dispose();
}
md.push('AUROC etc. in %, OoD = positive class; each likelihood test uses its p-value against the GC\'s training-set reference (5 000 training images) as the statistic. Plots: `bench/results/ood/`.', '');
md.push(`Reproduce: \`npm run build && node dist/bench/ood.js --gc ${o.gc} --dc ${o.dc} --limit ${o.limit}${o.fashion ? ` --fashion ${o.fashion}` : ''}\``, '');
const report = { benchmark: 'ood', date: new Date().toISOString(), machine: `${os.cpus()[0].model}, ${os.cpus().length} cores`, engine: engineInfo(), limit: o.limit, models };
writeFileSync(join(outDir, 'ood.json'), JSON.stringify(report, null, 2) + '\n');
writeFileSync(join(outDir, 'ood.md'), md.join('\n'));
console.log(md.join('\n'));
