/**
 * Corruption robustness (paper §4.5, Table 5): a classifier's error under every corruption and
 * severity, mCE and relative mCE normalised by a baseline classifier's errors (the role AlexNet
 * plays for ImageNet-C; here the DC baseline), the change in predictive entropy, and — for
 * generative classifiers — how well the likelihood tests separate corrupted from clean images.
 *
 * Each setting is corrupted once and scored by the model (and the baseline model when given), so
 * both see identical pixels. Definitions follow the reference (EVAL_METHODS.md §4.4–4.5):
 *   mCE      = mean_c Σ_s E_{s,c} / Σ_s E^base_{s,c}
 *   rel. mCE = mean_c Σ_s (E_{s,c} − E_clean) / Σ_s (E^base_{s,c} − E^base_clean)   (Hendrycks)
 * both ×100. A corruption the baseline never errs on (or, for rel. mCE, that does not degrade the
 * baseline at all) has no defined ratio; it is left out of the mean and listed.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { InferenceModel } from '../gc/model.js';
import type { ImageDataset } from '../data/dataset.js';
import { datasetSize } from '../data/dataset.js';
import { corruptDataset } from '../corrupt/dataset.js';
import { CIFAR_C_PARAMETERS, CORRUPTION_CATEGORY, CORRUPTION_NAMES, effectiveParameters, SEVERITIES } from '../corrupt/corruptions.js';
import type { CorruptionName } from '../corrupt/corruptions.js';
import { scoreSet, statistics } from './ood.js';
import type { OodReference } from './ood_reference.js';
import { auroc } from './ood_metrics.js';

/** The likelihood tests whose AUROC is reported; the first is the headline column. */
export const ROBUSTNESS_TESTS = ['two-tailed', 'one-tailed', 'typicality'] as const;
export type RobustnessTest = (typeof ROBUSTNESS_TESTS)[number];

export interface SettingResult {
  corruption: CorruptionName;
  severity: number;
  /** top-1 error, fraction */
  error: number;
  /** mean predictive entropy, nats */
  meanEntropy: number;
  /** mean entropy minus the clean mean entropy, nats */
  deltaEntropy: number;
  /** mean L_X, nats/dim (NaN without a likelihood) */
  meanLx: number;
  /** AUROC (%) of corrupted (positive) against clean test images, per likelihood test; absent without a likelihood */
  auroc?: Record<RobustnessTest, number>;
}

export interface CorruptionSummary {
  corruption: CorruptionName;
  category: string;
  /** mean error over the severities, fraction */
  meanError: number;
  /** Σ_s E / Σ_s E^base ×100 */
  ce?: number;
  /** Σ_s (E − E_clean) / Σ_s (E^base − E^base_clean) ×100 */
  relativeCe?: number;
  deltaEntropy: number;
  /** AUROC (%) averaged over the severities, per test */
  auroc?: Record<RobustnessTest, number>;
}

export interface RobustnessReport {
  format: 'trustgc-robustness';
  version: 1;
  model: string;
  modelType: 'gc' | 'dc';
  dataset: string;
  images: number;
  seed: number;
  /** image size the parameters were scaled for, and the resulting pixel scale */
  imageSize: [number, number, number];
  corruptions: CorruptionName[];
  severities: number[];
  clean: { error: number; meanEntropy: number; meanLx: number };
  settings: SettingResult[];
  perCorruption: CorruptionSummary[];
  summary: {
    /** mean over corruptions and severities, nats */
    deltaEntropy: number;
    /** mean two-tailed AUROC over corruptions (%) */
    oodAuroc?: number;
    mCE?: number;
    relativeMCE?: number;
    /** corruptions left out of mCE / rel. mCE, with the reason */
    excluded: Array<{ corruption: CorruptionName; from: 'mCE' | 'relativeMCE'; reason: string }>;
  };
  /** the baseline classifier's own report (its errors normalise mCE) */
  baseline?: RobustnessReport;
  baselineSource?: string;
  /** whether the baseline model was run in this evaluation (rather than read from a report) */
  baselineRan?: boolean;
  reference?: string | null;
  timing: { corruptSeconds: number; evaluateSeconds: number; totalSeconds: number };
}

