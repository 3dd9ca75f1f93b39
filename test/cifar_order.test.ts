import { describe, expect, it } from 'vitest';
import { interleaveClasses } from '../src/data/cifar10.js';
import { firstN } from '../src/data/dataset.js';
import type { ImageDataset } from '../src/data/dataset.js';

describe('class order of stored data sets', () => {
  it('serves a class-sorted set round-robin over the classes, every image once, pixels with their labels', () => {
    // 3 classes stored class by class (uneven: 3, 2, 1 images); each 1×1×1 pixel encodes its index
    const labels = Int32Array.from([0, 0, 0, 1, 1, 2]);
    const ds: ImageDataset = { name: 't', classNames: ['a', 'b', 'c'], height: 1, width: 1, channels: 1, pixels: Uint8Array.from([0, 1, 2, 3, 4, 5]), labels };
    const out = interleaveClasses(ds);
    expect(Array.from(out.labels)).toEqual([0, 1, 2, 0, 1, 0]);
    expect(Array.from(out.pixels)).toEqual([0, 3, 5, 1, 4, 2]);
    // any prefix of n·classes images holds n of each class
    expect(Array.from(out.labels.slice(0, 3)).sort()).toEqual([0, 1, 2]);
  });

  it('firstN: a set stored class by class gives a prefix of the round-robin order, a mixed set its stored prefix', () => {
    const labels = Int32Array.from([0, 0, 0, 1, 1, 2]);
    const pixels = Uint8Array.from([0, 1, 2, 3, 4, 5]);
    const mixed: ImageDataset = { name: 't', classNames: ['a', 'b', 'c'], height: 1, width: 1, channels: 1, pixels, labels };
    // as stored: the first four images miss class c (the --train-limit bug on CIFAR-10's training split)
    expect(Array.from(firstN(mixed, 4).labels)).toEqual([0, 0, 0, 1]);
    const sorted: ImageDataset = { ...mixed, storedByClass: true };
    const four = firstN(sorted, 4);
    expect(Array.from(four.labels)).toEqual([0, 1, 2, 0]);
    expect(Array.from(four.pixels)).toEqual([0, 3, 5, 1]);
    // the result's order is round-robin already: the flag does not carry over, a second limit is a plain prefix
    expect(four.storedByClass).toBeUndefined();
    expect(Array.from(firstN(four, 3).labels)).toEqual([0, 1, 2]);
    // no limit, or a limit past the end: the set itself, in stored order
    expect(firstN(sorted, undefined)).toBe(sorted);
    expect(firstN(sorted, 6)).toBe(sorted);
  });
});
