/**
 * The paper's central experiment at our scale: one GC per β plus the DC baseline, trained with the
 * same settings, then every evaluation — Table 3 (losses, bits/dim, accuracy; Fig. 3), Table 4
 * (calibration), OoD detection, Table 5 (corruptions), Tables 7–9 (CW attacks), Fig. 4 (effective
 * receptive field), Fig. 19 (latent layout) — and a report that puts each table beside the paper's
 * ImageNet figures with a sentence on whether the trend holds here.
 *
 * Resumable at every level: a finished model is not retrained (an interrupted one resumes from its
 * checkpoint), and each model's evaluation is stored (eval/<name>.json) and reused.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, MODEL_FILE } from '../io/checkpoint.js';
import { writeFileAtomic } from '../io/safetensors.js';
import type { Classifier } from '../gc/classifier.js';
import { GenerativeClassifier } from '../gc/model.js';
import type { ArchName } from '../gc/presets.js';
import { DEFAULT_TRAIN_OPTIONS } from '../train/trainer.js';
import type { TrainOptions } from '../train/trainer.js';
import { loadDataset } from '../data/registry.js';
import { firstN } from '../data/dataset.js';
import type { ImageDataset } from '../data/dataset.js';
import { loadReference, referenceFromDataset, saveReference } from '../eval/ood_reference.js';
import type { OodReference } from '../eval/ood_reference.js';
import { measureModel } from '../zoo/card.js';
import { robustnessEvaluation } from '../eval/robustness.js';
import type { RobustnessReport } from '../eval/robustness.js';
import { runAttack } from '../attack/attack_eval.js';
import { fwhm, receptiveField, sensitivityCell } from '../explain/receptive_field.js';
import { latentProjection } from '../explain/explain.js';
import { projectionSpec } from '../plots/explain.js';
import { writePlot } from '../plots/render.js';
import { PAPER } from './paper_figures.js';
import { sweepReport } from './sweep_report.js';

export interface SweepOptions {
  dataset: string;
  arch: ArchName;
  betas: number[];
  out: string;
  /** training: epochs per model, and optionally only the first n training images */
  epochs: number;
  trainLimit?: number;
  /** evaluation sizes (testLimit: only the first n test images for accuracy, calibration, bits/dim) */
  testLimit?: number;
  oodImages: number;
  robustnessImages: number;
  attackImages: number;
  receptiveFieldImages: number;
  latentImages: number;
  /** training settings shared by every model */
  train: Partial<TrainOptions>;
}

/** What one model measured; stored as eval/<name>.json. */
export interface SweepModelResult {
  name: string;
  kind: 'gc' | 'dc';
  beta: number | null;
  parameters: number;
  trainSeconds: number | null;
  lx: number | null;
  ly: number;
  bitsPerDim: number | null;
  accuracy: number;
  calibration: { ece: number; mce: number; oce: number; eceTop1: number };
  ood: { test: string; auroc: Record<string, number>; mean: number };
  robustness: { cleanError: number; mCE: number | null; relativeMCE: number | null; deltaEntropy: number; oodAuroc: number | null; perCorruption: Record<string, number | null> };
  attack: { confidence: number; corruption: number; success: number; oodOneTailed: number | null; oodTwoTailed: number | null; entropyClean: number; entropyAttacked: number };
  /** cell: pixels averaged before the FWHM (absent in results stored before session 14: upgraded on load) */
  receptiveField: { fwhm: number; profile: number[]; cell?: number } | null;
  latentFigure: string;
}

export const betaName = (beta: number | null) => (beta === null ? 'dc' : `beta-${Number.isFinite(beta) ? beta : 'inf'}`);
export const betaText = (beta: number | null) => (beta === null ? 'DC' : Number.isFinite(beta) ? String(beta) : '∞');

type Train = (opts: TrainOptions, resume: boolean) => Promise<void>;
type Phase = (what: string) => void;

