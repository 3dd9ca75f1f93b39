/** Random draws the corruptions need beyond uniform and normal. */
import { MersenneTwister } from '../util/rng.js';

/**
 * Poisson(λ). Knuth's product method for small λ; for λ ≥ 10 Hörmann's transformed rejection with
 * squeeze (PTRS, 1993), which is exact and needs about one uniform pair per draw — shot noise at
 * the mildest severity draws with λ up to 500 per pixel.
 */
export function poisson(rng: MersenneTwister, lambda: number): number {
  if (!(lambda > 0)) return 0;
  if (lambda < 10) {
    const limit = Math.exp(-lambda);
    let k = 0;
    let p = rng.uniform();
    while (p > limit) {
      k++;
      p *= rng.uniform();
    }
    return k;
  }
  const slam = Math.sqrt(lambda);
  const loglam = Math.log(lambda);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = rng.uniform() - 0.5;
    const v = rng.uniform();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -lambda + k * loglam - logFactorial(k)) return k;
  }
}

function logFactorial(k: number): number {
  if (k < 2) return 0;
  if (k < 30) {
    let s = 0;
    for (let i = 2; i <= k; i++) s += Math.log(i);
    return s;
  }
  // Stirling series; error below 1e-10 for k ≥ 30
  const x = k + 1;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) - 1 / (360 * x * x * x);
}

/** Uniform integer in [low, high) (numpy's randint convention). */
export function randint(rng: MersenneTwister, low: number, high: number): number {
  return low + rng.intInclusive(high - low - 1);
}

/**
 * A 32-bit seed for one image under one corruption setting, so that every image is reproducible on
 * its own (a data set can be corrupted in any order or in part and give the same pixels).
 */
export function imageSeed(seed: number, corruption: number, severity: number, index: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  for (const v of [corruption, severity, index]) {
    h = Math.imul(h ^ (v >>> 0), 0xc2b2ae35) >>> 0;
    h ^= h >>> 15;
    h = Math.imul(h, 0x27d4eb2f) >>> 0;
    h ^= h >>> 13;
  }
  return h >>> 0;
}
