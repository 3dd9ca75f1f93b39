import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { maxAbsDiff, randomArray, tf, useBackend } from './helpers.js';
import { GenerativeClassifier } from '../src/gc/model.js';
import { defaultConfig } from '../src/gc/presets.js';
import { blockedGram, blockedSumOfSquares } from '../src/gc/gmm_head.js';
import { importOfficialCheckpoint, permutationOf } from '../src/io/torch/import_official.js';
import { openTorchFile, TorchTensor } from '../src/io/torch/torch_file.js';
import { RandomAccessFile, ZipReader } from '../src/io/torch/zip_reader.js';
import { gatherChannels, mixChannels } from '../src/inn/ops.js';
import { loadModel, saveModel } from '../src/io/checkpoint.js';
import { RunContext } from '../src/inn/module.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'torch');
const TEN = Array.from({ length: 10 }, (_, i) => String(i));

beforeAll(async () => {
  await useBackend('wasm');
});

describe('ImageNet preset', () => {
  it('imagenet-resnet50-inn has exactly 55 412 304 + 22 074 368 parameters and 9.149 G MACs', () => {
    const classes = Array.from({ length: 1000 }, (_, i) => String(i));
    const m = new GenerativeClassifier(defaultConfig('imagenet-resnet50-inn', classes));
    expect(m.countParams()).toEqual({ inn: 55_412_304, head: 22_074_368, total: 77_486_672 });
    const macs = m.macs();
    // ARCHITECTURE.md §6: 6 916.66 M in learned subnets, 2 232.33 M in fixed ops
    expect(macs.learned / 1e6).toBeCloseTo(6916.66, 1);
    expect(macs.fixed / 1e6).toBeCloseTo(2232.33, 1);
    expect(m.inn.nodes.map((n) => n.name)).toEqual([...Array.from({ length: 19 }, (_, i) => String(i + 1)), '21', '23']);
    expect(m.dims).toBe(150_528);
    m.dispose();
  }, 60_000);

  it('small IB-INN models have the reference MAC counts', () => {
    const mnist = new GenerativeClassifier(defaultConfig('ibinn-mnist', TEN));
    expect(mnist.macs().learned / 1e6).toBeCloseTo(103.21, 1);
    expect((mnist.macs().learned + mnist.macs().fixed) / 1e6).toBeCloseTo(103.61, 1);
    mnist.dispose();
    const cifar = new GenerativeClassifier(defaultConfig('ibinn-cifar10', TEN));
    expect(cifar.macs().learned / 1e6).toBeCloseTo(195.79, 1);
    expect(cifar.macs().fixed / 1e6).toBeCloseTo(4.57, 1);
    cifar.dispose();
  });

  it('imagenet-mini is invertible with index-stored permutations', () => {
    const m = new GenerativeClassifier(defaultConfig('imagenet-mini', TEN));
    expect(m.namedParams().some((p) => p.name.endsWith('.w_perm') && p.variable.dtype === 'int32')).toBe(true);
    const x = tf.tensor(randomArray(2 * 32 * 32 * 3, 5), [2, 32, 32, 3]).mul(0.5).add(0.5);
    const { z } = m.latent(x);
    expect(maxAbsDiff(m.decode(z).dataSync(), x.dataSync())).toBeLessThan(1e-4);
    m.dispose();
  });

  it('inference frees activations node by node, and input gradients still flow (attacks need them)', async () => {
    const m = new GenerativeClassifier(defaultConfig('imagenet-mini', TEN));
    const x = tf.tensor(randomArray(2 * 32 * 32 * 3, 6), [2, 32, 32, 3]).mul(0.5).add(0.5);
    const w = tf.tensor(randomArray(2 * 3072, 7), [2, 3072]);
    tf.dispose(m.latent(x)); // first pass builds the inverse-permutation caches
    const before = tf.memory().numTensors;
    tf.dispose(m.latent(x));
    expect(tf.memory().numTensors).toBe(before); // nothing leaks
    const evalPeak = (await tf.profile(() => tf.dispose(m.latent(x)))).peakBytes;
    const keptPeak = (await tf.profile(() => tf.dispose(m.latent(x, new RunContext(true, false))))).peakBytes;
    expect(evalPeak).toBeLessThan(0.5 * keptPeak);
    const viaSequence = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(m.latent(t).z, w)))(x);
    // the same gradient with every node run on the tape directly, nothing freed in between
    const manual = tf.grad((t: tf.Tensor) => {
      let h = m.normalize(t) as tf.Tensor;
      for (const { module } of m.inn.nodes) h = module.forward(h).y;
      return tf.sum(tf.mul(h, w));
    })(x);
    expect(maxAbsDiff(viaSequence.dataSync(), manual.dataSync())).toBeLessThan(1e-5);
    m.dispose();
  });

  it('long reductions in the head are accurate to float64 within 2e-6 (blocked accumulation)', () => {
    const n = 147_456;
    const v = randomArray(4 * n, 9);
    const x = tf.tensor2d(v, [4, n]);
    const gram = blockedGram(x).dataSync();
    const sq = blockedSumOfSquares(x).dataSync();
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 4; b++) {
        let exact = 0;
        for (let i = 0; i < n; i++) exact += v[a * n + i] * v[b * n + i];
        expect(Math.abs(gram[a * 4 + b] - exact)).toBeLessThan(2e-6 * n);
        if (a === b) expect(Math.abs(sq[a] - exact) / exact).toBeLessThan(2e-6);
      }
    }
  });

  it('gathered permutations equal dense permutation matrices, gradients included', () => {
    const c = 6;
    const p = Int32Array.from([3, 0, 5, 1, 4, 2]);
    const inv = new Int32Array(c);
    p.forEach((v, i) => (inv[v] = i));
    const w = new Float32Array(c * c);
    p.forEach((col, row) => (w[row * c + col] = 1));
    const x = tf.tensor(randomArray(2 * 3 * c, 2), [2, 3, c]);
    const weights = tf.tensor(randomArray(2 * 3 * c, 3), [2, 3, c]);
    const [pi, pinv, wm] = [tf.tensor1d(p, 'int32'), tf.tensor1d(inv, 'int32'), tf.tensor2d(w, [c, c])];
    expect(maxAbsDiff(gatherChannels(x, pi, pinv).dataSync(), mixChannels(x, wm).dataSync())).toBe(0);
    const gGather = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gatherChannels(t, pi, pinv), weights)))(x);
    const gDense = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(mixChannels(t, wm), weights)))(x);
    expect(maxAbsDiff(gGather.dataSync(), gDense.dataSync())).toBeLessThan(1e-6);
    expect(Array.from(permutationOf(w, c) ?? [])).toEqual(Array.from(p));
    w[1] = 0.5;
    expect(permutationOf(w, c)).toBeNull();
  });
});

