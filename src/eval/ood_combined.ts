/**
 * The combined verdict (combined_verdict.ts) measured as `ood` measures every score: references on
 * training images, calibration on held-out test images, then its false-positive rate on other
 * held-out test images at α = 0.01 and 0.05 with Wilson intervals, and its AUROC etc. on each OoD set.
 * (Calibrating on training images would not do: the model fits them better than unseen images, and
 * at α = 0.05 it then flagged 8.9 % of MNIST test images.)
 */
import type { InferenceModel } from '../gc/model.js';
import type { ImageDataset } from '../data/dataset.js';
import { classRoundRobinOrder, datasetSize, subset } from '../data/dataset.js';
import { combinedPValues, fitCombinedVerdict, imageEvidence, wilsonInterval } from './combined_verdict.js';
import { detectionMetrics } from './ood_metrics.js';
import type { DetectionMetrics } from './ood_metrics.js';
import { InputError } from '../util/errors.js';
import { MersenneTwister } from '../util/rng.js';

export const COMBINED_SPLIT = 5000;
/** seed of the test set's halving into calibration and measurement images */
const SPLIT_SEED = 2024;

export interface CombinedReport {
  reference: string;
  calibration: string;
  /** the held-out in-distribution images the false-positive rate and the AUROCs are measured on */
  measuredOn: string;
  /** share of in-distribution test images called OoD at α, with a 95 % Wilson interval, percent */
  falsePositives: Array<{ alpha: number; rate: number; interval: [number, number]; images: number }>;
  sets: Array<{ name: string; metrics: DetectionMetrics; flagged: { alpha: number; rate: number }[] }>;
}

/**
 * `train`: the training split (references: its first 5 000 images). `test`: the whole test split —
 * the models were trained on every training image, so only test images are held out: a seeded random
 * half calibrates, the other half (up to `limitIn` images) measures the false-positive rate and serves as
 * the in-distribution side of the AUROCs.
 */
export async function combinedDetection(model: InferenceModel, train: ImageDataset, test: ImageDataset, outSets: ImageDataset[], limitIn = Infinity): Promise<CombinedReport> {
  const n = datasetSize(train);
  const m = datasetSize(test);
  if (n < COMBINED_SPLIT) throw new InputError(`the combined verdict needs ${COMBINED_SPLIT} training images for its references, ${train.name} has ${n}`);
  if (m < 200) throw new InputError(`the combined verdict needs at least 200 held-out test images (half to calibrate, half to measure), ${test.name} has ${m}`);
  // class-sorted sets (CIFAR-10) are taken round-robin over the classes
  const order = (ds: ImageDataset) => (ds.storedByClass ? classRoundRobinOrder(ds) : Array.from({ length: datasetSize(ds) }, (_, i) => i));
  const reference = subset(train, order(train).slice(0, COMBINED_SPLIT), `${train.name} (first ${COMBINED_SPLIT})`);
  // a seeded random halving: the halves must be exchangeable, and test sets are often not in
  // random order (MNIST's first 5 000 test digits are the cleaner ones)
  const half = Math.floor(m / 2);
  const testOrder = Array.from(new MersenneTwister(SPLIT_SEED).permutation(m));
  const calibration = subset(test, testOrder.slice(0, half), `${test.name} (random half A, ${half} images)`);
  const measured = testOrder.slice(half, half + Math.min(m - half, limitIn));
  const inSet = subset(test, measured, `${test.name} (random half B, ${measured.length} images)`);
  const vm = await fitCombinedVerdict(model, reference, calibration);
  const pIn = combinedPValues(vm, await imageEvidence(model, inSet)).p;
  const alphas = [0.01, 0.05];
  const share = (p: Float64Array, a: number) => p.reduce((k, v) => k + (v < a ? 1 : 0), 0);
  const falsePositives = alphas.map((alpha) => {
    const k = share(pIn, alpha);
    const [lo, hi] = wilsonInterval(k, pIn.length);
    return { alpha, rate: (100 * k) / pIn.length, interval: [100 * lo, 100 * hi] as [number, number], images: pIn.length };
  });
  const sets = [];
  for (const ds of outSets) {
    const pOut = combinedPValues(vm, await imageEvidence(model, ds)).p;
    // higher = more OoD: the negated p-value
    sets.push({
      name: ds.name,
      metrics: detectionMetrics(Array.from(pIn, (v) => -v), Array.from(pOut, (v) => -v)),
      flagged: alphas.map((alpha) => ({ alpha, rate: (100 * share(pOut, alpha)) / pOut.length })),
    });
  }
  return { reference: vm.source.reference, calibration: vm.source.calibration, measuredOn: inSet.name, falsePositives, sets };
}

export function formatCombinedTable(r: CombinedReport): string {
  const fp = r.falsePositives.map((f) => `α = ${f.alpha}: ${f.rate.toFixed(2)} % [${f.interval[0].toFixed(2)}, ${f.interval[1].toFixed(2)}]`).join('; ');
  const rows = [
    `combined verdict (marginal and class-conditional likelihood, posterior, complexity; references ${r.reference}, calibrated on ${r.calibration})`,
    `false positives on ${r.measuredOn}: ${fp}`,
    'set | AUROC % | AUPR-out % | FPR@95 % TPR | flagged at α = 0.01 | at 0.05',
  ];
  for (const s of r.sets) rows.push(`${s.name} | ${s.metrics.auroc.toFixed(1)} | ${s.metrics.auprOut.toFixed(1)} | ${s.metrics.fprAt95Tpr.toFixed(1)} | ${s.flagged[0].rate.toFixed(1)} % | ${s.flagged[1].rate.toFixed(1)} %`);
  return rows.join('\n');
}
