import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomArray, tf, useBackend } from './helpers.js';
import { GenerativeClassifier } from '../src/gc/model.js';
import { defaultConfig } from '../src/gc/presets.js';
import { exportOnnx } from '../src/onnx/export.js';
import { OnnxClassifier, compareOnnxWithTfjs, loadInferenceModel, onnxAvailable, readMetadata } from '../src/onnx/runtime.js';
import { saveModel, writeConfig } from '../src/io/checkpoint.js';

const DIGITS = [...'0123456789'];
const available = await onnxAvailable();

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(a[i])));
  return m;
}

beforeAll(async () => {
  await useBackend('wasm');
});

describe.skipIf(!available)('ONNX export run by onnxruntime-node', () => {
  for (const arch of ['tiny-mnist', 'tiny-rgb32'] as const) {
    it(`${arch}: z, log-det and logits equal the tfjs forward pass (relative 1e-4)`, async () => {
      const model = new GenerativeClassifier(defaultConfig(arch, DIGITS, 5));
      const { height, width, channels } = model.config.input;
      const batch = 4;
      const exported = exportOnnx(model, { batch });
      const { InferenceSession, Tensor } = await import('onnxruntime-node');
      const session = await InferenceSession.create(exported.bytes);
      const xv = randomArray(batch * height * width * channels, 3).map((v) => (v + 1) / 2);
      const out = await session.run({ x: new Tensor('float32', xv, [batch, height, width, channels]) });
      const { z, logdet, logits } = tf.tidy(() => {
        const r = model.latent(tf.tensor4d(xv, [batch, height, width, channels]));
        return { z: r.z, logdet: r.logdet, logits: model.logits(r.z) };
      });
      expect(relErr(z.dataSync(), out.z.data as Float32Array)).toBeLessThan(1e-4);
      expect(relErr(logdet.dataSync(), out.logdet.data as Float32Array)).toBeLessThan(1e-4);
      expect(relErr(logits.dataSync(), out.logits.data as Float32Array)).toBeLessThan(1e-4);
      tf.dispose([z, logdet, logits]);
      await session.release();
      model.dispose();
    });
  }

  it('an imported ImageNet-layout model (index permutations, low-rank head) exports and matches', async () => {
    const { importOfficialCheckpoint } = await import('../src/io/torch/import_official.js');
    const { model } = importOfficialCheckpoint(join(import.meta.dirname, 'fixtures', 'torch', 'imagenet_mini.pt'), { arch: 'imagenet-mini' });
    const onnx = await OnnxClassifier.fromBytes(exportOnnx(model as GenerativeClassifier, { batch: 4 }).bytes, model.config);
    const report = await compareOnnxWithTfjs(model as GenerativeClassifier, onnx, 4);
    expect(report.ok).toBe(true);
    for (const v of Object.values(report.maxError)) expect(v).toBeLessThan(1e-4);
    await onnx.dispose();
    model.dispose();
  });

  it('OnnxClassifier answers infer like the tfjs model, splitting and padding batches', async () => {
    const model = new GenerativeClassifier(defaultConfig('tiny-mnist', DIGITS, 7));
    const onnx = await OnnxClassifier.fromBytes(exportOnnx(model, { batch: 4 }).bytes, model.config);
    expect(onnx.batch).toBe(4);
    const report = await compareOnnxWithTfjs(model, onnx, 6); // 6 images → chunks of 4 and 2 (+2 padding)
    expect(report.ok).toBe(true);
    for (const v of Object.values(report.maxError)) expect(v).toBeLessThan(1e-4);
    await expect(onnx.infer(tf.zeros([2, 28, 28, 3]))).rejects.toThrow(/expects \[batch, 28, 28, 1\]/);
    await expect(onnx.infer(tf.fill([1, 28, 28, 1], NaN))).rejects.toThrow(/NaN/);
    await onnx.dispose();
    model.dispose();
  });

  it('loads from a model folder; auto picks onnxruntime there, tfjs elsewhere; mismatches are named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trustgc-onnx-'));
    const model = new GenerativeClassifier(defaultConfig('tiny-mnist', DIGITS, 9));
    writeConfig(dir, model.config);
    saveModel(dir, model);
    expect(await loadInferenceModel(dir, 'auto')).toBeInstanceOf(GenerativeClassifier);
    await expect(loadInferenceModel(dir, 'onnx')).rejects.toThrow(/no ONNX export/);
    const bytes = exportOnnx(model, { batch: 2 }).bytes;
    writeFileSync(join(dir, 'model.onnx'), bytes);
    const auto = await loadInferenceModel(dir, 'auto');
    expect(auto).toBeInstanceOf(OnnxClassifier);
    await (auto as OnnxClassifier).dispose();
    const other = defaultConfig('tiny-rgb32', DIGITS, 9);
    await expect(OnnxClassifier.fromBytes(bytes, other)).rejects.toThrow(/exported from another model/);
    await expect(OnnxClassifier.fromBytes(new Uint8Array([1, 2, 3, 4]), model.config, {}, 'broken.onnx')).rejects.toThrow(/broken.onnx could not be loaded/);
    await expect(loadInferenceModel(dir, 'fast' as never)).rejects.toThrow(/unknown engine "fast"/);
    model.dispose();
  });

  it('writes the model metadata it needs to run', () => {
    const model = new GenerativeClassifier(defaultConfig('tiny-mnist', DIGITS, 1));
    const meta = readMetadata(exportOnnx(model, { batch: 3 }).bytes);
    expect(meta['trustgc.batch']).toBe('3');
    expect(JSON.parse(meta['trustgc.config']).arch).toBe('tiny-mnist');
    expect(JSON.parse(meta['trustgc.log_class_weights'])).toHaveLength(10);
    expect(() => exportOnnx(model, { batch: 0 })).toThrow(/positive integer/);
    model.dispose();
  });
});

describe('ONNX export run by onnxruntime-web (the browser runtime, here on Node)', () => {
  it('gives the tfjs logits and log-det', async () => {
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
    const model = new GenerativeClassifier(defaultConfig('tiny-mnist', DIGITS, 3));
    const batch = 2;
    const bytes = exportOnnx(model, { batch }).bytes;
    const session = await ort.InferenceSession.create(bytes);
    const xv = randomArray(batch * 784, 8).map((v) => (v + 1) / 2);
    const out = await session.run({ x: new ort.Tensor('float32', xv, [batch, 28, 28, 1]) });
    const { logdet, logits } = tf.tidy(() => {
      const r = model.latent(tf.tensor4d(xv, [batch, 28, 28, 1]));
      return { logdet: r.logdet, logits: model.logits(r.z) };
    });
    expect(relErr(logdet.dataSync(), out.logdet.data as Float32Array)).toBeLessThan(1e-4);
    expect(relErr(logits.dataSync(), out.logits.data as Float32Array)).toBeLessThan(1e-4);
    tf.dispose([logdet, logits]);
    await session.release();
    model.dispose();
  });
});
