/**
 * The 15 common corruptions of Hendrycks & Dietterich (ICLR 2019) at five severities, with the
 * parameters of CIFAR-10-C (defined for 32×32 images). For other sizes every parameter measured in
 * pixels (blur radii and sigmas, shuffle distance, motion length) is multiplied by s = min(h, w)/32
 * (the defocus disk only for s > 1: it is drawn on the pixel lattice and would lose severities);
 * parameters that are relative to the image (zoom factors, pixelation ratio, elastic alpha/sigma,
 * which the reference already writes as fractions of the image size), photometric ones (noise,
 * brightness, contrast, JPEG quality) and the snow-flake zoom stay as they are. For 28×28 MNIST
 * s = 0.875; docs/corruptions.md lists the resulting table and every deviation from the reference.
 *
 * Every corruption takes an [0, 1] image of 1 or 3 channels and any size and returns a new one,
 * clipped to [0, 1]; all randomness comes from the generator passed in.
 */
import sharp from 'sharp';
import { MersenneTwister } from '../util/rng.js';
import type { Img } from './image.js';
import { clip01, cloneImg, fromBytes, grey, makeImg, perChannel, toBytes } from './image.js';
import { affineFromPoints, bilinear, clippedZoom, filter2d, gaussianBlur, gaussianKernel1d, motionBlur, resizeBox, separable, warpAffine } from './filters.js';
import { imageSeed, poisson, randint } from './random.js';
import { frostSheet, nextPowerOfTwo, plasmaFractal } from './textures.js';
import type { FrostSheet } from './textures.js';
import { InputError } from '../util/errors.js';

export const CORRUPTION_NAMES = [
  'gaussian_noise',
  'shot_noise',
  'impulse_noise',
  'defocus_blur',
  'glass_blur',
  'motion_blur',
  'zoom_blur',
  'snow',
  'frost',
  'fog',
  'brightness',
  'contrast',
  'elastic_transform',
  'pixelate',
  'jpeg_compression',
] as const;
export type CorruptionName = (typeof CORRUPTION_NAMES)[number];

export const CORRUPTION_CATEGORY: Record<CorruptionName, 'noise' | 'blur' | 'weather' | 'digital'> = {
  gaussian_noise: 'noise',
  shot_noise: 'noise',
  impulse_noise: 'noise',
  defocus_blur: 'blur',
  glass_blur: 'blur',
  motion_blur: 'blur',
  zoom_blur: 'blur',
  snow: 'weather',
  frost: 'weather',
  fog: 'weather',
  brightness: 'weather',
  contrast: 'digital',
  elastic_transform: 'digital',
  pixelate: 'digital',
  jpeg_compression: 'digital',
};

export const SEVERITIES = [1, 2, 3, 4, 5] as const;

