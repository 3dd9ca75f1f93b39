/**
 * Differentiable ops that an engine may run as one fused kernel: training-mode batch norm and the
 * soft-clamped affine transform of the coupling blocks. Each has a composite form made of plain
 * tfjs ops (runs on every backend, in the browser too) and, when the active backend has a kernel
 * registered under the op's name (the native addon registers them for wasm), the fused form: one
 * kernel forward and one backward instead of 9–20 small ones, each of which costs ~20 µs of tfjs
 * bookkeeping. Both forms compute the same function (test/fused_ops.test.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { sumPerSample } from './module.js';

/** Kernel names the engine may register (inputs and outputs as documented at each op). */
export const FUSED_KERNELS = {
  batchNorm: 'TrustgcBatchNormTrain',
  batchNormGrad: 'TrustgcBatchNormTrainGrad',
  channelAffine: 'TrustgcChannelAffine',
  channelAffineGrad: 'TrustgcChannelAffineGrad',
  affine: 'TrustgcSoftClampAffine',
  affineGrad: 'TrustgcSoftClampAffineGrad',
  /** the optimizer update of a parameter group (src/train/optimizer.ts) */
  optimizerStep: 'TrustgcOptimizerStep',
  /** Σ x² of a float32 tensor as a scalar (the global gradient norm; no gradient) */
  sumOfSquares: 'TrustgcSumOfSquares',
} as const;

// read through globalThis: the browser bundle has no `process` (nor its type)
const environment = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
let fusedEnabled = environment?.TRUSTGC_FUSED !== '0';

/** Turns the fused kernels off (composite ops only) or back on; for comparisons and tests. */
export function setFusedKernels(enabled: boolean): void {
  fusedEnabled = enabled;
}

export function fusedKernelsEnabled(): boolean {
  return fusedEnabled;
}

/** Whether the active backend runs `kernel` fused (and fused kernels are enabled). */
export function fused(kernel: string): boolean {
  return fusedEnabled && tf.getKernel(kernel, tf.getBackend()) !== undefined;
}

// The fused kernels' gradients are themselves one fused kernel each, so both input gradients are
// computed together when the tape asks (the tape reads them one input at a time). The batch
// statistics outputs of the batch-norm kernel are constants for autodiff (they only feed the
// running averages). Registered once, for every backend; the kernels exist only where registered.
tf.registerGradient({
  kernelName: FUSED_KERNELS.batchNorm,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [true, true, false, true],
  gradFunc: (dys, saved, attrs) => {
    const dy = Array.isArray(dys) ? dys[0] : dys;
    const [x, gamma, y, mean, invStd] = saved;
    // the relu variant needs its output (where it is positive); the plain one does not read it
    const inputs: tf.NamedTensorMap = attrs.relu ? { dy, x, y, mean, invStd, gamma } : { dy, x, mean, invStd, gamma };
    const [dx, dGamma, dBeta] = tf.engine().runKernel(FUSED_KERNELS.batchNormGrad, inputs, {}) as tf.Tensor[];
    return { x: () => dx, gamma: () => dGamma, beta: () => dBeta };
  },
});

tf.registerGradient({
  kernelName: FUSED_KERNELS.channelAffine,
  inputsToSave: ['x', 'scale'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, scale, y] = saved;
    const inputs: tf.NamedTensorMap = attrs.relu ? { dy: dy as tf.Tensor, x, y, scale } : { dy: dy as tf.Tensor, x, scale };
    const [dx, dScale, dShift] = tf.engine().runKernel(FUSED_KERNELS.channelAffineGrad, inputs, {}) as tf.Tensor[];
    return { x: () => dx, scale: () => dScale, shift: () => dShift };
  },
});

tf.registerGradient({
  kernelName: FUSED_KERNELS.affine,
  inputsToSave: ['u', 'a'],
  gradFunc: (dys, saved, attrs) => {
    const [dv, dlogdet] = dys as tf.Tensor[];
    const [u, a] = saved;
    const [du, da] = tf.engine().runKernel(FUSED_KERNELS.affineGrad, { dv, dlogdet, u, a }, attrs as never) as tf.Tensor[];
    return { u: () => du, a: () => da };
  },
});

// ------------------------------------------------------------------ batch norm with batch statistics

/**
 * Batch norm over every axis but the last, with the batch's statistics, as one differentiable op
 * with the closed-form gradient. With c = x − μ, s = 1/σ and per-channel sums over the other axes,
 *   y  = c·(γs) + β
 *   dβ = Σ dy,  dγ = s·Σ dy·c
 *   dx = γs·(dy − dβ/n − c·s·dγ/n) = dy·(γs) + c·(−γs²·dγ/n) + (−γs·dβ/n)
 * (autodiff through mean and variance would emit about three times as many kernels).
 * `onStats` receives the batch mean and biased variance (for the running averages). With `relu`
 * the result is max(0, y) (the subnets' BN → ReLU pairs, one kernel instead of two each way).
 *
 * Fused kernels: TrustgcBatchNormTrain {x, gamma, beta} (eps, relu) → [y, mean, variance, invStd];
 * TrustgcBatchNormTrainGrad {dy, x, [y,] mean, invStd, gamma} → [dx, dGamma, dBeta] (y: relu variant).
 */
