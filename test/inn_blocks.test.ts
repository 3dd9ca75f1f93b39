import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomArray, tf, useBackend } from './helpers.js';
import { bruteForceLogdet, reconstructionError, relativeError, scrambleParams } from './flow_check.js';
import type { InvertibleModule } from '../src/inn/module.js';
import { AffineCouplingBlock } from '../src/inn/coupling.js';
import { DownsampleCouplingBlock } from '../src/inn/downsample_coupling.js';
import { HaarDownsampling } from '../src/inn/haar.js';
import { DctPooling } from '../src/inn/dct.js';
import { RandomPermutation } from '../src/inn/permute.js';
import { GlowFcCoupling } from '../src/inn/glow_fc.js';
import { InvertibleSequence } from '../src/inn/sequence.js';
import { Split1D } from '../src/inn/split.js';
import { MersenneTwister } from '../src/util/rng.js';

beforeAll(async () => {
  await useBackend('wasm');
});

type Case = { name: string; make: () => InvertibleModule; shape: number[]; expectNonZeroLogdet?: boolean; scramble?: number };

const rng = () => new MersenneTwister(42);

const cases: Case[] = [
  {
    name: 'ImageNet slow coupling, bottleneck subnet, permutation mixing',
    make: () => new AffineCouplingBlock({ channels: 4, variant: 'imagenet', subnet: { kind: 'bottleneck', planes: 4 } }, rng()),
    shape: [4, 4, 4],
    expectNonZeroLogdet: true,
  },
  {
    name: 'ImageNet slow coupling, 1×1 subnet, orthogonal mixing',
    make: () => new AffineCouplingBlock({ channels: 6, variant: 'imagenet', mixing: 'orthogonal', subnet: { kind: 'conv1x1', width: 8 } }, rng()),
    shape: [3, 3, 6],
    expectNonZeroLogdet: true,
  },
  {
    name: 'IB-INN coupling, basic subnet, rotation then exp-ActNorm',
    make: () => new AffineCouplingBlock({ channels: 4, variant: 'ibinn', subnet: { kind: 'basic', width: 8, reluFirst: true } }, rng()),
    shape: [4, 4, 4],
    expectNonZeroLogdet: true,
  },
  {
    name: 'IB-INN coupling with odd channel count',
    make: () => new AffineCouplingBlock({ channels: 3, variant: 'ibinn', subnet: { kind: 'basic', width: 8 } }, rng()),
    shape: [4, 4, 3],
    expectNonZeroLogdet: true,
  },
  {
    name: 'ImageNet entry downsampling coupling (3 channels, strided + entry-lo subnets)',
    make: () => new DownsampleCouplingBlock({ channels: 3, variant: 'imagenet', subnetHigh: { kind: 'strided', width: 8 }, subnetLow: { kind: 'entry-lo', width: 8 } }, rng()),
    shape: [4, 4, 3],
    expectNonZeroLogdet: true,
  },
  {
    name: 'ImageNet downsampling coupling with bottleneck subnets',
    make: () => new DownsampleCouplingBlock({ channels: 4, variant: 'imagenet', subnetHigh: { kind: 'bottleneck', planes: 4, stride: 2 }, subnetLow: { kind: 'bottleneck', planes: 4 } }, rng()),
    shape: [4, 4, 4],
    expectNonZeroLogdet: true,
  },
  {
    name: 'IB-INN downsampling coupling (no ActNorm, no mixing)',
    make: () => new DownsampleCouplingBlock({ channels: 3, variant: 'ibinn', subnetHigh: { kind: 'strided', width: 8 }, subnetLow: { kind: 'basic', width: 8 } }, rng()),
    shape: [4, 4, 3],
    expectNonZeroLogdet: true,
  },
  { name: 'Haar, orthonormal, channel order 4j+i', make: () => new HaarDownsampling({ rebalance: 1 }), shape: [4, 4, 2] },
  { name: 'Haar, rebalance 0.5, ordered by wavelet', make: () => new HaarDownsampling({ rebalance: 0.5, orderByWavelet: true }), shape: [4, 4, 3], expectNonZeroLogdet: true },
  { name: 'DCT pooling, official unnormalised, exact log-det', make: () => new DctPooling({ size: 3, variant: 'official' }), shape: [3, 3, 2], expectNonZeroLogdet: true },
  { name: 'DCT pooling, orthonormal', make: () => new DctPooling({ size: 4, variant: 'orthonormal' }), shape: [4, 4, 2] },
  { name: 'random permutation of vectors', make: () => new RandomPermutation(20, 0), shape: [20] },
  { name: 'random permutation of a prefix', make: () => new RandomPermutation(20, 3, 8), shape: [20] },
  {
    name: 'fully connected GLOW coupling (atan clamp)',
    make: () => new GlowFcCoupling({ dims: 11, subnet: { kind: 'fc', width: 16 } }, rng()),
    shape: [11],
    expectNonZeroLogdet: true,
  },
  {
    name: 'sequence: Haar → coupling → downsampling → DCT → permutation → GLOW',
    make: () => {
      const r = rng();
      return new InvertibleSequence([
        ['haar', new HaarDownsampling()],
        ['conv', new AffineCouplingBlock({ channels: 4, variant: 'ibinn', subnet: { kind: 'basic', width: 8 } }, r)],
        ['down', new DownsampleCouplingBlock({ channels: 4, variant: 'ibinn', subnetHigh: { kind: 'strided', width: 8 }, subnetLow: { kind: 'basic', width: 8 } }, r)],
        ['dct', new DctPooling({ size: 2 })],
        ['perm', new RandomPermutation(64, 0)],
        ['fc', new GlowFcCoupling({ dims: 64, subnet: { kind: 'fc', width: 32 } }, r)],
      ]);
    },
    shape: [8, 8, 1],
    expectNonZeroLogdet: true,
    scramble: 0.2, // six blocks of scrambled scales compound; keep the chain well conditioned
  },
];