/** CIFAR-10-C parameters per severity 1…5, for 32×32 images (make_cifar_c.py of the reference). */
export const CIFAR_C_PARAMETERS = {
  /** σ of additive Gaussian noise */
  gaussian_noise: [0.04, 0.06, 0.08, 0.09, 0.1],
  /** photon count scale c: x ← Poisson(c·x)/c */
  shot_noise: [500, 250, 100, 75, 50],
  /** fraction of values replaced by salt or pepper */
  impulse_noise: [0.01, 0.02, 0.03, 0.05, 0.07],
  /** [disk radius px, anti-alias blur σ px] */
  defocus_blur: [[0.3, 0.4], [0.4, 0.5], [0.5, 0.6], [1, 0.2], [1.5, 0.1]],
  /** [blur σ px, max shuffle distance px, iterations] */
  glass_blur: [[0.05, 1, 1], [0.25, 1, 1], [0.4, 1, 1], [0.25, 1, 2], [0.4, 1, 2]],
  /** [radius px, σ px]; angle uniform in [−45°, 45°] */
  motion_blur: [[6, 1], [6, 1.5], [6, 2], [8, 2], [9, 2.5]],
  /** number of zoom factors 1, 1.01, …: numpy's arange(1, 1.06 / 1.11 / 1.16 / 1.21 / 1.26, 0.01) */
  zoom_blur: [7, 12, 16, 21, 26],
  /** [flake mean, flake σ, flake zoom, threshold, motion radius px, motion σ px, image weight] */
  snow: [
    [0.1, 0.2, 1, 0.6, 8, 3, 0.95],
    [0.1, 0.2, 1, 0.5, 10, 4, 0.9],
    [0.15, 0.3, 1.75, 0.55, 10, 4, 0.9],
    [0.25, 0.3, 2.25, 0.6, 12, 6, 0.85],
    [0.3, 0.3, 1.25, 0.65, 14, 12, 0.8],
  ],
  /** [image weight, frost weight] */
  frost: [[1, 0.2], [1, 0.3], [0.9, 0.4], [0.85, 0.4], [0.75, 0.45]],
  /** [fog strength, fractal decay] */
  fog: [[0.2, 3], [0.5, 3], [0.75, 2.5], [1, 2], [1.5, 1.75]],
  /** added to HSV value */
  brightness: [0.05, 0.1, 0.15, 0.2, 0.3],
  /** contrast factor around the per-channel mean */
  contrast: [0.75, 0.5, 0.4, 0.3, 0.15],
  /** [alpha, σ, affine jitter] as fractions of the image side */
  elastic_transform: [[0, 0, 0.08], [0.05, 0.2, 0.07], [0.08, 0.06, 0.06], [0.1, 0.04, 0.05], [0.1, 0.03, 0.03]],
  /** downscale ratio before scaling back up */
  pixelate: [0.95, 0.9, 0.85, 0.75, 0.65],
  /** JPEG quality */
  jpeg_compression: [80, 65, 58, 50, 40],
} as const satisfies Record<CorruptionName, readonly unknown[]>;

/** Pixel-unit scale for an image: 1 at 32 px, 0.875 at 28 px. */
export function pixelScale(h: number, w: number): number {
  return Math.min(h, w) / 32;
}

/** The parameters actually used for an h×w image (pixel-unit entries scaled), for docs and reports. */
export function effectiveParameters(name: CorruptionName, severity: number, h: number, w: number): number[] {
  checkSeverity(severity);
  const s = pixelScale(h, w);
  const p = CIFAR_C_PARAMETERS[name][severity - 1] as number | readonly number[];
  const v = typeof p === 'number' ? [p] : [...p];
  switch (name) {
    case 'defocus_blur':
      // the disk and its anti-aliasing blur live on the pixel lattice: shrinking them below the
      // reference grid erases severities (radius 1 × 0.875 drops the four neighbours and makes
      // severity 4 the identity), so they only grow, for images larger than 32 px
      return [v[0] * Math.max(1, s), v[1] * Math.max(1, s)];
    case 'glass_blur':
      return [v[0] * s, Math.max(1, Math.round(v[1] * s)), v[2]];
    case 'motion_blur':
      return [Math.max(1, Math.round(v[0] * s)), v[1] * s];
    case 'snow':
      return [v[0], v[1], v[2], v[3], Math.max(1, Math.round(v[4] * s)), v[5] * s, v[6]];
    case 'elastic_transform':
      return v.map((f) => f * Math.min(h, w));
    default:
      return v;
  }
}

function checkSeverity(severity: number): void {
  if (!Number.isInteger(severity) || severity < 1 || severity > 5) throw new Error(`severity ${severity} is not one of 1, 2, 3, 4, 5`);
}

export function checkCorruptionName(name: string): CorruptionName {
  if (!(CORRUPTION_NAMES as readonly string[]).includes(name)) throw new InputError(`unknown corruption "${name}": expected one of ${CORRUPTION_NAMES.join(', ')}`);
  return name as CorruptionName;
}

/** Applies one corruption at one severity. Only JPEG needs the promise (sharp encodes off-thread). */
export async function corruptImage(img: Img, name: CorruptionName, severity: number, rng: MersenneTwister): Promise<Img> {
  checkCorruptionName(name);
  if (img.c !== 1 && img.c !== 3) throw new Error(`corruptions need 1 or 3 channels, the image has ${img.c}`);
  const p = effectiveParameters(name, severity, img.h, img.w);
  if (name === 'jpeg_compression') return jpeg(img, p[0]);
  return clip01(SYNC[name](img, p, rng));
}

