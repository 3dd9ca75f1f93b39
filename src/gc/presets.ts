/**
 * Model configurations (serialisable, stored next to every checkpoint) and the architectures
 * they name.
 *
 * - 'ibinn-mnist':   the IB-INN MNIST model of the official code, block for block
 *                    (IBINN_SMALL.md §2.1): 3 770 634 parameters.
 * - 'ibinn-cifar10': the IB-INN CIFAR-10 model (§2.2): 11 193 154 parameters.
 * - 'tiny-mnist', 'tiny-rgb32': small fast variants with the same block types, for tests and demos.
 */
import { AffineCouplingBlock } from '../inn/coupling.js';
import { DownsampleCouplingBlock } from '../inn/downsample_coupling.js';
import { HaarDownsampling } from '../inn/haar.js';
import { DctPooling } from '../inn/dct.js';
import { RandomPermutation } from '../inn/permute.js';
import { GlowFcCoupling } from '../inn/glow_fc.js';
import { InvertibleSequence } from '../inn/sequence.js';
import type { LossFormulation } from './ib_loss.js';
import { MersenneTwister } from '../util/rng.js';

export interface InputSpec {
  height: number;
  width: number;
  channels: number;
  /** per-channel normalisation: x_model = (x − mean) / std, x in [0, 1] */
  mean: number[];
  std: number[];
}

export interface ModelConfig {
  format: 'trustgc-model';
  version: 1;
  arch: ArchName;
  classNames: string[];
  input: InputSpec;
  head: { muInit: number; learnClassWeights: boolean; lowRank?: { meanDims: number; k: number; init: number } };
  loss: { formulation: LossFormulation; labelSmoothing: number };
  /** DCT pooling log-det: the exact value, or the official code's constant (for comparable bits/dim) */
  dctLogdet: 'exact' | 'official';
  /** seeds weights, fixed rotations; the latent permutation always uses numpy seed 0 as official */
  seed: number;
}

export const ARCH_NAMES = ['ibinn-mnist', 'ibinn-cifar10', 'tiny-mnist', 'tiny-rgb32'] as const;
export type ArchName = (typeof ARCH_NAMES)[number];

const MNIST_INPUT: InputSpec = { height: 28, width: 28, channels: 1, mean: [0.5], std: [0.5] };
const CIFAR_INPUT: InputSpec = {
  height: 32,
  width: 32,
  channels: 3,
  mean: [0.4914, 0.4822, 0.4465],
  std: [0.247, 0.243, 0.261],
};

/**
 * Largest chunk of images whose activations fit the wasm backend's 4 GB heap during training
 * (ibinn-mnist at 128 images per pass does not). Batches larger than this accumulate gradients.
 */
export const TRAINING_CHUNK: Record<ArchName, number> = {
  'ibinn-mnist': 32,
  'ibinn-cifar10': 16,
  'tiny-mnist': 256,
  'tiny-rgb32': 128,
};

export function isArchName(name: string): name is ArchName {
  return (ARCH_NAMES as readonly string[]).includes(name);
}

/** Default configuration of an architecture for a class list. */
export function defaultConfig(arch: ArchName, classNames: string[], seed = 0): ModelConfig {
  const gray = arch === 'ibinn-mnist' || arch === 'tiny-mnist';
  return {
    format: 'trustgc-model',
    version: 1,
    arch,
    classNames,
    input: gray ? MNIST_INPUT : CIFAR_INPUT,
    head: { muInit: 5.0, learnClassWeights: true },
    loss: { formulation: 'ibinn', labelSmoothing: gray ? 0.01 : 0.02 },
    dctLogdet: 'exact',
    seed,
  };
}

interface StageSpec {
  blocks: number;
  width: number;
  dropout: number;
  /** leading ReLU in the first block's subnet (IB-INN: every stage but the first) */
  firstReluFirst: boolean;
}

