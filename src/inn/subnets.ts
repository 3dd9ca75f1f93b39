/**
 * Subnetwork builders: the networks inside coupling blocks that predict scale and shift.
 * Layer indices match the official PyTorch nn.Sequential indices (ReLU/Dropout count), so names
 * like "s.11.bias" line up with checkpoints.
 */
import { BatchNorm, Conv2d, Dropout, Layer, Linear, ReLU, Sequential } from './layers.js';
import type { BatchNormOptions } from './layers.js';
import { MersenneTwister } from '../util/rng.js';

/** 'ibinn': IB-INN repo conventions (PyTorch-default uniform biases, BN eps 1e-4 / momentum 0.999);
 *  'imagenet': ImageNet repo conventions (zero biases, BN eps 1e-5 / momentum 0.05). */
export type InitStyle = 'ibinn' | 'imagenet';

export type SubnetSpec =
  /** 3×3 → 3×3 → 1×1 (IB-INN "basic"), optional leading ReLU and Dropout2d before the projection */
  | { kind: 'basic'; width: number; dropout?: number; reluFirst?: boolean }
  /** 3×3 → 3×3 stride 2 → 1×1 (IB-INN "strided", ImageNet entry s_hi) */
  | { kind: 'strided'; width: number }
  /** 3×3 → 1×1 without bias (ImageNet entry s_lo) */
  | { kind: 'entry-lo'; width: number }
  /** pre-activation bottleneck BN-ReLU-1×1-BN-ReLU-3×3(stride)-BN-ReLU-1×1(4w)-BN-ReLU-1×1 (ImageNet) */
  | { kind: 'bottleneck'; planes: number; stride?: number }
  /** 1×1 → ReLU → 1×1 (ImageNet node 3) */
  | { kind: 'conv1x1'; width: number }
  /** Linear → ReLU → Dropout → Linear (IB-INN fully connected block) */
  | { kind: 'fc'; width: number; dropout?: number };

function bnOptions(style: InitStyle): BatchNormOptions {
  return style === 'ibinn' ? { eps: 1e-4, momentum: 0.999 } : { eps: 1e-5, momentum: 0.05 };
}

/** Spatial stride of a subnet (output resolution = input / stride). */
export function subnetStride(spec: SubnetSpec): number {
  if (spec.kind === 'strided') return 2;
  if (spec.kind === 'bottleneck') return spec.stride ?? 1;
  return 1;
}

export function buildSubnet(spec: SubnetSpec, cin: number, cout: number, style: InitStyle, rng: MersenneTwister): Layer {
  const bn = (c: number) => new BatchNorm(c, bnOptions(style));
  const biasInit = style === 'ibinn' ? 'torch-uniform' : 'zero';
  const conv = (a: number, b: number, kernel: number, stride = 1, bias = false) =>
    new Conv2d(a, b, { kernel, stride, bias, biasInit }, rng);
  switch (spec.kind) {
    case 'basic': {
      const w = spec.width;
      const layers: Layer[] = spec.reluFirst ? [new ReLU()] : [];
      layers.push(conv(cin, w, 3), bn(w), new ReLU(), conv(w, w, 3), bn(w), new ReLU());
      if (spec.dropout) layers.push(new Dropout(spec.dropout, true));
      layers.push(conv(w, cout, 1, 1, true));
      return new Sequential(layers);
    }
    case 'strided': {
      const w = spec.width;
      return new Sequential([conv(cin, w, 3), bn(w), new ReLU(), conv(w, w, 3, 2), bn(w), new ReLU(), conv(w, cout, 1, 1, true)]);
    }
    case 'entry-lo': {
      const w = spec.width;
      return new Sequential([conv(cin, w, 3), bn(w), new ReLU(), conv(w, cout, 1, 1, false)]);
    }
    case 'bottleneck': {
      const p = spec.planes;
      return new Sequential([
        bn(cin), new ReLU(), conv(cin, p, 1),
        bn(p), new ReLU(), conv(p, p, 3, spec.stride ?? 1),
        bn(p), new ReLU(), conv(p, 4 * p, 1),
        bn(4 * p), new ReLU(), conv(4 * p, cout, 1, 1, true),
      ]);
    }
    case 'conv1x1':
      return new Sequential([conv(cin, spec.width, 1, 1, true), new ReLU(), conv(spec.width, cout, 1, 1, true)]);
    case 'fc': {
      const opts = { weightScale: style === 'ibinn' ? 0.1 : 1, biasInit: biasInit as 'zero' | 'torch-uniform' };
      return new Sequential([
        new Linear(cin, spec.width, opts, rng),
        new ReLU(),
        new Dropout(spec.dropout ?? 0),
        new Linear(spec.width, cout, opts, rng),
      ]);
    }
  }
}
