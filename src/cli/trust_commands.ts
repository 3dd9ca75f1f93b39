/** CLI commands for the trustworthiness measurements: `calibration` and `ood`. */
import { Command } from 'commander';
import { positiveInteger } from './option_parsers.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { loadInferenceModel } from '../onnx/runtime.js';
import type { EngineChoice } from '../onnx/runtime.js';
import type { InferenceModel } from '../gc/model.js';
import { loadDataset } from '../data/registry.js';
import { firstN } from '../data/dataset.js';
import type { ImageDataset } from '../data/dataset.js';
import { calibration, formatCalibration } from '../eval/calibration.js';
import { buildOodSet, OOD_SET_NAMES, parseOodSetList } from '../data/ood_sets.js';
import { imageScoreRows, writeImageScores } from '../eval/ood_image_scores.js';
import { baselineDetection, formatBaselineTable } from '../eval/ood_baselines.js';
import type { BaselineReport } from '../eval/ood_baselines.js';
import { loadModel } from '../io/checkpoint.js';
import { COMBINED_SPLIT, combinedDetection, formatCombinedTable } from '../eval/ood_combined.js';
import type { CombinedReport } from '../eval/ood_combined.js';
import { InputError } from '../util/errors.js';
import { formatOodTable, oodEvaluation } from '../eval/ood.js';
import { loadReference, referenceFromDataset, saveReference } from '../eval/ood_reference.js';
import type { OodReference } from '../eval/ood_reference.js';
import { checkCompatible, posteriors } from '../eval/evaluate.js';
import { modelOptions, phaseBar } from './progress.js';

export { posteriors, formatCalibration };

const DEFAULT_OOD_SETS = 'fashion-mnist,uniform,gaussian,constant,inverted';

/**
 * The model's training-set likelihood reference for the OoD tests (null for a model without a
 * likelihood); built from 5000 training images of `dataset` and stored when the folder lacks one.
 */
export async function ensureReference(dir: string, model: InferenceModel, dataset: string): Promise<OodReference | null> {
  if (model.config.modelType === 'dc') return null;
  let reference = loadReference(dir);
  if (!reference) {
    console.error(`… ${dir} has no OoD reference: scoring 5000 ${dataset} training images`);
    reference = await referenceFromDataset(model, await loadDataset(dataset, 'train'), 5000);
    saveReference(dir, reference);
  }
  return reference;
}

/** The first `limit` test images of a data set, checked against the model's input and classes. */
export async function testSetFor(model: InferenceModel, dataset: string, limit?: number): Promise<ImageDataset> {
  const ds = firstN(await loadDataset(dataset, 'test'), limit);
  checkCompatible(model, ds);
  return ds;
}

