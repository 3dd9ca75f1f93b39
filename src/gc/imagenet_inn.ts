/**
 * The ImageNet INN of the paper as the official code builds it (ARCHITECTURE.md), parametrised by
 * widths and block counts so that a reduced model of the same structure can be checked against
 * PyTorch:
 *
 *   1  entry downsampling coupling (3×3 subnets)          3 → 12 channels, H/2
 *   2  Haar (rebalance 0.5, wavelet-ordered channels)      → 48, H/4
 *   3  coupling with a 1×1-conv subnet
 *   …  stages of bottleneck couplings; stages 2+ open with a downsampling coupling (C → 4C, H/2)
 *   DCT pooling (official scaling) → permutation (numpy seed 0) of the first C (DC) entries
 *
 * Nodes are named by their index in the official FrEIA node list, so parameter names read
 * `inn.<index>.<official name>` and checkpoint keys `module_list.<index>.<…>` map one to one.
 */
import { AffineCouplingBlock } from '../inn/coupling.js';
import { DownsampleCouplingBlock } from '../inn/downsample_coupling.js';
import { HaarDownsampling } from '../inn/haar.js';
import { DctPooling } from '../inn/dct.js';
import { RandomPermutation } from '../inn/permute.js';
import { InvertibleSequence } from '../inn/sequence.js';
import type { InputSpec } from './presets.js';
import { MersenneTwister } from '../util/rng.js';

export interface ImagenetStage {
  blocks: number;
  /** bottleneck width ("planes"); the expansion is 4·planes */
  planes: number;
}

export interface ImagenetLayout {
  input: InputSpec;
  /** width of the entry block's 3×3 subnets */
  entryWidth: number;
  stages: ImagenetStage[];
  /** rank K of the low-rank class means */
  lowRankK: number;
  /** mean-pooled (DC) latent dims = channels of the last stage; class means are free there */
  readonly meanDims: number;
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

function layout(input: InputSpec, entryWidth: number, stages: ImagenetStage[], lowRankK: number): ImagenetLayout {
  // 3 → 12 (entry) → 48 (Haar), ×4 per further downsampling stage
  const meanDims = 48 * 4 ** (stages.length - 1);
  return { input, entryWidth, stages, lowRankK, meanDims };
}

export const IMAGENET_LAYOUTS = {
  /** The paper's model: stages 3/4/6/3, planes 64–512, 224×224 inputs, K = 128. */
  'imagenet-resnet50-inn': layout(
    { height: 224, width: 224, channels: 3, mean: IMAGENET_MEAN, std: IMAGENET_STD },
    64,
    [
      { blocks: 3, planes: 64 },
      { blocks: 4, planes: 128 },
      { blocks: 6, planes: 256 },
      { blocks: 3, planes: 512 },
    ],
    128,
  ),
  /** Same structure at 32×32 with two stages and small widths (tests, PyTorch cross-check). */
  'imagenet-mini': layout(
    { height: 32, width: 32, channels: 3, mean: IMAGENET_MEAN, std: IMAGENET_STD },
    8,
    [
      { blocks: 1, planes: 4 },
      { blocks: 2, planes: 8 },
    ],
    8,
  ),
} as const;

export type ImagenetArchName = keyof typeof IMAGENET_LAYOUTS;

export interface ImagenetBuildOptions {
  dctLogdet: 'exact' | 'official';
  mixingStorage: 'dense' | 'indices';
}

/** Official FrEIA node index of the DCT node: after input, the backbone nodes and out_fc. */
export function imagenetNodeIndices(l: ImagenetLayout): { backbone: number; dct: number; perm: number } {
  const backbone = 3 + l.stages.reduce((n, s) => n + s.blocks, 0);
  return { backbone, dct: backbone + 2, perm: backbone + 4 };
}

export function buildImagenetInn(l: ImagenetLayout, opts: ImagenetBuildOptions, rng: MersenneTwister): InvertibleSequence {
  const seq = new InvertibleSequence();
  const common = { variant: 'imagenet' as const, mixing: 'permutation' as const, mixingStorage: opts.mixingStorage };
  let [h, , c] = [l.input.height, l.input.width, l.input.channels];
  let node = 1;
  const add = (module: Parameters<InvertibleSequence['add']>[1]) => seq.add(String(node++), module);

  add(new DownsampleCouplingBlock({ ...common, channels: c, subnetHigh: { kind: 'strided', width: l.entryWidth }, subnetLow: { kind: 'entry-lo', width: l.entryWidth } }, rng));
  [h, c] = [h / 2, 4 * c];
  add(new HaarDownsampling({ rebalance: 0.5, orderByWavelet: true }));
  [h, c] = [h / 2, 4 * c];
  add(new AffineCouplingBlock({ ...common, channels: c, subnet: { kind: 'conv1x1', width: c } }, rng));
  l.stages.forEach((stage, i) => {
    for (let b = 0; b < stage.blocks; b++) {
      if (i > 0 && b === 0) {
        const subnetHigh = { kind: 'bottleneck' as const, planes: stage.planes, stride: 2 };
        const subnetLow = { kind: 'bottleneck' as const, planes: stage.planes };
        add(new DownsampleCouplingBlock({ ...common, channels: c, subnetHigh, subnetLow }, rng));
        [h, c] = [h / 2, 4 * c];
      } else {
        add(new AffineCouplingBlock({ ...common, channels: c, subnet: { kind: 'bottleneck', planes: stage.planes } }, rng));
      }
    }
  });
  if (c !== l.meanDims) throw new Error(`ImageNet layout: last stage has ${c} channels, expected ${l.meanDims}`);
  const { dct, perm } = imagenetNodeIndices(l);
  seq.add(String(dct), new DctPooling({ size: h, variant: 'official', rebalance: 0.5, logdet: opts.dctLogdet }));
  const dims = l.input.height * l.input.width * l.input.channels;
  seq.add(String(perm), new RandomPermutation(dims, 0, l.meanDims));
  return seq;
}
