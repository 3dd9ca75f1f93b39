/**
 * The geometric near-OoD sets: each transform is what it says (four quarter turns are the identity,
 * two flips make a half turn, a patch shuffle moves whole patches, a blur keeps flat images flat),
 * and classes a transform leaves in their class are left out.
 */
import { describe, expect, it } from 'vitest';
import { geometricOodSet } from '../src/data/geometric_ood.js';
import type { ImageDataset } from '../src/data/dataset.js';
import { MNIST_CLASSES, FASHION_CLASSES } from '../src/data/mnist.js';
import { InputError } from '../src/util/errors.js';
import { MersenneTwister } from '../src/util/rng.js';

function randomSet(classNames: string[], n = 20, side = 28, channels = 1): ImageDataset {
  const rng = new MersenneTwister(1);
  const pixels = Uint8Array.from({ length: n * side * side * channels }, () => Math.floor(rng.uniform() * 256));
  return { name: 'test', classNames, height: side, width: side, channels, pixels, labels: Int32Array.from({ length: n }, (_, i) => i % 10) };
}

const asSet = (ds: ImageDataset, pixels: Uint8Array): ImageDataset => ({ ...ds, pixels, labels: ds.labels.slice(0, pixels.length / (ds.height * ds.width * ds.channels)) });

describe('geometric OoD sets', () => {
  const plain = randomSet(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']); // no known symmetries
  it('four quarter turns are the identity; two flips are a half turn', () => {
    let ds = plain;
    for (let k = 0; k < 4; k++) ds = asSet(plain, geometricOodSet(ds, 'rotate90', 100).pixels);
    expect(ds.pixels).toEqual(plain.pixels);
    const flipped = asSet(plain, geometricOodSet(geometricOodSet(plain, 'hflip', 100), 'vflip', 100).pixels);
    expect(flipped.pixels).toEqual(geometricOodSet(plain, 'rotate180', 100).pixels);
    expect(geometricOodSet(plain, 'hflip', 100).pixels).not.toEqual(plain.pixels);
  });

  it('a patch shuffle moves whole 7×7 patches; a blur keeps a flat image flat', () => {
    const out = geometricOodSet(plain, 'patch-shuffle', 1).pixels;
    const patch = (px: Uint8Array, t: number) => {
      const [y0, x0] = [Math.floor(t / 4) * 7, (t % 4) * 7];
      return Array.from({ length: 49 }, (_, k) => px[(y0 + Math.floor(k / 7)) * 28 + x0 + (k % 7)]).join();
    };
    const before = Array.from({ length: 16 }, (_, t) => patch(plain.pixels, t)).sort();
    const after = Array.from({ length: 16 }, (_, t) => patch(out, t)).sort();
    expect(after).toEqual(before);
    expect(out).not.toEqual(plain.pixels.subarray(0, 784));
    const flat: ImageDataset = { ...plain, pixels: new Uint8Array(20 * 784).fill(77) };
    expect(Array.from(new Set(geometricOodSet(flat, 'blur', 3).pixels))).toEqual([77]);
  });

  it('leaves out the classes a transform keeps in their class, and says so in the name', () => {
    const mnist = randomSet(MNIST_CLASSES);
    const mirrored = geometricOodSet(mnist, 'hflip', 100);
    expect(mirrored.name).toBe('mirrored (without 0, 1, 8)');
    expect(new Set(mirrored.labels)).toEqual(new Set([2, 3, 4, 5, 6, 7, 9]));
    expect(geometricOodSet(mnist, 'rotate180', 100).labels.every((l) => ![0, 1, 6, 8, 9].includes(l))).toBe(true);
    expect(geometricOodSet(mnist, 'patch-shuffle', 100).labels).toHaveLength(20);
    expect(() => geometricOodSet(randomSet(FASHION_CLASSES), 'hflip', 10)).toThrow(InputError);
  });
});

describe('cross-data-set OoD sets', () => {
  it('convert another data set to the model\'s size and colour: flat stays flat, grey becomes equal RGB channels, RGB becomes luma', async () => {
    const { convertImages } = await import('../src/data/ood_sets.js');
    const greySet: ImageDataset = { name: 'g', classNames: ['a'], height: 28, width: 28, channels: 1, pixels: new Uint8Array(784).fill(100), labels: new Int32Array(1) };
    const rgb = convertImages(greySet, 32, 32, 3);
    expect(rgb.name).toBe('g (as 32×32 RGB)');
    expect(Array.from(new Set(rgb.pixels))).toEqual([100]);
    const colour: ImageDataset = { name: 'c', classNames: ['a'], height: 2, width: 2, channels: 3, pixels: Uint8Array.from([255, 0, 0, 255, 0, 0, 0, 0, 255, 0, 0, 255]), labels: new Int32Array(1) };
    const grey = convertImages(colour, 2, 2, 1);
    expect(Array.from(grey.pixels)).toEqual([76, 76, 29, 29]); // 0.299·255, 0.114·255
    const up = convertImages({ ...greySet, height: 1, width: 2, pixels: Uint8Array.from([0, 200]) }, 1, 4, 1);
    expect(Array.from(up.pixels)).toEqual([0, 50, 150, 200]); // bilinear between pixel centres
  });
});
