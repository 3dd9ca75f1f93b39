/** Corrupting whole data sets, image by image, reproducibly. */
import type { ImageDataset } from '../data/dataset.js';
import { datasetSize, sampleSize } from '../data/dataset.js';
import { corruptBytes } from './corruptions.js';
import type { CorruptionName } from './corruptions.js';

export interface CorruptOptions {
  /** base seed; every image draws from its own generator derived from it */
  seed?: number;
  onProgress?: (done: number, total: number) => void;
}

/** A copy of the data set with every image corrupted (labels kept). */
export async function corruptDataset(ds: ImageDataset, name: CorruptionName, severity: number, opts: CorruptOptions = {}): Promise<ImageDataset> {
  const n = datasetSize(ds);
  const size = sampleSize(ds);
  const pixels = new Uint8Array(n * size);
  const seed = opts.seed ?? 0;
  // chunks of concurrent images: only JPEG is truly asynchronous (sharp's thread pool)
  const chunk = 64;
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(n, start + chunk);
    const jobs: Array<Promise<void>> = [];
    for (let i = start; i < end; i++) {
      jobs.push(
        corruptBytes(ds.pixels.subarray(i * size, (i + 1) * size), ds.height, ds.width, ds.channels, name, severity, seed, i).then((bytes) => {
          pixels.set(bytes, i * size);
        }),
      );
    }
    await Promise.all(jobs);
    opts.onProgress?.(end, n);
  }
  return { ...ds, name: `${ds.name}/${name}-${severity}`, pixels, labels: ds.labels.slice() };
}
