/**
 * Near-OoD sets made from the in-distribution test images by a geometric change: rotations by 90°
 * and 180°, horizontal and vertical flips, shuffled 4 × 4 patches, and a Gaussian blur. A transform
 * that leaves an image in its class (a turned 0 is still a 0; a mirrored T-shirt is a T-shirt; a
 * mirrored CIFAR-10 photo is what the models train on) would count a correct "in distribution" as a
 * miss, so those classes are left out, and the set's name says which.
 */
import type { ImageDataset } from './dataset.js';
import { datasetSize, sampleSize } from './dataset.js';
import { MNIST_CLASSES, FASHION_CLASSES } from './mnist.js';
import { CIFAR10_CLASSES } from './cifar10.js';
import { MersenneTwister } from '../util/rng.js';
import { InputError } from '../util/errors.js';

export const GEOMETRIC_OOD_SETS = ['rotate90', 'rotate180', 'hflip', 'vflip', 'patch-shuffle', 'blur'] as const;
export type GeometricOodSet = (typeof GEOMETRIC_OOD_SETS)[number];

/** Classes a transform leaves in their class (or sends to another class), per data set. */
const UNCHANGED: Record<string, Partial<Record<GeometricOodSet, string[] | 'all'>>> = {
  mnist: { rotate90: ['0'], rotate180: ['0', '1', '6', '8', '9'], hflip: ['0', '1', '8'], vflip: ['0', '1', '3', '8'] },
  'fashion-mnist': { hflip: 'all', vflip: ['bag'], rotate180: ['bag'] },
  cifar10: { hflip: 'all' },
};

function kindOf(ds: ImageDataset): string | null {
  const names = ds.classNames.join();
  if (names === MNIST_CLASSES.join()) return 'mnist';
  if (names === FASHION_CLASSES.join()) return 'fashion-mnist';
  if (names === CIFAR10_CLASSES.join()) return 'cifar10';
  return null;
}

type PixelMap = (src: Uint8Array, out: Uint8Array, rng: MersenneTwister) => void;

function remap(h: number, w: number, c: number, at: (y: number, x: number) => [number, number]): PixelMap {
  return (src, out) => {
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const [sy, sx] = at(y, x);
        for (let ch = 0; ch < c; ch++) out[(y * w + x) * c + ch] = src[(sy * w + sx) * c + ch];
      }
  };
}

function gaussianBlur(h: number, w: number, c: number, sigma: number): PixelMap {
  const r = Math.ceil(3 * sigma);
  const k = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  const kernel = k.map((v) => v / sum);
  return (src, out) => {
    const tmp = new Float32Array(src.length);
    const clamp = (v: number, n: number) => (v < 0 ? 0 : v >= n ? n - 1 : v);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let i = -r; i <= r; i++) s += kernel[i + r] * src[(y * w + clamp(x + i, w)) * c + ch];
          tmp[(y * w + x) * c + ch] = s;
        }
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let i = -r; i <= r; i++) s += kernel[i + r] * tmp[(clamp(y + i, h) * w + x) * c + ch];
          out[(y * w + x) * c + ch] = Math.round(s);
        }
  };
}

function patchShuffle(h: number, w: number, c: number, grid = 4): PixelMap {
  const ph = Math.floor(h / grid);
  const pw = Math.floor(w / grid);
  return (src, out, rng) => {
    out.set(src); // rows/columns past the grid (when the size is not a multiple) stay in place
    const order = rng.permutation(grid * grid);
    for (let t = 0; t < grid * grid; t++) {
      const from = order[t];
      const [ty, tx, fy, fx] = [Math.floor(t / grid) * ph, (t % grid) * pw, Math.floor(from / grid) * ph, (from % grid) * pw];
      for (let y = 0; y < ph; y++)
        for (let x = 0; x < pw; x++)
          for (let ch = 0; ch < c; ch++) out[((ty + y) * w + tx + x) * c + ch] = src[((fy + y) * w + fx + x) * c + ch];
    }
  };
}

/** The transformed set, without the classes the transform leaves unchanged. */
export function geometricOodSet(base: ImageDataset, which: GeometricOodSet, count: number, seed = 0): ImageDataset {
  const { height: h, width: w, channels: c } = base;
  if ((which === 'rotate90') && h !== w) throw new InputError(`rotate90 needs square images, ${base.name} has ${h}×${w}`);
  const kind = kindOf(base);
  const unchanged = kind ? UNCHANGED[kind][which] : undefined;
  if (unchanged === 'all') throw new InputError(`${which} leaves every ${kind} image in its class (it is what the models see in training or a symmetry of every class): not an OoD set for this data`);
  const skip = new Set((unchanged ?? []).map((name) => base.classNames.indexOf(name)));
  const maps: Record<GeometricOodSet, PixelMap> = {
    rotate90: remap(h, w, c, (y, x) => [h - 1 - x, y]), // clockwise
    rotate180: remap(h, w, c, (y, x) => [h - 1 - y, w - 1 - x]),
    hflip: remap(h, w, c, (y, x) => [y, w - 1 - x]),
    vflip: remap(h, w, c, (y, x) => [h - 1 - y, x]),
    'patch-shuffle': patchShuffle(h, w, c),
    blur: gaussianBlur(h, w, c, Math.max(1, h / 28) * 1.5),
  };
  const n = sampleSize(base);
  const chosen: number[] = [];
  for (let i = 0; i < datasetSize(base) && chosen.length < count; i++) if (!skip.has(base.labels[i])) chosen.push(i);
  const pixels = new Uint8Array(chosen.length * n);
  const rng = new MersenneTwister(seed + 11);
  chosen.forEach((i, k) => maps[which](base.pixels.subarray(i * n, (i + 1) * n), pixels.subarray(k * n, (k + 1) * n), rng));
  const names: Record<GeometricOodSet, string> = {
    rotate90: 'rotated 90°',
    rotate180: 'rotated 180°',
    hflip: 'mirrored',
    vflip: 'upside down',
    'patch-shuffle': 'shuffled 4×4 patches',
    blur: 'blurred',
  };
  const left = (unchanged ?? []).length ? ` (without ${(unchanged as string[]).join(', ')})` : '';
  return { name: `${names[which]}${left}`, classNames: base.classNames, height: h, width: w, channels: c, pixels, labels: Int32Array.from(chosen, (i) => base.labels[i]) };
}
