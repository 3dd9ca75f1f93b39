/**
 * Model configurations (serialisable, stored next to every checkpoint) and the architectures
 * they name.
 *
 * - 'ibinn-mnist':   the IB-INN MNIST model of the official code, block for block
 *                    (IBINN_SMALL.md §2.1): 3 770 634 parameters.
 * - 'ibinn-cifar10': the IB-INN CIFAR-10 model (§2.2): 11 193 154 parameters.
 * - 'tiny-mnist', 'tiny-rgb32': small fast variants with the same block types, for tests and demos.
 * - 'small-mnist': between tiny-mnist and ibinn-mnist (1.5× the blocks, 2× the widths of tiny-mnist),
 *                  for 28×28 sets where tiny-mnist is too small (Fashion-MNIST at β = 1).
 * - 'small-rgb32': tiny-rgb32 with wider, deeper convolutional stages (3 × 48 and 4 × 64 instead of
 *                  3 × 32 and 3 × 48, dropout 0.1 in the last): tiny-rgb32 keeps ~90 % of its weights
 *                  in the dense coupling; this one spends 2.3× the tiny-rgb32 DC's compute, the
 *                  paper's GC-to-ResNet cost ratio (2.2× the FLOPs).
 * - 'imagenet-resnet50-inn': the paper's ImageNet INN (imagenet_inn.ts): 77 486 672 parameters.
 * - 'imagenet-mini': the same structure at 32×32 with small widths (tests, PyTorch cross-check).
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
import { IMAGENET_LAYOUTS, buildImagenetInn } from './imagenet_inn.js';
import type { ImagenetArchName } from './imagenet_inn.js';

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
  /** ImageNet layouts: hard permutations stored as index vectors (default) or dense matrices */
  mixingStorage?: 'dense' | 'indices';
  /** 'gc' (default): generative classifier; 'dc': the discriminative ResNet baseline for this preset */
  modelType?: 'gc' | 'dc';
  /**
   * 'preset' (default): the architecture's dropout rates; 'off': none. The IB-INN presets put
   * dropout in their subnets while the DC baseline has none, so 'off' compares the two without it.
   */
  dropout?: DropoutMode;
  /** data-set identifiers of the classes (e.g. ImageNet WordNet ids), same order as classNames */
  classIds?: string[];
  /** seeds weights, fixed rotations; the latent permutation always uses numpy seed 0 as official */
  seed: number;
}

export const DROPOUT_MODES = ['preset', 'off'] as const;
export type DropoutMode = (typeof DROPOUT_MODES)[number];
const isDropoutMode = (v: string): v is DropoutMode => (DROPOUT_MODES as readonly string[]).includes(v);

export const ARCH_NAMES = ['ibinn-mnist', 'ibinn-cifar10', 'tiny-mnist', 'small-mnist', 'tiny-rgb32', 'small-rgb32', 'imagenet-resnet50-inn', 'imagenet-mini'] as const;
export type ArchName = (typeof ARCH_NAMES)[number];

const MNIST_INPUT: InputSpec = { height: 28, width: 28, channels: 1, mean: [0.5], std: [0.5] };
const CIFAR_INPUT: InputSpec = {
  height: 32,
  width: 32,
  channels: 3,
  mean: [0.4914, 0.4822, 0.4465],
  std: [0.247, 0.243, 0.261],
};

interface StageSpec {
  blocks: number;
  width: number;
  dropout: number;
  /** leading ReLU in the first block's subnet (IB-INN: every stage but the first) */
  firstReluFirst: boolean;
}

/** Everything that distinguishes one preset from another. */
interface IbinnLayout {
  input: InputSpec;
  /** Haar transform first (MNIST: it replaces stage 0 of the CIFAR layout, mnist_full_model.ini) */
  haar: boolean;
  stages: StageSpec[];
  fcWidth: number;
  fcDropout: number;
  actNormInit: number;
  labelSmoothing: number;
  /**
   * Largest chunk of images whose activations fit the wasm backend's 4 GB heap during training
   * (ibinn-mnist at 128 images per pass does not). Larger batches accumulate gradients.
   */
  trainingChunk: number;
}