export function addTrustCommands(program: Command): void {
  modelOptions(
    program
      .command('calibration')
      .description('calibration of the class posteriors: ECE, MCE, ICE, OCE in the IB-INN and the top-1 convention, reliability data')
  )
    .option('--dataset <name>', 'data set (test split)', 'mnist')
    .option('--limit <n>', 'only the first n test images', (v) => Number(v))
    .option('--out <dir>', 'write calibration.json (and reliability diagrams) here')
    .option('--json', 'print JSON', false)
    .action(async (o) => {
      const model = await loadInferenceModel(o.model, o.engine as EngineChoice);
      const ds = await testSetFor(model, o.dataset, o.limit);
      const probs = await posteriors(model, ds);
      const results = (['ibinn', 'top1'] as const).map((c) => calibration(probs, ds.labels, model.classes, c));
      if (o.out) {
        mkdirSync(o.out, { recursive: true });
        writeFileSync(join(o.out, 'calibration.json'), JSON.stringify({ model: o.model, dataset: ds.name, results }, null, 2) + '\n');
        const { writeReliabilityDiagrams } = await import('../plots/reliability.js');
        const files = await writeReliabilityDiagrams(results, o.out, `${basename(o.model)} on ${ds.name}`);
        if (!o.json) console.error(`wrote ${['calibration.json', ...files].map((f) => join(o.out, f)).join(', ')}`);
      }
      console.log(o.json ? JSON.stringify(results, null, 2) : formatCalibration(results));
      await model.dispose();
    });

  modelOptions(
    program
      .command('ood')
      .description('OoD detection: the likelihood tests (one-tailed, two-tailed, typicality, complexity-corrected), max softmax, the combined verdict, optionally the baseline detectors; AUROC/AUPR/FPR@95')
  )
    .option('--in <name>', 'in-distribution data set (its test split is scored)', 'mnist')
    .option(
      '--out <sets>',
      `OoD sets, comma-separated and/or repeated: ${OOD_SET_NAMES.join(', ')}, or any image folder (flat or nested) or image file; a path is taken whole, commas and all (default: ${DEFAULT_OOD_SETS})`,
      (v: string, previous: string[]) => [...previous, v],
      [] as string[],
    )
    .option('--limit <n>', 'images per set, in-distribution and OoD (default 2000)', positiveInteger('--limit'))
    .option('--limit-in <n>', 'in-distribution test images (default: --limit)', positiveInteger('--limit-in'))
    .option('--limit-out <n>', 'images per OoD set (default: --limit)', positiveInteger('--limit-out'))
    .option('--alpha <α>', 'significance level of the per-image verdicts in --scores (two-tailed test, as predict)', (v) => Number(v), 0.01)
    .option('--scores <file>', 'write every image\'s scores and verdict here (.csv or .jsonl)')
    .option('--no-combined', 'skip the combined verdict (GCs: marginal and class-conditional likelihood, posterior and complexity tests, calibrated on held-out test images)')
    .option('--baselines', 'also run the detectors users would pick instead: max softmax, max logit, energy, Mahalanobis and KNN on the features, ViM (DC only)', false)
    .option('--fit-limit <n>', 'training images the baseline detectors are fitted on', positiveInteger('--fit-limit'), 5000)
    .option('--report <dir>', 'write ood.json (and score histograms) here')
    .option('--json', 'print JSON', false)
    .action(async (o) => {
      if (o.scores && !/\.(csv|jsonl)$/i.test(o.scores)) throw new InputError(`--scores ${o.scores}: name a .csv or a .jsonl file`);
      if (!(o.alpha > 0 && o.alpha < 1)) throw new InputError(`--alpha must be in (0, 1), got ${o.alpha}`);
      const names = parseOodSetList((o.out as string[]).length ? o.out : [DEFAULT_OOD_SETS]);
      const limitIn = o.limitIn ?? o.limit ?? 2000;
      const limitOut = o.limitOut ?? o.limit ?? 2000;
      const model = await loadInferenceModel(o.model, o.engine as EngineChoice);
      const inSet = await testSetFor(model, o.in, limitIn);
      const reference = await ensureReference(o.model, model, o.in);
      const outSets: ImageDataset[] = [];
      for (const n of names) outSets.push(await buildOodSet(n, inSet, { count: limitOut }));
      const bar = phaseBar('scoring');
      const evaluation = await oodEvaluation(model, inSet, outSets, reference, (_s, d, t) => bar.update(d, t));
      const { scores } = evaluation;
      bar.stop();
      let baselines: BaselineReport | undefined;
      if (o.baselines) {
        console.error(`… baseline detectors: fitting on ${o.fitLimit} ${o.in} training images`);
        const tfjsModel = loadModel(o.model);
        try {
          baselines = await baselineDetection(tfjsModel, firstN(await loadDataset(o.in, 'train'), o.fitLimit), inSet, outSets);
        } finally {
          tfjsModel.dispose();
        }
      }
      let combined: CombinedReport | undefined;
      if (o.combined && reference) {
        console.error(`… combined verdict: references from the first ${COMBINED_SPLIT} ${o.in} training images, calibrated on a seeded random half of the test images, measured on the other`);
        combined = await combinedDetection(model, await loadDataset(o.in, 'train'), await loadDataset(o.in, 'test'), outSets, limitIn);
      }
      const report = { ...evaluation.report, ...(combined ? { combined } : {}), ...(baselines ? { baselines } : {}) };
      if (o.scores) {
        const files = [undefined, ...outSets.map((s) => (s as ImageDataset & { files?: string[] }).files)];
        const rows = imageScoreRows(scores, files, model.config.classNames, reference, o.alpha);
        mkdirSync(dirname(o.scores), { recursive: true });
        writeImageScores(o.scores, rows);
        if (!o.json) console.error(`wrote ${o.scores}: ${rows.length} images`);
      }
      if (o.report) {
        mkdirSync(o.report, { recursive: true });
        writeFileSync(join(o.report, 'ood.json'), JSON.stringify(report, null, 2) + '\n');
        const { writeScoreHistograms } = await import('../plots/ood_histograms.js');
        const files = await writeScoreHistograms(scores, o.report, `${basename(o.model)}: ${inSet.name} vs OoD sets`);
        if (!o.json) console.error(`wrote ${['ood.json', ...files].map((f) => join(o.report, f)).join(', ')}`);
      }
      console.log(o.json ? JSON.stringify(report, null, 2) : formatOodTable(report) + (combined ? `\n\n${formatCombinedTable(combined)}` : '') + (baselines ? `\n\n${formatBaselineTable(baselines)}` : ''));
      await model.dispose();
    });
}