describe('PyTorch checkpoint reader', () => {
  const expected = JSON.parse(readFileSync(join(FIXTURES, 'tensor_zoo_expected.json'), 'utf8')) as Record<string, { shape: number[]; values: number[] }>;
  for (const file of ['tensor_zoo.pt', 'tensor_zoo_legacy.pt']) {
    it(`reads every dtype and view of ${file}`, () => {
      const t = openTorchFile(join(FIXTURES, file));
      expect(t.format).toBe(file.includes('legacy') ? 'legacy' : 'zip');
      const root = t.root as Map<string, unknown>;
      const tensors = root.get('tensors') as Map<string, TorchTensor>;
      expect([...tensors.keys()].sort()).toEqual(Object.keys(expected).sort());
      for (const [name, tensor] of tensors) {
        expect(tensor.shape, name).toEqual(expected[name].shape);
        const want = expected[name].values.map((v) => Math.fround(v));
        expect(Array.from(tensor.toFloat32()), name).toEqual(want);
      }
      expect(tensors.get('f16')?.dtype).toBe('float16');
      expect(tensors.get('i64')?.dtype).toBe('int64');
      const meta = root.get('meta') as Map<string, unknown>;
      expect(meta.get('lr')).toBe(0.07);
      expect(meta.get('flags')).toEqual([true, false, null]);
      t.close();
    });
  }

  it('reads archives whose sizes and offsets live in Zip64 extra fields (files over 4 GB)', () => {
    // Re-pack the zoo with every central-directory size/offset set to 0xFFFFFFFF and the real
    // values in Zip64 extra fields, as zip writers do for members beyond 4 GB.
    const src = new ZipReader(new RandomAccessFile(join(FIXTURES, 'tensor_zoo.pt')));
    const locals: Buffer[] = [];
    const centrals: Buffer[] = [];
    let offset = 0;
    for (const entry of src.entries.values()) {
      const data = src.read(entry.name);
      const name = Buffer.from(entry.name);
      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(45, 4);
      local.writeUInt16LE(name.length, 26);
      locals.push(local, name, data);
      const extra = Buffer.alloc(4 + 24);
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(data.length), 4);
      extra.writeBigUInt64LE(BigInt(data.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
      const central = Buffer.alloc(46);
      central.writeUInt32LE(0x02014b50, 0);
      central.writeUInt32LE(0xffffffff, 20);
      central.writeUInt32LE(0xffffffff, 24);
      central.writeUInt16LE(name.length, 28);
      central.writeUInt16LE(extra.length, 30);
      central.writeUInt32LE(0xffffffff, 42);
      centrals.push(central, name, extra);
      offset += 30 + name.length + data.length;
    }
    const cd = Buffer.concat(centrals);
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(src.entries.size, 8);
    eocd.writeUInt16LE(src.entries.size, 10);
    eocd.writeUInt32LE(cd.length, 12);
    eocd.writeUInt32LE(offset, 16);
    src.file.close();
    const dir = mkdtempSync(join(tmpdir(), 'trustgc-zip64-'));
    writeFileSync(join(dir, 'zoo64.pt'), Buffer.concat([...locals, cd, eocd]));
    const t = openTorchFile(join(dir, 'zoo64.pt'));
    const tensors = (t.root as Map<string, unknown>).get('tensors') as Map<string, TorchTensor>;
    expect(Array.from(tensors.get('sliced')?.toFloat32() ?? [])).toEqual(expected.sliced.values.map((v) => Math.fround(v)));
    t.close();
  });

  it('rejects files that are not checkpoints, and truncated archives, with clear errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trustgc-torch-'));
    writeFileSync(join(dir, 'junk.pt'), Buffer.from('hello, this is not a checkpoint'));
    expect(() => openTorchFile(join(dir, 'junk.pt'))).toThrow(/not a PyTorch checkpoint/);
    const bytes = readFileSync(join(FIXTURES, 'tensor_zoo.pt'));
    writeFileSync(join(dir, 'cut.pt'), bytes.subarray(0, bytes.length - 200));
    expect(() => openTorchFile(join(dir, 'cut.pt'))).toThrow(/cut\.pt.*(zip|truncated|corrupt)/);
    const legacy = readFileSync(join(FIXTURES, 'tensor_zoo_legacy.pt'));
    writeFileSync(join(dir, 'cut_legacy.pt'), legacy.subarray(0, legacy.length - 100));
    expect(() => openTorchFile(join(dir, 'cut_legacy.pt'))).toThrow(/cut_legacy\.pt.*truncated/);
    expect(() => openTorchFile(join(dir, 'missing.pt'))).toThrow(/cannot open .*missing\.pt/);
  });
});

