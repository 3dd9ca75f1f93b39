/**
 * Training curves: a run's `metrics.jsonl` (one record per logged step and per evaluation) reduced to
 * one point per epoch — mean training loss, L_X and accuracy over the epoch's logged steps, the
 * held-out evaluation after it — so runs of different lengths can be compared epoch by epoch.
 *
 * A shipped zoo model has no step log; `zoo add` stores the reduced curve as `training_curve.json`
 * beside its card, and `readTrainingCurve` reads either.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/safetensors.js';
import { METRICS_FILE, OPTIONS_FILE, readTrainOptions } from './trainer.js';
import { InputError } from '../util/errors.js';

export const CURVE_FILE = 'training_curve.json';

export interface EpochPoint {
  epoch: number;
  /** Means over the epoch's logged training steps (augmented images, train-mode network). */
  trainLoss: number | null;
  trainLx: number | null;
  trainAccuracy: number | null;
  lr: number | null;
  /** Cumulative training seconds at the epoch's last logged step. */
  seconds: number | null;
  /** The evaluation after this epoch: a prefix of the test set during training, the whole of it at the end. */
  testAccuracy: number | null;
  testBitsPerDim: number | null;
  testImages: number | null;
  /** True for the last point when it is the full test set after BN re-estimation. */
  final: boolean;
}

export interface TrainingCurve {
  /** Where it was read from (run folder or zoo model). */
  source: string;
  label: string;
  modelType: string | null;
  beta: number | null;
  epochsPlanned: number | null;
  points: EpochPoint[];
  /** Set when the run stopped on a non-finite loss. */
  divergedAtStep: number | null;
}

interface LogRecord {
  type: string;
  step: number;
  epoch: number;
  [key: string]: unknown;
}

const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

/** Parses metrics.jsonl text; the error names the file and line of a damaged record. */
export function parseMetricsLog(text: string, file: string): LogRecord[] {
  const records: LogRecord[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch {
      // a run killed mid-write can leave a torn last line: skip it, but not damage elsewhere
      if (i >= lines.length - 2) return;
      throw new InputError(`${file} line ${i + 1} is not valid JSON: ${line.slice(0, 80)}`);
    }
    const rec = r as Partial<LogRecord>;
    if (typeof rec !== 'object' || rec === null || typeof rec.type !== 'string' || typeof rec.step !== 'number' || typeof rec.epoch !== 'number') {
      throw new InputError(`${file} line ${i + 1} is not a training-log record (needs type, step and epoch)`);
    }
    records.push(rec as LogRecord);
  });
  return records;
}

/**
 * Reduces log records to per-epoch points. A resumed run logs again the steps after its last checkpoint,
 * so for every step (and every evaluated epoch) the latest record wins.
 */
export function epochCurve(records: LogRecord[]): { points: EpochPoint[]; divergedAtStep: number | null } {
  const trainByStep = new Map<number, LogRecord>();
  const evalByEpoch = new Map<number, LogRecord>();
  let final: LogRecord | undefined;
  let divergedAtStep: number | null = null;
  for (const r of records) {
    if (r.type === 'train') trainByStep.set(r.step, r);
    else if (r.type === 'eval') evalByEpoch.set(r.epoch, r);
    else if (r.type === 'final') final = r;
    else if (r.type === 'diverged') divergedAtStep = r.step;
  }
  // a step logged at fractional epoch e ∈ (k−1, k] belongs to epoch k
  const trainByEpoch = new Map<number, LogRecord[]>();
  for (const r of trainByStep.values()) {
    const k = Math.max(1, Math.ceil(r.epoch - 1e-9));
    if (!trainByEpoch.has(k)) trainByEpoch.set(k, []);
    trainByEpoch.get(k)!.push(r);
  }
  const epochs = new Set<number>([...trainByEpoch.keys(), ...evalByEpoch.keys()]);
  if (final) epochs.add(final.epoch);
  const points: EpochPoint[] = [...epochs]
    .sort((a, b) => a - b)
    .map((epoch) => {
      const steps = (trainByEpoch.get(epoch) ?? []).sort((a, b) => a.step - b.step);
      const field = (name: string) => mean(steps.map((s) => numOrNull(s[name])).filter((v): v is number => v !== null));
      const isFinal = final !== undefined && final.epoch === epoch;
      const ev = isFinal ? final : evalByEpoch.get(epoch);
      return {
        epoch,
        trainLoss: field('loss'),
        trainLx: field('lx'),
        trainAccuracy: field('accuracy'),
        lr: steps.length ? numOrNull(steps[steps.length - 1].lr) : null,
        seconds: steps.length ? numOrNull(steps[steps.length - 1].time) : null,
        testAccuracy: ev ? numOrNull(ev.accuracy) : null,
        testBitsPerDim: ev ? numOrNull(ev.bitsPerDim) : null,
        testImages: ev ? numOrNull(ev.images) : null,
        final: isFinal,
      };
    });
  return { points, divergedAtStep };
}

/** The per-epoch curve of a metrics.jsonl file. */
function logCurve(log: string): { points: EpochPoint[]; divergedAtStep: number | null } {
  return epochCurve(parseMetricsLog(readFileSync(log, 'utf8'), log));
}

