import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { parseIdx } from '../src/data/idx.js';
import { loadMnist, loadFashionMnist } from '../src/data/mnist.js';
import { loadImageFolder } from '../src/data/image_folder.js';
import { firstN } from '../src/data/dataset.js';
import { loadDataset } from '../src/data/registry.js';
import { epochOrder, makeBatch, NO_AUGMENT } from '../src/data/batches.js';
import { MersenneTwister } from '../src/util/rng.js';
import { sharedDataDir } from '../src/util/paths.js';
import { existsSync } from 'node:fs';

// The shared folder lies beside every checkout and CI clone; a bare clone elsewhere lacks it.
const PERM_FILE = join(sharedDataDir(), '..', 'reference', 'PERM_FC_SEED0.txt');
const CIFAR_ARCHIVE = join(sharedDataDir(), 'cifar10-jpeg.tar.gz');

describe('seeded randomness', () => {
  it('reproduces numpy RandomState(0).permutation: first entries (reference values)', () => {
    expect(Array.from(new MersenneTwister(0).permutation(784).slice(0, 6))).toEqual([693, 85, 647, 392, 765, 14]);
    expect(Array.from(new MersenneTwister(0).permutation(3072).slice(0, 10))).toEqual([1430, 779, 643, 1853, 1907, 1224, 1476, 2497, 2527, 10]);
  });
  it.skipIf(!existsSync(PERM_FILE))('reproduces the full 3072-entry official permutation (shared reference file)', () => {
    const ref = readFileSync(PERM_FILE, 'utf8').trim().split('\n').map(Number);
    expect(ref.length).toBe(3072);
    expect(Array.from(new MersenneTwister(0).permutation(3072))).toEqual(ref);
  });
  it('first MT19937 output for seed 5489 is the reference value', () => {
    expect(new MersenneTwister(5489).nextUint32()).toBe(3499211612);
  });
});

describe('IDX reader', () => {
  it('parses a valid file and names the problem in a broken one', () => {
    const ok = new Uint8Array([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]);
    expect(parseIdx(ok, 'a.idx')).toMatchObject({ dims: [2, 3] });
    expect(() => parseIdx(ok.subarray(0, 15), 'b.idx')).toThrow(/b\.idx: IDX header announces 6 values, file holds 3/);
    expect(() => parseIdx(new Uint8Array([1, 2, 3, 4, 5]), 'c.idx')).toThrow(/c\.idx: not an unsigned-byte IDX file/);
  });
});