type SyncCorruption = (img: Img, p: number[], rng: MersenneTwister) => Img;

const SYNC: Record<Exclude<CorruptionName, 'jpeg_compression'>, SyncCorruption> = {
  gaussian_noise(img, [sigma], rng) {
    const out = cloneImg(img);
    for (let i = 0; i < out.data.length; i++) out.data[i] += sigma * rng.normal();
    return out;
  },

  shot_noise(img, [c], rng) {
    const out = cloneImg(img);
    for (let i = 0; i < out.data.length; i++) out.data[i] = poisson(rng, Math.max(0, out.data[i]) * c) / c;
    return out;
  },

  impulse_noise(img, [amount], rng) {
    // skimage random_noise(mode='s&p'): every value (each channel separately) flips with
    // probability `amount`, to 1 or 0 with equal chance
    const out = cloneImg(img);
    for (let i = 0; i < out.data.length; i++) {
      const flip = rng.uniform() < amount;
      const salt = rng.uniform() < 0.5;
      if (flip) out.data[i] = salt ? 1 : 0;
    }
    return out;
  },

  defocus_blur(img, [radius, alias]) {
    const { kernel, size } = diskKernel(radius, alias);
    return perChannel(img, (plane) => filter2d(plane, img.h, img.w, kernel, size, size));
  },

  glass_blur(img, [sigma, delta, iterations], rng) {
    const { h, w, c } = img;
    const blurred = perChannel(img, (plane) => gaussianBlur(plane, h, w, sigma));
    // the reference converts to uint8 (truncating) before shuffling
    const q = blurred.data.map((v) => Math.floor(Math.min(1, Math.max(0, v)) * 255) / 255);
    for (let it = 0; it < iterations; it++) {
      for (let y = h - delta; y > delta; y--) {
        for (let x = w - delta; x > delta; x--) {
          const dx = randint(rng, -delta, delta);
          const dy = randint(rng, -delta, delta);
          const a = (y * w + x) * c;
          const b = ((y + dy) * w + (x + dx)) * c;
          for (let ch = 0; ch < c; ch++) {
            const t = q[a + ch];
            q[a + ch] = q[b + ch];
            q[b + ch] = t;
          }
        }
      }
    }
    return perChannel({ h, w, c, data: q }, (plane) => gaussianBlur(plane, h, w, sigma));
  },

  motion_blur(img, [radius, sigma], rng) {
    const angle = -45 + 90 * rng.uniform();
    return perChannel(img, (plane) => motionBlur(plane, img.h, img.w, radius, sigma, angle));
  },

  zoom_blur(img, [count]) {
    const zooms = Array.from({ length: count }, (_, k) => 1 + 0.01 * k);
    return perChannel(img, (plane) => {
      const acc = plane.slice();
      for (const z of zooms) {
        const zoomed = clippedZoom(plane, img.h, img.w, z);
        for (let i = 0; i < acc.length; i++) acc[i] += zoomed[i];
      }
      for (let i = 0; i < acc.length; i++) acc[i] /= zooms.length + 1;
      return acc;
    });
  },

  snow(img, [mean, std, zoom, threshold, radius, sigma, keep], rng) {
    const { h, w, c } = img;
    const n = h * w;
    let layer: Float32Array = new Float32Array(n);
    for (let i = 0; i < n; i++) layer[i] = mean + std * rng.normal();
    layer = clippedZoom(layer, h, w, zoom);
    // threshold, clip, and 8-bit quantisation (the reference passes the layer through a PNG)
    for (let i = 0; i < n; i++) layer[i] = layer[i] < threshold ? 0 : Math.floor(Math.min(1, layer[i]) * 255) / 255;
    const angle = -135 + 90 * rng.uniform();
    layer = motionBlur(layer, h, w, radius, sigma, angle);
    for (let i = 0; i < n; i++) layer[i] = Math.round(layer[i] * 255) / 255;
    const lum = grey(img);
    const out = makeImg(h, w, c);
    for (let i = 0; i < n; i++) {
      // whitened scene, then the flakes and their 180°-rotated copy
      const flakes = layer[i] + layer[n - 1 - i];
      const bright = lum[i] * 1.5 + 0.5;
      for (let ch = 0; ch < c; ch++) {
        const x = img.data[i * c + ch];
        out.data[i * c + ch] = keep * x + (1 - keep) * Math.max(x, bright) + flakes;
      }
    }
    return out;
  },

  frost(img, [imageWeight, frostWeight], rng) {
    const { h, w, c } = img;
    const sheet = frostBank(Math.max(h, w))[randint(rng, 0, 5)];
    const top = randint(rng, 0, sheet.side - h);
    const left = randint(rng, 0, sheet.side - w);
    const out = makeImg(h, w, c);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const f = ((top + y) * sheet.side + left + x) * 3;
        const i = y * w + x;
        if (c === 1) {
          const g = 0.2989 * sheet.rgb[f] + 0.587 * sheet.rgb[f + 1] + 0.114 * sheet.rgb[f + 2];
          out.data[i] = imageWeight * img.data[i] + frostWeight * g;
        } else {
          for (let ch = 0; ch < 3; ch++) out.data[3 * i + ch] = imageWeight * img.data[3 * i + ch] + frostWeight * sheet.rgb[f + ch];
        }
      }
    }
    return out;
  },

  fog(img, [strength, decay], rng) {
    const { h, w, c } = img;
    const size = nextPowerOfTwo(Math.max(h, w));
    const fractal = plasmaFractal(size, decay, rng);
    let maxValue = 0;
    for (const v of img.data) maxValue = Math.max(maxValue, v);
    const out = makeImg(h, w, c);
    const gain = maxValue / (maxValue + strength);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const f = strength * fractal[y * size + x];
        for (let ch = 0; ch < c; ch++) {
          const i = (y * w + x) * c + ch;
          out.data[i] = (img.data[i] + f) * gain;
        }
      }
    }
    return out;
  },

  brightness(img, [delta]) {
    // V += delta in HSV with H and S kept: every channel scales by V'/V (a black pixel becomes grey V')
    const { h, w, c } = img;
    const out = makeImg(h, w, c);
    for (let i = 0; i < h * w; i++) {
      let v = 0;
      for (let ch = 0; ch < c; ch++) v = Math.max(v, img.data[i * c + ch]);
      const v2 = Math.min(1, v + delta);
      for (let ch = 0; ch < c; ch++) out.data[i * c + ch] = v > 0 ? (img.data[i * c + ch] * v2) / v : v2;
    }
    return out;
  },

  contrast(img, [factor]) {
    const { h, w, c } = img;
    const out = makeImg(h, w, c);
    for (let ch = 0; ch < c; ch++) {
      let mean = 0;
      for (let i = 0; i < h * w; i++) mean += img.data[i * c + ch];
      mean /= h * w;
      for (let i = 0; i < h * w; i++) out.data[i * c + ch] = (img.data[i * c + ch] - mean) * factor + mean;
    }
    return out;
  },

  elastic_transform(img, [alpha, sigma, jitter], rng) {
    const { h, w } = img;
    // random affine: three points around the centre moved by up to ±jitter pixels
    const cy = Math.floor(h / 2);
    const cx = Math.floor(w / 2);
    const sq = Math.floor(Math.min(h, w) / 3);
    const src = [
      [cx + sq, cy + sq],
      [cx + sq, cy - sq],
      [cx - sq, cy - sq],
    ]; // (x, y) points, as cv2.getAffineTransform takes them
    const dst = src.map(([a, b]) => [a + jitter * (2 * rng.uniform() - 1), b + jitter * (2 * rng.uniform() - 1)]);
    const m = affineFromPoints(src, dst);
    const warped = perChannel(img, (plane) => warpAffine(plane, h, w, m, 'reflect101'));
    // smooth random displacement field, then bilinear resampling
    const field = () => {
      const u = new Float32Array(h * w);
      for (let i = 0; i < u.length; i++) u[i] = 2 * rng.uniform() - 1;
      const k = gaussianKernel1d(sigma, 3);
      const smooth = k.length === 1 ? u : separable(u, h, w, k, k, 'reflect');
      for (let i = 0; i < smooth.length; i++) smooth[i] *= alpha;
      return smooth;
    };
    const dx = field();
    const dy = field();
    return perChannel(warped, (plane) => {
      const out = new Float32Array(h * w);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = bilinear(plane, h, w, y + dy[y * w + x], x + dx[y * w + x], 'reflect');
      return out;
    });
  },

  pixelate(img, [ratio]) {
    const { h, w } = img;
    const sh = Math.max(1, Math.floor(h * ratio));
    const sw = Math.max(1, Math.floor(w * ratio));
    return perChannel(img, (plane) => resizeBox(resizeBox(plane, h, w, sh, sw), sh, sw, h, w));
  },
};

