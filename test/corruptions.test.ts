import { describe, expect, it } from 'vitest';
import { CORRUPTION_NAMES, corruptBytes, corruptImage, diskKernel, effectiveParameters, frostBank } from '../src/corrupt/corruptions.js';
import type { CorruptionName } from '../src/corrupt/corruptions.js';
import { corruptDataset } from '../src/corrupt/dataset.js';
import { borderIndex, clippedZoom, gaussianBlur, gaussianKernel1d, motionBlur, resizeBox } from '../src/corrupt/filters.js';
import { fromBytes, toBytes } from '../src/corrupt/image.js';
import type { Img } from '../src/corrupt/image.js';
import { imageSeed, poisson } from '../src/corrupt/random.js';
import { plasmaFractal } from '../src/corrupt/textures.js';
import { MersenneTwister } from '../src/util/rng.js';
import { loadMnist } from '../src/data/mnist.js';
import { firstN, sampleSize } from '../src/data/dataset.js';
import type { ImageDataset } from '../src/data/dataset.js';
import { pearson } from '../src/util/stats.js';

/** A natural-looking colour test image: smooth fractal colour fields plus a few hard-edged discs. */
function scene(h: number, w: number, c: number, seed: number): Uint8Array {
  const rng = new MersenneTwister(seed);
  const size = 64;
  const fields = Array.from({ length: c }, () => plasmaFractal(size, 2, rng));
  const out = new Uint8Array(h * w * c);
  const discs = Array.from({ length: 3 }, () => ({ y: rng.uniform() * h, x: rng.uniform() * w, r: (0.1 + 0.2 * rng.uniform()) * Math.min(h, w), v: Array.from({ length: c }, () => rng.uniform()) }));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let v = 0.15 + 0.7 * fields[ch][(y % size) * size + (x % size)];
        for (const d of discs) if ((y - d.y) ** 2 + (x - d.x) ** 2 < d.r * d.r) v = d.v[ch];
        out[(y * w + x) * c + ch] = Math.round(255 * v);
      }
    }
  }
  return out;
}

const mnist = firstN(loadMnist('test'), 24);
const mnistImage = (i: number) => mnist.pixels.subarray(i * 784, (i + 1) * 784);
const colourSet: ImageDataset = (() => {
  const n = 24;
  const pixels = new Uint8Array(n * 32 * 32 * 3);
  for (let i = 0; i < n; i++) pixels.set(scene(32, 32, 3, 100 + i), i * 3072);
  return { name: 'scenes', classNames: ['a', 'b'], height: 32, width: 32, channels: 3, pixels, labels: new Int32Array(n).map((_, i) => i % 2) };
})();

const DETERMINISTIC: CorruptionName[] = ['defocus_blur', 'zoom_blur', 'brightness', 'contrast', 'pixelate', 'jpeg_compression'];

