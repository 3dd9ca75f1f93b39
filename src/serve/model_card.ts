/**
 * A model's card as the API shows it: what the folder says about the model (config, training
 * settings, measured evaluation, zoo card when it has one) and what the loaded model says about
 * itself (parameters, classes, OoD reference). Files that are absent are left out, not invented.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Classifier } from '../gc/classifier.js';
import type { OodReference } from '../eval/ood_reference.js';

function readJson(dir: string, file: string): Record<string, unknown> | null {
  const path = join(dir, file);
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

export function modelCard(dir: string, model: Classifier, reference: OodReference | null): Record<string, unknown> {
  const { config } = model;
  const train = readJson(dir, 'train.json');
  const evaluation = readJson(dir, 'eval.json');
  const zooCard = readJson(dir, 'card.json');
  const q = (f: number) => (reference ? reference.values[Math.min(reference.values.length - 1, Math.floor(f * reference.values.length))] : null);
  return {
    name: basename(resolve(dir)),
    kind: model.kind === 'gc' ? 'generative classifier' : 'discriminative baseline',
    arch: config.arch,
    input: config.input,
    classNames: config.classNames,
    parameters: model.countParams().total,
    ...(train ? { training: { dataset: train.dataset, beta: train.beta, epochs: train.epochs, batchSize: train.batchSize, optimizer: train.optimizer, lr: train.lr, seed: train.seed } } : {}),
    ...(evaluation ? { evaluation } : {}),
    ...(zooCard ? { card: zooCard } : {}),
    oodReference: reference
      ? { source: reference.source, images: reference.values.length, score: 'L_X, nats per dimension', quantiles: { p01: q(0.01), p50: q(0.5), p99: q(0.99) } }
      : null,
  };
}
