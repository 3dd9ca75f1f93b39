// See fused_kernels.h. Plain loops: the compiler vectorises the inner channel loops (-O3), and
// per-channel accumulators are double so that sums over ~10⁵ rows keep float precision.
//
// Threads: large kernels split their rows over the OpenMP threads (TRUSTGC_NATIVE_THREADS; one
// in data-parallel replicas). Reductions go through fixed blocks of rows whose partial sums are
// added in block order, so every result is the same bit for bit on any number of threads.
#include "fused_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace trustgc {

namespace {

// Rows per reduction block (fixed: the summation order must not depend on the thread count).
constexpr int64_t kRowBlock = 256;

// Below this many floats a kernel stays on the calling thread: waking the team costs more.
constexpr int64_t kParallelFloats = 1 << 15;

int64_t blockCount(int64_t rows) { return (rows + kRowBlock - 1) / kRowBlock; }

// Per-channel sums of `terms` accumulators, computed per block of rows (in parallel) and then
// added in block order. body(r0, r1, acc) adds rows [r0, r1) into acc[terms·c].
template <typename Body>
std::vector<double> blockedChannelSums(int64_t rows, int64_t c, int terms, Body&& body) {
  const int64_t blocks = blockCount(rows);
  std::vector<double> partial(static_cast<size_t>(blocks * terms * c), 0.0);
#pragma omp parallel for schedule(static) if (rows * c >= kParallelFloats)
  for (int64_t b = 0; b < blocks; b++) {
    body(b * kRowBlock, std::min(rows, (b + 1) * kRowBlock), partial.data() + b * terms * c);
  }
  std::vector<double> total(static_cast<size_t>(terms * c), 0.0);
  for (int64_t b = 0; b < blocks; b++) {
    const double* pb = partial.data() + b * terms * c;
    for (int64_t k = 0; k < terms * c; k++) total[k] += pb[k];
  }
  return total;
}

}  // namespace

void batchNormTrainForward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                           float* variance, float* invStd, int64_t rows, int64_t c, double eps, bool relu) {
  const std::vector<double> sum = blockedChannelSums(rows, c, 1, [&](int64_t r0, int64_t r1, double* acc) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * c;
      for (int64_t k = 0; k < c; k++) acc[k] += xr[k];
    }
  });
  for (int64_t k = 0; k < c; k++) mean[k] = static_cast<float>(sum[k] / rows);
  // Two passes (centred squares) like the composite path: no cancellation for large means.
  const std::vector<double> sq = blockedChannelSums(rows, c, 1, [&](int64_t r0, int64_t r1, double* acc) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * c;
      for (int64_t k = 0; k < c; k++) {
        const double d = xr[k] - mean[k];
        acc[k] += d * d;
      }
    }
  });
  std::vector<float> scale(c), shift(c);
  for (int64_t k = 0; k < c; k++) {
    variance[k] = static_cast<float>(sq[k] / rows);
    invStd[k] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(variance[k]) + eps));
    scale[k] = gamma[k] * invStd[k];
    shift[k] = beta[k] - mean[k] * scale[k];
  }
#pragma omp parallel for schedule(static) if (rows * c >= kParallelFloats)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * c;
    float* yr = y + r * c;
    if (relu) {
      for (int64_t k = 0; k < c; k++) yr[k] = std::max(0.f, xr[k] * scale[k] + shift[k]);
    } else {
      for (int64_t k = 0; k < c; k++) yr[k] = xr[k] * scale[k] + shift[k];
    }
  }
}

