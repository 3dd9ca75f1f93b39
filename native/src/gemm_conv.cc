#include "gemm_conv.h"

#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace trustgc {
namespace {

// Output pixels per patch matrix: 128 × (kh·kw·c) floats is 288 KiB for 3×3×64, inside a 512 KiB
// L2. Measured on the filter gradient (3×3 64→64, 32×32, batch 32, medians of 15): 128–256 pixels
// 102–104 GFLOP/s, 1 024 pixels 99, 4 096 pixels 73.
constexpr int64_t kBlockPixels = 128;

// The filter gradient sums over all output pixels. The pixels are cut into at most kMaxParts
// parts of at least kMinPartPixels, by the shape alone, each summed on one thread and the parts
// added in order afterwards, so the result is the same on any number of threads.
constexpr int64_t kMaxParts = 16;
constexpr int64_t kMinPartPixels = 256;

// c = op(a)·op(b) + beta·c (row-major). Runs inside OpenMP parallel regions, which an exception
// must not leave: a failure is recorded in `failed` and reported by the caller afterwards.
void sgemm(char transA, char transB, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
           int64_t ldb, float beta, float* c, int64_t ldc, bool& failed) {
  if (dnnl_sgemm(transA, transB, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc) != dnnl_success) {
#pragma omp atomic write
    failed = true;
  }
}

void throwIf(bool failed) {
  if (failed) throw std::runtime_error("oneDNN sgemm failed in a lowered convolution");
}

// Rows [p0, p0 + count) of the patch matrix: row p holds, for output pixel p (image-major, then
// row, then column), the kh·kw input pixels its filter covers, c channels each, zeros outside.
void gatherPatches(const ConvShape& g, const float* x, int64_t p0, int64_t count, float* patches) {
  const int64_t k = g.kh * g.kw * g.c;
  const int64_t tapRow = g.kw * g.c;
  const size_t pixelBytes = sizeof(float) * g.c;
  for (int64_t r = 0; r < count; r++) {
    const int64_t p = p0 + r;
    const int64_t b = p / (g.oh * g.ow), oi = (p / g.ow) % g.oh, oj = p % g.ow;
    float* row = patches + r * k;
    const int64_t j0 = oj * g.sw - g.padLeft;
    for (int64_t ki = 0; ki < g.kh; ki++) {
      float* dst = row + ki * tapRow;
      const int64_t i = oi * g.sh - g.padTop + ki * g.dh;
      if (i < 0 || i >= g.h) {
        std::memset(dst, 0, sizeof(float) * tapRow);
        continue;
      }
      const float* src = x + ((b * g.h + i) * g.w) * g.c;
      if (g.dw == 1 && j0 >= 0 && j0 + g.kw <= g.w) {
        std::memcpy(dst, src + j0 * g.c, sizeof(float) * tapRow);  // the taps of a row are adjacent
        continue;
      }
      for (int64_t kj = 0; kj < g.kw; kj++) {
        const int64_t j = j0 + kj * g.dw;
        if (j < 0 || j >= g.w) std::memset(dst + kj * g.c, 0, pixelBytes);
        else std::memcpy(dst + kj * g.c, src + j * g.c, pixelBytes);
      }
    }
  }
}

int64_t outputPixels(const ConvShape& g) { return g.n * g.oh * g.ow; }

// The calling thread's patch buffer, kept between calls (OpenMP reuses its threads): a fresh
// 288 KiB allocation per call would be a fresh mmap with its page faults every time.
float* patchBuffer(int64_t k) {
  thread_local std::vector<float> buffer;
  const size_t need = static_cast<size_t>(kBlockPixels * k);
  if (buffer.size() < need) buffer.resize(need);
  return buffer.data();
}

}  // namespace

void gemmConvForward(const ConvShape& g, const float* x, const float* filter, float* y) {
  const int64_t k = g.kh * g.kw * g.c;
  const int64_t pixels = outputPixels(g);
  if (k == 0) {
    std::fill(y, y + pixels * g.o, 0.0f);
    return;
  }
  const int64_t blocks = (pixels + kBlockPixels - 1) / kBlockPixels;
  bool failed = false;
#pragma omp parallel if (blocks > 1)
  {
    float* patches = patchBuffer(k);
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; blk++) {
      const int64_t p0 = blk * kBlockPixels, count = std::min(kBlockPixels, pixels - p0);
      gatherPatches(g, x, p0, count, patches);
      sgemm('N', 'N', count, g.o, k, patches, k, filter, g.o, 0.0f, y + p0 * g.o, g.o, failed);
    }
  }
  throwIf(failed);
}

void gemmConvBackwardFilter(const ConvShape& g, const float* x, const float* dy, float* dfilter) {
  const int64_t k = g.kh * g.kw * g.c;
  const int64_t size = k * g.o;
  const int64_t pixels = outputPixels(g);
  if (pixels == 0 || size == 0) {
    std::fill(dfilter, dfilter + size, 0.0f);
    return;
  }
  const int64_t parts = std::clamp<int64_t>(pixels / kMinPartPixels, 1, kMaxParts);
  // Part 0 sums straight into dfilter; the others into their own buffers.
  std::vector<float> partial(static_cast<size_t>((parts - 1) * size));
  bool failed = false;
#pragma omp parallel if (parts > 1)
  {
    float* patches = patchBuffer(k);
#pragma omp for schedule(static)
    for (int64_t part = 0; part < parts; part++) {
      float* out = part == 0 ? dfilter : partial.data() + (part - 1) * size;
      const int64_t begin = pixels * part / parts, end = pixels * (part + 1) / parts;
      for (int64_t p0 = begin; p0 < end; p0 += kBlockPixels) {
        const int64_t count = std::min(kBlockPixels, end - p0);
        gatherPatches(g, x, p0, count, patches);
        sgemm('T', 'N', k, g.o, count, patches, k, dy + p0 * g.o, g.o, p0 == begin ? 0.0f : 1.0f, out, g.o,
              failed);
      }
    }
  }
  throwIf(failed);
  for (int64_t part = 1; part < parts; part++) {
    const float* add = partial.data() + (part - 1) * size;
    for (int64_t i = 0; i < size; i++) dfilter[i] += add[i];
  }
}

}  // namespace trustgc
