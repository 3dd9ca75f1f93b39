/**
 * Chain of invertible modules: forward composes them and sums their log-dets (chain rule);
 * inverse runs them backwards. Children are named, so parameters get paths like "CONV_1_3.s.2.weight".
 */
import * as tf from '@tensorflow/tfjs-core';
import { EVAL, InvertibleModule, RunContext } from './module.js';
import { addMacs } from './module.js';
import type { FlowResult, MacCount } from './module.js';

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

  override macs(inputShape: number[]): MacCount {
    let shape = inputShape;
    let total: MacCount = { learned: 0, fixed: 0 };
    for (const { module } of this.nodes) {
      total = addMacs(total, module.macs(shape));
      shape = module.outputShape(shape);
    }
    return total;
  }

  forward(x: tf.Tensor, ctx: RunContext = EVAL): FlowResult {
    let y = x;
    let logdet = tf.zeros([x.shape[0]]) as tf.Tensor1D;
    for (const { module } of this.nodes) {
      const step = (): [tf.Tensor, tf.Tensor1D] => {
        const r = module.forward(y, ctx);
        return [r.y, tf.add(logdet, r.logdet) as tf.Tensor1D];
      };
      // Without training nothing needs a node's intermediates: free them node by node (the
      // ImageNet model would otherwise hold every activation of the pass at once).
      [y, logdet] = ctx.training ? step() : this.freeing([y, logdet], x, step);
    }
    return { y, logdet };
  }

  inverse(y: tf.Tensor, ctx: RunContext = EVAL): tf.Tensor {
    let x = y;
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const step = () => this.nodes[i].module.inverse(x, ctx);
      x = ctx.training ? step() : this.freeing([x], y, step);
    }
    return x;
  }

  /** Runs `step` in a tidy scope and disposes its inputs, except the caller's own tensor. */
  private freeing<T extends tf.TensorContainer>(inputs: tf.Tensor[], callerOwned: tf.Tensor, step: () => T): T {
    const out = tf.tidy(step);
    for (const t of inputs) if (t !== callerOwned) t.dispose();
    return out;
  }

  override dispose(): void {
    for (const { module } of this.nodes) module.dispose();
  }
}