describe('official checkpoint import', () => {
  const exp = JSON.parse(readFileSync(join(FIXTURES, 'imagenet_mini_expected.json'), 'utf8')) as Record<string, number[] & number>;

  for (const storage of ['auto', 'dense'] as const) {
    it(`reproduces the PyTorch model output for output (mixing storage ${storage})`, () => {
      const { model, report } = importOfficialCheckpoint(join(FIXTURES, 'imagenet_mini.pt'), { arch: 'imagenet-mini', mixingStorage: storage });
      expect(report.mixingStorage).toBe(storage === 'auto' ? 'indices' : 'dense');
      expect(report.classes).toBe(10);
      // every official tensor is either imported or deliberately skipped (tmp_var, counters, w_inv, fixed kernels)
      expect(report.imported + report.skipped).toBe((exp.keys as number) + 1 + 3);
      const x = tf.tensor(exp.images_nhwc, exp.shape as unknown as number[]);
      const { z, logdet } = model.latent(x);
      expect(maxAbsDiff(z.dataSync(), exp.z)).toBeLessThan(1e-5);
      expect(maxAbsDiff(logdet.dataSync(), exp.logdet) / 9706).toBeLessThan(1e-6);
      const logits = tf.mul(model.head.squaredDistances(z), -0.5);
      expect(maxAbsDiff(logits.dataSync(), exp.logits)).toBeLessThan(1e-3);
      expect(maxAbsDiff(model.decode(z).dataSync(), exp.images_nhwc)).toBeLessThan(1e-4);
      // the converted model survives our own format
      const dir = mkdtempSync(join(tmpdir(), 'trustgc-import-'));
      saveModel(dir, model);
      const again = loadModel(dir);
      expect(again).toBeInstanceOf(GenerativeClassifier);
      expect(maxAbsDiff((again as GenerativeClassifier).latent(x).z.dataSync(), exp.z)).toBeLessThan(1e-5);
      again.dispose();
      model.dispose();
    });
  }

  it('lists missing, unexpected and mis-shaped keys of a checkpoint that does not fit', () => {
    let message = '';
    try {
      importOfficialCheckpoint(join(FIXTURES, 'mismatched.pt'), { arch: 'imagenet-mini' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/does not match architecture imagenet-mini/);
    expect(message).toMatch(/\d+ missing: .*module_list\.1\.act_offset/);
    expect(message).toMatch(/1 unexpected: module_list\.99\.foo/);
    expect(message).toMatch(/1 mis-shaped: module_list\.1\.act_norm \[1,13,1,1\] \(expected \[1,12,1,1\]\)/);
  });

  it('refuses a non-ImageNet architecture and a wrong class list', () => {
    expect(() => importOfficialCheckpoint(join(FIXTURES, 'imagenet_mini.pt'), { arch: 'tiny-mnist' })).toThrow(/not one/);
    expect(() => importOfficialCheckpoint(join(FIXTURES, 'imagenet_mini.pt'), { arch: 'imagenet-mini', classNames: ['a'] })).toThrow(/10 classes, the class list has 1/);
  });
});