void batchNormTrainBackward(const float* dyIn, const float* x, const float* y, const float* mean, const float* invStd,
                            const float* gamma, float* dx, float* dgamma, float* dbeta, int64_t rows, int64_t c) {
  // The relu variant counts dy only where the output was positive (a multiply by 0/1, which
  // vectorises; a branch on random signs does not). acc = [Σ dy | Σ dy·(x − mean)].
  const std::vector<double> sums = blockedChannelSums(rows, c, 2, [&](int64_t r0, int64_t r1, double* acc) {
    double* sumDy = acc;
    double* sumDyC = acc + c;
    for (int64_t r = r0; r < r1; r++) {
      const float* __restrict dr = dyIn + r * c;
      const float* __restrict xr = x + r * c;
      float* __restrict mr = dx + r * c;  // masked dy, kept in dx until the last pass
      if (y) {
        const float* __restrict yr = y + r * c;
        for (int64_t k = 0; k < c; k++) mr[k] = dr[k] * (yr[k] > 0.f ? 1.f : 0.f);
      } else {
        for (int64_t k = 0; k < c; k++) mr[k] = dr[k];
      }
      for (int64_t k = 0; k < c; k++) {
        sumDy[k] += mr[k];
        sumDyC[k] += static_cast<double>(mr[k]) * (xr[k] - mean[k]);
      }
    }
  });
  const float* dy = dx;
  // dx = dy·gs + (x − mean)·cs + b, per channel: gs = γ·s, cs = −gs·s·dγ/n, b = −gs·dβ/n.
  std::vector<float> gs(c), cs(c), b(c);
  const double n = static_cast<double>(rows);
  for (int64_t k = 0; k < c; k++) {
    dbeta[k] = static_cast<float>(sums[k]);
    dgamma[k] = static_cast<float>(sums[c + k] * invStd[k]);
    gs[k] = gamma[k] * invStd[k];
    cs[k] = static_cast<float>(-gs[k] * invStd[k] * dgamma[k] / n);
    b[k] = static_cast<float>(-gs[k] * dbeta[k] / n - cs[k] * mean[k]);
  }
#pragma omp parallel for schedule(static) if (rows * c >= kParallelFloats)
  for (int64_t r = 0; r < rows; r++) {
    const float* dr = dy + r * c;
    const float* xr = x + r * c;
    float* out = dx + r * c;
    for (int64_t k = 0; k < c; k++) out[k] = dr[k] * gs[k] + xr[k] * cs[k] + b[k];
  }
}

namespace {

// tanh and exp of one sample's a_s, in contiguous scratch arrays: a long loop over contiguous
// floats is what the compiler vectorises (glibc's libmvec tanhf/expf under -ffast-math); the
// per-row channel loops are often only 2–8 long. th = tanh(inScale·a_s), e = exp(clamp·th).
void tanhExp(const float* a, int64_t rows, int64_t c, float inScale, float clamp, std::vector<float>& th,
             std::vector<float>& e) {
  const int64_t m = rows * c;
  th.resize(m);
  e.resize(m);
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t j = 0; j < c; j++) th[r * c + j] = a[r * 2 * c + j];
  }
  float* __restrict t = th.data();
  float* __restrict x = e.data();
  for (int64_t i = 0; i < m; i++) {
    t[i] = std::tanh(inScale * t[i]);
    x[i] = std::exp(clamp * t[i]);
  }
}

// Calls body(n, a_n, th, e) for every sample n with its coefficients and their tanh/exp; samples
// are independent, so they are shared out over the threads (each with its own scratch arrays).
template <typename Body>
void perSample(const float* a, int64_t samples, int64_t rowsPerSample, int64_t c, double clamp, double inScale,
               Body&& body) {
  const int64_t m = rowsPerSample * c;
#pragma omp parallel if (samples > 1 && samples * m >= kParallelFloats)
  {
    std::vector<float> th, e;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < samples; n++) {
      const float* an = a + n * 2 * m;
      tanhExp(an, rowsPerSample, c, static_cast<float>(inScale), static_cast<float>(clamp), th, e);
      body(n, an, th, e);
    }
  }
}

}  // namespace

void softClampAffineForward(const float* u, const float* a, float* v, float* logdet, int64_t samples,
                            int64_t rowsPerSample, int64_t c, double clamp, double inScale, double shiftScale) {
  const float k = static_cast<float>(clamp), t = static_cast<float>(shiftScale);
  const int64_t m = rowsPerSample * c;
  perSample(a, samples, rowsPerSample, c, clamp, inScale, [&](int64_t n, const float* an, const std::vector<float>& th,
                                                              const std::vector<float>& e) {
    double total = 0.0;
    for (int64_t i = 0; i < m; i++) total += th[i];
    logdet[n] = static_cast<float>(k * total);
    const float* un = u + n * m;
    float* vn = v + n * m;
    for (int64_t r = 0; r < rowsPerSample; r++) {
      for (int64_t j = 0; j < c; j++) {
        const int64_t i = r * c + j;
        vn[i] = un[i] * e[i] + t * an[r * 2 * c + c + j];
      }
    }
  });
}

