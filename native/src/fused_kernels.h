// Fused element-wise kernels for the IB-INN training step: training-mode batch normalisation and
// the soft-clamped affine transform of the coupling blocks, forward and backward. Each replaces
// 9–20 separate tfjs kernels (each with ~20 µs of JavaScript overhead and a pass over memory) by
// one or two passes over the data. Channels are the last, contiguous axis (NHWC).
#pragma once
#include <cstdint>

namespace trustgc {

// x [rows, c] → y = (x − mean)·γ·invStd + β with the batch mean and biased variance per channel,
// followed by max(0, ·) when relu is set.
void batchNormTrainForward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                           float* variance, float* invStd, int64_t rows, int64_t c, double eps, bool relu);

// dβ = Σ dy, dγ = invStd·Σ dy·(x − mean), dx = γ·invStd·(dy − dβ/n − (x − mean)·invStd·dγ/n).
// With y given (the forward output of the relu variant), dy counts only where y > 0.
void batchNormTrainBackward(const float* dy, const float* x, const float* y, const float* mean, const float* invStd,
                            const float* gamma, float* dx, float* dgamma, float* dbeta, int64_t rows, int64_t c);

// a = [a_s | a_t] (2c channels), ls = clamp·tanh(inScale·a_s), v = u·exp(ls) + shiftScale·a_t,
// logdet[n] = Σ ls over the sample's rowsPerSample rows.
void softClampAffineForward(const float* u, const float* a, float* v, float* logdet, int64_t samples,
                            int64_t rowsPerSample, int64_t c, double clamp, double inScale, double shiftScale);

// Gradients of the above given dv and dlogdet: du [rows, c] and da [rows, 2c].
void softClampAffineBackward(const float* dv, const float* dlogdet, const float* u, const float* a, float* du,
                             float* da, int64_t samples, int64_t rowsPerSample, int64_t c, double clamp,
                             double inScale, double shiftScale);

// y = x·scale + shift per channel (x [rows, c]), then max(0, ·) when relu is set.
void channelAffineForward(const float* x, const float* scale, const float* shift, float* y, int64_t rows, int64_t c,
                          bool relu);

// dx = dy·scale, dscale = Σ dy·x, dshift = Σ dy (dy counted only where y > 0 when y is given).
void channelAffineBackward(const float* dy, const float* x, const float* y, const float* scale, float* dx,
                           float* dscale, float* dshift, int64_t rows, int64_t c);

// One optimizer update over a parameter group: the flat gradient g runs over the parameters end to
// end, as do the slots (SGD momentum buffer; Adam first and second moments). Per element, with
// g' = gradScale·g + weightDecay·θ:
//   SGD:  s = momentum·s + g' (if it has a slot), θ −= lr·s (or lr·g')
//   Adam: m = β1·m + (1 − β1)·g', v = β2·v + (1 − β2)·g'², θ −= lr·(m/bc1)/(√(v/bc2) + eps)
struct OptimizerStep {
  bool adam;
  int slots;
  double lr, gradScale, weightDecay, momentum, beta1, beta2, eps, bc1, bc2;
};
void optimizerStep(const OptimizerStep& o, const float* g, const float* const* slotsIn, float* const* slotsOut,
                   const float* const* params, float* const* paramsOut, const int64_t* sizes, int64_t count);

// Strided row copy: dst[r·dstStride + dstOffset + k] = src[r·srcStride + srcOffset + k] for r < rows,
// k < n. One call per piece of a concatenation or split along an inner axis (the coupling blocks'
// channel splits: thousands of rows of 2–48 floats, where tfjs's per-row copies cost ~5 ns a float).
void copyRows(const float* src, float* dst, int64_t rows, int64_t n, int64_t srcStride, int64_t srcOffset,
              int64_t dstStride, int64_t dstOffset);

// Σ x², accumulated in double over float blocks (the global gradient norm in one pass, without
// tfjs's square-then-sum and its full-size temporary).
double sumOfSquares(const float* x, int64_t n);

}  // namespace trustgc
