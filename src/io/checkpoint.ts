/**
 * Our model format: a folder with config.json (the ModelConfig) and model.safetensors (every
 * parameter and buffer by dotted name). Loading checks that names and shapes match the
 * architecture the config builds, and says which tensor does not.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createClassifier } from '../gc/factory.js';
import type { Classifier } from '../gc/classifier.js';
import { isArchName } from '../gc/presets.js';
import type { ModelConfig } from '../gc/presets.js';
import type { NamedParam } from '../inn/module.js';
import { loadSafetensors, saveSafetensors, writeFileAtomic } from './safetensors.js';
import type { NamedArray, SafetensorsFile } from './safetensors.js';

export const CONFIG_FILE = 'config.json';
export const MODEL_FILE = 'model.safetensors';

export function paramArrays(params: NamedParam[], prefix = ''): NamedArray[] {
  return params.map((p) =>
    p.variable.dtype === 'int32'
      ? { name: prefix + p.name, dtype: 'I32' as const, shape: p.variable.shape, data: p.variable.dataSync() as Int32Array }
      : { name: prefix + p.name, dtype: 'F32' as const, shape: p.variable.shape, data: p.variable.dataSync() as Float32Array },
  );
}

export function readConfig(dir: string): ModelConfig {
  const file = join(dir, CONFIG_FILE);
  if (!existsSync(file)) throw new Error(`no model at ${dir}: ${CONFIG_FILE} is missing`);
  let config: ModelConfig;
  try {
    config = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (config.format !== 'trustgc-model') throw new Error(`${file} is not a trustgc model config (format "${config.format}")`);
  if (!isArchName(config.arch)) throw new Error(`${file}: unknown architecture "${config.arch}"`);
  return config;
}

export function writeConfig(dir: string, config: ModelConfig): void {
  writeFileAtomic(join(dir, CONFIG_FILE), JSON.stringify(config, null, 2) + '\n');
}

/** Copies tensors into the model's variables; every model tensor must be present with its shape. */
export function assignParams(params: NamedParam[], file: SafetensorsFile, source: string, prefix = ''): void {
  const arch = `this architecture`;
  for (const p of params) {
    const t = file.tensors.get(prefix + p.name);
    if (!t) throw new Error(`checkpoint ${source} does not match ${arch}: tensor ${p.name} is missing`);
    const same = t.shape.length === p.variable.shape.length && t.shape.every((d, i) => d === p.variable.shape[i]);
    if (!same) throw new Error(`checkpoint ${source} does not match ${arch}: tensor ${p.name} has shape [${t.shape}], the model expects [${p.variable.shape}]`);
    const dtype = p.variable.dtype === 'int32' ? 'I32' : 'F32';
    if (t.dtype !== dtype) throw new Error(`checkpoint ${source} does not match ${arch}: tensor ${p.name} is ${t.dtype}, the model expects ${dtype}`);
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i])) throw new Error(`checkpoint ${source} is corrupt: tensor ${p.name} contains NaN/Inf`);
    }
    tf.tidy(() => p.variable.assign(tf.tensor(t.data, t.shape, p.variable.dtype)));
  }
  const known = new Set(params.map((p) => prefix + p.name));
  const extra = [...file.tensors.keys()].filter((k) => k.startsWith(prefix) && !known.has(k));
  if (extra.length) throw new Error(`checkpoint ${source} does not match ${arch}: unexpected tensor ${extra[0]}${extra.length > 1 ? ` (+${extra.length - 1} more)` : ''}`);
}

export function saveModel(dir: string, model: Classifier): void {
  mkdirSync(dir, { recursive: true });
  writeConfig(dir, model.config);
  saveSafetensors(join(dir, MODEL_FILE), paramArrays(model.namedParams()), { format: 'trustgc-model', arch: model.config.arch });
}

/** Loads a model folder (config.json + model.safetensors). */
export function loadModel(dir: string, weightsFile = MODEL_FILE): Classifier {
  const config = readConfig(dir);
  const path = join(dir, weightsFile);
  const file = loadSafetensors(path);
  const model = createClassifier(config);
  try {
    assignParams(model.namedParams(), file, path, weightsFile === MODEL_FILE ? '' : 'model/');
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