export interface RobustnessModel {
  name: string;
  model: InferenceModel;
  /** training-set likelihood reference (GCs); null for models without a likelihood */
  reference: OodReference | null;
}

export interface RobustnessOptions {
  corruptions?: readonly CorruptionName[];
  severities?: readonly number[];
  seed?: number;
  onProgress?: (phase: string, done: number, total: number) => void;
}

const mean = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
};

interface ModelState {
  spec: RobustnessModel;
  clean: { error: number; meanEntropy: number; meanLx: number };
  cleanStats: Partial<Record<string, number[]>>;
  settings: SettingResult[];
  seconds: number;
}

/**
 * Runs the benchmark for one model, or for a model and its baseline on the same corrupted images.
 * Returns the model's report with the baseline's report inside (and mCE filled in).
 */
export async function robustnessEvaluation(test: ImageDataset, target: RobustnessModel, baseline: RobustnessModel | RobustnessReport | null, opts: RobustnessOptions = {}): Promise<RobustnessReport> {
  const started = Date.now();
  const corruptions = [...(opts.corruptions ?? CORRUPTION_NAMES)];
  const severities = [...(opts.severities ?? SEVERITIES)];
  const seed = opts.seed ?? 0;
  // a stored report (it has a format field) is reused; a model is run on the same corrupted images
  const baselineReport = baseline && 'format' in baseline ? baseline : null;
  const runBaseline = baseline && !('format' in baseline) ? baseline : null;
  if (baselineReport) checkBaselineReport(baselineReport, test, corruptions, severities, seed);

  const states: ModelState[] = [];
  for (const spec of runBaseline ? [target, runBaseline] : [target]) {
    const t = Date.now();
    const s = await scoreSet(spec.model, test, (d, n) => opts.onProgress?.(`${spec.name}: clean`, d, n), { complexity: false });
    states.push({
      spec,
      clean: { error: 1 - s.correct / datasetSize(test), meanEntropy: mean(s.entropy), meanLx: mean(s.lx) },
      cleanStats: statistics(s, spec.reference),
      settings: [],
      seconds: (Date.now() - t) / 1000,
    });
  }

  let corruptSeconds = 0;
  const total = corruptions.length * severities.length;
  let done = 0;
  for (const corruption of corruptions) {
    for (const severity of severities) {
      const t0 = Date.now();
      const corrupted = await corruptDataset(test, corruption, severity, { seed });
      corruptSeconds += (Date.now() - t0) / 1000;
      for (const st of states) {
        const t1 = Date.now();
        const s = await scoreSet(st.spec.model, corrupted, undefined, { complexity: false });
        const stats = statistics(s, st.spec.reference);
        const meanEntropy = mean(s.entropy);
        const result: SettingResult = {
          corruption,
          severity,
          error: 1 - s.correct / datasetSize(corrupted),
          meanEntropy,
          deltaEntropy: meanEntropy - st.clean.meanEntropy,
          meanLx: mean(s.lx),
        };
        if (st.spec.reference) {
          result.auroc = Object.fromEntries(ROBUSTNESS_TESTS.map((k) => [k, 100 * auroc(stats[k] as number[], st.cleanStats[k] as number[])])) as Record<RobustnessTest, number>;
        }
        st.settings.push(result);
        st.seconds += (Date.now() - t1) / 1000;
      }
      done++;
      opts.onProgress?.('corruptions', done, total);
      await yieldToEventLoop();
    }
  }

  const common = { test, corruptions, severities, seed, corruptSeconds, started };
  const baseReport = runBaseline ? assemble(states[1], null, common) : baselineReport;
  const report = assemble(states[0], baseReport, common);
  if (baseReport) {
    report.baseline = baseReport;
    report.baselineSource = runBaseline ? runBaseline.name : baseReport.model;
    report.baselineRan = runBaseline !== null;
  }
  return report;
}

