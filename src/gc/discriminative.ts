/**
 * The feed-forward baseline the paper compares against: a standard discriminative classifier (DC),
 * here a pre-activation ResNet (He et al. 2016): a stride-2 3×3 stem, three stages of two basic
 * blocks (widths w/2w/4w, stages 2 and 3 halve the resolution), global average pooling and a linear
 * layer, trained with label-smoothed cross entropy.
 * Its width is chosen per data-set preset so that it is about as large as the GC it is compared
 * with. It has no likelihood: its L_X, log p(x) and bits/dim are NaN.
 */
import * as tf from '@tensorflow/tfjs-core';
import { EVAL, Module, RunContext } from '../inn/module.js';
import { BatchNorm, Conv2d, Layer, Linear } from '../inn/layers.js';
import type { ModelConfig } from './presets.js';
import { ClassifierBase } from './classifier.js';
import type { Classifier } from './classifier.js';
import { checkImageBatch } from './model.js';
import type { Inference } from './model.js';
import { smoothedTargets, perSampleLy } from './ib_loss.js';
import type { IbLossTerms } from './ib_loss.js';
import { MersenneTwister } from '../util/rng.js';

const BN = { eps: 1e-5, momentum: 0.1 };

/** Pre-activation basic block: BN-ReLU-conv3×3(stride)-BN-ReLU-conv3×3, plus a (projected) shortcut. */
class ResidualBlock extends Layer {
  private readonly bn1: BatchNorm;
  private readonly conv1: Conv2d;
  private readonly bn2: BatchNorm;
  private readonly conv2: Conv2d;
  private readonly shortcut?: Conv2d;

  constructor(cin: number, cout: number, stride: number, rng: MersenneTwister) {
    super();
    this.bn1 = this.child('bn1', new BatchNorm(cin, BN));
    this.conv1 = this.child('conv1', new Conv2d(cin, cout, { kernel: 3, stride }, rng));
    this.bn2 = this.child('bn2', new BatchNorm(cout, BN));
    this.conv2 = this.child('conv2', new Conv2d(cout, cout, { kernel: 3 }, rng));
    if (stride !== 1 || cin !== cout) this.shortcut = this.child('shortcut', new Conv2d(cin, cout, { kernel: 1, stride }, rng));
  }

  apply(x: tf.Tensor, ctx: RunContext = EVAL): tf.Tensor {
    const pre = tf.relu(this.bn1.apply(x, ctx));
    const h = this.conv2.apply(tf.relu(this.bn2.apply(this.conv1.apply(pre), ctx)));
    return tf.add(h, this.shortcut ? this.shortcut.apply(pre) : x);
  }

  override cost(shape: number[]): { shape: number[]; macs: number } {
    const a = this.conv1.cost(shape);
    const b = this.conv2.cost(a.shape);
    return { shape: b.shape, macs: a.macs + b.macs + (this.shortcut ? this.shortcut.cost(shape).macs : 0) };
  }
}

/** DC widths per data-set preset (parameter counts in the README). */
export const DC_WIDTH: Record<string, number> = {
  'tiny-mnist': 32,
  'small-mnist': 48,
  'ibinn-mnist': 74,
  'tiny-rgb32': 32,
  'small-rgb32': 48,
  'ibinn-cifar10': 128,
};

class ResNetFeatures extends Module {
  readonly stem: Conv2d;
  readonly blocks: ResidualBlock[];
  readonly bnOut: BatchNorm;
  readonly features: number;

  constructor(channels: number, width: number, rng: MersenneTwister) {
    super();
    // stride-2 stem: the GCs also work at half resolution after their first block, and this keeps
    // the DC's compute near theirs (MNIST: 22 M vs 6 M MACs for tiny-mnist, 118 M vs 104 M for ibinn-mnist)
    this.stem = this.child('stem', new Conv2d(channels, width, { kernel: 3, stride: 2 }, rng));
    const plan: Array<[number, number, number]> = [
      [width, width, 1], [width, width, 1],
      [width, 2 * width, 2], [2 * width, 2 * width, 1],
      [2 * width, 4 * width, 2], [4 * width, 4 * width, 1],
    ];
    this.blocks = plan.map(([a, b, s], i) => this.child(`block${i}`, new ResidualBlock(a, b, s, rng)));
    this.bnOut = this.child('bn_out', new BatchNorm(4 * width, BN));
    this.features = 4 * width;
  }

