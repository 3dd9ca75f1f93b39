/**
 * Out-of-distribution test sets, built for a given in-distribution test set (same size and channel
 * count, labels meaningless): the other data set of the same resolution, noise, constant images,
 * inverted images, the IB-INN CIFAR-10 transformations (IBINN_SMALL.md §5.3), geometric changes of
 * the test images (geometric_ood.ts), plus any image folder. Generated sets are seeded, so every run scores the same images.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { ImageDataset } from './dataset.js';
import { datasetSize, firstN, sampleSize } from './dataset.js';
import { loadDataset } from './registry.js';
import { decodeImage, IMAGE_EXT } from './image_folder.js';
import { listImages } from './model_input.js';
import { MersenneTwister } from '../util/rng.js';
import { InputError } from '../util/errors.js';
import { GEOMETRIC_OOD_SETS, geometricOodSet } from './geometric_ood.js';
import type { GeometricOodSet } from './geometric_ood.js';

export const OOD_SET_NAMES = [
  'mnist', 'fashion-mnist', 'cifar10', 'uniform', 'noise' /* = uniform */, 'gaussian', 'constant', 'inverted', 'rgb-rotated', 'noisy', 'downscaled',
  ...GEOMETRIC_OOD_SETS,
  'folder:<path>',
] as const;

/**
 * A data set's images at another size (bilinear, pixel centres aligned) and channel count (grey is
 * repeated into RGB; RGB becomes grey by ITU-R 601 luma, as sharp's greyscale).
 */
export function convertImages(ds: ImageDataset, height: number, width: number, channels: number): ImageDataset {
  const n = datasetSize(ds);
  const { height: h0, width: w0, channels: c0 } = ds;
  const pixels = new Uint8Array(n * height * width * channels);
  const grey = (src: Uint8Array, p: number) => (c0 === 1 ? src[p] : 0.299 * src[p] + 0.587 * src[p + 1] + 0.114 * src[p + 2]);
  for (let i = 0; i < n; i++) {
    const src = ds.pixels.subarray(i * h0 * w0 * c0, (i + 1) * h0 * w0 * c0);
    for (let y = 0; y < height; y++) {
      const fy = Math.min(h0 - 1, Math.max(0, ((y + 0.5) * h0) / height - 0.5));
      const y0 = Math.floor(fy);
      const y1 = Math.min(h0 - 1, y0 + 1);
      const ty = fy - y0;
      for (let x = 0; x < width; x++) {
        const fx = Math.min(w0 - 1, Math.max(0, ((x + 0.5) * w0) / width - 0.5));
        const x0 = Math.floor(fx);
        const x1 = Math.min(w0 - 1, x0 + 1);
        const tx = fx - x0;
        for (let ch = 0; ch < channels; ch++) {
          const at = (yy: number, xx: number) => {
            const p = (yy * w0 + xx) * c0;
            return channels === 1 || c0 === 1 ? grey(src, p) : src[p + ch];
          };
          const v = (1 - ty) * ((1 - tx) * at(y0, x0) + tx * at(y0, x1)) + ty * ((1 - tx) * at(y1, x0) + tx * at(y1, x1));
          pixels[((i * height + y) * width + x) * channels + ch] = Math.round(v);
        }
      }
    }
  }
  const colour = channels === 1 ? 'grey' : 'RGB';
  return { name: `${ds.name} (as ${height}×${width} ${colour})`, classNames: ds.classNames, height, width, channels, pixels, labels: ds.labels.slice() };
}

/** Names of the sets `buildOodSet` makes itself (the rest are data sets or image paths). */
const BUILT_IN = new Set<string>(OOD_SET_NAMES.filter((n) => n !== 'folder:<path>'));

/**
 * The OoD sets a user listed: each value of a repeatable `--out` is one set when it is an existing
 * path (so a path may contain commas), else a comma-separated list of built-in names, `folder:<path>`
 * and paths. An image path is a folder of images (flat or nested, searched recursively) or one image.
 */
