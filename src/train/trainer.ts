/**
 * Training loop for generative classifiers with the IB loss: parameter groups as the official
 * IB-INN code (INN / class means / class weights), LR decay, gradient clipping, augmentation,
 * periodic checkpoints that include optimizer and data-order state (resume continues exactly),
 * a JSONL metrics log, and a hard stop with a clear message on NaN/Inf.
 */
import { existsSync, mkdirSync, readFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createClassifier } from '../gc/factory.js';
import type { Classifier } from '../gc/classifier.js';
import { TRAINING_CHUNK, defaultConfig } from '../gc/presets.js';
import type { ArchName, DropoutMode, ModelConfig } from '../gc/presets.js';
import { RunContext } from '../inn/module.js';
import { TrainingStep } from './step.js';
import type { StepRunner } from './step.js';
import { DataParallelStep } from './data_parallel.js';
import { acquireRunLock } from './run_lock.js';
import type { NamedParam } from '../inn/module.js';
import { loadDataset } from '../data/registry.js';
import { referenceFromDataset, saveReference } from '../eval/ood_reference.js';

/** training images scored for a model's OoD reference */
const OOD_REFERENCE_IMAGES = 5000;
import type { ImageDataset } from '../data/dataset.js';
import { datasetSize, firstN } from '../data/dataset.js';
import { epochOrder, makeBatch, stepRng } from '../data/batches.js';
import type { AugmentOptions } from '../data/batches.js';
import { Optimizer, learningRate } from './optimizer.js';
import type { OptimizerKind, ParamGroup } from './optimizer.js';
import { CHECKPOINT_FILE, assignParams, paramArrays, readConfig, saveModel, writeConfig } from '../io/checkpoint.js';
import { loadSafetensors, saveSafetensors, writeFileAtomic } from '../io/safetensors.js';
import { checkCompatible, evaluate } from '../eval/evaluate.js';
import type { EvalResult } from '../eval/evaluate.js';
import { InputError } from '../util/errors.js';

export interface TrainOptions {
  dataset: string;
  arch: ArchName;
  /** 'gc' (default) or 'dc': the discriminative baseline for the same preset */
  modelType?: 'gc' | 'dc';
  beta: number;
  epochs: number;
  /** stop after this many optimisation steps in total (a short budget) */
  maxSteps?: number;
  /** stop (with a checkpoint) after this much training time in this process */
  timeBudgetSeconds?: number;
  batchSize: number;
  /** split each batch into chunks of this size and accumulate gradients (bounds memory; BN then
   *  normalises per chunk, as data-parallel training does per device); default per architecture */
  microBatch?: number;
  /** data-parallel replicas (worker threads, this one included), each single-threaded; 1 = off.
   *  BN then normalises per replica's shard. A hardware setting: a resumed run may change it. */
  workers?: number;
  optimizer: OptimizerKind;
  lr: number;
  momentum: number;
  weightDecay: number;
  /** epochs at which the LR is multiplied by lrDecayFactor */
  lrDecayEpochs: number[];
  lrDecayFactor: number;
  /** LR factor of the class means (official: 3) */
  muLrScale: number;
  /** global gradient-norm clip, 0 = off */
  clipNorm: number;
  labelSmoothing?: number;
  /** 'off' trains the architecture without its dropout (stored in the model config); default 'preset' */
  dropout?: DropoutMode;
  augment: AugmentOptions;
  /** first steps run with the loss ×burnInFactor (official: 10 steps, ×0.05) */
  burnInSteps: number;
  burnInFactor: number;
  checkpointEverySteps: number;
  logEverySteps: number;
  /** evaluate on (part of) the test set after every this many epochs; 0 = only at the end */
  evalEveryEpochs: number;
  evalLimit?: number;
  /** evaluate the finished model on only the first n test images */
  testLimit?: number;
  trainLimit?: number;
  /** batches used to re-estimate BatchNorm statistics after training (official: cumulative average) */
  bnReestimateBatches: number;
  seed: number;
  outDir: string;
}