function assemble(
  st: ModelState,
  baseline: RobustnessReport | null,
  c: { test: ImageDataset; corruptions: CorruptionName[]; severities: number[]; seed: number; corruptSeconds: number; started: number },
): RobustnessReport {
  const hasLikelihood = st.spec.reference !== null;
  const excluded: RobustnessReport['summary']['excluded'] = [];
  const perCorruption: CorruptionSummary[] = c.corruptions.map((corruption) => {
    const rows = st.settings.filter((r) => r.corruption === corruption);
    const summary: CorruptionSummary = {
      corruption,
      category: CORRUPTION_CATEGORY[corruption],
      meanError: mean(rows.map((r) => r.error)),
      deltaEntropy: mean(rows.map((r) => r.deltaEntropy)),
    };
    if (hasLikelihood) summary.auroc = Object.fromEntries(ROBUSTNESS_TESTS.map((k) => [k, mean(rows.map((r) => r.auroc![k]))])) as Record<RobustnessTest, number>;
    if (baseline) {
      const base = baseline.settings.filter((r) => r.corruption === corruption);
      const sum = (a: SettingResult[], f: (r: SettingResult) => number) => a.reduce((s, r) => s + f(r), 0);
      const baseErr = sum(base, (r) => r.error);
      if (baseErr > 0) summary.ce = (100 * sum(rows, (r) => r.error)) / baseErr;
      else excluded.push({ corruption, from: 'mCE', reason: 'the baseline makes no error on it' });
      const baseDegradation = sum(base, (r) => r.error - baseline.clean.error);
      if (baseDegradation > 0) summary.relativeCe = (100 * sum(rows, (r) => r.error - st.clean.error)) / baseDegradation;
      else excluded.push({ corruption, from: 'relativeMCE', reason: `the baseline's error does not rise above its clean error (Σ_s ΔE = ${(100 * baseDegradation).toFixed(2)} pp)` });
    }
    return summary;
  });
  const defined = (f: (s: CorruptionSummary) => number | undefined) => {
    const v = perCorruption.map(f).filter((x): x is number => x !== undefined);
    return v.length ? mean(v) : undefined;
  };
  const evaluateSeconds = st.seconds;
  return {
    format: 'trustgc-robustness',
    version: 1,
    model: st.spec.name,
    modelType: hasLikelihood ? 'gc' : 'dc',
    dataset: c.test.name,
    images: datasetSize(c.test),
    seed: c.seed,
    imageSize: [c.test.height, c.test.width, c.test.channels],
    corruptions: c.corruptions,
    severities: c.severities,
    clean: st.clean,
    settings: st.settings,
    perCorruption,
    summary: {
      deltaEntropy: mean(st.settings.map((r) => r.deltaEntropy)),
      oodAuroc: hasLikelihood ? defined((s) => s.auroc?.['two-tailed']) : undefined,
      mCE: baseline ? defined((s) => s.ce) : undefined,
      relativeMCE: baseline ? defined((s) => s.relativeCe) : undefined,
      excluded,
    },
    reference: st.spec.reference?.source ?? null,
    timing: { corruptSeconds: c.corruptSeconds, evaluateSeconds, totalSeconds: (Date.now() - c.started) / 1000 },
  };
}

/** A stored baseline report is only comparable when made on the same images with the same corruptions. */
function checkBaselineReport(r: RobustnessReport, test: ImageDataset, corruptions: CorruptionName[], severities: number[], seed: number): void {
  if (r.format !== 'trustgc-robustness') throw new Error('the baseline file is not a trustgc robustness report (format field missing)');
  const problems: string[] = [];
  if (r.dataset !== test.name) problems.push(`data set ${r.dataset} ≠ ${test.name}`);
  if (r.images !== datasetSize(test)) problems.push(`${r.images} images ≠ ${datasetSize(test)}`);
  if (r.seed !== seed) problems.push(`seed ${r.seed} ≠ ${seed}`);
  for (const c of corruptions) for (const s of severities) if (!r.settings.some((x) => x.corruption === c && x.severity === s)) problems.push(`no result for ${c} severity ${s}`);
  if (problems.length) throw new Error(`baseline report ${r.model} does not match this run: ${problems.slice(0, 6).join('; ')}${problems.length > 6 ? ` (+${problems.length - 6} more)` : ''}`);
}

/** The parameter table as used for images of this size, for reports and docs. */
export function parameterTable(h: number, w: number): Array<{ corruption: CorruptionName; reference: unknown[]; effective: number[][] }> {
  return CORRUPTION_NAMES.map((corruption) => ({
    corruption,
    reference: [...CIFAR_C_PARAMETERS[corruption]],
    effective: SEVERITIES.map((s) => effectiveParameters(corruption, s, h, w)),
  }));
}