describe('invertible blocks', () => {
  for (const c of cases) {
    describe(c.name, () => {
      it('inverse(forward(x)) reconstructs x (max abs error < 1e-4)', () => {
        const m = c.make();
        expect(reconstructionError(m, c.shape)).toBeLessThan(1e-4);
        m.dispose();
      });
      it('log-det equals log|det J| of the brute-force Jacobian (rel. error < 1e-3)', () => {
        const m = c.make();
        const { exact, reported } = bruteForceLogdet(m, c.shape);
        expect(Number.isFinite(exact)).toBe(true);
        if (c.expectNonZeroLogdet) expect(Math.abs(exact)).toBeGreaterThan(1e-2);
        expect(relativeError(reported, exact)).toBeLessThan(1e-3);
        m.dispose();
      });
      it('stays invertible with exact log-det far from initialisation (scrambled parameters)', () => {
        const m = c.make();
        scrambleParams(m, 5, c.scramble ?? 0.7);
        expect(reconstructionError(m, c.shape)).toBeLessThan(1e-4);
        const { exact, reported } = bruteForceLogdet(m, c.shape);
        expect(relativeError(reported, exact)).toBeLessThan(1e-4);
        m.dispose();
      });
    });
  }

  it('output shapes are declared correctly', () => {
    for (const c of cases) {
      const m = c.make();
      const x = tf.zeros([2, ...c.shape]);
      const { y } = m.forward(x);
      expect(y.shape.slice(1)).toEqual(m.outputShape(c.shape));
      tf.dispose([x, y]);
      m.dispose();
    }
  });

  it('DCT 7×7 official variant: true log-det is −35.6552 per channel, the official constant 49·ln 0.5', () => {
    const exact = new DctPooling({ size: 7, variant: 'official' });
    const official = new DctPooling({ size: 7, variant: 'official', logdet: 'official' });
    expect(exact.exactLogdetPerChannel).toBeCloseTo(-35.6552, 3);
    expect(official.logdetPerChannel).toBeCloseTo(49 * Math.log(0.5), 6);
    // first output entries are the DC terms = 49/8 × channel mean
    const x = tf.randomUniform([1, 7, 7, 3]);
    const { y } = exact.forward(x);
    const means = tf.mean(x, [1, 2]).mul(49 / 8);
    expect(Math.max(...tf.abs(tf.sub(y.slice([0, 0], [1, 3]), means)).dataSync())).toBeLessThan(1e-5);
  });

  it('split and concatenation are inverse', () => {
    const s = new Split1D([3, 5]);
    const x = tf.randomNormal([2, 8]);
    const parts = s.forward(x);
    expect(parts.map((p) => p.shape)).toEqual([[2, 3], [2, 5]]);
    expect(tf.max(tf.abs(tf.sub(s.inverse(parts), x))).dataSync()[0]).toBe(0);
    expect(() => s.forward(tf.zeros([2, 7]))).toThrow(/expects 8 values/);
  });
});