export const DEFAULT_TRAIN_OPTIONS: Omit<TrainOptions, 'dataset' | 'arch' | 'outDir'> = {
  beta: 1,
  epochs: 1,
  batchSize: 128,
  optimizer: 'sgd',
  lr: 0.07,
  momentum: 0.9,
  weightDecay: 1e-4,
  lrDecayEpochs: [],
  lrDecayFactor: 0.1,
  muLrScale: 3,
  clipNorm: 8,
  augment: { shift: 0, flip: false, dequantize: true, noiseStd: 0.01 },
  burnInSteps: 10,
  burnInFactor: 0.05,
  checkpointEverySteps: 200,
  logEverySteps: 10,
  evalEveryEpochs: 1,
  evalLimit: 2000,
  bnReestimateBatches: 50,
  seed: 0,
};

export interface TrainState {
  epoch: number;
  batchInEpoch: number;
  step: number;
  trainSeconds: number;
  finished: boolean;
}

export interface StepMetrics {
  loss: number;
  lx: number;
  ly: number;
  accuracy: number;
  gradNorm: number;
  lr: number;
}

export interface TrainEvents {
  onStart?(info: { model: Classifier; train: ImageDataset; state: TrainState; stepsPerEpoch: number; resumed: boolean; replicas: number }): void;
  onStep?(info: { state: TrainState; metrics: StepMetrics; imagesPerSecond: number; stepsPerEpoch: number }): void;
  onEpochEnd?(info: { state: TrainState; eval?: EvalResult }): void;
  onCheckpoint?(path: string, state: TrainState): void;
  onPhase?(phase: string): void;
  /** progress within the current phase (data decoding, evaluation) */
  onProgress?(done: number, total: number): void;
  /** return true to stop after the current step (with a checkpoint) */
  shouldStop?(): boolean;
}

export interface TrainResult {
  state: TrainState;
  model: Classifier;
  stoppedEarly: boolean;
  final?: EvalResult;
}

export class TrainingDivergedError extends Error {}

export { CHECKPOINT_FILE };
export const OPTIONS_FILE = 'train.json';
export const METRICS_FILE = 'metrics.jsonl';
export const EVAL_FILE = 'eval.json';

/**
 * Training options as stored in train.json (or a model card): JSON has no Infinity, so β = ∞ was written as
 * null — older cards say "inf" — and must come back as Infinity, or the loss weights read it as β = 0.
 */
export function reviveTrainOptions(stored: Record<string, unknown>): Partial<TrainOptions> {
  const revived = { ...stored } as Partial<TrainOptions>;
  if (stored.beta === null || stored.beta === 'inf') revived.beta = Infinity;
  return revived;
}

/** A run folder's train.json. */
export function readTrainOptions(dir: string): Partial<TrainOptions> {
  return reviveTrainOptions(JSON.parse(readFileSync(join(dir, OPTIONS_FILE), 'utf8')) as Record<string, unknown>);
}

/**
 * Checks a resumed run's length and decays against what it has trained and writes them to train.json,
 * so the folder (and `zoo add`, `trustgc curves`) describes the schedule the run now follows.
 */
function recordResumedSchedule(dir: string, opts: TrainOptions, position: number, stepsPerEpoch: number): void {
  const path = join(dir, OPTIONS_FILE);
  // the raw JSON, not the revived options: β = ∞ stays stored as null
  const stored = JSON.parse(readFileSync(path, 'utf8')) as { epochs: number; lrDecayEpochs?: number[] };
  const before = stored.lrDecayEpochs ?? [];
  if (opts.epochs < position) {
    throw new Error(`cannot shorten the run to ${opts.epochs} epochs: it has already trained ${position.toFixed(2)} (--epochs ${stored.epochs})`);
  }
  checkScheduleChange(before, opts.lrDecayEpochs, position, stepsPerEpoch);
  if (stored.epochs === opts.epochs && sameNumbers(before, opts.lrDecayEpochs)) return;
  writeFileAtomic(path, JSON.stringify({ ...stored, epochs: opts.epochs, lrDecayEpochs: opts.lrDecayEpochs }, null, 2) + '\n');
}

