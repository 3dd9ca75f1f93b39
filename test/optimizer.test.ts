import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, tf, useBackend } from './helpers.js';
import { Optimizer } from '../src/train/optimizer.js';
import type { ParamGroup } from '../src/train/optimizer.js';
import type { NamedParam } from '../src/inn/module.js';
import { decodeSafetensors, encodeSafetensors } from '../src/io/safetensors.js';

beforeAll(async () => {
  await useBackend('wasm');
});

const init = { a: [0.5, -1, 2, 0, 1.5, -0.25], b: [1, 2, 3, 4] };
const gradsAt = (step: number) => ({ a: init.a.map((v, i) => Math.sin(step + i) * 0.3), b: init.b.map((v, i) => Math.cos(step * 2 + i)) });

function makeParams(): NamedParam[] {
  return [
    { name: 'a', variable: tf.variable(tf.tensor2d(init.a, [2, 3])), trainable: true },
    { name: 'b', variable: tf.variable(tf.tensor1d(init.b)), trainable: true },
  ] as NamedParam[];
}

function gradMap(step: number): Map<string, tf.Tensor> {
  const g = gradsAt(step);
  return new Map<string, tf.Tensor>([['a', tf.tensor2d(g.a, [2, 3])], ['b', tf.tensor1d(g.b)]]);
}

/** The textbook updates in plain JavaScript (float64), per parameter. */
function reference(kind: 'sgd' | 'adam', steps: number, lr: number, scale: number, wd: number, momentum: number) {
  const theta = { a: [...init.a], b: [...init.b] };
  const m = { a: init.a.map(() => 0), b: init.b.map(() => 0) };
  const v = { a: init.a.map(() => 0), b: init.b.map(() => 0) };
  for (let t = 1; t <= steps; t++) {
    const g = gradsAt(t);
    for (const k of ['a', 'b'] as const) {
      for (let i = 0; i < theta[k].length; i++) {
        const gi = g[k][i] * scale + wd * theta[k][i];
        if (kind === 'sgd') {
          m[k][i] = momentum * m[k][i] + gi;
          theta[k][i] -= lr * m[k][i];
        } else {
          m[k][i] = 0.9 * m[k][i] + 0.1 * gi;
          v[k][i] = 0.999 * v[k][i] + 0.001 * gi * gi;
          const mh = m[k][i] / (1 - 0.9 ** t);
          const vh = v[k][i] / (1 - 0.999 ** t);
          theta[k][i] -= (lr * mh) / (Math.sqrt(vh) + 1e-8);
        }
      }
    }
  }
  return theta;
}

describe('optimizer (flat per-group updates)', () => {
  for (const kind of ['sgd', 'adam'] as const) {
    it(`${kind}: three steps equal the per-parameter textbook update`, () => {
      const params = makeParams();
      const group: ParamGroup = { name: 'all', params, lrScale: 2, momentum: 0.9, weightDecay: 0.1 };
      const opt = new Optimizer([group], { kind });
      for (let t = 1; t <= 3; t++) {
        const g = gradMap(t);
        opt.apply(g, 0.05, 0.5);
        tf.dispose([...g.values()]);
      }
      const want = reference(kind, 3, 0.1, 0.5, 0.1, 0.9);
      expect(maxAbsDiff(params[0].variable.dataSync(), want.a)).toBeLessThan(1e-6);
      expect(maxAbsDiff(params[1].variable.dataSync(), want.b)).toBeLessThan(1e-6);
      expect(params[0].variable.shape).toEqual([2, 3]);
      opt.dispose();
    });
  }

  it('state saved per parameter and loaded back continues identically', () => {
    const run = (resumeAfter?: number) => {
      const params = makeParams();
      const group = (ps: NamedParam[]): ParamGroup[] => [{ name: 'all', params: ps, lrScale: 1, momentum: 0, weightDecay: 0 }];
      let opt = new Optimizer(group(params), { kind: 'adam' });
      for (let t = 1; t <= 4; t++) {
        if (t === resumeAfter) {
          const bytes = encodeSafetensors(opt.stateArrays());
          opt.dispose();
          opt = new Optimizer(group(params), { kind: 'adam' });
          opt.loadState(decodeSafetensors(bytes, 'memory'), 'memory');
          expect(opt.steps).toBe(t - 1);
        }
        const g = gradMap(t);
        opt.apply(g, 0.01);
        tf.dispose([...g.values()]);
      }
      return params.map((p) => Array.from(p.variable.dataSync()));
    };
    expect(run(3)).toEqual(run());
  });

  it('the norm of flattened gradients equals the per-tensor global norm', () => {
    const params = makeParams();
    const opt = new Optimizer([{ name: 'all', params, lrScale: 1, momentum: 0.9, weightDecay: 0 }], { kind: 'sgd' });
    const g = gradMap(1);
    const flat = opt.flatten(g);
    const perTensor = Math.sqrt([...g.values()].reduce((sum, t) => sum + Array.from(t.dataSync()).reduce((s2, v) => s2 + v * v, 0), 0));
    expect(flat.norm()).toBeCloseTo(perTensor, 5);
    flat.dispose();
    tf.dispose([...g.values()]);
    opt.dispose();
  });
});