/**
 * Defocus kernel: an aliased disk on a 17×17 grid (larger when the radius exceeds 8), normalised,
 * then smoothed by a 3×3 (5×5) Gaussian of σ = alias (cv2.GaussianBlur, reflect-101), cropped to
 * its non-zero support.
 */
export function diskKernel(radius: number, alias: number): { kernel: Float32Array; size: number } {
  const r = radius <= 8 ? 8 : Math.ceil(radius);
  const size = 2 * r + 1;
  const disk = new Float32Array(size * size);
  let total = 0;
  for (let y = -r; y <= r; y++) {
    for (let x = -r; x <= r; x++) {
      if (x * x + y * y <= radius * radius) {
        disk[(y + r) * size + x + r] = 1;
        total++;
      }
    }
  }
  for (let i = 0; i < disk.length; i++) disk[i] /= total;
  const ksize = radius <= 8 ? 3 : 5;
  const half = (ksize - 1) / 2;
  const g = new Float32Array(ksize);
  let gs = 0;
  for (let i = 0; i < ksize; i++) {
    g[i] = Math.exp(-((i - half) ** 2) / (2 * alias * alias));
    gs += g[i];
  }
  for (let i = 0; i < ksize; i++) g[i] /= gs;
  const smooth = separable(disk, size, size, g, g, 'reflect101');
  // crop to the smallest centred square holding every non-zero weight
  let extent = 0;
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) if (smooth[y * size + x] > 1e-12) extent = Math.max(extent, Math.abs(y - r), Math.abs(x - r));
  const cropSize = 2 * extent + 1;
  const kernel = new Float32Array(cropSize * cropSize);
  for (let y = 0; y < cropSize; y++) for (let x = 0; x < cropSize; x++) kernel[y * cropSize + x] = smooth[(y + r - extent) * size + x + r - extent];
  return { kernel, size: cropSize };
}

