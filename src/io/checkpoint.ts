/**
 * Our model format: a folder with config.json (the ModelConfig) and model.safetensors (every
 * parameter and buffer by dotted name). Loading checks that names and shapes match the
 * architecture the config builds, and says which tensor does not.
 *
 * A training run that has not finished (stopped by --steps, a time budget or Ctrl-C) has no
 * model.safetensors yet; its folder still loads, from the model tensors of checkpoint.safetensors,
 * and the load says so: every model folder a run leaves is usable.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Classifier } from '../gc/classifier.js';
import type { ModelConfig } from '../gc/presets.js';
import { InputError } from '../util/errors.js';
import { readFileBytes, saveSafetensors, writeFileAtomic } from './safetensors.js';
import { assignParams, modelFromFile, paramArrays, parseConfig } from './model_weights.js';
import type { WeightPrecision } from './model_weights.js';
import { decodeSafetensors } from './safetensors_format.js';

export { assignParams, paramArrays, parseConfig };
export type { WeightPrecision };

export const CONFIG_FILE = 'config.json';
export const MODEL_FILE = 'model.safetensors';
/** the trainer's checkpoint: model tensors under `model/`, optimizer state, the run's position */
export const CHECKPOINT_FILE = 'checkpoint.safetensors';

/** Checks that `dir` is a model folder, with an error that names it and says what to pass instead. */
export function checkModelFolder(dir: string): void {
  if (!existsSync(dir)) throw new InputError(`model folder ${dir} does not exist: pass a folder written by trustgc train, import or zoo (e.g. zoo/mnist-gc-beta1)`);
  if (!statSync(dir).isDirectory()) throw new InputError(`${dir} is a file, not a model folder: pass the folder that holds ${CONFIG_FILE} and ${MODEL_FILE}`);
  if (!existsSync(join(dir, CONFIG_FILE))) throw new InputError(`no model at ${dir}: ${CONFIG_FILE} is missing (a model folder is written by trustgc train, import or zoo)`);
}

export function readConfig(dir: string): ModelConfig {
  checkModelFolder(dir);
  const file = join(dir, CONFIG_FILE);
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

/** Which file a model folder's weights come from, in one line for the user. */
export interface WeightsSource {
  path: string;
  /** prefix of the model tensors inside the file ('model/' in a checkpoint) */
  prefix: string;
  /** e.g. "runs/a/checkpoint.safetensors (unfinished run: epoch 0, step 5)" */
  description: string;
}

type SourceListener = (source: WeightsSource) => void;
let sourceListener: SourceListener | null = null;

/** The CLI prints the file each loaded model came from; the library itself stays silent. */
export function onModelWeightsLoaded(listener: SourceListener | null): void {
  sourceListener = listener;
}

/** The weights file of a model folder: model.safetensors, else the checkpoint of an unfinished run. */
export function modelWeightsSource(dir: string): Omit<WeightsSource, 'description'> {
  checkModelFolder(dir);
  if (existsSync(join(dir, MODEL_FILE))) return { path: join(dir, MODEL_FILE), prefix: '' };
  if (existsSync(join(dir, CHECKPOINT_FILE))) return { path: join(dir, CHECKPOINT_FILE), prefix: 'model/' };
  throw new InputError(
    `no weights in ${dir}: neither ${MODEL_FILE} nor ${CHECKPOINT_FILE} is there (a run stopped before its first checkpoint? train it again, or resume with trustgc train --resume --out ${dir})`,
  );
}

/** Loads a model folder: config.json + model.safetensors, or an unfinished run's checkpoint. */
export function loadModel(dir: string, weightsFile?: string): Classifier {
  const config = readConfig(dir);
  const source = weightsFile
    ? { path: join(dir, weightsFile), prefix: weightsFile === MODEL_FILE ? '' : 'model/' }
    : modelWeightsSource(dir);
  const file = decodeSafetensors(readFileBytes(source.path), source.path);
  const model = modelFromFile(config, file, source.path, source.prefix);
  let description = source.path;
  if (source.prefix === 'model/') {
    let position = '';
    try {
      const state = JSON.parse(file.metadata.state ?? '{}');
      if (Number.isInteger(state.step)) position = `: epoch ${state.epoch}, step ${state.step}`;
    } catch {
      // a checkpoint without a readable position still loads
    }
    description += ` (unfinished run${position}${model.batchNorms().length ? '; batch-norm statistics as trained so far' : ''})`;
  }
  sourceListener?.({ ...source, description });
  return model;
}
