import { describe, expect, it } from 'vitest';
import { HALF_MAX, decodeHalf, encodeHalf, float32ToHalfBits, halfBitsToFloat32, halfOverflow } from '../src/io/half_float.js';
import { decodeSafetensors, encodeSafetensors } from '../src/io/safetensors.js';
import { MersenneTwister } from '../src/util/rng.js';

/** The finite half values in increasing order of magnitude (bit patterns 0 … 0x7bff). */
const magnitude = (bits: number) => halfBitsToFloat32(bits & 0x7fff);

describe('half precision (binary16)', () => {
  it('decodes known bit patterns and round-trips every one of the 65 536', () => {
    expect(halfBitsToFloat32(0x3c00)).toBe(1);
    expect(halfBitsToFloat32(0xc000)).toBe(-2);
    expect(halfBitsToFloat32(0x7bff)).toBe(HALF_MAX);
    expect(halfBitsToFloat32(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(halfBitsToFloat32(0x0400)).toBe(2 ** -14); // smallest normal
    expect(halfBitsToFloat32(0x3555)).toBeCloseTo(1 / 3, 3);
    expect(halfBitsToFloat32(0x7c00)).toBe(Infinity);
    expect(halfBitsToFloat32(0xfc00)).toBe(-Infinity);
    expect(halfBitsToFloat32(0x7e00)).toBeNaN();
    expect(Object.is(halfBitsToFloat32(0x8000), -0)).toBe(true);
    let mismatches = 0;
    for (let h = 0; h < 0x10000; h++) {
      const v = halfBitsToFloat32(h);
      if (Number.isNaN(v)) {
        if ((float32ToHalfBits(v) & 0x7c00) !== 0x7c00 || (float32ToHalfBits(v) & 0x3ff) === 0) mismatches++;
      } else if (float32ToHalfBits(v) !== h) mismatches++;
    }
    expect(mismatches).toBe(0);
  });

  it('rounds to the nearest half, ties to even, including subnormals and the carry into the next binade', () => {
    expect(float32ToHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie between 1 and 1 + 2^-10: even (1)
    expect(float32ToHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie: even is 1 + 2^-9
    expect(float32ToHalfBits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just past the tie
    expect(float32ToHalfBits(2 - 2 ** -12)).toBe(0x4000); // mantissa carry: rounds up to 2
    expect(float32ToHalfBits(2 ** -25)).toBe(0); // tie between 0 and the smallest subnormal: even (0)
    expect(float32ToHalfBits(1.5 * 2 ** -25)).toBe(1);
    expect(float32ToHalfBits(3 * 2 ** -25)).toBe(2); // tie between subnormals 1 and 2: even
    expect(float32ToHalfBits(2 ** -14 - 2 ** -26)).toBe(0x0400); // subnormal rounds up to the smallest normal
    expect(float32ToHalfBits(65519)).toBe(0x7bff); // below the rounding boundary of 65 504
    expect(float32ToHalfBits(65520)).toBe(0x7c00); // rounds past the largest half: Infinity
    expect(float32ToHalfBits(1e-10)).toBe(0);
    expect(float32ToHalfBits(-1e-10)).toBe(0x8000);

    // random float32 values over the whole half range: the encoding is the nearest representable half
    const rng = new MersenneTwister(5);
    let worse = 0;
    for (let i = 0; i < 20000; i++) {
      const v = Math.fround((rng.uniform() < 0.5 ? -1 : 1) * 2 ** (rng.uniform() * 42 - 26) * (1 + rng.uniform()));
      if (Math.abs(v) >= HALF_MAX) continue;
      const h = float32ToHalfBits(v);
      const err = Math.abs(halfBitsToFloat32(h) - v);
      const below = (h & 0x7fff) > 0 ? Math.abs(magnitude(h - 1) * Math.sign(v) - v) : Infinity;
      const above = (h & 0x7fff) < 0x7bff ? Math.abs(magnitude(h + 1) * Math.sign(v) - v) : Infinity;
      if (err > below || err > above) worse++;
    }
    expect(worse).toBe(0);
  });

  it('finds values half precision cannot hold', () => {
    expect(halfOverflow(Float32Array.of(0, -65504, 1e-9, NaN))).toBe(-1);
    expect(halfOverflow(Float32Array.of(1, 2, -70000))).toBe(2);
    const values = Float32Array.of(0.1, -3.25, 1000.5, 2 ** -20);
    const back = decodeHalf(encodeHalf(values));
    for (let i = 0; i < values.length; i++) expect(Math.abs(back[i] - values[i])).toBeLessThanOrEqual(Math.abs(values[i]) * 2 ** -11 + 2 ** -25);
  });
});

describe('safetensors F16', () => {
  const tensors = () => [
    { name: 'w', dtype: 'F16' as const, shape: [2, 3], data: Float32Array.of(0.1, -2, 3.5, 1e-3, 0, 600) },
    { name: 'idx', dtype: 'I32' as const, shape: [3], data: Int32Array.of(2, 0, 1) },
    { name: 'b', dtype: 'F32' as const, shape: [2], data: Float32Array.of(0.1, 1e-30) },
  ];

  it('stores float tensors in two bytes a value and reads them back as float32', () => {
    const bytes = encodeSafetensors(tensors());
    const file = decodeSafetensors(bytes, 'mem');
    const w = file.tensors.get('w')!;
    expect(w.dtype).toBe('F16');
    expect(w.data).toBeInstanceOf(Float32Array);
    expect(Array.from(w.data)).toEqual([0.0999755859375, -2, 3.5, 0.0010004043579101562, 0, 600]);
    expect(Array.from(file.tensors.get('idx')!.data)).toEqual([2, 0, 1]);
    expect(file.tensors.get('b')!.data[1]).toBe(Math.fround(1e-30)); // F32 untouched
    const allF32 = encodeSafetensors(tensors().map((t) => (t.dtype === 'F16' ? { ...t, dtype: 'F32' as const } : t)));
    expect(allF32.length - bytes.length).toBeGreaterThanOrEqual(12 - 8); // 6 values × 2 bytes saved, header alignment aside
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)))));
    expect(header.w.data_offsets[1] - header.w.data_offsets[0]).toBe(12);
  });

  it('refuses a value beyond ±65504 and names the tensor; a wrong F16 byte count is named too', () => {
    const bad = [{ name: 'big', dtype: 'F16' as const, shape: [2], data: Float32Array.of(1, 1e5) }];
    expect(() => encodeSafetensors(bad)).toThrow(/tensor big cannot be stored as F16: value 100000 at index 1 exceeds ±65504/);
    const bytes = encodeSafetensors(tensors());
    const broken = bytes.slice();
    const at = new TextDecoder().decode(bytes.subarray(0, 200)).indexOf('"shape":[2,3]'); // the header is ASCII
    broken[at + '"shape":['.length] = '3'.charCodeAt(0);
    expect(() => decodeSafetensors(broken, 'mem')).toThrow(/tensor w: 12 bytes for shape \[3,3\] of F16/);
  });
});
