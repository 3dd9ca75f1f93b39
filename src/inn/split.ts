/**
 * Split of a flat vector into consecutive sections (FrEIA Split1D), e.g. the ImageNet latent
 * into z_fc (3072 DC terms) and z_conv (the rest). Volume-preserving; the inverse concatenates.
 */
import * as tf from '@tensorflow/tfjs-core';

export class Split1D {
  constructor(readonly sections: number[]) {}

  forward(x: tf.Tensor): tf.Tensor[] {
    const total = this.sections.reduce((a, b) => a + b, 0);
    if (x.shape[1] !== total) throw new Error(`split expects ${total} values per sample, got ${x.shape[1]}`);
    return tf.split(x, this.sections, 1);
  }

  inverse(parts: tf.Tensor[]): tf.Tensor {
    if (parts.length !== this.sections.length) throw new Error(`split inverse needs ${this.sections.length} parts, got ${parts.length}`);
    parts.forEach((p, i) => {
      if (p.shape[1] !== this.sections[i]) throw new Error(`split part ${i}: expected ${this.sections[i]} values, got ${p.shape[1]}`);
    });
    return tf.concat(parts, 1);
  }
}