function readOptions(dir: string): { modelType: string | null; beta: number | null; epochs: number | null } {
  if (!existsSync(join(dir, OPTIONS_FILE))) return { modelType: null, beta: null, epochs: null };
  const o = readTrainOptions(dir);
  const modelType = o.modelType ?? 'gc';
  return { modelType, beta: modelType === 'dc' ? null : o.beta ?? null, epochs: o.epochs ?? null };
}

/** Reads a run folder (metrics.jsonl) or a zoo model folder (training_curve.json). */
export function readTrainingCurve(dir: string, label?: string): TrainingCurve {
  const path = resolve(dir);
  if (!existsSync(path)) throw new InputError(`run folder ${dir} does not exist: pass a folder written by trustgc train (or a zoo model)`);
  const opts = readOptions(path);
  const base = { source: dir, label: label ?? basename(path), modelType: opts.modelType, beta: opts.beta, epochsPlanned: opts.epochs };
  const log = join(path, METRICS_FILE);
  if (existsSync(log)) {
    const { points, divergedAtStep } = logCurve(log);
    if (points.length === 0) throw new InputError(`${log} holds no training steps yet`);
    return { ...base, points, divergedAtStep };
  }
  const stored = join(path, CURVE_FILE);
  if (existsSync(stored)) {
    const c = JSON.parse(readFileSync(stored, 'utf8')) as { points?: EpochPoint[]; divergedAtStep?: number | null };
    if (!Array.isArray(c.points)) throw new InputError(`${stored} has no "points" list`);
    return { ...base, points: c.points, divergedAtStep: c.divergedAtStep ?? null };
  }
  throw new InputError(`${dir} has no training log (${METRICS_FILE}) or stored curve (${CURVE_FILE}): is it a training run or zoo model folder?`);
}

/**
 * Writes a run's per-epoch curve into another folder (a zoo model) as training_curve.json; false when the run
 * has no log. The points are the run's own figures (float32 weights), not the card's re-measurement.
 */
export function storeTrainingCurve(runDir: string, destDir: string): boolean {
  const log = join(runDir, METRICS_FILE);
  if (!existsSync(log)) return false;
  writeFileAtomic(join(destDir, CURVE_FILE), JSON.stringify(logCurve(log), null, 1) + '\n');
  return true;
}

const pct = (v: number | null) => (v === null ? '–' : (100 * v).toFixed(2));
const fixed = (v: number | null, d: number) => (v === null ? '–' : v.toFixed(d));
const betaText = (c: TrainingCurve) => (c.modelType === 'dc' ? 'DC' : c.beta === null ? '–' : c.beta === Infinity ? '∞' : String(c.beta));

/** Markdown: one summary row per run, then each run's epoch table. */
export function curvesMarkdown(curves: TrainingCurve[]): string {
  const out: string[] = ['# Training curves', ''];
  out.push('| run | β | epochs | training time | last-epoch training accuracy | best held-out accuracy (epoch) | final test accuracy | final bits/dim |');
  out.push('|---|---|---|---|---|---|---|---|');
  for (const c of curves) {
    const last = c.points[c.points.length - 1];
    const withTest = c.points.filter((p) => p.testAccuracy !== null);
    const best = withTest.reduce<EpochPoint | null>((b, p) => (b === null || p.testAccuracy! > b.testAccuracy! ? p : b), null);
    const fin = c.points.find((p) => p.final);
    const trained = [...c.points].reverse().find((p) => p.seconds !== null);
    const planned = c.epochsPlanned !== null && c.epochsPlanned !== last.epoch ? ` of ${c.epochsPlanned}` : '';
    out.push(
      `| ${c.label} | ${betaText(c)} | ${last.epoch}${planned} | ${trained ? `${(trained.seconds! / 60).toFixed(1)} min` : '–'} | ` +
        `${pct([...c.points].reverse().find((p) => p.trainAccuracy !== null)?.trainAccuracy ?? null)} % | ` +
        `${best ? `${pct(best.testAccuracy)} % (${best.epoch})` : '–'} | ${fin ? `${pct(fin.testAccuracy)} %` : 'not finished'} | ${fixed(fin?.testBitsPerDim ?? null, 3)} |` +
        (c.divergedAtStep !== null ? ` diverged at step ${c.divergedAtStep}` : ''),
    );
  }
  out.push('', 'Training figures are means over each epoch’s logged steps (augmented images, dropout on); held-out accuracy during training is on the');
  out.push('first images of the test set the run was told to use (`--eval-limit`), the final one on the whole test set after batch-norm re-estimation.');
  for (const c of curves) {
    out.push('', `## ${c.label}`, '', '| epoch | lr | training loss | training L_X | training accuracy | held-out accuracy | bits/dim | images |', '|---|---|---|---|---|---|---|---|');
    for (const p of c.points) {
      out.push(
        `| ${p.epoch}${p.final ? ' (final)' : ''} | ${p.lr === null ? '–' : p.lr.toExponential(1)} | ${fixed(p.trainLoss, 4)} | ${fixed(p.trainLx, 4)} | ` +
          `${pct(p.trainAccuracy)} | ${pct(p.testAccuracy)} | ${fixed(p.testBitsPerDim, 3)} | ${p.testImages ?? '–'} |`,
      );
    }
  }
  return out.join('\n') + '\n';
}