export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
  onStats: (mean: tf.Tensor, variance: tf.Tensor) => void,
  relu = false,
): tf.Tensor {
  if (fused(FUSED_KERNELS.batchNorm) && x.dtype === 'float32') {
    const [y, mean, variance] = tf.engine().runKernel(FUSED_KERNELS.batchNorm, { x, gamma, beta }, { eps, relu }) as tf.Tensor[];
    onStats(mean, variance);
    return y;
  }
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const n = x.size / x.shape[x.rank - 1];
  const forward = (...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [input, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const mean = tf.mean(input, axes);
    const centred = tf.sub(input, mean);
    const variance = tf.mean(tf.square(centred), axes);
    onStats(mean, variance);
    const invStd = tf.rsqrt(tf.add(variance, eps));
    save([centred, invStd, g]);
    return {
      value: tf.add(tf.mul(centred, tf.mul(g, invStd)), b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [c, s, gam] = saved;
        const dBeta = tf.sum(dy, axes);
        const dGamma = tf.mul(tf.sum(tf.mul(dy, c), axes), s);
        const gs = tf.mul(gam, s);
        const cScale = tf.mul(tf.mul(gs, s), -1 / n);
        const dx = tf.add(tf.add(tf.mul(dy, gs), tf.mul(c, tf.mul(cScale, dGamma))), tf.mul(tf.mul(gs, dBeta), -1 / n));
        return [dx, dGamma, dBeta];
      },
    };
  };
  const y = tf.customGrad(forward as Parameters<typeof tf.customGrad>[0])(x, gamma, beta);
  return relu ? tf.relu(y) : y;
}

// ------------------------------------------------------------------ per-channel affine map

/**
 * y = x·scale + shift with per-channel (last axis) scale and shift, optionally followed by
 * max(0, ·): ActNorm, and batch norm with running statistics (evaluation) and its ReLU.
 *
 * Fused kernels: TrustgcChannelAffine {x, scale, shift} (relu) → y;
 * TrustgcChannelAffineGrad {dy, x, [y,] scale} → [dx, dScale, dShift] (y: relu variant).
 */
export function channelAffine(x: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor, relu = false): tf.Tensor {
  const c = x.shape[x.rank - 1];
  if (scale.size !== c || shift.size !== c) {
    throw new Error(`channelAffine: scale [${scale.shape}] and shift [${shift.shape}] must have one value per channel (${c})`);
  }
  if (fused(FUSED_KERNELS.channelAffine) && x.dtype === 'float32' && scale.dtype === 'float32' && shift.dtype === 'float32') {
    // (per-channel vectors are already 1-D in every caller: no reshape kernels then)
    const vector = (t: tf.Tensor) => (t.rank === 1 ? t : tf.reshape(t, [c]));
    return tf.engine().runKernel(FUSED_KERNELS.channelAffine, { x, scale: vector(scale), shift: vector(shift) }, { relu }) as tf.Tensor;
  }
  const y = tf.add(tf.mul(x, scale), shift);
  return relu ? tf.relu(y) : y;
}

// ------------------------------------------------------------------ soft-clamped affine transform

export interface SoftClampAffineOptions {
  /** ls = clamp · tanh(inScale · a_s) */
  clamp: number;
  inScale: number;
  /** v = u · exp(ls) + shiftScale · a_t */
  shiftScale: number;
}

/**
 * The affine half of a coupling block: `a` holds [a_s | a_t] on its last axis (2c channels, from
 * the subnet), u holds c channels. Returns v = u·exp(ls) + shiftScale·a_t with
 * ls = clamp·tanh(inScale·a_s), and log|det ∂v/∂u| = Σ ls per sample.
 *
 * Fused kernels: TrustgcSoftClampAffine {u, a} (clamp, inScale, shiftScale) → [v, logdet];
 * TrustgcSoftClampAffineGrad {dv, dlogdet, u, a} (same attrs) → [du, da].
 */
export function softClampAffine(u: tf.Tensor, a: tf.Tensor, options: SoftClampAffineOptions): { v: tf.Tensor; logdet: tf.Tensor1D } {
  const c = u.shape[u.rank - 1];
  if (a.shape[a.rank - 1] !== 2 * c || a.size !== 2 * u.size) {
    throw new Error(`softClampAffine: coefficients of shape [${a.shape}] do not match input [${u.shape}] (need twice its channels)`);
  }
  if (fused(FUSED_KERNELS.affine) && u.dtype === 'float32' && a.dtype === 'float32') {
    const [v, logdet] = tf.engine().runKernel(FUSED_KERNELS.affine, { u, a }, { ...options }) as tf.Tensor[];
    return { v, logdet: logdet as tf.Tensor1D };
  }
  const [as, at] = tf.split(a, [c, c], a.rank - 1);
  const ls = tf.mul(tf.tanh(tf.mul(as, options.inScale)), options.clamp);
  const t = options.shiftScale === 1 ? at : tf.mul(at, options.shiftScale);
  return { v: tf.add(tf.mul(u, tf.exp(ls)), t), logdet: sumPerSample(ls) };
}
