/**
 * IEEE 754 half precision (binary16) ⇄ float32, for float16 weight files (zoo models, PyTorch
 * half-precision checkpoints). Hand-written: a few lines of bit arithmetic, and JavaScript has no
 * Float16Array before Node 22. No Node imports: the browser explorer decodes weights with it too.
 *
 * Encoding rounds to the nearest half, ties to even (the rounding of numpy's astype(float16) and
 * PyTorch's .half()); values beyond the largest half (65 504) become ±Infinity, so writers must
 * check (`halfOverflow`).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The largest finite half-precision value. */
export const HALF_MAX = 65504;

/** The half-precision bit pattern nearest to a number (as rounded to float32 first). */
export function float32ToHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf, NaN (quiet)
  const e = exp - 127 + 15; // the half's biased exponent
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    // half subnormal (or zero): the value in units of 2^-24, rounded
    const shift = 14 - e;
    if (shift > 24) return sign;
    const m = mant | 0x800000;
    let half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half; // a carry into bit 10 is the smallest normal half, as it should be
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // a carry may reach Infinity: correct
  return sign | half;
}

/** The value of a half-precision bit pattern (exact in float32). */
export function halfBitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -24 * frac;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

export function encodeHalf(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToHalfBits(values[i]);
  return out;
}

export function decodeHalf(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfBitsToFloat32(bits[i]);
  return out;
}

/**
 * Index of the first finite value that half precision cannot hold (|v| rounds past 65 504), or −1.
 * `bits` (the values already encoded) spares a second encoding pass.
 */
export function halfOverflow(values: Float32Array, bits: Uint16Array = encodeHalf(values)): number {
  for (let i = 0; i < values.length; i++) {
    if ((bits[i] & 0x7fff) === 0x7c00 && Number.isFinite(values[i])) return i;
  }
  return -1;
}