function trainOptions(o: SweepOptions, beta: number | null, dir: string): TrainOptions {
  return {
    ...DEFAULT_TRAIN_OPTIONS,
    ...o.train,
    dataset: o.dataset,
    arch: o.arch,
    modelType: beta === null ? 'dc' : 'gc',
    beta: beta ?? 1,
    epochs: o.epochs,
    trainLimit: o.trainLimit,
    testLimit: o.testLimit,
    outDir: dir,
  } as TrainOptions;
}

async function ensureTrained(o: SweepOptions, beta: number | null, train: Train, phase: Phase): Promise<string> {
  const dir = join(o.out, 'models', betaName(beta));
  if (existsSync(join(dir, MODEL_FILE))) return dir;
  const resume = existsSync(join(dir, 'checkpoint.safetensors'));
  phase(`${resume ? 'resuming' : 'training'} ${betaName(beta)}`);
  await train(trainOptions(o, beta, dir), resume);
  if (!existsSync(join(dir, MODEL_FILE))) throw new Error(`training of ${betaName(beta)} stopped before the end; run the experiment again to resume it`);
  return dir;
}

function trainSeconds(dir: string): number | null {
  const file = join(dir, 'metrics.jsonl');
  if (!existsSync(file)) return null;
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const r = JSON.parse(lines[i]);
    if (typeof r.time === 'number') return r.time;
  }
  return null;
}

/**
 * Results stored before the FWHM was taken on pixel cells hold the raw profile's FWHM; recompute it
 * from the stored profile with the model's cell. Returns whether the result changed.
 */
function upgradeReceptiveField(result: SweepModelResult, dir: string): boolean {
  const rf = result.receptiveField;
  if (!rf || rf.cell !== undefined) return false;
  const model = loadModel(dir);
  try {
    const cell = model instanceof GenerativeClassifier ? sensitivityCell(model) : 1;
    result.receptiveField = { ...rf, cell, fwhm: fwhm(rf.profile, cell) };
  } finally {
    model.dispose();
  }
  return true;
}

const writeResult = (file: string, result: SweepModelResult) => writeFileAtomic(file, JSON.stringify(result, (_k, v) => (v === Infinity ? 'inf' : v), 2) + '\n');