describe('filters', () => {
  it('border modes map outside indices like scipy / OpenCV', () => {
    const map = (mode: 'nearest' | 'reflect' | 'reflect101') => [-3, -2, -1, 0, 3, 4, 5, 6].map((i) => borderIndex(i, 4, mode));
    expect(map('nearest')).toEqual([0, 0, 0, 0, 3, 3, 3, 3]);
    expect(map('reflect')).toEqual([2, 1, 0, 0, 3, 3, 2, 1]);
    expect(map('reflect101')).toEqual([3, 2, 1, 0, 3, 2, 1, 0]);
  });

  it('Gaussian kernel has scipy\'s radius and sums to one; blurring a constant keeps it', () => {
    expect(gaussianKernel1d(1, 4).length).toBe(9);
    expect(gaussianKernel1d(0.96, 3).length).toBe(7);
    expect(gaussianKernel1d(0.05, 4).length).toBe(1);
    const k = gaussianKernel1d(2.5, 4);
    expect(k.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    const flat = gaussianBlur(new Float32Array(30).fill(0.3), 5, 6, 1.5);
    for (const v of flat) expect(v).toBeCloseTo(0.3, 6);
  });

  it('box resize averages when shrinking and replicates when enlarging (PIL BOX)', () => {
    const down = resizeBox(Float32Array.of(0, 1, 2, 3, 4, 5, 6, 7), 2, 4, 1, 2);
    expect(Array.from(down)).toEqual([2.5, 4.5]);
    const up = resizeBox(Float32Array.of(1, 2), 1, 2, 1, 4);
    expect(Array.from(up)).toEqual([1, 1, 2, 2]);
  });

  it('zoom by 1 is the identity; motion blur of a constant is that constant', () => {
    const plane = Float32Array.from({ length: 35 }, (_, i) => (i * 7) % 11);
    expect(Array.from(clippedZoom(plane, 5, 7, 1))).toEqual(Array.from(plane));
    // (taps shifted beyond the image are dropped, as in the reference: here 1.5e-5 of the weight)
    for (const v of motionBlur(new Float32Array(64).fill(0.7), 8, 8, 5, 2, 30)) expect(v).toBeCloseTo(0.7, 4);
  });

  it('defocus disk kernels are normalised and grow with the radius', () => {
    const sizes = [0.3, 1, 1.5, 3].map((r) => {
      const { kernel, size } = diskKernel(r, 0.3);
      expect(kernel.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      return size;
    });
    expect(sizes).toEqual([...sizes].sort((a, b) => a - b));
    expect(sizes[3]).toBeGreaterThan(sizes[0]);
  });
});

describe('random draws', () => {
  it('Poisson samples have mean and variance λ (small λ by products, large λ by PTRS)', () => {
    const rng = new MersenneTwister(5);
    for (const lambda of [0.7, 4, 37, 480]) {
      const n = 20_000;
      let s = 0;
      let s2 = 0;
      for (let i = 0; i < n; i++) {
        const k = poisson(rng, lambda);
        expect(Number.isInteger(k) && k >= 0).toBe(true);
        s += k;
        s2 += k * k;
      }
      const mean = s / n;
      const variance = s2 / n - mean * mean;
      expect(Math.abs(mean - lambda)).toBeLessThan(5 * Math.sqrt(lambda / n));
      expect(Math.abs(variance / lambda - 1)).toBeLessThan(0.06);
    }
  });

  it('per-image seeds differ between images, settings and base seeds', () => {
    const seeds = new Set<number>();
    for (const s of [0, 1]) for (const c of [0, 14]) for (const sev of [1, 5]) for (const i of [0, 1, 9999]) seeds.add(imageSeed(s, c, sev, i));
    expect(seeds.size).toBe(24);
  });

  it('plasma fractal spans [0, 1]; a size that is not a power of two is refused', () => {
    const f = plasmaFractal(32, 2, new MersenneTwister(1));
    expect(Math.min(...f)).toBe(0);
    expect(Math.max(...f)).toBe(1);
    expect(() => plasmaFractal(28, 2, new MersenneTwister(1))).toThrow(/power of two/);
  });
});

describe('corruptions', () => {
  const cases: Array<[string, Uint8Array, number, number, number]> = [
    ['MNIST 28×28×1', mnistImage(0), 28, 28, 1],
    ['scene 32×32×3', scene(32, 32, 3, 1), 32, 32, 3],
    ['scene 21×37×3', scene(21, 37, 3, 2), 21, 37, 3],
    ['grey 40×24×1', scene(40, 24, 1, 3), 40, 24, 1],
  ];

  it.each(CORRUPTION_NAMES)('%s keeps shape and range, changes the image, for 1 and 3 channels of any size', async (name) => {
    for (const [, bytes, h, w, c] of cases) {
      for (const severity of [1, 3, 5]) {
        const out = await corruptImage(fromBytes(bytes, h, w, c), name, severity, new MersenneTwister(severity));
        expect([out.h, out.w, out.c]).toEqual([h, w, c]);
        for (const v of out.data) expect(v >= 0 && v <= 1).toBe(true);
        const changed = toBytes(out).reduce((n, v, i) => n + (v !== bytes[i] ? 1 : 0), 0);
        expect(changed).toBeGreaterThan(0);
      }
    }
  }, 60_000);

  it.each(CORRUPTION_NAMES)('%s is reproducible under a seed', async (name) => {
    const bytes = scene(32, 32, 3, 4);
    const a = await corruptBytes(bytes, 32, 32, 3, name, 4, 7, 11);
    const b = await corruptBytes(bytes, 32, 32, 3, name, 4, 7, 11);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
    const other = await corruptBytes(bytes, 32, 32, 3, name, 4, 8, 11);
    // only the random corruptions depend on the seed
    expect(Buffer.compare(Buffer.from(a), Buffer.from(other)) !== 0).toBe(!DETERMINISTIC.includes(name));
  });

  /**
   * Strength per severity, averaged over 24 MNIST digits and 24 colour scenes. The distance to the
   * clean image (RMS over pixels) serves for most corruptions. Three need a measure suited to them,
   * because the CIFAR-10-C table itself is not monotone in plain distance:
   *  - glass_blur: distance after a σ = 1 blur. Severities 1–3 shuffle once and differ only in a
   *    blur of σ 0.05–0.4 px, which makes the plain distance *fall*; the shuffle count rises at 4.
   *  - frost: 1 − correlation with the clean image (share of the frost layer). Severities 4–5
   *    lower the image weight, which can lower the plain distance on bright images.
   *  - elastic_transform: the non-affine part of the displacement, measured on coordinate ramps
   *    (severity 1 is a pure affine jitter of ±8 % that shrinks while the elastic field grows).
   */
  async function strength(name: CorruptionName, severity: number): Promise<number> {
    if (name === 'elastic_transform') return elasticResidual(severity);
    let total = 0;
    let count = 0;
    for (const ds of [mnist, colourSet]) {
      const corrupted = await corruptDataset(ds, name, severity, { seed: 3 });
      const n = sampleSize(ds);
      for (let i = 0; i < ds.labels.length; i++) {
        const a = fromBytes(ds.pixels.subarray(i * n, (i + 1) * n), ds.height, ds.width, ds.channels);
        const b = fromBytes(corrupted.pixels.subarray(i * n, (i + 1) * n), ds.height, ds.width, ds.channels);
        total += name === 'frost' ? 1 - pearson(a.data, b.data) : name === 'glass_blur' ? rms(smooth(a), smooth(b)) : rms(a.data, b.data);
        count++;
      }
    }
    return total / count;
  }

  it.each(CORRUPTION_NAMES)('%s grows in strength with severity', async (name) => {
    const s = [];
    for (let severity = 1; severity <= 5; severity++) s.push(await strength(name, severity));
    // every step at least as strong (5 % slack: motion blur 3 → 4 only lengthens a kernel tail of
    // weight < 1e-9, so those two are equal up to the random angles), and clearly stronger overall
    for (let k = 1; k < 5; k++) expect(s[k]).toBeGreaterThanOrEqual(0.95 * s[k - 1]);
    expect(s[4]).toBeGreaterThan(1.2 * s[0] + 1e-3);
  }, 120_000);

  it('corrupting a data set equals corrupting its images one by one at their indices', async () => {
    const ds = firstN(mnist, 6);
    const all = await corruptDataset(ds, 'glass_blur', 2, { seed: 9 });
    expect(all.name).toBe(`${ds.name}/glass_blur-2`);
    expect(Array.from(all.labels)).toEqual(Array.from(ds.labels));
    for (const i of [0, 5]) {
      const one = await corruptBytes(mnistImage(i), 28, 28, 1, 'glass_blur', 2, 9, i);
      expect(Buffer.compare(Buffer.from(all.pixels.subarray(i * 784, (i + 1) * 784)), Buffer.from(one))).toBe(0);
    }
  });

  it('28×28 parameters: pixel-unit entries scaled by 0.875, lattice and relative ones kept', () => {
    expect(effectiveParameters('motion_blur', 5, 28, 28)).toEqual([8, 2.5 * 0.875]);
    expect(effectiveParameters('glass_blur', 5, 28, 28)).toEqual([0.4 * 0.875, 1, 2]);
    expect(effectiveParameters('defocus_blur', 4, 28, 28)).toEqual([1, 0.2]);
    expect(effectiveParameters('defocus_blur', 4, 64, 64)).toEqual([2, 0.4]);
    expect(effectiveParameters('elastic_transform', 2, 28, 28).map((v) => +v.toFixed(6))).toEqual([1.4, 5.6, 1.96]);
    expect(effectiveParameters('pixelate', 3, 28, 28)).toEqual([0.85]);
    expect(effectiveParameters('motion_blur', 5, 32, 32)).toEqual([9, 2.5]);
  });

  it('frost sheets are fixed, large enough to crop from, and in range', () => {
    const a = frostBank(28);
    expect(a).toHaveLength(5);
    expect(a[0].side).toBeGreaterThanOrEqual(5 * 28);
    expect(frostBank(28)[2]).toBe(a[2]);
    let mean = 0;
    for (const v of a[0].rgb) {
      expect(v >= 0 && v <= 1).toBe(true);
      mean += v;
    }
    mean /= a[0].rgb.length;
    expect(mean).toBeGreaterThan(0.3);
    expect(mean).toBeLessThan(0.8);
  });

  it('bad input: unknown names, severities outside 1–5, 2-channel images', async () => {
    const img = fromBytes(mnistImage(0), 28, 28, 1);
    await expect(corruptImage(img, 'rain' as CorruptionName, 1, new MersenneTwister(0))).rejects.toThrow(/unknown corruption "rain"/);
    await expect(corruptImage(img, 'fog', 0, new MersenneTwister(0))).rejects.toThrow(/severity 0/);
    await expect(corruptImage(img, 'fog', 6, new MersenneTwister(0))).rejects.toThrow(/severity 6/);
    await expect(corruptImage({ h: 2, w: 2, c: 2, data: new Float32Array(8) }, 'fog', 1, new MersenneTwister(0))).rejects.toThrow(/1 or 3 channels/);
  });
});

function rms(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s / a.length);
}

function smooth(img: Img): Float32Array {
  const { h, w, c } = img;
  const out = new Float32Array(h * w * c);
  const plane = new Float32Array(h * w);
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < h * w; i++) plane[i] = img.data[i * c + ch];
    const s = gaussianBlur(plane, h, w, 1);
    for (let i = 0; i < h * w; i++) out[i * c + ch] = s[i];
  }
  return out;
}