export function parseOodSetList(values: string[]): string[] {
  const out: string[] = [];
  for (const value of values) {
    if (existsSync(value)) {
      out.push(value);
      continue;
    }
    for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
      if (BUILT_IN.has(part) || part.startsWith('folder:') || existsSync(part)) out.push(part);
      else throw new InputError(`unknown OoD set "${part}": neither a built-in set (${[...BUILT_IN].join(', ')}) nor an existing image folder or file`);
    }
  }
  if (out.length === 0) throw new InputError('no OoD set given: name built-in sets (e.g. --out uniform,inverted) or an image folder (--out path/to/images)');
  return out;
}

/**
 * The images under a path (a folder, searched recursively, or one image file), resized to the
 * in-distribution images' size and channel count; named after the folder or file. Each image's
 * file is kept in `files` for per-image reports.
 */
export async function imagePathSet(path: string, base: ImageDataset, count: number): Promise<ImageDataset & { files: string[] }> {
  if (!existsSync(path)) throw new InputError(`OoD image path ${path} does not exist`);
  const all = statSync(path).isDirectory() ? listImages(path) : IMAGE_EXT.test(path) ? [path] : [];
  if (all.length === 0) throw new InputError(`${path} is not an image file (PNG, JPEG, WebP, BMP, GIF or TIFF)`);
  const files = all.slice(0, count);
  const n = sampleSize(base);
  const pixels = new Uint8Array(files.length * n);
  const square = base.height === base.width;
  for (let start = 0; start < files.length; start += 64) {
    const chunk = files.slice(start, start + 64);
    const decoded = await Promise.all(chunk.map((f) => decodeImage(f, base.channels as 1 | 3, square ? base.height : undefined)));
    decoded.forEach((img, k) => {
      if (img.width !== base.width || img.height !== base.height) throw new InputError(`image ${chunk[k]} is ${img.width}×${img.height}, the model takes ${base.width}×${base.height}`);
      pixels.set(img.data, (start + k) * n);
    });
  }
  const name = basename(resolve(path)) || path;
  return { name, classNames: base.classNames, height: base.height, width: base.width, channels: base.channels, pixels, labels: new Int32Array(files.length), files };
}

export interface OodSetOptions {
  /** images per set (generated sets and the cap on loaded ones) */
  count: number;
  seed?: number;
}

function generated(base: ImageDataset, name: string, count: number, fill: (out: Uint8Array, i: number, rng: MersenneTwister) => void, seed: number): ImageDataset {
  const n = sampleSize(base);
  const pixels = new Uint8Array(count * n);
  const rng = new MersenneTwister(seed);
  for (let i = 0; i < count; i++) fill(pixels.subarray(i * n, (i + 1) * n), i, rng);
  return { name, classNames: base.classNames, height: base.height, width: base.width, channels: base.channels, pixels, labels: new Int32Array(count) };
}

const clampByte = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/** Applies f to each of the first `count` in-distribution images. */
function transformed(base: ImageDataset, name: string, count: number, f: (src: Uint8Array, out: Uint8Array, rng: MersenneTwister) => void, seed: number): ImageDataset {
  const n = sampleSize(base);
  const k = Math.min(count, datasetSize(base));
  return generated(base, name, k, (out, i, rng) => f(base.pixels.subarray(i * n, (i + 1) * n), out, rng), seed);
}

/** IB-INN colour rotation: K = Rx(a)·Ry(b), a = π·0.2·α^0.7, b = π·α^1.2, α = 0.35; x' = K(x − ½) + ½. */
function colourRotation(): number[] {
  const alpha = 0.35;
  const a = Math.PI * 0.2 * alpha ** 0.7;
  const b = Math.PI * alpha ** 1.2;
  const rx = [1, 0, 0, 0, Math.cos(a), -Math.sin(a), 0, Math.sin(a), Math.cos(a)];
  const ry = [Math.cos(b), 0, Math.sin(b), 0, 1, 0, -Math.sin(b), 0, Math.cos(b)];
  const k = new Array(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let m = 0; m < 3; m++) k[i * 3 + j] += rx[i * 3 + m] * ry[m * 3 + j];
  return k;
}

/**
 * @param name  one of OOD_SET_NAMES
 * @param base  the in-distribution test set the OoD set must match in shape
 */