function groupsFor(model: Classifier, opts: TrainOptions): ParamGroup[] {
  const trainable = model.namedParams().filter((p) => p.trainable);
  const isMu = (p: NamedParam) => /^head\.mu/.test(p.name);
  const isPhi = (p: NamedParam) => p.name === 'head.phi';
  return [
    { name: 'inn', params: trainable.filter((p) => !isMu(p) && !isPhi(p)), lrScale: 1, momentum: opts.momentum, weightDecay: opts.weightDecay },
    { name: 'mu', params: trainable.filter(isMu), lrScale: opts.muLrScale, momentum: 0, weightDecay: 0 },
    { name: 'phi', params: trainable.filter(isPhi), lrScale: 1, momentum: 0.8, weightDecay: 0 },
  ].filter((g) => g.params.length > 0);
}

function saveCheckpoint(dir: string, model: Classifier, optimizer: Optimizer, state: TrainState): string {
  const path = join(dir, CHECKPOINT_FILE);
  saveSafetensors(path, [...paramArrays(model.namedParams(), 'model/'), ...optimizer.stateArrays()], { state: JSON.stringify(state) });
  return path;
}

/** Re-estimates BN running statistics as a cumulative average over training batches (no gradients). */
export function reestimateBatchNorm(model: Classifier, ds: ImageDataset, opts: TrainOptions, batches: number): void {
  const bns = model.batchNorms();
  if (bns.length === 0 || batches <= 0) return;
  for (const bn of bns) {
    bn.cumulative = { count: 0 };
    tf.tidy(() => {
      bn.runningMean.assign(tf.zerosLike(bn.runningMean));
      bn.runningVar.assign(tf.zerosLike(bn.runningVar));
    });
  }
  const n = datasetSize(ds);
  const order = epochOrder(n, opts.seed + 1, 0);
  const count = Math.min(batches, Math.floor(n / opts.batchSize));
  for (let b = 0; b < count; b++) {
    const batch = makeBatch(ds, order.subarray(b * opts.batchSize, (b + 1) * opts.batchSize), opts.augment, stepRng(opts.seed + 1, b));
    const ctx = new RunContext(true);
    tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [batch.size, ds.height, ds.width, ds.channels]);
      model.runForward(x, ctx);
    });
    ctx.commit();
  }
  for (const bn of bns) bn.cumulative = null;
}

/**
 * What may change when a run is resumed: where it is, how long it trains, and the learning-rate decays
 * it has not reached yet (so the resumed run is the straight run of the new schedule).
 */
export interface ResumeRequest {
  outDir: string;
  epochs?: number;
  lrDecayEpochs?: number[];
  maxSteps?: number;
  timeBudgetSeconds?: number;
  workers?: number;
}

