import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray, tf, useBackend } from './helpers.js';
import { convCaseTests, convCases } from './conv_cases.js';
import { engineInfo, initEngine } from '../src/engine/backend.js';
import { nativeAddonPath, nativeKernelCalls, nativeStatus, setConvolutionLowering, setNativeThreads } from '../src/engine/native_kernels.js';
import type { NativeAddon } from '../src/engine/native_kernels.js';
import { createRequire } from 'node:module';
import { GenerativeClassifier } from '../src/gc/model.js';
import { defaultConfig } from '../src/gc/presets.js';
import { EVAL } from '../src/inn/module.js';

// The accelerator is optional: without libdnnl-dev it is not built and these tests are skipped.
const built = existsSync(nativeAddonPath()) && process.env.TRUSTGC_NATIVE !== '0';

describe.skipIf(!built)('native oneDNN kernels match the cpu backend', () => {
  beforeAll(async () => {
    await initEngine({ backend: 'wasm', native: true, quiet: true });
    expect(nativeStatus().loaded).toBe(true);
    expect(engineInfo().native).toMatch(/^oneDNN 2\./);
  });

  convCaseTests();

  it('ran the convolutions natively, falling back only where oneDNN cannot express the padding', () => {
    const c = nativeKernelCalls();
    const n = convCases.length;
    for (const k of ['Conv2DBackpropInput', 'Conv2DBackpropFilter']) expect(c[k]).toEqual({ native: n - 1, fallback: 1 });
    // Two forward convs per case; the wasm filter-gradient fallback itself runs one more, natively.
    expect(c.Conv2D).toEqual({ native: 2 * (n - 1) + 1, fallback: 2 });
  });

  it('batched matmul with every transpose combination', async () => {
    const run = async (backend: 'wasm' | 'cpu') => {
      await useBackend(backend);
      const out: Float32Array[] = [];
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        const a = tf.tensor3d(randomArray(3 * 5 * 7, 2), ta ? [3, 7, 5] : [3, 5, 7]);
        const b = tf.tensor3d(randomArray(3 * 7 * 4, 8), tb ? [3, 4, 7] : [3, 7, 4]);
        out.push(tf.matMul(a, b, ta, tb).dataSync().slice() as Float32Array);
        tf.dispose([a, b]);
      }
      // broadcast batch (not handled natively: must fall back, same answer)
      const a = tf.tensor3d(randomArray(1 * 2 * 3, 4), [1, 2, 3]);
      const b = tf.tensor3d(randomArray(2 * 3 * 2, 5), [2, 3, 2]);
      out.push(tf.matMul(a, b).dataSync().slice() as Float32Array);
      tf.dispose([a, b]);
      return out;
    };
    const ref = await run('cpu');
    const got = await run('wasm');
    for (let i = 0; i < ref.length; i++) expect(maxAbsDiff(got[i], ref[i])).toBeLessThan(1e-5);
    expect(nativeKernelCalls().BatchMatMul).toEqual({ native: 4, fallback: 1 });
  });

  it('gradients of the whole IB loss equal the cpu backend\'s', async () => {
    const grads = async (backend: 'wasm' | 'cpu') => {
      await useBackend(backend);
      const model = new GenerativeClassifier(defaultConfig('tiny-mnist', [...'0123456789'], 11));
      const x = tf.tensor4d(randomArray(3 * 784, 21).map((v) => (v + 1) / 2), [3, 28, 28, 1]);
      const labels = tf.tensor1d([3, 1, 4], 'int32');
      const params = model.namedParams().filter((p) => p.trainable);
      const { grads: g } = tf.variableGrads(() => model.lossTerms(x, labels, { beta: 2, labelSmoothing: 0.05 }, EVAL).loss, params.map((p) => p.variable));
      const out = new Map(params.map((p) => [p.name, g[p.variable.name].dataSync().slice() as Float32Array]));
      tf.dispose([x, labels, ...Object.values(g)]);
      model.dispose();
      return out;
    };
    const ref = await grads('cpu');
    const got = await grads('wasm');
    expect(got.size).toBe(ref.size);
    for (const [name, r] of ref) {
      const scale = r.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-3);
      expect(maxAbsDiff(got.get(name)!, r) / scale, name).toBeLessThan(1e-3);
    }
  });

  it('the addon rejects wrong buffers with a clear error', () => {
    const addon = createRequire(import.meta.url)(nativeAddonPath()) as NativeAddon;
    const g = [1, 4, 4, 2, 3, 3, 2, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1];
    const ok = () => new Float32Array(32);
    expect(() => addon.conv2dForward(ok(), new Float32Array(36), new Float32Array(5), g)).toThrow(/y has 5 elements, expected 32/);
    expect(() => addon.conv2dForward(ok(), [1, 2] as never, ok(), g)).toThrow(/filter must be a Float32Array/);
    expect(() => addon.conv2dForward(ok(), new Float32Array(36), ok(), [1, 2])).toThrow(/geometry must have 17 entries/);
    const y = ok();
    addon.conv2dForward(new Float32Array(32).fill(1), new Float32Array(36).fill(1), y, g);
    // centre pixels see 3·3·2 ones; corners 2·2·2
    expect(y[1 * 4 * 2 + 1 * 2]).toBe(18);
    expect(y[0]).toBe(8);
  });
});