export async function buildOodSet(name: string, base: ImageDataset, opts: OodSetOptions): Promise<ImageDataset> {
  const { count } = opts;
  const seed = opts.seed ?? 0;
  const rgb = base.channels === 3;
  switch (name) {
    case 'mnist':
    case 'fashion-mnist':
    case 'cifar10': {
      const ds = firstN(await loadDataset(name, 'test'), count);
      if (ds.height === base.height && ds.width === base.width && ds.channels === base.channels) return ds;
      // another data set's images at the model's size and colour (digits for a CIFAR model, grey photos for an MNIST one)
      return convertImages(ds, base.height, base.width, base.channels);
    }
    case 'uniform':
    case 'noise':
      return generated(base, 'uniform noise', count, (out, _i, rng) => out.forEach((_, j) => (out[j] = Math.floor(rng.uniform() * 256))), seed);
    case 'gaussian':
      // N(0.5, 0.25²) per value, clipped to [0, 1]
      return generated(base, 'gaussian noise', count, (out, _i, rng) => out.forEach((_, j) => (out[j] = clampByte(255 * (0.5 + 0.25 * rng.normal())))), seed + 1);
    case 'constant':
      return generated(base, 'constant images', count, (out, _i, rng) => {
        const colour = Array.from({ length: base.channels }, () => Math.floor(rng.uniform() * 256));
        for (let j = 0; j < out.length; j++) out[j] = colour[j % base.channels];
      }, seed + 2);
    case 'inverted':
      return transformed(base, 'inverted images', count, (src, out) => src.forEach((v, j) => (out[j] = 255 - v)), seed);
    case 'noisy':
      // IB-INN: + N(0, 0.015²), clamped
      return transformed(base, 'noisy images', count, (src, out, rng) => src.forEach((v, j) => (out[j] = clampByte(v + 255 * 0.015 * rng.normal()))), seed + 3);
    case 'rgb-rotated': {
      if (!rgb) throw new Error('rgb-rotated needs colour images');
      const k = colourRotation();
      return transformed(base, 'RGB-rotated images', count, (src, out) => {
        for (let p = 0; p < src.length; p += 3) {
          const x = [src[p] / 255 - 0.5, src[p + 1] / 255 - 0.5, src[p + 2] / 255 - 0.5];
          for (let c = 0; c < 3; c++) out[p + c] = clampByte(255 * (k[c * 3] * x[0] + k[c * 3 + 1] * x[1] + k[c * 3 + 2] * x[2] + 0.5));
        }
      }, seed);
    }
    case 'downscaled': {
      // 2× box downscale then nearest upscale: the image loses its fine detail (blur)
      const { height: h, width: w, channels: c } = base;
      return transformed(base, 'downscaled images', count, (src, out) => {
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++)
            for (let ch = 0; ch < c; ch++) {
              const y0 = y & ~1;
              const x0 = x & ~1;
              const at = (yy: number, xx: number) => src[(Math.min(yy, h - 1) * w + Math.min(xx, w - 1)) * c + ch];
              out[(y * w + x) * c + ch] = Math.round((at(y0, x0) + at(y0, x0 + 1) + at(y0 + 1, x0) + at(y0 + 1, x0 + 1)) / 4);
            }
      }, seed);
    }
    case 'rotate90':
    case 'rotate180':
    case 'hflip':
    case 'vflip':
    case 'patch-shuffle':
    case 'blur':
      return geometricOodSet(base, name as GeometricOodSet, count, seed);
    default: {
      if (name.startsWith('folder:')) {
        const ds = await loadDataset(name, 'test', { channels: base.channels as 1 | 3, size: base.height === base.width ? base.height : undefined });
        // a readable name: the folder's, not folder:<whole path>:test
        return { ...firstN(ds, count), name: basename(resolve(name.slice('folder:'.length))) };
      }
      if (existsSync(name)) return imagePathSet(name, base, count);
      throw new InputError(`unknown OoD set "${name}": expected one of ${OOD_SET_NAMES.join(', ')}`);
    }
  }
}
