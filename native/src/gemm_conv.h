// Convolution lowered to matrix products ("im2col + GEMM") over fixed blocks of output pixels, in
// tfjs's layouts (NHWC activations, HWIO filters). Each block of 128 output pixels is gathered into
// a [128, kh·kw·c] patch matrix small enough to stay in the core's L2 cache and multiplied by the
// filter with oneDNN's single-threaded sgemm; the blocks are spread over the OpenMP threads.
//
// Why: oneDNN 2.6's direct NHWC kernels (AVX2) are slow for wide convolutions, above all for the
// filter gradient: on the 3×3 64→64 convolution at 32×32, batch 32, two threads, the lowering took
// 0.73× oneDNN's time for the filter gradient and 0.90× for the forward pass (bench:conv-lowering,
// medians of 21 interleaved rounds). With few channels (K = kh·kw·c small) the matrix products are
// too thin and oneDNN's kernels win; the caller chooses per shape. The backward-data pass stays
// with oneDNN: a lowered version (the forward convolution of dy with the flipped filter) took
// 1.04–3.2× oneDNN's time on every IB-INN shape in a development comparison.
// Results do not depend on the thread count: every block and every partial sum is fixed by the
// shape alone.
#pragma once
#include <cstdint>

namespace trustgc {

// Geometry in tfjs terms: x [n, h, w, c], filter [kh, kw, c, o], y [n, oh, ow, o]; dilations count
// the step between taps (1 = dense); padTop/padLeft are the zero rows/columns before the image.
struct ConvShape {
  int64_t n, h, w, c, kh, kw, o, oh, ow, sh, sw, dh, dw, padTop, padLeft;
};

// y = conv(x, filter).
void gemmConvForward(const ConvShape& g, const float* x, const float* filter, float* y);

// dfilter = Σ over output pixels of patch(x)ᵀ · dy.
void gemmConvBackwardFilter(const ConvShape& g, const float* x, const float* dy, float* dfilter);

}  // namespace trustgc