const stageOf = (blocks: number, width: number, dropout: number, firstReluFirst = true): StageSpec => ({ blocks, width, dropout, firstReluFirst });

type IbinnArchName = Exclude<ArchName, ImagenetArchName>;

export function isImagenetArch(arch: ArchName): arch is ImagenetArchName {
  return arch in IMAGENET_LAYOUTS;
}

const LAYOUTS: Record<IbinnArchName, IbinnLayout> = {
  'ibinn-mnist': {
    input: MNIST_INPUT,
    haar: true,
    stages: [stageOf(24, 32, 0), stageOf(24, 64, 0.25)],
    fcWidth: 1024,
    fcDropout: 0.5,
    actNormInit: 0.8,
    labelSmoothing: 0.01,
    trainingChunk: 32,
  },
  'ibinn-cifar10': {
    input: CIFAR_INPUT,
    haar: false,
    stages: [stageOf(8, 16, 0, false), stageOf(24, 32, 0), stageOf(24, 64, 0.25)],
    fcWidth: 1024,
    fcDropout: 0.5,
    actNormInit: 0.75,
    labelSmoothing: 0.02,
    trainingChunk: 16,
  },
  'tiny-mnist': {
    input: MNIST_INPUT,
    haar: true,
    stages: [stageOf(4, 16, 0), stageOf(4, 32, 0)],
    fcWidth: 256,
    fcDropout: 0.2,
    actNormInit: 0.8,
    labelSmoothing: 0.01,
    trainingChunk: 256,
  },
  'small-mnist': {
    input: MNIST_INPUT,
    haar: true,
    stages: [stageOf(6, 32, 0), stageOf(6, 64, 0.1)],
    fcWidth: 512,
    fcDropout: 0.3,
    actNormInit: 0.8,
    labelSmoothing: 0.01,
    trainingChunk: 128,
  },
  'small-rgb32': {
    input: CIFAR_INPUT,
    haar: false,
    stages: [stageOf(2, 16, 0, false), stageOf(3, 48, 0), stageOf(4, 64, 0.1)],
    fcWidth: 256,
    fcDropout: 0.2,
    actNormInit: 0.75,
    labelSmoothing: 0.02,
    trainingChunk: 128,
  },
  'tiny-rgb32': {
    input: CIFAR_INPUT,
    haar: false,
    stages: [stageOf(2, 16, 0, false), stageOf(3, 32, 0), stageOf(3, 48, 0)],
    fcWidth: 256,
    fcDropout: 0.2,
    actNormInit: 0.75,
    labelSmoothing: 0.02,
    trainingChunk: 128,
  },
};

/** Default gradient-accumulation chunk of each architecture (see IbinnLayout.trainingChunk). */
export const TRAINING_CHUNK: Record<ArchName, number> = {
  ...(Object.fromEntries(Object.entries(LAYOUTS).map(([a, l]) => [a, l.trainingChunk])) as Record<IbinnArchName, number>),
  'imagenet-resnet50-inn': 4,
  'imagenet-mini': 64,
};

export function isArchName(name: string): name is ArchName {
  return (ARCH_NAMES as readonly string[]).includes(name);
}

/** Default configuration of an architecture for a class list. */
export function defaultConfig(arch: ArchName, classNames: string[], seed = 0, modelType: 'gc' | 'dc' = 'gc'): ModelConfig {
  const config = gcConfig(arch, classNames, seed);
  return modelType === 'dc' ? { ...config, modelType } : config;
}