/** IB-INN layout: [Haar] → stages of AIO blocks separated by downsampling couplings → DCT → permutation → GLOW. */
function ibinnNetwork(opts: {
  input: InputSpec;
  haar: boolean;
  stages: StageSpec[];
  fcWidth: number;
  fcDropout: number;
  actNormInit: number;
  dctLogdet: 'exact' | 'official';
  rng: MersenneTwister;
}): InvertibleSequence {
  const { rng } = opts;
  const seq = new InvertibleSequence();
  let shape = [opts.input.height, opts.input.width, opts.input.channels];
  if (opts.haar) {
    seq.add('HAAR', new HaarDownsampling({ rebalance: 1 }));
    shape = seq.outputShape([opts.input.height, opts.input.width, opts.input.channels]);
  }
  // official node names: the MNIST model numbers its stages from 1 (Haar replaces stage 0)
  const offset = opts.haar ? 1 : 0;
  opts.stages.forEach((stage, i) => {
    for (let b = 0; b < stage.blocks; b++) {
      const reluFirst = b > 0 || stage.firstReluFirst;
      const subnet = { kind: 'basic' as const, width: stage.width, dropout: stage.dropout, reluFirst };
      seq.add(`CONV_${i + offset}_${b}`, new AffineCouplingBlock({ channels: shape[2], variant: 'ibinn', subnet, actNormInit: opts.actNormInit }, rng));
    }
    if (i < opts.stages.length - 1) {
      const w = 2 * stage.width;
      seq.add(
        `DOWN_${i + offset}`,
        new DownsampleCouplingBlock(
          { channels: shape[2], variant: 'ibinn', subnetHigh: { kind: 'strided', width: w }, subnetLow: { kind: 'basic', width: w, dropout: stage.dropout } },
          rng,
        ),
      );
      shape = [shape[0] / 2, shape[1] / 2, shape[2] * 4];
    }
  });
  if (shape[0] !== shape[1]) throw new Error(`DCT pooling needs square maps, got ${shape[0]}×${shape[1]}`);
  seq.add('DCT', new DctPooling({ size: shape[0], variant: 'official', rebalance: 0.5, logdet: opts.dctLogdet }));
  const dims = shape[0] * shape[1] * shape[2];
  seq.add('PERM_FC_0', new RandomPermutation(dims, 0));
  seq.add('FC_0', new GlowFcCoupling({ dims, subnet: { kind: 'fc', width: opts.fcWidth, dropout: opts.fcDropout }, clamp: 2.0, init: 'ibinn' }, rng));
  return seq;
}

export function buildArchitecture(config: ModelConfig, rng: MersenneTwister): InvertibleSequence {
  const common = { input: config.input, dctLogdet: config.dctLogdet, rng };
  const expectInput = (h: number, c: number) => {
    const i = config.input;
    if (i.height !== h || i.width !== h || i.channels !== c) {
      throw new Error(`architecture ${config.arch} needs ${h}×${h}×${c} inputs, config says ${i.height}×${i.width}×${i.channels}`);
    }
  };
  switch (config.arch) {
    case 'ibinn-mnist':
      expectInput(28, 1);
      // Stage 0 of the CIFAR layout is replaced by the Haar transform (mnist_full_model.ini).
      return ibinnNetwork({
        ...common,
        haar: true,
        stages: [
          { blocks: 24, width: 32, dropout: 0, firstReluFirst: true },
          { blocks: 24, width: 64, dropout: 0.25, firstReluFirst: true },
        ],
        fcWidth: 1024,
        fcDropout: 0.5,
        actNormInit: 0.8,
      });
    case 'ibinn-cifar10':
      expectInput(32, 3);
      return ibinnNetwork({
        ...common,
        haar: false,
        stages: [
          { blocks: 8, width: 16, dropout: 0, firstReluFirst: false },
          { blocks: 24, width: 32, dropout: 0, firstReluFirst: true },
          { blocks: 24, width: 64, dropout: 0.25, firstReluFirst: true },
        ],
        fcWidth: 1024,
        fcDropout: 0.5,
        actNormInit: 0.75,
      });
    case 'tiny-mnist':
      expectInput(28, 1);
      return ibinnNetwork({
        ...common,
        haar: true,
        stages: [
          { blocks: 4, width: 16, dropout: 0, firstReluFirst: true },
          { blocks: 4, width: 32, dropout: 0, firstReluFirst: true },
        ],
        fcWidth: 256,
        fcDropout: 0.2,
        actNormInit: 0.8,
      });
    case 'tiny-rgb32':
      expectInput(32, 3);
      return ibinnNetwork({
        ...common,
        haar: false,
        stages: [
          { blocks: 2, width: 16, dropout: 0, firstReluFirst: false },
          { blocks: 3, width: 32, dropout: 0, firstReluFirst: true },
          { blocks: 3, width: 48, dropout: 0, firstReluFirst: true },
        ],
        fcWidth: 256,
        fcDropout: 0.2,
        actNormInit: 0.75,
      });
  }
}
