/**
 * Chain of invertible modules: forward composes them and sums their log-dets (chain rule);
 * inverse runs them backwards. Children are named, so parameters get paths like "CONV_1_3.s.2.weight".
 */
import * as tf from '@tensorflow/tfjs-core';
import { EVAL, InvertibleModule, RunContext } from './module.js';
import type { FlowResult } from './module.js';

export class InvertibleSequence extends InvertibleModule {
  readonly nodes: Array<{ name: string; module: InvertibleModule }> = [];

  constructor(nodes: Array<[string, InvertibleModule]> = []) {
    super();
    for (const [name, module] of nodes) this.add(name, module);
  }

  add(name: string, module: InvertibleModule): this {
    if (this.nodes.some((n) => n.name === name)) throw new Error(`duplicate node name "${name}"`);
    this.nodes.push({ name, module: this.child(name, module) });
    return this;
  }

  outputShape(inputShape: number[]): number[] {
    return this.nodes.reduce((shape, n) => n.module.outputShape(shape), inputShape);
  }

  forward(x: tf.Tensor, ctx: RunContext = EVAL): FlowResult {
    let y = x;
    let logdet = tf.zeros([x.shape[0]]) as tf.Tensor1D;
    for (const { module } of this.nodes) {
      const r = module.forward(y, ctx);
      y = r.y;
      logdet = tf.add(logdet, r.logdet) as tf.Tensor1D;
    }
    return { y, logdet };
  }

  inverse(y: tf.Tensor, ctx: RunContext = EVAL): tf.Tensor {
    let x = y;
    for (let i = this.nodes.length - 1; i >= 0; i--) x = this.nodes[i].module.inverse(x, ctx);
    return x;
  }

  override dispose(): void {
    for (const { module } of this.nodes) module.dispose();
  }
}