async function evaluateModel(o: SweepOptions, beta: number | null, dir: string, test: ImageDataset, dcRobustness: RobustnessReport | null, phase: Phase): Promise<{ result: SweepModelResult; robustness: RobustnessReport }> {
  const name = betaName(beta);
  const model: Classifier = loadModel(dir);
  try {
    const gc = model instanceof GenerativeClassifier ? model : null;
    let reference: OodReference | null = null;
    if (gc) {
      reference = loadReference(dir);
      if (!reference) {
        reference = await referenceFromDataset(model, await loadDataset(o.dataset, 'train'), 5000);
        saveReference(dir, reference);
      }
    }
    phase(`${name}: test set, calibration, OoD`);
    const m = await measureModel(model, o.dataset, reference, o.oodImages, undefined, o.testLimit);
    const [ibinn, top1] = m.calibration;
    phase(`${name}: corruptions (${o.robustnessImages} images × 75 settings)`);
    const rob = await robustnessEvaluation(firstN(test, o.robustnessImages), { name, model, reference }, dcRobustness, {});
    phase(`${name}: CW attack (κ = 1, d = 0, ${o.attackImages} images)`);
    const attack = (await runAttack(model, name, test, reference, { n: o.attackImages, kappa: 1, d: 0, batch: o.attackImages })).report;
    let rf: SweepModelResult['receptiveField'] = null;
    if (gc) {
      phase(`${name}: receptive field`);
      const size = test.height * test.width * test.channels;
      const images = Float32Array.from(test.pixels.subarray(0, o.receptiveFieldImages * size), (v) => v / 255);
      const r = receptiveField(gc, images, o.receptiveFieldImages, 25);
      rf = { fwhm: r.fwhm, profile: r.profile, cell: r.cell };
    }
    phase(`${name}: latent layout`);
    const figures = join(o.out, 'report');
    mkdirSync(figures, { recursive: true });
    const projection = latentProjection(model, firstN(test, o.latentImages));
    await writePlot(projectionSpec(projection, test.classNames, `${betaText(beta) === 'DC' ? 'DC (LDA of features)' : `β = ${betaText(beta)} (PCA plane of the class means)`}`), figures, `latent-${name}`);
    const per: Record<string, number | null> = {};
    for (const c of rob.perCorruption) per[c.corruption] = c.auroc?.['two-tailed'] ?? null;
    const aurocs = m.figures.oodAuroc;
    const vals = Object.values(aurocs);
    const result: SweepModelResult = {
      name,
      kind: model.kind,
      beta,
      parameters: model.countParams().total,
      trainSeconds: trainSeconds(dir),
      lx: gc ? m.evaluation.lx : null,
      ly: m.evaluation.ly,
      bitsPerDim: gc ? m.evaluation.bitsPerDim : null,
      accuracy: 100 * m.evaluation.accuracy,
      calibration: { ece: ibinn.ece, mce: ibinn.mce, oce: ibinn.oce, eceTop1: top1.ece },
      ood: { test: m.figures.oodTest, auroc: aurocs, mean: vals.reduce((a, b) => a + b, 0) / vals.length },
      robustness: { cleanError: 100 * rob.clean.error, mCE: rob.summary.mCE ?? null, relativeMCE: rob.summary.relativeMCE ?? null, deltaEntropy: rob.summary.deltaEntropy, oodAuroc: rob.summary.oodAuroc ?? null, perCorruption: per },
      attack: {
        confidence: attack.metrics.confidence,
        corruption: attack.metrics.corruption,
        success: attack.metrics.success,
        oodOneTailed: attack.metrics.ood?.oneTailed ?? null,
        oodTwoTailed: attack.metrics.ood?.twoTailed ?? null,
        entropyClean: attack.metrics.entropyClean,
        entropyAttacked: attack.metrics.entropyAttacked,
      },
      receptiveField: rf,
      latentFigure: `latent-${name}.svg`,
    };
    return { result, robustness: rob };
  } finally {
    model.dispose();
  }
}

/** Trains what is missing, evaluates what has no stored result, writes report.md and report/index.html. */
export async function betaSweep(o: SweepOptions, train: Train, phase: Phase = () => {}): Promise<{ results: SweepModelResult[]; files: string[] }> {
  mkdirSync(join(o.out, 'eval'), { recursive: true });
  writeFileAtomic(join(o.out, 'sweep.json'), JSON.stringify({ ...o, betas: o.betas.map((b) => (Number.isFinite(b) ? b : 'inf')) }, null, 2) + '\n');
  const test = await loadDataset(o.dataset, 'test');
  // the DC first: its corruption report normalises every GC's mCE
  const order: Array<number | null> = [null, ...o.betas];
  const results: SweepModelResult[] = [];
  let dcRobustness: RobustnessReport | null = null;
  for (const beta of order) {
    const dir = await ensureTrained(o, beta, train, phase);
    const file = join(o.out, 'eval', `${betaName(beta)}.json`);
    const robFile = join(o.out, 'eval', `${betaName(beta)}-robustness.json`);
    let result: SweepModelResult;
    if (existsSync(file) && existsSync(robFile)) {
      result = JSON.parse(readFileSync(file, 'utf8'));
      if (upgradeReceptiveField(result, dir)) writeResult(file, result);
      if (beta === null) dcRobustness = JSON.parse(readFileSync(robFile, 'utf8'));
    } else {
      const r = await evaluateModel(o, beta, dir, test, dcRobustness, phase);
      result = r.result;
      writeFileAtomic(robFile, JSON.stringify(r.robustness) + '\n');
      writeResult(file, result);
      if (beta === null) dcRobustness = r.robustness;
    }
    result.beta = beta; // JSON keeps ∞ as "inf"
    results.push(result);
  }
  phase('report');
  const files = await sweepReport(o, results, PAPER);
  return { results, files };
}
