/**
 * A data-parallel replica (see data_parallel.ts): builds the model and optimizer it is sent,
 * then, for every step the main thread requests, computes its shard and applies the summed update.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../engine/backend.js';
import { createClassifier } from '../gc/factory.js';
import { Optimizer } from './optimizer.js';
import { TrainingStep } from './step.js';
import { CONTROL, ReplicaStep } from './data_parallel.js';
import type { ReplicaInit } from './data_parallel.js';
import type { NamedArray } from '../io/safetensors_format.js';

const init = workerData as ReplicaInit;

async function start(): Promise<ReplicaStep> {
  // one thread per replica: the replicas are the parallelism
  process.env.TRUSTGC_NATIVE_THREADS = '1';
  await initEngine({ backend: init.engine.backend, threads: 1, native: init.engine.native, quiet: true });
  const model = createClassifier(init.config);
  const byName = new Map(model.namedParams().map((p) => [p.name, p]));
  for (const a of init.params) {
    const p = byName.get(a.name);
    if (!p) throw new Error(`replica has no parameter ${a.name}`);
    tf.tidy(() => p.variable.assign(tf.tensor(a.data, a.shape)));
  }
  const groups = init.groups.map((g) => ({
    name: g.name,
    params: g.params.map((n) => byName.get(n)!),
    lrScale: g.lrScale,
    momentum: g.momentum,
    weightDecay: g.weightDecay,
  }));
  const optimizer = new Optimizer(groups, init.optimizer);
  const tensors = new Map<string, NamedArray>(init.optimizerState.map((a) => [a.name, a]));
  optimizer.loadState({ tensors, metadata: {} }, 'the main replica');
  const { height, width, channels } = init.config.input;
  return new ReplicaStep(new TrainingStep(model, optimizer), optimizer, init.replica, init.replicas, init.buffers, height * width * channels);
}

function loop(replica: ReplicaStep): void {
  const control = new Int32Array(init.buffers.control);
  let seq = 0;
  for (;;) {
    // (no time limit: the main thread may evaluate or checkpoint for a long time between steps)
    replica.waitFor(CONTROL.request, seq + 1, Infinity);
    const requested = Atomics.load(control, CONTROL.request);
    if (requested < 0) return;
    seq = requested;
    replica.runShard(seq);
    replica.signal(CONTROL.applied(init.replica, init.replicas), seq);
  }
}

try {
  const replica = await start();
  parentPort!.postMessage({ ready: true });
  loop(replica);
} catch (e) {
  const message = (e as Error).message ?? String(e);
  init.errors.postMessage(message);
  const control = new Int32Array(init.buffers.control);
  Atomics.store(control, CONTROL.failed(init.replicas), init.replica + 1);
  Atomics.notify(control, CONTROL.failed(init.replicas));
  parentPort!.postMessage({ error: message });
}