void softClampAffineBackward(const float* dv, const float* dlogdet, const float* u, const float* a, float* du,
                             float* da, int64_t samples, int64_t rowsPerSample, int64_t c, double clamp,
                             double inScale, double shiftScale) {
  const float k = static_cast<float>(clamp), s = static_cast<float>(inScale), t = static_cast<float>(shiftScale);
  const int64_t m = rowsPerSample * c;
  perSample(a, samples, rowsPerSample, c, clamp, inScale, [&](int64_t n, const float*, const std::vector<float>& th,
                                                              const std::vector<float>& e) {
    const float dl = dlogdet[n];
    const float* dvn = dv + n * m;
    const float* un = u + n * m;
    float* dun = du + n * m;
    float* dan = da + n * 2 * m;
    for (int64_t r = 0; r < rowsPerSample; r++) {
      for (int64_t j = 0; j < c; j++) {
        const int64_t i = r * c + j;
        dun[i] = dvn[i] * e[i];
        const float dls = dvn[i] * un[i] * e[i] + dl;
        dan[r * 2 * c + j] = dls * k * s * (1.f - th[i] * th[i]);
        dan[r * 2 * c + c + j] = dvn[i] * t;
      }
    }
  });
}

void channelAffineForward(const float* x, const float* scale, const float* shift, float* y, int64_t rows, int64_t c,
                          bool relu) {
#pragma omp parallel for schedule(static) if (rows * c >= kParallelFloats)
  for (int64_t r = 0; r < rows; r++) {
    const float* __restrict xr = x + r * c;
    float* __restrict yr = y + r * c;
    if (relu) {
      for (int64_t k = 0; k < c; k++) yr[k] = std::max(0.f, xr[k] * scale[k] + shift[k]);
    } else {
      for (int64_t k = 0; k < c; k++) yr[k] = xr[k] * scale[k] + shift[k];
    }
  }
}

void channelAffineBackward(const float* dy, const float* x, const float* y, const float* scale, float* dx,
                           float* dscale, float* dshift, int64_t rows, int64_t c) {
  // acc = [Σ dy | Σ dy·x]
  const std::vector<double> sums = blockedChannelSums(rows, c, 2, [&](int64_t r0, int64_t r1, double* acc) {
    double* sumDy = acc;
    double* sumDyX = acc + c;
    for (int64_t r = r0; r < r1; r++) {
      const float* __restrict dr = dy + r * c;
      const float* __restrict xr = x + r * c;
      float* __restrict out = dx + r * c;
      if (y) {
        const float* __restrict yr = y + r * c;
        for (int64_t k = 0; k < c; k++) {
          const float d = dr[k] * (yr[k] > 0.f ? 1.f : 0.f);
          out[k] = d * scale[k];
          sumDy[k] += d;
          sumDyX[k] += static_cast<double>(d) * xr[k];
        }
      } else {
        for (int64_t k = 0; k < c; k++) {
          out[k] = dr[k] * scale[k];
          sumDy[k] += dr[k];
          sumDyX[k] += static_cast<double>(dr[k]) * xr[k];
        }
      }
    }
  });
  for (int64_t k = 0; k < c; k++) {
    dscale[k] = static_cast<float>(sums[c + k]);
    dshift[k] = static_cast<float>(sums[k]);
  }
}

void optimizerStep(const OptimizerStep& o, const float* g, const float* const* slotsIn, float* const* slotsOut,
                   const float* const* params, float* const* paramsOut, const int64_t* sizes, int64_t count) {
  const float lr = static_cast<float>(o.lr), gs = static_cast<float>(o.gradScale), wd = static_cast<float>(o.weightDecay);
  int64_t at = 0;  // position in the flat gradient and slots
  for (int64_t k = 0; k < count; k++) {
    const float* __restrict theta = params[k];
    float* __restrict out = paramsOut[k];
    const float* __restrict gk = g + at;
    const int64_t n = sizes[k];
    if (!o.adam) {
      const float mu = static_cast<float>(o.momentum);
      if (o.slots > 0) {
        const float* __restrict s = slotsIn[0] + at;
        float* __restrict so = slotsOut[0] + at;
#pragma omp parallel for schedule(static) if (n >= kParallelFloats)
        for (int64_t i = 0; i < n; i++) {
          const float gi = gk[i] * gs + theta[i] * wd;
          so[i] = s[i] * mu + gi;
          out[i] = theta[i] - so[i] * lr;
        }
      } else {
#pragma omp parallel for schedule(static) if (n >= kParallelFloats)
        for (int64_t i = 0; i < n; i++) out[i] = theta[i] - (gk[i] * gs + theta[i] * wd) * lr;
      }
    } else {
      const float b1 = static_cast<float>(o.beta1), b2 = static_cast<float>(o.beta2), eps = static_cast<float>(o.eps);
      const float c1 = static_cast<float>(1 - o.beta1), c2 = static_cast<float>(1 - o.beta2);
      const float bc1 = static_cast<float>(o.bc1), bc2 = static_cast<float>(o.bc2);
      const float* __restrict m = slotsIn[0] + at;
      const float* __restrict v = slotsIn[1] + at;
      float* __restrict mo = slotsOut[0] + at;
      float* __restrict vo = slotsOut[1] + at;
#pragma omp parallel for schedule(static) if (n >= kParallelFloats)
      for (int64_t i = 0; i < n; i++) {
        const float gi = gk[i] * gs + theta[i] * wd;
        mo[i] = m[i] * b1 + gi * c1;
        vo[i] = v[i] * b2 + gi * gi * c2;
        out[i] = theta[i] - (mo[i] / bc1) / (std::sqrt(vo[i] / bc2) + eps) * lr;
      }
    }
    at += n;
  }
}