/**
 * RMS (pixels) of the non-affine part of the elastic displacement: the corruption is applied to an
 * image whose red and green channels hold the x and y coordinates (so each output pixel reveals
 * where it was sampled from); an affine least-squares fit is removed, 8 px away from the borders (where reflection bends the
 * ramps). A pure affine map leaves exactly 0.
 */
async function elasticResidual(severity: number): Promise<number> {
  const size = 32;
  let total = 0;
  const trials = 24;
  for (let t = 0; t < trials; t++) {
    const ramp: Img = { h: size, w: size, c: 3, data: new Float32Array(size * size * 3) };
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        ramp.data[(y * size + x) * 3] = x / size;
        ramp.data[(y * size + x) * 3 + 1] = y / size;
      }
    }
    const out = await corruptImage(ramp, 'elastic_transform', severity, new MersenneTwister(1000 * severity + t));
    const pts: number[][] = [];
    for (let y = 8; y < size - 8; y++) for (let x = 8; x < size - 8; x++) pts.push([x, y, out.data[(y * size + x) * 3] * size, out.data[(y * size + x) * 3 + 1] * size]);
    let ss = 0;
    for (const k of [2, 3]) {
      const [a, b, c] = leastSquaresPlane(pts, k);
      for (const p of pts) ss += (p[k] - (a * p[0] + b * p[1] + c)) ** 2;
    }
    total += Math.sqrt(ss / pts.length);
  }
  return total / trials;
}

/** Fits p[k] ≈ a·x + b·y + c by the normal equations. */
function leastSquaresPlane(pts: number[][], k: number): [number, number, number] {
  const m = [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ];
  for (const p of pts) {
    const f = [p[0], p[1], 1];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) m[i][j] += f[i] * f[j];
      m[i][3] += f[i] * p[k];
    }
  }
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      if (j === i) continue;
      const r = m[j][i] / m[i][i];
      for (let q = i; q < 4; q++) m[j][q] -= r * m[i][q];
    }
  }
  return [m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]];
}
