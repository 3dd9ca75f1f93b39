/**
 * Our model format: a folder with config.json (the ModelConfig) and model.safetensors (every
 * parameter and buffer by dotted name). Loading checks that names and shapes match the
 * architecture the config builds, and says which tensor does not.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Classifier } from '../gc/classifier.js';
import type { ModelConfig } from '../gc/presets.js';
import { readFileBytes, saveSafetensors, writeFileAtomic } from './safetensors.js';
import { assignParams, modelFromBytes, paramArrays, parseConfig } from './model_weights.js';
import type { WeightPrecision } from './model_weights.js';

export { assignParams, paramArrays, parseConfig };
export type { WeightPrecision };

export const CONFIG_FILE = 'config.json';
export const MODEL_FILE = 'model.safetensors';

export function readConfig(dir: string): ModelConfig {
  const file = join(dir, CONFIG_FILE);
  if (!existsSync(file)) throw new Error(`no model at ${dir}: ${CONFIG_FILE} is missing`);
  return parseConfig(readFileSync(file, 'utf8'), file);
}

export function writeConfig(dir: string, config: ModelConfig): void {
  writeFileAtomic(join(dir, CONFIG_FILE), JSON.stringify(config, null, 2) + '\n');
}

/** Writes config.json and model.safetensors; F16 halves the file (zoo models), training keeps F32. */
export function saveModel(dir: string, model: Classifier, precision: WeightPrecision = 'F32'): void {
  mkdirSync(dir, { recursive: true });
  writeConfig(dir, model.config);
  saveSafetensors(join(dir, MODEL_FILE), paramArrays(model.namedParams(), '', precision), { format: 'trustgc-model', arch: model.config.arch });
}

/** Loads a model folder (config.json + model.safetensors). */
export function loadModel(dir: string, weightsFile = MODEL_FILE): Classifier {
  const config = readConfig(dir);
  const path = join(dir, weightsFile);
  return modelFromBytes(config, readFileBytes(path), path, weightsFile === MODEL_FILE ? '' : 'model/');
}