namespace {

// Rows of a compile-time width: the copy unrolls into a few vector moves per row.
template <int N>
void copyFixedRows(const float* src, float* dst, int64_t rows, int64_t srcStride, int64_t dstStride) {
#pragma omp parallel for schedule(static) if (rows * N >= kParallelFloats)
  for (int64_t r = 0; r < rows; r++) {
    const float* __restrict s = src + r * srcStride;
    float* __restrict d = dst + r * dstStride;
    for (int k = 0; k < N; k++) d[k] = s[k];
  }
}

// Short rows of any width. (GCC would turn this loop into one memcpy call per row, ~10 ns each:
// slower than copying a few floats; hence the attribute.)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
void copyShortRows(const float* src, float* dst, int64_t rows, int64_t n, int64_t srcStride, int64_t dstStride) {
#pragma omp parallel for schedule(static) if (rows * n >= kParallelFloats)
  for (int64_t r = 0; r < rows; r++) {
    const float* s = src + r * srcStride;
    float* d = dst + r * dstStride;
    for (int64_t k = 0; k < n; k++) d[k] = s[k];
  }
}

}  // namespace

void copyRows(const float* src, float* dst, int64_t rows, int64_t n, int64_t srcStride, int64_t srcOffset,
              int64_t dstStride, int64_t dstOffset) {
  src += srcOffset;
  dst += dstOffset;
  if (n == srcStride && n == dstStride) {  // contiguous pieces: one block
    std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(rows * n));
    return;
  }
  switch (n) {
    case 1: return copyFixedRows<1>(src, dst, rows, srcStride, dstStride);
    case 2: return copyFixedRows<2>(src, dst, rows, srcStride, dstStride);
    case 3: return copyFixedRows<3>(src, dst, rows, srcStride, dstStride);
    case 4: return copyFixedRows<4>(src, dst, rows, srcStride, dstStride);
    case 6: return copyFixedRows<6>(src, dst, rows, srcStride, dstStride);
    case 8: return copyFixedRows<8>(src, dst, rows, srcStride, dstStride);
    case 12: return copyFixedRows<12>(src, dst, rows, srcStride, dstStride);
    case 16: return copyFixedRows<16>(src, dst, rows, srcStride, dstStride);
    case 24: return copyFixedRows<24>(src, dst, rows, srcStride, dstStride);
    case 32: return copyFixedRows<32>(src, dst, rows, srcStride, dstStride);
    case 48: return copyFixedRows<48>(src, dst, rows, srcStride, dstStride);
    default: break;
  }
  if (n < 64) return copyShortRows(src, dst, rows, n, srcStride, dstStride);
#pragma omp parallel for schedule(static) if (rows * n >= kParallelFloats)
  for (int64_t r = 0; r < rows; r++) std::memcpy(dst + r * dstStride, src + r * srcStride, sizeof(float) * static_cast<size_t>(n));
}

double sumOfSquares(const float* x, int64_t n) {
  constexpr int64_t kBlock = 4096;  // float partial sums stay exact enough over a block
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks));
#pragma omp parallel for schedule(static) if (n >= kParallelFloats)
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t end = std::min(n, (b + 1) * kBlock);
    float part = 0;
    for (int64_t i = b * kBlock; i < end; i++) part += x[i] * x[i];
    partial[b] = part;
  }
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace trustgc