describe('data sets', () => {
  it('MNIST: official split sizes and labels', () => {
    const test = loadMnist('test');
    expect(test.labels.length).toBe(10_000);
    expect(test.pixels.length).toBe(10_000 * 784);
    expect(Array.from(test.labels.slice(0, 5))).toEqual([7, 2, 1, 0, 4]);
  });

  it('Fashion-MNIST: deterministic split, last 1000 images per class are test', () => {
    const test = loadFashionMnist('test');
    expect(test.labels.length).toBe(10_000);
    const counts = new Array(10).fill(0);
    for (const l of test.labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(1000));
    expect(test.classNames[9]).toBe('ankle-boot');
    // classes interleaved: any prefix is balanced (the package's files are sorted by class)
    expect(Array.from(test.labels.slice(0, 12))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    const train = loadFashionMnist('train');
    expect(train.labels.length).toBe(60_000);
    const first = new Array(10).fill(0);
    for (const l of train.labels.slice(0, 5000)) first[l]++;
    expect(first).toEqual(new Array(10).fill(500));
  }, 60_000);

  it.skipIf(!existsSync(CIFAR_ARCHIVE))('CIFAR-10 from the shared JPEG archive: official test split, cached after the first decode', async () => {
    const { loadCifar10, CIFAR10_CLASSES } = await import('../src/data/cifar10.js');
    const first = await loadCifar10('test');
    expect(first.labels.length).toBe(10_000);
    expect(first.pixels.length).toBe(10_000 * 32 * 32 * 3);
    const counts = new Array(10).fill(0);
    for (const l of first.labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(1000));
    expect(first.classNames).toEqual(CIFAR10_CLASSES);
    // served round-robin: every prefix is class-balanced and a limit is a plain prefix
    expect(first.storedByClass).toBeFalsy();
    expect(Array.from(firstN(first, 20).labels)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const again = await loadCifar10('test'); // from the cache
    expect(Buffer.compare(Buffer.from(again.pixels), Buffer.from(first.pixels))).toBe(0);
    expect(Buffer.compare(Buffer.from(again.labels.buffer), Buffer.from(first.labels.buffer))).toBe(0);
  }, 180_000);

  it('image folder: classes from sub-folders, errors name the bad file and the size mismatch', async () => {
    const root = mkdtempSync(join(tmpdir(), 'gc-folder-'));
    for (const [cls, value] of [['cat', 40], ['dog', 200]] as const) {
      mkdirSync(join(root, cls));
      for (let i = 0; i < 2; i++) {
        await sharp(Buffer.alloc(8 * 8 * 3, value + i), { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(join(root, cls, `${i}.png`));
      }
    }
    const ds = await loadImageFolder(root, { channels: 3 });
    expect(ds.classNames).toEqual(['cat', 'dog']);
    expect(Array.from(ds.labels)).toEqual([0, 0, 1, 1]);
    // read class by class, so a limited prefix alternates the classes
    expect(ds.storedByClass).toBe(true);
    expect(Array.from(firstN(ds, 2).labels)).toEqual([0, 1]);
    expect(ds.pixels[0]).toBe(40);
    expect(ds.pixels[3 * 64 * 3]).toBe(201);
    const gray = await loadImageFolder(root, { channels: 1, size: 4 });
    expect(gray.pixels.length).toBe(4 * 16);

    writeFileSync(join(root, 'dog', '2.png'), 'not an image');
    await expect(loadImageFolder(root)).rejects.toThrow(/cannot read image .*dog\/2\.png/);
    await sharp(Buffer.alloc(6 * 6 * 3, 9), { raw: { width: 6, height: 6, channels: 3 } }).png().toFile(join(root, 'dog', '2.png'));
    await expect(loadImageFolder(root)).rejects.toThrow(/dog\/2\.png is 6×6, expected 8×8/);
    await expect(loadDataset('folder:' + join(root, 'missing'), 'train')).rejects.toThrow(/cannot read image folder/);
    await expect(loadDataset('imagenet-21k', 'train')).rejects.toThrow(/unknown dataset "imagenet-21k"/);
  });

  it('batches: epoch order is a seeded permutation; shift and flip move pixels as expected', () => {
    const a = epochOrder(100, 1, 0);
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(epochOrder(100, 1, 0))).toEqual(Array.from(a));
    expect(Array.from(epochOrder(100, 1, 1))).not.toEqual(Array.from(a));
    const px = new Uint8Array(16);
    px[5] = 255; // (1,1) of a 4×4 image
    const ds = { name: 't', classNames: ['a'], height: 4, width: 4, channels: 1, pixels: px, labels: Int32Array.of(0) };
    expect(makeBatch(ds, [0], NO_AUGMENT, null).x[5]).toBe(1);
    const flipped = makeBatch(ds, [0], { ...NO_AUGMENT, flip: true }, { uniform: () => 0.1, intInclusive: () => 0 } as unknown as MersenneTwister);
    expect(flipped.x[6]).toBe(1); // (1,2) after a horizontal flip
    const shifted = makeBatch(ds, [0], { ...NO_AUGMENT, shift: 1 }, { uniform: () => 0.9, intInclusive: () => 2 } as unknown as MersenneTwister);
    expect(shifted.x[10]).toBe(1); // moved by (+1, +1)
  });
});