function sameNumbers(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Refuses a new decay schedule that would have changed the learning rate of a step already taken: the
 * decays at or before the last step's position must be the same in both. `position` is the epoch
 * position (epoch + batch/stepsPerEpoch) of the next step.
 */
export function checkScheduleChange(before: number[], after: number[], position: number, stepsPerEpoch: number): void {
  const lastStep = position - 1 / stepsPerEpoch;
  const passed = (m: number[]) => m.filter((e) => e <= lastStep).sort((a, b) => a - b);
  const was = passed(before);
  const now = passed(after);
  if (!sameNumbers(was, now)) {
    throw new Error(
      `cannot change --lr-decay-epochs from ${before.join(',') || '(none)'} to ${after.join(',') || '(none)'}: the run is at epoch ` +
        `${position.toFixed(2)}, and the decays behind it (${was.join(',') || 'none'}) would become ${now.join(',') || 'none'}; ` +
        'only decays it has not reached may move',
    );
  }
}

/** Continues the run in `request.outDir` from its last checkpoint, with its stored settings. */
export function resumeTraining(request: ResumeRequest, events: TrainEvents = {}): Promise<TrainResult> {
  return train(request as TrainOptions, events, true);
}

export async function train(options: TrainOptions, events: TrainEvents = {}, resume = false): Promise<TrainResult> {
  const dir = options.outDir;
  const ckptPath = join(dir, CHECKPOINT_FILE);
  let opts = options;
  let config: ModelConfig | undefined;
  if (resume) {
    if (!existsSync(ckptPath)) throw new InputError(`cannot resume: no checkpoint at ${ckptPath} (start the run without --resume, or point --out at the run folder)`);
    const stored = readTrainOptions(dir) as TrainOptions;
    // a resumed run keeps its settings; only its length and its decays still ahead may change
    opts = {
      ...stored,
      epochs: options.epochs ?? stored.epochs,
      lrDecayEpochs: options.lrDecayEpochs ?? stored.lrDecayEpochs,
      maxSteps: options.maxSteps,
      timeBudgetSeconds: options.timeBudgetSeconds,
      workers: options.workers ?? stored.workers,
      outDir: dir,
    };
    config = readConfig(dir);
  } else if (existsSync(ckptPath)) {
    throw new Error(`${dir} already holds a training run: pass --resume to continue it, or choose another --out`);
  }
  mkdirSync(dir, { recursive: true });
  const releaseLock = acquireRunLock(dir);
  try {
    return await trainInFolder(dir, opts, config, resume, events);
  } finally {
    releaseLock();
  }
}

/** The training itself, once the run folder is prepared and locked. */
async function trainInFolder(dir: string, opts: TrainOptions, config: ModelConfig | undefined, resume: boolean, events: TrainEvents): Promise<TrainResult> {
  const ckptPath = join(dir, CHECKPOINT_FILE);
  events.onPhase?.('loading data');
  const onProgress = events.onProgress?.bind(events);
  const train = firstN(await loadDataset(opts.dataset, 'train', { onProgress }), opts.trainLimit);
  const test = firstN(await loadDataset(opts.dataset, 'test', { onProgress }), opts.testLimit);
  const model = createClassifier(config ?? { ...defaultConfig(opts.arch, train.classNames, opts.seed, opts.modelType ?? 'gc'), ...(opts.dropout === 'off' ? { dropout: 'off' as const } : {}) });
  checkCompatible(model, train); // e.g. an MNIST architecture asked to train on CIFAR-10
  const labelSmoothing = opts.labelSmoothing ?? model.config.loss.labelSmoothing;
  const n = datasetSize(train);
  const stepsPerEpoch = Math.floor(n / opts.batchSize);
  if (stepsPerEpoch < 1) throw new Error(`batch size ${opts.batchSize} exceeds the ${n} training images`);
  const optimizer = new Optimizer(groupsFor(model, opts), { kind: opts.optimizer });
  let state: TrainState = { epoch: 0, batchInEpoch: 0, step: 0, trainSeconds: 0, finished: false };

  if (resume) {
    const file = loadSafetensors(ckptPath);
    assignParams(model.namedParams(), file, ckptPath, 'model/');
    optimizer.loadState(file, ckptPath);
    state = JSON.parse(file.metadata.state);
    recordResumedSchedule(dir, opts, state.epoch + state.batchInEpoch / stepsPerEpoch, stepsPerEpoch);
  } else {
    writeConfig(dir, model.config);
    writeFileAtomic(join(dir, OPTIONS_FILE), JSON.stringify(opts, null, 2) + '\n');
  }
  const log = (record: object) => appendFileSync(join(dir, METRICS_FILE), JSON.stringify(record) + '\n');

  const workers = opts.workers ?? 1;
  const step: StepRunner = workers > 1
    ? await DataParallelStep.create(model, optimizer, { replicas: workers, maxBatch: opts.batchSize })
    : new TrainingStep(model, optimizer);
  events.onStart?.({ model, train, state, stepsPerEpoch, resumed: resume, replicas: workers });
  try {
    return await runSteps();
  } finally {
    step.dispose();
    optimizer.dispose();
  }

  async function runSteps(): Promise<TrainResult> {
    const sessionStart = Date.now();
    const secondsBefore = state.trainSeconds;
    let stoppedEarly = false;

    const checkpoint = () => {
      const path = saveCheckpoint(dir, model, optimizer, state);
      events.onCheckpoint?.(path, state);
    };
    const stopNow = () =>
      (opts.maxSteps !== undefined && state.step >= opts.maxSteps) ||
      (opts.timeBudgetSeconds !== undefined && (Date.now() - sessionStart) / 1000 >= opts.timeBudgetSeconds) ||
      (events.shouldStop?.() ?? false);

    outer: while (!state.finished && state.epoch < opts.epochs) {
      const order = epochOrder(n, opts.seed, state.epoch);
      while (state.batchInEpoch < stepsPerEpoch) {
        if (stopNow()) {
          stoppedEarly = true;
          break outer;
        }
        const t0 = Date.now();
        const lr = learningRate(opts.lr, state.epoch + state.batchInEpoch / stepsPerEpoch, opts.lrDecayEpochs, opts.lrDecayFactor);
        const b = state.batchInEpoch;
        const batch = makeBatch(train, order.subarray(b * opts.batchSize, (b + 1) * opts.batchSize), opts.augment, stepRng(opts.seed, state.step));
        const { metrics: m, finite } = step.run(batch, {
          lr,
          scale: state.step < opts.burnInSteps ? opts.burnInFactor : 1,
          chunk: opts.microBatch ?? TRAINING_CHUNK[model.config.arch],
          beta: opts.beta,
          labelSmoothing,
          clipNorm: opts.clipNorm,
          seed: stepRng(opts.seed + 2, state.step).nextUint32(),
        });
        const { loss, lx, ly, accuracy, gradNorm } = m;
        if (!finite) {
          log({ type: 'diverged', step: state.step, epoch: state.epoch, loss, gradNorm });
          throw new TrainingDivergedError(
            `training diverged at step ${state.step} (loss ${loss}, gradient norm ${gradNorm}); ` +
              `the last good checkpoint is kept in ${dir} — lower --lr or raise --clip and resume with --resume`,
          );
        }
        state.step += 1;
        state.batchInEpoch += 1;
        const seconds = (Date.now() - t0) / 1000;
        state.trainSeconds = secondsBefore + (Date.now() - sessionStart) / 1000;
        const metrics: StepMetrics = { loss, lx, ly, accuracy, gradNorm, lr };
        events.onStep?.({ state, metrics, imagesPerSecond: batch.size / seconds, stepsPerEpoch });
        if (state.step % opts.logEverySteps === 0) {
          log({ type: 'train', step: state.step, epoch: state.epoch + state.batchInEpoch / stepsPerEpoch, ...metrics, imagesPerSecond: batch.size / seconds, time: state.trainSeconds });
        }
        if (state.step % opts.checkpointEverySteps === 0) checkpoint();
        await new Promise((r) => setImmediate(r)); // let signal handlers run between steps
      }
      state.epoch += 1;
      state.batchInEpoch = 0;
      let evalResult: EvalResult | undefined;
      if (opts.evalEveryEpochs > 0 && state.epoch % opts.evalEveryEpochs === 0 && state.epoch < opts.epochs) {
        events.onPhase?.('evaluating');
        evalResult = await evaluate(model, firstN(test, opts.evalLimit), { onProgress });
        log({ type: 'eval', step: state.step, epoch: state.epoch, ...evalResult });
      }
      events.onEpochEnd?.({ state, eval: evalResult });
      checkpoint();
    }

    if (stoppedEarly) {
      checkpoint();
      return { state, model, stoppedEarly: true };
    }

    // Finished: re-estimate BN statistics, save the model, evaluate on the whole test set.
    if (!state.finished) {
      events.onPhase?.('re-estimating batch-norm statistics');
      reestimateBatchNorm(model, train, opts, opts.bnReestimateBatches);
      state.finished = true;
      checkpoint();
    }
    saveModel(dir, model);
    // training-set likelihoods: the reference `predict` and the OoD tests compare new images with
    if (model.kind === 'gc') {
      events.onPhase?.('scoring training images for OoD tests');
      saveReference(dir, await referenceFromDataset(model, train, OOD_REFERENCE_IMAGES));
    }
    events.onPhase?.('evaluating on the test set');
    const final = await evaluate(model, test, { onProgress });
    log({ type: 'final', step: state.step, epoch: state.epoch, ...final });
    writeFileAtomic(join(dir, EVAL_FILE), JSON.stringify(final, null, 2) + '\n');
    return { state, model, stoppedEarly: false, final };
  }
}