describe('coupling block parametrisation (official initial values)', () => {
  const zeroSubnetOutput = (m: InvertibleModule) => {
    // zero the last layer of the subnet: log-scale and shift vanish, only ActNorm acts
    const last = m.namedParams().filter((p) => p.name.startsWith('s.') && p.trainable).slice(-2);
    for (const p of last) p.variable.assign(tf.zerosLike(p.variable));
  };

  it('ImageNet block: ActNorm scale 0.2·ln(1 + e^{γ₀/2}) = 0.70595 for act_norm 0.7, applied before the permutation', () => {
    const m = new AffineCouplingBlock({ channels: 4, variant: 'imagenet', subnet: { kind: 'conv1x1', width: 8 } }, new MersenneTwister(1));
    zeroSubnetOutput(m);
    const x = tf.randomNormal([2, 3, 3, 4]);
    const { y, logdet } = m.forward(x);
    expect(logdet.dataSync()[0]).toBeCloseTo(9 * 4 * Math.log(0.2 * Math.log(1 + Math.exp(3.5))), 4);
    // y is a channel permutation of 0.70595·x
    const sortedY = Array.from(y.dataSync()).map(Math.abs).sort();
    const sortedX = Array.from(x.mul(0.705949).dataSync()).map(Math.abs).sort();
    for (let i = 0; i < sortedX.length; i++) expect(sortedY[i]).toBeCloseTo(sortedX[i], 4);
  });

  it('IB-INN block: exp-ActNorm with initial scale act_norm (0.8), after a rotation', () => {
    const m = new AffineCouplingBlock({ channels: 4, variant: 'ibinn', subnet: { kind: 'basic', width: 8 } }, new MersenneTwister(1));
    zeroSubnetOutput(m);
    const x = tf.randomNormal([2, 3, 3, 4]);
    const { y, logdet } = m.forward(x);
    expect(logdet.dataSync()[0]).toBeCloseTo(9 * 4 * Math.log(0.8), 4);
    // a rotation preserves the norm of every pixel's channel vector
    const nx = tf.norm(x.reshape([-1, 4]), 'euclidean', 1).mul(0.8).dataSync();
    const ny = tf.norm(y.reshape([-1, 4]), 'euclidean', 1).dataSync();
    for (let i = 0; i < nx.length; i++) expect(ny[i]).toBeCloseTo(nx[i], 4);
  });
});

describe('batch norm in training mode', () => {
  it('forward and gradients (x, γ, β) equal autodiff through mean and variance', async () => {
    const { BatchNorm } = await import('../src/inn/layers.js');
    const { RunContext } = await import('../src/inn/module.js');
    const bn = new BatchNorm(5, { eps: 1e-4 });
    bn.gamma.assign(tf.tensor1d([1.5, -0.5, 2, 0.7, 1]));
    bn.beta.assign(tf.tensor1d([0.1, 0.2, -0.3, 0, 1]));
    const x = tf.tensor4d(randomArray(3 * 4 * 2 * 5, 41).map((v, i) => v * (1 + (i % 5)) + (i % 5)), [3, 4, 2, 5]);
    const w = tf.tensor4d(randomArray(3 * 4 * 2 * 5, 42), [3, 4, 2, 5]);
    const reference = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, [0, 1, 2]);
      return tf.sum(tf.mul(tf.add(tf.mul(tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, 1e-4))), g), b), w));
    };
    // gradients through the fused op, via variableGrads on the layer's own variables
    const { value, grads } = tf.variableGrads(() => {
      const y = bn.apply(x, new RunContext(true, false));
      return tf.sum(tf.mul(y, w)) as tf.Scalar;
    }, [bn.gamma, bn.beta]);
    const gx = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(bn.apply(xx, new RunContext(true, false)), w)))(x);
    const [rx, rg, rb] = tf.grads(reference)([x, bn.gamma, bn.beta]);
    expect(Math.abs(value.dataSync()[0] - reference(x, bn.gamma, bn.beta).dataSync()[0])).toBeLessThan(1e-3);
    expect(maxAbsDiff(gx.dataSync(), rx.dataSync())).toBeLessThan(1e-4);
    expect(maxAbsDiff(grads[bn.gamma.name].dataSync(), rg.dataSync())).toBeLessThan(1e-4);
    expect(maxAbsDiff(grads[bn.beta.name].dataSync(), rb.dataSync())).toBeLessThan(1e-4);
  });
});
