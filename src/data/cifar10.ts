/**
 * CIFAR-10 from the shared JPEG archive (`../shared/data/cifar10-jpeg.tar.gz`, official split).
 * First use unpacks it (system `tar`) and decodes every JPEG once; the decoded pixels are cached
 * as raw bytes so later loads take well under a second.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadImageFolder } from './image_folder.js';
import { classRoundRobinOrder, subset } from './dataset.js';
import type { ImageDataset } from './dataset.js';
import { cacheDir, sharedDataDir } from '../util/paths.js';
import type { Split } from './mnist.js';

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

export async function loadCifar10(split: Split, onProgress?: (done: number, total: number) => void): Promise<ImageDataset> {
  const cache = join(cacheDir(), 'cifar10');
  const pixelFile = join(cache, `${split}.pixels.u8`);
  const labelFile = join(cache, `${split}.labels.u8`);
  const base = { name: `cifar10-${split}`, classNames: CIFAR10_CLASSES, height: 32, width: 32, channels: 3 };
  // the test split in class-balanced order (interleaveClasses); the training split as stored,
  // flagged so that a limited prefix (--train-limit, the OoD reference) is taken round-robin
  const served = (ds: ImageDataset) => (split === 'test' ? interleaveClasses(ds) : { ...ds, storedByClass: true });
  if (existsSync(pixelFile) && existsSync(labelFile)) {
    const labels = Int32Array.from(readFileSync(labelFile));
    const pixels = new Uint8Array(readFileSync(pixelFile));
    if (pixels.length === labels.length * 3072) return served({ ...base, pixels, labels });
  }
  const archive = join(sharedDataDir(), 'cifar10-jpeg.tar.gz');
  if (!existsSync(archive)) throw new Error(`CIFAR-10 archive not found at ${archive} (set TRUSTGC_SHARED_DATA to the folder holding it)`);
  const unpacked = join(cache, 'jpeg');
  if (!existsSync(join(unpacked, split))) {
    mkdirSync(unpacked, { recursive: true });
    execFileSync('tar', ['xzf', archive, '-C', unpacked]);
  }
  const ds = await loadImageFolder(join(unpacked, split), { channels: 3, name: base.name, onProgress });
  if (ds.classNames.join() !== CIFAR10_CLASSES.join()) throw new Error(`unexpected CIFAR-10 classes: ${ds.classNames.join(', ')}`);
  // atomic cache writes: a crash never leaves a half-written cache behind
  writeFileSync(`${pixelFile}.tmp`, ds.pixels);
  renameSync(`${pixelFile}.tmp`, pixelFile);
  writeFileSync(`${labelFile}.tmp`, Uint8Array.from(ds.labels));
  renameSync(`${labelFile}.tmp`, labelFile);
  return served({ ...ds, ...base });
}

/**
 * The JPEG folders list the test set class by class, so its first n images (per-epoch
 * evaluation, the zoo's OoD measurement) would be airplanes and automobiles only. The test set
 * is served round-robin over the classes instead (each class in its folder order), so every
 * prefix is class-balanced. (The training set keeps its stored order: it is shuffled anyway, and
 * the zoo's reproduce runs depend on it; `firstN` balances its prefixes through `storedByClass`.)
 */
export function interleaveClasses(ds: ImageDataset): ImageDataset {
  return subset(ds, classRoundRobinOrder(ds));
}