function gcConfig(arch: ArchName, classNames: string[], seed: number): ModelConfig {
  if (isImagenetArch(arch)) {
    const l = IMAGENET_LAYOUTS[arch];
    // HEAD_AND_LOSS.md: μ init 3.5, low-rank K, μ_conv init 0.01, no class prior, smoothing 0.05
    return {
      format: 'trustgc-model',
      version: 1,
      arch,
      classNames,
      input: l.input,
      head: { muInit: 3.5, learnClassWeights: false, lowRank: { meanDims: l.meanDims, k: l.lowRankK, init: 0.01 } },
      loss: { formulation: 'imagenet', labelSmoothing: 0.05 },
      dctLogdet: 'official',
      mixingStorage: 'indices',
      seed,
    };
  }
  const layout = LAYOUTS[arch];
  return {
    format: 'trustgc-model',
    version: 1,
    arch,
    classNames,
    input: layout.input,
    head: { muInit: 5.0, learnClassWeights: true },
    loss: { formulation: 'ibinn', labelSmoothing: layout.labelSmoothing },
    dctLogdet: 'exact',
    seed,
  };
}

/** The layout with every subnet's dropout rate set to 0 (config.dropout 'off'); weights are unchanged. */
function withoutDropout(layout: IbinnLayout): IbinnLayout {
  return { ...layout, stages: layout.stages.map((s) => ({ ...s, dropout: 0 })), fcDropout: 0 };
}

/** IB-INN layout: [Haar] → stages of AIO blocks separated by downsampling couplings → DCT → permutation → GLOW. */
function ibinnNetwork(layout: IbinnLayout, dctLogdet: 'exact' | 'official', rng: MersenneTwister): InvertibleSequence {
  const seq = new InvertibleSequence();
  let shape = [layout.input.height, layout.input.width, layout.input.channels];
  if (layout.haar) {
    seq.add('HAAR', new HaarDownsampling({ rebalance: 1 }));
    shape = seq.outputShape([layout.input.height, layout.input.width, layout.input.channels]);
  }
  // official node names: the MNIST model numbers its stages from 1 (Haar replaces stage 0)
  const offset = layout.haar ? 1 : 0;
  layout.stages.forEach((stage, i) => {
    for (let b = 0; b < stage.blocks; b++) {
      const reluFirst = b > 0 || stage.firstReluFirst;
      const subnet = { kind: 'basic' as const, width: stage.width, dropout: stage.dropout, reluFirst };
      seq.add(`CONV_${i + offset}_${b}`, new AffineCouplingBlock({ channels: shape[2], variant: 'ibinn', subnet, actNormInit: layout.actNormInit }, rng));
    }
    if (i < layout.stages.length - 1) {
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
  seq.add('DCT', new DctPooling({ size: shape[0], variant: 'official', rebalance: 0.5, logdet: dctLogdet }));
  const dims = shape[0] * shape[1] * shape[2];
  seq.add('PERM_FC_0', new RandomPermutation(dims, 0));
  seq.add('FC_0', new GlowFcCoupling({ dims, subnet: { kind: 'fc', width: layout.fcWidth, dropout: layout.fcDropout }, clamp: 2.0, init: 'ibinn' }, rng));
  return seq;
}

export function buildArchitecture(config: ModelConfig, rng: MersenneTwister): InvertibleSequence {
  const arch = config.arch;
  const layout = isImagenetArch(arch) ? IMAGENET_LAYOUTS[arch] : LAYOUTS[arch];
  const [want, got] = [layout.input, config.input];
  if (want.height !== got.height || want.width !== got.width || want.channels !== got.channels) {
    throw new Error(`architecture ${config.arch} needs ${want.height}×${want.width}×${want.channels} inputs, config says ${got.height}×${got.width}×${got.channels}`);
  }
  // the config's normalisation (mean/std) is used as stored; only the geometry is fixed
  if (isImagenetArch(arch)) {
    return buildImagenetInn({ ...IMAGENET_LAYOUTS[arch], input: got }, { dctLogdet: config.dctLogdet, mixingStorage: config.mixingStorage ?? 'indices' }, rng);
  }
  const dropout = config.dropout ?? 'preset';
  if (!isDropoutMode(dropout)) throw new Error(`config.dropout must be ${DROPOUT_MODES.join(' or ')}, got "${dropout}"`);
  const ibinn = { ...LAYOUTS[arch], input: got };
  return ibinnNetwork(dropout === 'off' ? withoutDropout(ibinn) : ibinn, config.dctLogdet, rng);
}
