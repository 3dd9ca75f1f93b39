/** Data sets by name: mnist, fashion-mnist, cifar10, or folder:<path> for any image folder. */
import { loadMnist, loadFashionMnist } from './mnist.js';
import type { Split } from './mnist.js';
import { loadCifar10 } from './cifar10.js';
import { loadImageFolder } from './image_folder.js';
import { validateDataset } from './dataset.js';
import type { ImageDataset } from './dataset.js';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { InputError } from '../util/errors.js';

export const DATASET_NAMES = ['mnist', 'fashion-mnist', 'cifar10', 'folder:<path>'];

/** Checks a data set name without loading it (commands check names before slow work). */
export function checkDatasetName(name: string): void {
  if (!['mnist', 'fashion-mnist', 'cifar10'].includes(name) && !name.startsWith('folder:')) {
    throw new InputError(`unknown dataset "${name}": expected one of ${DATASET_NAMES.join(', ')}`);
  }
}

export interface LoadOptions {
  /** channels and size for image folders */
  channels?: 1 | 3;
  size?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * For folder:<path>: a path with train/ and test/ sub-folders uses them as the splits; otherwise
 * the folder itself serves both.
 */
export async function loadDataset(name: string, split: Split, opts: LoadOptions = {}): Promise<ImageDataset> {
  let ds: ImageDataset;
  if (name === 'mnist') ds = loadMnist(split);
  else if (name === 'fashion-mnist') ds = loadFashionMnist(split);
  else if (name === 'cifar10') ds = await loadCifar10(split, opts.onProgress);
  else if (name.startsWith('folder:')) {
    const root = name.slice('folder:'.length);
    const splitRoot = existsSync(join(root, split)) ? join(root, split) : root;
    ds = await loadImageFolder(splitRoot, { channels: opts.channels ?? 3, size: opts.size, name: `${root}:${split}`, onProgress: opts.onProgress });
  } else {
    checkDatasetName(name);
    throw new Error('unreachable');
  }
  validateDataset(ds);
  return ds;
}