const frostBanks = new Map<number, FrostSheet[]>();

/** The five frost sheets for images of this side (built once per size; fixed seeds). */
export function frostBank(side: number): FrostSheet[] {
  let bank = frostBanks.get(side);
  if (!bank) {
    bank = [0, 1, 2, 3, 4].map((v) => frostSheet(side, v));
    frostBanks.set(side, bank);
  }
  return bank;
}

async function jpeg(img: Img, quality: number): Promise<Img> {
  const { h, w, c } = img;
  const raw = sharp(Buffer.from(toBytes(img)), { raw: { width: w, height: h, channels: c as 1 | 3 } });
  // 4:2:0 chroma subsampling for colour, as PIL's default; one-channel images stay greyscale
  const encoded = await (c === 1 ? raw.toColourspace('b-w') : raw).jpeg({ quality, chromaSubsampling: '4:2:0' }).toBuffer();
  const decoded = sharp(encoded);
  const { data, info } = await (c === 1 ? decoded.toColourspace('b-w') : decoded.removeAlpha()).raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== c || info.width !== w || info.height !== h) throw new Error(`JPEG round trip returned ${info.width}×${info.height}×${info.channels}, expected ${w}×${h}×${c}`);
  return fromBytes(new Uint8Array(data.buffer, data.byteOffset, data.length), h, w, c);
}

/** Corrupts an 8-bit HWC image; the generator is seeded per image from (seed, corruption, severity, index). */
export async function corruptBytes(bytes: Uint8Array, h: number, w: number, c: number, name: CorruptionName, severity: number, seed: number, index: number): Promise<Uint8Array> {
  const rng = new MersenneTwister(imageSeed(seed, CORRUPTION_NAMES.indexOf(name), severity, index));
  return toBytes(await corruptImage(fromBytes(bytes, h, w, c), name, severity, rng));
}
