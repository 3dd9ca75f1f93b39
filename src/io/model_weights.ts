/**
 * Model weights and configs from bytes and text, without touching the file system: the Node loader
 * (checkpoint.ts) and the browser explorer share these checks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createClassifier } from '../gc/factory.js';
import type { Classifier } from '../gc/classifier.js';
import { isArchName } from '../gc/presets.js';
import type { ModelConfig } from '../gc/presets.js';
import type { NamedParam } from '../inn/module.js';
import { decodeSafetensors } from './safetensors_format.js';
import { InputError } from '../util/errors.js';
import type { NamedArray, SafetensorsFile } from './safetensors_format.js';

/** Storage precision of a model's float tensors (integer tensors always stay I32). */
export type WeightPrecision = 'F32' | 'F16';

export function paramArrays(params: NamedParam[], prefix = '', precision: WeightPrecision = 'F32'): NamedArray[] {
  return params.map((p) =>
    p.variable.dtype === 'int32'
      ? { name: prefix + p.name, dtype: 'I32' as const, shape: p.variable.shape, data: p.variable.dataSync() as Int32Array }
      : { name: prefix + p.name, dtype: precision, shape: p.variable.shape, data: p.variable.dataSync() as Float32Array },
  );
}

/** Parses and checks a config.json text; `source` names it in errors. */
export function parseConfig(text: string, source: string): ModelConfig {
  let config: ModelConfig;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${source} is not valid JSON (${(e as Error).message}): the file is damaged or truncated; write the model again, or restore the file`);
  }
  if (config?.format !== 'trustgc-model') throw new InputError(`${source} is not a trustgc model config (its "format" is ${JSON.stringify(config?.format)}, expected "trustgc-model"): pass a folder written by trustgc train, import or zoo`);
  if (!isArchName(config.arch)) throw new InputError(`${source}: unknown architecture "${config.arch}" (a model of a newer trustgc, or a damaged config)`);
  return config;
}

/** Copies tensors into the model's variables; every model tensor must be present with its shape. */
export function assignParams(params: NamedParam[], file: SafetensorsFile, source: string, prefix = ''): void {
  const arch = `this architecture`;
  for (const p of params) {
    const t = file.tensors.get(prefix + p.name);
    if (!t) throw new InputError(`checkpoint ${source} does not match ${arch}: tensor ${p.name} is missing`);
    const same = t.shape.length === p.variable.shape.length && t.shape.every((d, i) => d === p.variable.shape[i]);
    if (!same) throw new InputError(`checkpoint ${source} does not match ${arch}: tensor ${p.name} has shape [${t.shape}], the model expects [${p.variable.shape}]`);
    const isInt = p.variable.dtype === 'int32';
    if (isInt !== (t.dtype === 'I32')) throw new InputError(`checkpoint ${source} does not match ${arch}: tensor ${p.name} is ${t.dtype}, the model expects ${isInt ? 'I32' : 'F32 or F16'}`);
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i])) throw new InputError(`checkpoint ${source} is corrupt: tensor ${p.name} contains NaN/Inf`);
    }
    tf.tidy(() => p.variable.assign(tf.tensor(t.data, t.shape, p.variable.dtype)));
  }
  const known = new Set(params.map((p) => prefix + p.name));
  const extra = [...file.tensors.keys()].filter((k) => k.startsWith(prefix) && !known.has(k));
  if (extra.length) throw new InputError(`checkpoint ${source} does not match ${arch}: unexpected tensor ${extra[0]}${extra.length > 1 ? ` (+${extra.length - 1} more)` : ''}`);
}

/** Builds the model a config describes and fills it from safetensors bytes. */
export function modelFromBytes(config: ModelConfig, weights: Uint8Array, source: string, prefix = ''): Classifier {
  return modelFromFile(config, decodeSafetensors(weights, source), source, prefix);
}

/** Builds the model a config describes and fills it from a decoded safetensors file. */
export function modelFromFile(config: ModelConfig, file: SafetensorsFile, source: string, prefix = ''): Classifier {
  const model = createClassifier(config);
  try {
    assignParams(model.namedParams(), file, source, prefix);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