describe.skipIf(!built)('lowered-GEMM convolutions (native/src/gemm_conv.cc) match the cpu backend', () => {
  beforeAll(async () => {
    await initEngine({ backend: 'wasm', native: true, quiet: true });
    setConvolutionLowering('always');
  });
  afterAll(() => setConvolutionLowering('auto'));

  // every case, small channel counts included, through the lowering
  convCaseTests();

  it('dilated and asymmetric-padded forward convolutions', async () => {
    const run = async (backend: 'wasm' | 'cpu') => {
      await useBackend(backend);
      const x = tf.tensor4d(randomArray(2 * 11 * 9 * 5, 31), [2, 11, 9, 5]);
      const w = tf.tensor4d(randomArray(3 * 3 * 5 * 7, 32), [3, 3, 5, 7]);
      const out = [
        tf.conv2d(x, w, 1, 'same', 'NHWC', 2).dataSync().slice(),
        tf.conv2d(x, w, 1, [[0, 0], [2, 0], [0, 1], [0, 0]]).dataSync().slice(),
        tf.conv2d(x, w, [2, 1], 'valid', 'NHWC').dataSync().slice(),
      ];
      tf.dispose([x, w]);
      return out;
    };
    const ref = await run('cpu');
    const got = await run('wasm');
    for (let i = 0; i < ref.length; i++) expect(maxAbsDiff(got[i], ref[i])).toBeLessThan(1e-4);
  });

  // a wide convolution with 4 096 output pixels: the filter gradient sums over 16 parts
  const wide = async (threads: number, mode: 'off' | 'auto' | 'always') => {
    await useBackend('wasm');
    setConvolutionLowering(mode);
    const previous = setNativeThreads(threads)!;
    const x = tf.tensor4d(randomArray(4 * 32 * 32 * 24, 41), [4, 32, 32, 24]);
    const w = tf.tensor4d(randomArray(3 * 3 * 24 * 64, 42), [3, 3, 24, 64]);
    const dy = tf.tensor4d(randomArray(4 * 32 * 32 * 64, 43), [4, 32, 32, 64]);
    const [, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))([x, w], dy);
    const y = tf.conv2d(x, w, 1, 'same');
    const out = { y: y.dataSync().slice(), gw: gw.dataSync().slice() };
    tf.dispose([x, w, dy, gw, y]);
    setNativeThreads(previous);
    setConvolutionLowering('always');
    return out;
  };

  it('gives the same bits on one and on two threads', async () => {
    const one = await wide(1, 'always');
    const two = await wide(2, 'always');
    expect(Buffer.from(two.y.buffer).equals(Buffer.from(one.y.buffer))).toBe(true);
    expect(Buffer.from(two.gw.buffer).equals(Buffer.from(one.gw.buffer))).toBe(true);
  });

  it('is what "auto" runs for a wide convolution, and differs from oneDNN\'s rounding', async () => {
    const always = await wide(2, 'always');
    const auto = await wide(2, 'auto');
    const off = await wide(2, 'off');
    expect(Buffer.from(auto.y.buffer).equals(Buffer.from(always.y.buffer))).toBe(true);
    expect(Buffer.from(auto.gw.buffer).equals(Buffer.from(always.gw.buffer))).toBe(true);
    // (so the two comparisons above could fail) ...
    expect(Buffer.from(off.gw.buffer).equals(Buffer.from(always.gw.buffer))).toBe(false);
    // ... while both are the same gradient
    const scale = Array.from(off.gw).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(maxAbsDiff(always.gw, off.gw) / scale).toBeLessThan(1e-5);
    expect(maxAbsDiff(always.y, off.y)).toBeLessThan(1e-4);
  });
});
