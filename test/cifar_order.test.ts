import { describe, expect, it } from 'vitest';
import { interleaveClasses } from '../src/data/cifar10.js';
import type { ImageDataset } from '../src/data/dataset.js';

describe('CIFAR-10 test order', () => {
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
});
