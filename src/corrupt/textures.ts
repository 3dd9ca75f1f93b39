/**
 * Procedural textures for the weather corruptions: the plasma fractal behind fog (the reference's
 * diamond-square algorithm) and a frost texture that stands in for the reference's frost
 * photographs, which are external assets this package does not ship.
 */
import { MersenneTwister } from '../util/rng.js';
import { gaussianBlur } from './filters.js';
import { randint } from './random.js';

/**
 * Diamond-square height map of side `size` (a power of two) with values in [0, 1]. The random
 * displacement starts at 100·U(−100, 100) and shrinks by `decay` per octave, with wrap-around
 * neighbours, as in the reference's plasma_fractal; larger decay gives smoother fog.
 */
export function plasmaFractal(size: number, decay: number, rng: MersenneTwister): Float32Array {
  if (size < 2 || (size & (size - 1)) !== 0) throw new Error(`plasma fractal size ${size} is not a power of two ≥ 2`);
  const map = new Float64Array(size * size);
  let step = size;
  let wibble = 100;
  const at = (y: number, x: number) => map[(((y % size) + size) % size) * size + (((x % size) + size) % size)];
  const displaced = (sum: number) => sum / 4 + wibble * (2 * rng.uniform() - 1) * wibble;
  while (step >= 2) {
    const half = step >> 1;
    // squares: centre = mean of the four corners
    for (let y = 0; y < size; y += step) {
      for (let x = 0; x < size; x += step) {
        map[(y + half) * size + x + half] = displaced(at(y, x) + at(y + step, x) + at(y, x + step) + at(y + step, x + step));
      }
    }
    // diamonds: edge midpoints = mean of the two corners and the two neighbouring centres
    for (let y = 0; y < size; y += step) {
      for (let x = 0; x < size; x += step) {
        map[y * size + x + half] = displaced(at(y + half, x + half) + at(y - half, x + half) + at(y, x) + at(y, x + step));
      }
    }
    for (let y = 0; y < size; y += step) {
      for (let x = 0; x < size; x += step) {
        map[(y + half) * size + x] = displaced(at(y + half, x + half) + at(y + half, x - half) + at(y, x) + at(y + step, x));
      }
    }
    step = half;
    wibble /= decay;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of map) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const out = new Float32Array(size * size);
  for (let i = 0; i < out.length; i++) out[i] = hi > lo ? (map[i] - lo) / (hi - lo) : 0;
  return out;
}

export function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** A frost sheet: RGB in [0, 1], HWC, side × side. */
export interface FrostSheet {
  side: number;
  rgb: Float32Array;
}

/**
 * A procedural frost sheet standing in for one of the reference's five frost photographs. The
 * photographs show ice on glass: bright, thin, branching crystal needles over a dim, patchy haze.
 * Here: a plasma-fractal haze plus dendrites — needles grown from random seeds that branch at ±60°
 * (the hexagonal habit of ice) with shrinking length — splatted with anti-aliasing, lightly
 * blurred, and tinted towards blue-white. `scale` is the image side the sheet will be cropped for;
 * crystal sizes are proportional to it, and the sheet is five times larger, which matches how the
 * reference crops a 32-pixel window out of photographs shrunk to about 200 pixels.
 */
export function frostSheet(scale: number, variant: number): FrostSheet {
  const side = Math.max(16, Math.round(5 * scale));
  const rng = new MersenneTwister((0x5eed0000 + 7919 * variant) >>> 0);
  const n = side * side;
  const fractalSide = nextPowerOfTwo(side);
  const fractal = plasmaFractal(fractalSide, 1.8 + 0.2 * variant, rng);
  const haze = new Float32Array(n);
  for (let y = 0; y < side; y++) haze.set(fractal.subarray(y * fractalSide, y * fractalSide + side), y * side);
  const ice = new Float32Array(n);
  const px = scale / 32; // one reference pixel at this image size
  const splat = (y: number, x: number, v: number) => {
    const y0 = Math.floor(y);
    const x0 = Math.floor(x);
    const fy = y - y0;
    const fx = x - x0;
    const put = (yy: number, xx: number, wgt: number) => {
      const i = (((yy % side) + side) % side) * side + (((xx % side) + side) % side);
      ice[i] = Math.max(ice[i], v * wgt);
    };
    put(y0, x0, (1 - fy) * (1 - fx));
    put(y0, x0 + 1, (1 - fy) * fx);
    put(y0 + 1, x0, fy * (1 - fx));
    put(y0 + 1, x0 + 1, fy * fx);
  };
  const grow = (y: number, x: number, angle: number, length: number, v: number, depth: number): void => {
    const steps = Math.ceil(length / (0.5 * Math.max(px, 0.5)));
    const dy = (Math.sin(angle) * length) / steps;
    const dx = (Math.cos(angle) * length) / steps;
    const branchEvery = Math.max(2, Math.round(steps / (3 + randint(rng, 0, 4))));
    for (let s = 0; s <= steps; s++) {
      const yy = y + s * dy;
      const xx = x + s * dx;
      splat(yy, xx, v * (1 - 0.5 * (s / steps)));
      if (depth > 0 && s > 0 && s % branchEvery === 0) {
        const side = rng.uniform() < 0.5 ? 1 : -1;
        const rest = (1 - s / steps) * length;
        grow(yy, xx, angle + (side * Math.PI) / 3 + 0.15 * rng.normal(), 0.55 * rest, 0.85 * v, depth - 1);
      }
    }
  };
  const crystals = Math.round((side * side) / (14 * px * 14 * px));
  for (let k = 0; k < crystals; k++) {
    const y = rng.uniform() * side;
    const x = rng.uniform() * side;
    const arms = 2 + randint(rng, 0, 5);
    const base = rng.uniform() * 2 * Math.PI;
    const length = (6 + 18 * rng.uniform()) * px;
    const v = 0.55 + 0.45 * rng.uniform();
    for (let a = 0; a < arms; a++) grow(y, x, base + (a * Math.PI) / 3 + 0.1 * rng.normal(), length * (0.6 + 0.4 * rng.uniform()), v, 2);
  }
  const soft = gaussianBlur(ice, side, side, 0.35 * Math.max(px, 1), 'reflect');
  const rgb = new Float32Array(3 * n);
  const tint = [0.86, 0.93, 1];
  for (let i = 0; i < n; i++) {
    const t = Math.min(1, 0.2 + 0.35 * haze[i] + soft[i]);
    for (let ch = 0; ch < 3; ch++) rgb[3 * i + ch] = t * tint[ch];
  }
  return { side, rgb };
}
