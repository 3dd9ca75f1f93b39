/**
 * Data-parallel training across worker threads: each replica (this thread and W − 1 workers)
 * holds the whole model and optimizer, computes the gradients of its shard of every batch, and
 * the shards' gradients are summed through shared memory. Every replica then applies the same
 * update to the same parameters (the sum is formed in the same order from the same numbers on
 * every replica, so the copies stay bit-identical without sending parameters around).
 *
 * Why threads and not more intra-op threads: on a small core count most kernels of these models
 * are too small to split (see ENGINE_NOTES and bench/results/throughput.md), while whole shards
 * run independently. Each replica runs its engine single-threaded.
 *
 * Batch norm uses each shard's statistics (as PyTorch DataParallel does per device, and as
 * --micro-batch does per chunk); the running statistics of this thread's replica are the model's.
 * Dropout masks differ per replica (seed + replica index).
 */
import { Worker, MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import type { Classifier } from '../gc/classifier.js';
import { RunContext } from '../inn/module.js';
import type { Batch } from '../data/batches.js';
import { FlatGradients } from './optimizer.js';
import type { Optimizer, OptimizerOptions } from './optimizer.js';
import type { NamedArray } from '../io/safetensors_format.js';
import type { ModelConfig } from '../gc/presets.js';
import { TrainingStep } from './step.js';
import type { BatchGradients, StepOutcome, StepRunner, StepSettings } from './step.js';
import { engineInfo } from '../engine/backend.js';
import { setNativeThreads } from '../engine/native_kernels.js';
import { projectRoot } from '../util/paths.js';
import { copyTensorInto } from '../engine/tensor_copy.js';

/** Shared memory of a data-parallel group; every replica sees the same buffers. */
export interface SharedStepBuffers {
  /** [0] step requested (−1: stop), [1 + r] gradients of replica r ready, [1 + W + r] replica r applied, [1 + 2W] failed replica + 1 */
  control: SharedArrayBuffer;
  /** lr, scale, chunk, beta, labelSmoothing, clipNorm, seed, batch size */
  settings: SharedArrayBuffer;
  x: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  /** per replica: loss, lx, ly, accuracy (already weighted by the shard's share) */
  metrics: SharedArrayBuffer;
  /** per replica: its flat gradients, groups end to end */
  gradients: SharedArrayBuffer;
}

/** What a worker needs to build its replica (sent once, at start). */
export interface ReplicaInit {
  replica: number;
  replicas: number;
  config: ModelConfig;
  params: NamedArray[];
  groups: Array<{ name: string; params: string[]; lrScale: number; momentum: number; weightDecay: number }>;
  optimizer: OptimizerOptions;
  optimizerState: NamedArray[];
  engine: { backend: 'wasm' | 'cpu'; native: boolean };
  maxBatch: number;
  buffers: SharedStepBuffers;
  errors: MessagePort;
}

export const CONTROL = {
  request: 0,
  gradsReady: (r: number) => 1 + r,
  applied: (r: number, w: number) => 1 + w + r,
  failed: (w: number) => 1 + 2 * w,
  size: (w: number) => 2 + 2 * w,
};

/** How long a replica waits for another before giving up (a stuck or crashed worker). */
const WAIT_LIMIT_MS = 10 * 60 * 1000;

/** Sizes of the shards of a batch of `size` images over `replicas` (the first ones one larger). */
export function shardSizes(size: number, replicas: number): number[] {
  const base = Math.floor(size / replicas);
  return Array.from({ length: replicas }, (_, r) => base + (r < size % replicas ? 1 : 0));
}

/**
 * The step shared by every replica: gradients of its shard, publish, wait for the others, sum in
 * replica order, apply. `replica` 0 is the main thread.
 */
export class ReplicaStep {
  private readonly control: Int32Array;
  private readonly settings: Float64Array;
  private readonly x: Float32Array;
  private readonly labels: Int32Array;
  private readonly metrics: Float64Array;
  private readonly gradients: Float32Array;
  private readonly groupSizes: number[];
  private readonly total: number;
  private readonly pixels: number;

  constructor(
    readonly step: TrainingStep,
    readonly optimizer: Optimizer,
    readonly replica: number,
    readonly replicas: number,
    buffers: SharedStepBuffers,
    pixels: number,
    private readonly onWaitTimeout: () => string | undefined = () => undefined,
  ) {
    this.control = new Int32Array(buffers.control);
    this.settings = new Float64Array(buffers.settings);
    this.x = new Float32Array(buffers.x);
    this.labels = new Int32Array(buffers.labels);
    this.metrics = new Float64Array(buffers.metrics);
    this.gradients = new Float32Array(buffers.gradients);
    this.groupSizes = optimizer.groups.map((g) => g.params.reduce((n, p) => n + p.variable.size, 0));
    this.total = this.groupSizes.reduce((a, b) => a + b, 0);
    this.pixels = pixels;
  }

  static gradientFloats(optimizer: Optimizer): number {
    return optimizer.groups.reduce((n, g) => n + g.params.reduce((m, p) => m + p.variable.size, 0), 0);
  }

  /** Waits until control[index] reaches `value`; throws if a replica failed or nobody answers. */
  waitFor(index: number, value: number, limitMs = WAIT_LIMIT_MS): void {
    const failed = CONTROL.failed(this.replicas);
    const start = Date.now();
    for (;;) {
      const now = Atomics.load(this.control, index);
      if (now >= value || now < 0) return;
      const bad = Atomics.load(this.control, failed);
      if (bad > 0) throw new Error(`data-parallel replica ${bad - 1} failed: ${this.onWaitTimeout() ?? 'see its error above'}`);
      if (Date.now() - start > limitMs) throw new Error(`data-parallel replica did not answer within ${limitMs / 1000} s`);
      Atomics.wait(this.control, index, now, 200);
    }
  }

  signal(index: number, value: number): void {
    Atomics.store(this.control, index, value);
    Atomics.notify(this.control, index);
  }

  /** This replica's part of step `seq`, with the batch and settings already in shared memory. */
  runShard(seq: number): StepOutcome {
    const s = this.readSettings();
    const batchSize = this.settings[7];
    const sizes = shardSizes(batchSize, this.replicas);
    const offset = sizes.slice(0, this.replica).reduce((a, b) => a + b, 0);
    const size = sizes[this.replica];
    const shard: Batch = {
      x: this.x.slice(offset * this.pixels, (offset + size) * this.pixels),
      labels: this.labels.slice(offset, offset + size),
      size,
    };
    const ctx = new RunContext(true, true, (s.seed + this.replica) >>> 0);
    const own = size > 0 ? this.step.gradients(shard, s, ctx, size / batchSize) : undefined;
    this.publish(own);
    this.signal(CONTROL.gradsReady(this.replica), seq);
    for (let r = 0; r < this.replicas; r++) if (r !== this.replica) this.waitFor(CONTROL.gradsReady(r), seq);
    const total = this.sum(own);
    own?.flat.dispose();
    return this.step.apply(total, s, ctx);
  }

  private publish(own: BatchGradients | undefined): void {
    const base = this.replica * this.total;
    let offset = base;
    this.groupSizes.forEach((n, i) => {
      if (own) copyTensorInto(own.flat.perGroup[i], this.gradients, offset);
      else this.gradients.fill(0, offset, offset + n);
      offset += n;
    });
    this.metrics.set(own ? [own.loss, own.lx, own.ly, own.accuracy] : [0, 0, 0, 0], this.replica * 4);
  }

  /**
   * Every replica's gradients summed in replica order (the same numbers on every replica: its own
   * tensors hold exactly what it published, so only the others' are read back from shared memory).
   */
  private sum(own: BatchGradients | undefined): BatchGradients {
    const m = [0, 0, 0, 0];
    for (let r = 0; r < this.replicas; r++) for (let k = 0; k < 4; k++) m[k] += this.metrics[r * 4 + k];
    let offset = 0;
    const perGroup = this.groupSizes.map((n, i) => {
      const read: tf.Tensor[] = [];
      const parts = Array.from({ length: this.replicas }, (_, r) => {
        if (r === this.replica && own) return own.flat.perGroup[i];
        const start = r * this.total + offset;
        const t = tf.tensor1d(this.gradients.subarray(start, start + n));
        read.push(t);
        return t;
      });
      offset += n;
      const total = tf.addN(parts) as tf.Tensor1D;
      tf.dispose(read);
      return total;
    });
    return { loss: m[0], lx: m[1], ly: m[2], accuracy: m[3], flat: new FlatGradients(perGroup) };
  }

  readSettings(): StepSettings {
    const v = this.settings;
    return { lr: v[0], scale: v[1], chunk: v[2], beta: v[3], labelSmoothing: v[4], clipNorm: v[5], seed: v[6] };
  }
}

function workerScript(): string {
  const here = fileURLToPath(new URL('./data_parallel_worker.js', import.meta.url));
  if (existsSync(here)) return here;
  // running from TypeScript sources (tests): the compiled worker
  const built = join(projectRoot(), 'dist', 'src', 'train', 'data_parallel_worker.js');
  if (existsSync(built)) return built;
  throw new Error(`data-parallel training needs the compiled worker (${built}): run npm run build`);
}

export interface DataParallelOptions {
  /** replicas in all, this thread included (≥ 2) */
  replicas: number;
  /** largest batch the step will be given */
  maxBatch: number;
}

/** A StepRunner that splits every batch over `replicas` threads. */
export class DataParallelStep implements StepRunner {
  private seq = 0;
  private disposed = false;

  private constructor(
    private readonly local: ReplicaStep,
    private readonly workers: Worker[],
    private readonly buffers: SharedStepBuffers,
    private readonly maxBatch: number,
    private readonly pixels: number,
    /** this thread's native thread count before the replicas took over the cores */
    private readonly nativeThreadsBefore: number | undefined,
  ) {}

  static async create(model: Classifier, optimizer: Optimizer, options: DataParallelOptions): Promise<DataParallelStep> {
    const { replicas, maxBatch } = options;
    if (!Number.isInteger(replicas) || replicas < 2) throw new Error(`data-parallel training needs at least 2 replicas, got ${replicas}`);
    if (maxBatch < replicas) throw new Error(`a batch of ${maxBatch} cannot be split over ${replicas} replicas`);
    const engine = engineInfo();
    if (engine.backend !== 'wasm' && engine.backend !== 'cpu') throw new Error(`data-parallel training runs on the wasm or cpu backend, not ${engine.backend}`);
    const { height, width, channels } = model.config.input;
    const pixels = height * width * channels;
    const floats = ReplicaStep.gradientFloats(optimizer);
    const buffers: SharedStepBuffers = {
      control: new SharedArrayBuffer(4 * CONTROL.size(replicas)),
      settings: new SharedArrayBuffer(8 * 8),
      x: new SharedArrayBuffer(4 * maxBatch * pixels),
      labels: new SharedArrayBuffer(4 * maxBatch),
      metrics: new SharedArrayBuffer(8 * 4 * replicas),
      gradients: new SharedArrayBuffer(4 * floats * replicas),
    };
    const errorChannels: MessageChannel[] = [];
    const params: NamedArray[] = model.namedParams().map((p) => ({
      name: p.name, dtype: 'F32', shape: p.variable.shape, data: p.variable.dataSync().slice() as Float32Array,
    }));
    const groups = optimizer.groups.map((g) => ({ name: g.name, params: g.params.map((p) => p.name), lrScale: g.lrScale, momentum: g.momentum, weightDecay: g.weightDecay }));
    const optimizerState = optimizer.stateArrays();
    const workers: Worker[] = [];
    const script = workerScript();
    try {
      await Promise.all(
        Array.from({ length: replicas - 1 }, (_, i) => {
          const channel = new MessageChannel();
          errorChannels.push(channel);
          const init: ReplicaInit = {
            replica: i + 1, replicas, config: model.config, params, groups, optimizer: optimizer.options, optimizerState,
            engine: { backend: engine.backend as 'wasm' | 'cpu', native: engine.native !== null }, maxBatch, buffers, errors: channel.port2,
          };
          const worker = new Worker(script, { workerData: init, transferList: [channel.port2] });
          workers.push(worker);
          return new Promise<void>((resolve, reject) => {
            worker.once('message', (m: { ready?: boolean; error?: string }) => (m.ready ? resolve() : reject(new Error(`data-parallel replica ${i + 1} could not start: ${m.error}`))));
            worker.once('error', reject);
          });
        }),
      );
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    const lastError = () => {
      for (const c of errorChannels) {
        const m = receiveMessageOnPort(c.port1);
        if (m) return String(m.message);
      }
      return undefined;
    };
    const local = new ReplicaStep(new TrainingStep(model, optimizer), optimizer, 0, replicas, buffers, pixels, lastError);
    // the replicas are the parallelism: this one runs its native kernels on one thread too
    const nativeThreadsBefore = setNativeThreads(1);
    return new DataParallelStep(local, workers, buffers, maxBatch, pixels, nativeThreadsBefore);
  }

  get replicas(): number {
    return this.local.replicas;
  }

  run(batch: Batch, s: StepSettings): StepOutcome {
    if (this.disposed) throw new Error('this data-parallel step was disposed');
    if (batch.size > this.maxBatch) throw new Error(`batch of ${batch.size} exceeds the ${this.maxBatch} the data-parallel step was set up for`);
    if (batch.size < this.replicas) throw new Error(`a batch of ${batch.size} cannot be split over ${this.replicas} replicas`);
    const w = this.replicas;
    // the workers must have finished the previous step before its inputs are overwritten
    for (let r = 1; r < w; r++) this.local.waitFor(CONTROL.applied(r, w), this.seq);
    this.seq += 1;
    new Float32Array(this.buffers.x).set(batch.x.subarray(0, batch.size * this.pixels));
    new Int32Array(this.buffers.labels).set(batch.labels.subarray(0, batch.size));
    new Float64Array(this.buffers.settings).set([s.lr, s.scale, s.chunk, s.beta, s.labelSmoothing, s.clipNorm, s.seed, batch.size]);
    this.local.signal(CONTROL.request, this.seq);
    return this.local.runShard(this.seq);
  }

  /** Stops the workers (waiting for the current step to finish). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.local.signal(CONTROL.request, -1);
    for (const w of this.workers) void w.terminate();
    if (this.nativeThreadsBefore !== undefined) setNativeThreads(this.nativeThreadsBefore);
  }
}
