/**
 * Model cards of the zoo: what a shipped model is (data, architecture, training command and
 * budget, seed) and what it measured (accuracy, bits/dim, calibration, OoD AUROCs), and the
 * measurement itself, so that `zoo verify` recomputes every figure the same way and compares.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Classifier } from '../gc/classifier.js';
import { loadDataset } from '../data/registry.js';
import { firstN } from '../data/dataset.js';
import { buildOodSet } from '../data/ood_sets.js';
import { evaluate, posteriors } from '../eval/evaluate.js';
import { calibration } from '../eval/calibration.js';
import type { CalibrationResult } from '../eval/calibration.js';
import type { EvalResult } from '../eval/evaluate.js';
import { oodEvaluation } from '../eval/ood.js';
import type { OodReference } from '../eval/ood_reference.js';

export const CARD_FILE = 'card.json';

/** The OoD sets each data set's models are measured against (the built-in sets of `trustgc ood`). */
export const CARD_OOD_SETS: Record<string, string[]> = {
  mnist: ['fashion-mnist', 'uniform', 'gaussian', 'constant', 'inverted'],
  'fashion-mnist': ['mnist', 'uniform', 'gaussian', 'constant', 'inverted'],
  cifar10: ['noisy', 'downscaled', 'rgb-rotated', 'uniform', 'gaussian', 'constant'],
};

export interface CardFigures {
  /** percent, whole test set */
  accuracy: number;
  /** GCs: −log₂ p(x) per dimension, whole test set */
  bitsPerDim: number | null;
  /** percent: IB-INN convention (all class probabilities, 17 bins) and top-1 (15 bins) */
  ece: number;
  eceTop1: number;
  /** percent, per OoD set: the two-tailed likelihood test (GCs) or max-softmax (DCs) */
  oodAuroc: Record<string, number>;
  oodTest: 'two-tailed' | 'max-softmax';
}

export interface ModelCard {
  format: 'trustgc-model-card';
  version: 1;
  name: string;
  description: string;
  kind: 'gc' | 'dc';
  /** data-set name of the registry (`trustgc train --dataset`) */
  dataset: string;
  data: string;
  arch: string;
  parameters: number;
  /** IB trade-off; "inf" for pure cross-entropy; null for a DC */
  beta: number | 'inf' | null;
  seed: number;
  training: {
    /** the command that trained it */
    command: string;
    /** train.json of the run (what `zoo reproduce` trains with) */
    options: Record<string, unknown>;
    /** wall-clock time and machine */
    budget: string;
  };
  measured: CardFigures;
  measurement: { date: string; testImages: number; oodImages: number; engine: string };
  weights: { file: string; bytes: number; dtype: string };
  /** set by `zoo convert`: the weights and figures before the conversion (measured figures are the new ones) */
  convertedFrom?: { dtype: string; bytes: number; measured: CardFigures; measurement: ModelCard['measurement'] };
  /** set by `zoo remeasure`: why the card was measured again, and the figures it held before */
  remeasuredFrom?: { reason: string; measured: CardFigures; measurement: ModelCard['measurement'] };
}

/** Allowed |card − measured|: percentage figures 0.5 pp, bits/dim 0.005. */
export const TOLERANCE = { percent: 0.5, bitsPerDim: 0.005 };

export function readCard(dir: string): ModelCard {
  const file = join(dir, CARD_FILE);
  if (!existsSync(file)) throw new Error(`${dir} has no ${CARD_FILE}`);
  let card: ModelCard;
  try {
    card = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (card.format !== 'trustgc-model-card') throw new Error(`${file} is not a trustgc model card`);
  return card;
}

export interface ModelMeasurement {
  figures: CardFigures;
  testImages: number;
  evaluation: EvalResult;
  /** IB-INN and top-1 conventions */
  calibration: [CalibrationResult, CalibrationResult];
  ood: Awaited<ReturnType<typeof oodEvaluation>>;
}

/** Every card figure of a model, measured on its data set's test split, with the data behind them. */
export async function measureModel(model: Classifier, dataset: string, reference: OodReference | null, oodImages = 2000, onPhase?: (what: string) => void, testLimit?: number): Promise<ModelMeasurement> {
  const test = firstN(await loadDataset(dataset, 'test'), testLimit);
  onPhase?.('test set: accuracy, bits/dim');
  const evaluation = await evaluate(model, test);
  onPhase?.('calibration');
  const probs = await posteriors(model, test);
  const ibinn = calibration(probs, test.labels, model.classes, 'ibinn');
  const top1 = calibration(probs, test.labels, model.classes, 'top1');
  const sets = CARD_OOD_SETS[dataset];
  if (!sets) throw new Error(`no card OoD sets for data set ${dataset} (known: ${Object.keys(CARD_OOD_SETS).join(', ')})`);
  onPhase?.(`OoD: ${sets.join(', ')}`);
  const inSet = firstN(test, oodImages);
  const outSets = [];
  for (const name of sets) outSets.push(await buildOodSet(name, inSet, { count: oodImages }));
  const gc = model.kind === 'gc';
  const oodTest = gc ? 'two-tailed' : 'max-softmax';
  const ood = await oodEvaluation(model, inSet, outSets, gc ? reference : null);
  const oodAuroc: Record<string, number> = {};
  for (const s of ood.report.sets) {
    const m = s.tests[oodTest];
    if (m) oodAuroc[s.name] = m.auroc;
  }
  return {
    figures: { accuracy: 100 * evaluation.accuracy, bitsPerDim: gc ? evaluation.bitsPerDim : null, ece: ibinn.ece, eceTop1: top1.ece, oodAuroc, oodTest },
    testImages: evaluation.images,
    evaluation,
    calibration: [ibinn, top1],
    ood,
  };
}

export interface FigureCheck {
  figure: string;
  card: number;
  measured: number;
  tolerance: number;
  ok: boolean;
}

/** Card figures against measured ones; a figure the measurement lacks counts as failed. */
export function compareFigures(card: CardFigures, measured: CardFigures): FigureCheck[] {
  const out: FigureCheck[] = [];
  const add = (figure: string, a: number | null, b: number | null | undefined, tolerance: number) => {
    if (a === null) return;
    const m = b ?? NaN;
    out.push({ figure, card: a, measured: m, tolerance, ok: Math.abs(a - m) <= tolerance });
  };
  add('accuracy %', card.accuracy, measured.accuracy, TOLERANCE.percent);
  add('bits/dim', card.bitsPerDim, measured.bitsPerDim, TOLERANCE.bitsPerDim);
  add('ECE % (IB-INN)', card.ece, measured.ece, TOLERANCE.percent);
  add('ECE % (top-1)', card.eceTop1, measured.eceTop1, TOLERANCE.percent);
  for (const [set, v] of Object.entries(card.oodAuroc)) add(`OoD AUROC % ${set} (${card.oodTest})`, v, measured.oodAuroc[set], TOLERANCE.percent);
  return out;
}

export function formatChecks(checks: FigureCheck[]): string {
  const rows = ['| figure | card | measured | |Δ| | tolerance | |', '|---|---|---|---|---|---|'];
  for (const c of checks) rows.push(`| ${c.figure} | ${c.card.toFixed(3)} | ${Number.isNaN(c.measured) ? 'missing' : c.measured.toFixed(3)} | ${Number.isNaN(c.measured) ? '–' : Math.abs(c.card - c.measured).toFixed(3)} | ${c.tolerance} | ${c.ok ? 'ok' : 'OFF'} |`);
  return rows.join('\n');
}