  apply(x: tf.Tensor, ctx: RunContext): tf.Tensor2D {
    let h = this.stem.apply(x);
    for (const b of this.blocks) h = b.apply(h, ctx);
    return tf.mean(tf.relu(this.bnOut.apply(h, ctx)), [1, 2]) as tf.Tensor2D; // global average pooling
  }

  macs(shape: number[]): number {
    let c = this.stem.cost(shape);
    let macs = c.macs;
    for (const b of this.blocks) {
      c = b.cost(c.shape);
      macs += c.macs;
    }
    return macs;
  }
}

export class DiscriminativeClassifier extends ClassifierBase implements Classifier {
  readonly kind = 'dc' as const;
  readonly net: ResNetFeatures;
  readonly fc: Linear;
  constructor(config: ModelConfig) {
    super(config);
    const width = DC_WIDTH[config.arch];
    if (!width) throw new Error(`no discriminative baseline is defined for ${config.arch} (have: ${Object.keys(DC_WIDTH).join(', ')})`);
    const rng = new MersenneTwister(config.seed);
    this.net = new ResNetFeatures(config.input.channels, width, rng);
    this.fc = new Linear(this.net.features, config.classNames.length, { biasInit: 'zero' }, rng);
  }

  /** parameters are named "net.…" and "fc.…" */
  protected parts(): [[string, Module], [string, Module]] {
    return [['net', this.net], ['fc', this.fc]];
  }

  macs(): { learned: number; fixed: number; head: number } {
    const { height, width, channels } = this.config.input;
    return { learned: this.net.macs([height, width, channels]), fixed: 0, head: this.net.features * this.classes };
  }

  batchNorms(): BatchNorm[] {
    return [...this.net.modules()].filter((m): m is BatchNorm => m instanceof BatchNorm);
  }

  /** Penultimate features (pooled, before the classifier layer), [B, F]. */
  features(x01: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => this.net.apply(this.normalize(x01), EVAL) as tf.Tensor2D);
  }

  logits(x01: tf.Tensor, ctx: RunContext = EVAL): tf.Tensor2D {
    return this.fc.apply(this.net.apply(this.normalize(x01), ctx)) as tf.Tensor2D;
  }

  runForward(x01: tf.Tensor, ctx: RunContext): void {
    this.logits(x01, ctx);
  }

  lossTerms(x01: tf.Tensor, labels: tf.Tensor1D, opts: { labelSmoothing: number }, ctx: RunContext): IbLossTerms & { accuracy: tf.Scalar } {
    const logits = this.logits(x01, ctx);
    const ly = tf.mean(perSampleLy(logits, smoothedTargets(labels, this.classes, opts.labelSmoothing))) as tf.Scalar;
    const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.cast(labels, 'int32')), 'float32')) as tf.Scalar;
    return { loss: ly, lx: tf.scalar(NaN), ly, accuracy };
  }

  infer(x01: tf.Tensor): Inference {
    checkImageBatch(this.config, x01);
    return tf.tidy(() => {
      const logits = this.logits(x01);
      const b = x01.shape[0];
      const none = tf.fill([b], NaN) as tf.Tensor1D; // no likelihood
      return {
        logits,
        posterior: tf.softmax(logits) as tf.Tensor2D,
        logPxGivenY: tf.fill([b, this.classes], NaN) as tf.Tensor2D,
        logPx: none,
        bitsPerDim: tf.clone(none),
        lx: tf.clone(none),
        prediction: tf.argMax(logits, 1) as tf.Tensor1D,
      };
    });
  }

}
