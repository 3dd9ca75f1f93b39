// trustgc native kernels: oneDNN (2.x) convolution forward / backward-data / backward-weights and
// matrix multiplication on float32 buffers in tfjs's layouts (NHWC activations, HWIO filters,
// row-major matrices). The buffers are typed-array views of the wasm heap, so nothing is copied.
//
// Primitives are created once per shape and cached: oneDNN JIT-compiles them, which costs far more
// than running one. Activations are passed in NHWC (see actDesc); the weights are reordered into the
// primitive's blocked layout around each call. Wide convolutions' forward and filter-gradient passes
// run as lowered matrix products instead (gemm_conv.h; see lowerForward).
#include <node_api.h>
#include <omp.h>

#include <dnnl.hpp>

#include "fused_kernels.h"
#include "gemm_conv.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

dnnl::engine& cpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpuStream() {
  // One stream and one set of primitive caches per thread: the addon may be loaded by several
  // worker threads (data-parallel training), and cached primitives own their staging buffers.
  thread_local dnnl::stream stream(cpuEngine());
  return stream;
}

// ---------------------------------------------------------------- threads

// Small, memory-bound work (layout reorders, small matrix products) runs on one thread: waking the
// other OpenMP threads costs more than they save (measured: on 2 threads the IB-INN step spent
// ~1.7× as long in reorders and ~1.8× as long in matmuls as on one, while convolutions gained 1.35×).
class SingleThreaded {
 public:
  SingleThreaded() : previous_(omp_get_max_threads()) {
    if (previous_ > 1) omp_set_num_threads(1);
  }
  ~SingleThreaded() {
    if (previous_ > 1) omp_set_num_threads(previous_);
  }
  SingleThreaded(const SingleThreaded&) = delete;
  SingleThreaded& operator=(const SingleThreaded&) = delete;

 private:
  int previous_;
};

// ---------------------------------------------------------------- N-API helpers

struct ArgError {
  std::string message;
};

// A Float32Array of any length: its data and element count.
float* floatSpan(napi_env env, napi_value value, size_t* length, const char* name) {
  bool isTyped = false;
  napi_is_typedarray(env, value, &isTyped);
  if (!isTyped) throw ArgError{std::string(name) + " must be a Float32Array"};
  napi_typedarray_type type;
  void* data = nullptr;
  napi_get_typedarray_info(env, value, &type, length, &data, nullptr, nullptr);
  if (type != napi_float32_array) throw ArgError{std::string(name) + " must be a Float32Array"};
  return static_cast<float*>(data);
}

// A Float32Array of exactly `expected` elements.
float* floatData(napi_env env, napi_value value, size_t expected, const char* name) {
  size_t length = 0;
  float* data = floatSpan(env, value, &length, name);
  if (length != expected) {
    throw ArgError{std::string(name) + " has " + std::to_string(length) + " elements, expected " +
                   std::to_string(expected)};
  }
  return data;
}

// null, or a Float32Array as floatData checks it
const float* optionalFloatData(napi_env env, napi_value value, size_t expected, const char* name) {
  napi_valuetype type;
  napi_typeof(env, value, &type);
  return type == napi_null ? nullptr : floatData(env, value, expected, name);
}

std::vector<double> numberArray(napi_env env, napi_value value, size_t expected, const char* name) {
  bool isArray = false;
  napi_is_array(env, value, &isArray);
  if (!isArray) throw ArgError{std::string(name) + " must be an array of numbers"};
  uint32_t length = 0;
  napi_get_array_length(env, value, &length);
  if (length != expected) throw ArgError{std::string(name) + " must have " + std::to_string(expected) + " entries"};
  std::vector<double> out(length);
  for (uint32_t i = 0; i < length; i++) {
    napi_value item;
    napi_get_element(env, value, i, &item);
    if (napi_get_value_double(env, item, &out[i]) != napi_ok) throw ArgError{std::string(name) + " must hold numbers"};
  }
  return out;
}

std::vector<int64_t> intArray(napi_env env, napi_value value, size_t expected, const char* name) {
  std::vector<int64_t> out;
  for (double v : numberArray(env, value, expected, name)) out.push_back(static_cast<int64_t>(v));
  return out;
}

std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t count) {
  std::vector<napi_value> argv(count);
  size_t argc = count;
  napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr);
  if (argc != count) throw ArgError{"expected " + std::to_string(count) + " arguments"};
  return argv;
}

template <typename F>
napi_value guarded(napi_env env, F&& body) {
  try {
    body();
  } catch (const ArgError& e) {
    napi_throw_type_error(env, nullptr, ("trustgc native: " + e.message).c_str());
  } catch (const dnnl::error& e) {
    napi_throw_error(env, nullptr, (std::string("trustgc native: oneDNN error: ") + e.what()).c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, (std::string("trustgc native: ") + e.what()).c_str());
  }
  return nullptr;
}

// ---------------------------------------------------------------- convolution

// Geometry in tfjs terms: x [n,h,w,c], filter [kh,kw,c,o], y [n,oh,ow,o].
struct ConvGeometry {
  int64_t n, h, w, c, kh, kw, o, oh, ow, sh, sw, dh, dw, padTop, padLeft, padBottom, padRight;

  static ConvGeometry from(const std::vector<int64_t>& g) {
    return {g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15], g[16]};
  }
  memory::dims src() const { return {n, c, h, w}; }
  memory::dims weights() const { return {o, c, kh, kw}; }
  memory::dims dst() const { return {n, o, oh, ow}; }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims dilations() const { return {dh - 1, dw - 1}; }  // oneDNN counts the gaps
  memory::dims padL() const { return {padTop, padLeft}; }
  memory::dims padR() const { return {padBottom, padRight}; }
  std::string key() const {
    std::string k;
    for (int64_t v : {n, h, w, c, kh, kw, o, oh, ow, sh, sw, dh, dw, padTop, padLeft, padBottom, padRight}) {
      k += std::to_string(v) + ",";
    }
    return k;
  }
  trustgc::ConvShape shape() const { return {n, h, w, c, kh, kw, o, oh, ow, sh, sw, dh, dw, padTop, padLeft}; }
  size_t srcSize() const { return n * h * w * c; }
  size_t weightsSize() const { return kh * kw * c * o; }
  size_t dstSize() const { return n * oh * ow * o; }
};

// A buffer in the primitive's preferred layout, with reorders from/to the user's layout.
struct Staged {
  memory::desc userDesc;
  memory::desc primDesc;
  bool needsReorder = false;
  memory staging;
  dnnl::reorder toPrim, fromPrim;

  Staged() = default;
  Staged(const memory::desc& user, const memory::desc& prim, bool input, bool output)
      : userDesc(user), primDesc(prim), needsReorder(user != prim) {
    if (!needsReorder) return;
    staging = memory(primDesc, cpuEngine());
    if (input) toPrim = dnnl::reorder(dnnl::reorder::primitive_desc(cpuEngine(), userDesc, cpuEngine(), primDesc));
    if (output) fromPrim = dnnl::reorder(dnnl::reorder::primitive_desc(cpuEngine(), primDesc, cpuEngine(), userDesc));
  }

  // Memory the primitive reads or writes; copies the user's data in first for inputs.
  memory in(float* data) {
    memory user(userDesc, cpuEngine(), data);
    if (!needsReorder) return user;
    SingleThreaded one;
    toPrim.execute(cpuStream(), user, staging);
    cpuStream().wait();
    return staging;
  }
  memory out(float* data) {
    return needsReorder ? staging : memory(userDesc, cpuEngine(), data);
  }
  void finish(float* data) {
    if (!needsReorder) return;
    cpuStream().wait();
    SingleThreaded one;
    memory user(userDesc, cpuEngine(), data);
    fromPrim.execute(cpuStream(), staging, user);
    cpuStream().wait();
  }
};

memory::desc userSrc(const ConvGeometry& g) { return memory::desc(g.src(), dt::f32, tag::nhwc); }
memory::desc userWeights(const ConvGeometry& g) { return memory::desc(g.weights(), dt::f32, tag::hwio); }
memory::desc userDst(const ConvGeometry& g) { return memory::desc(g.dst(), dt::f32, tag::nhwc); }
memory::desc anyDesc(const memory::dims& dims) { return memory::desc(dims, dt::f32, tag::any); }
// Activations stay in tfjs's NHWC layout (TRUSTGC_CONV_LAYOUT=blocked lets the primitive choose).
// Measured over IB-INN MNIST training steps: NHWC convolutions ran ~7 % slower than blocked ones,
// but the blocked layout needed ~450 reorders per step, 13× the time NHWC's few weight reorders took.
memory::desc actDesc(const memory::dims& dims) {
  static const bool blocked = [] {
    const char* v = getenv("TRUSTGC_CONV_LAYOUT");
    return v != nullptr && std::string(v) == "blocked";
  }();
  return memory::desc(dims, dt::f32, blocked ? tag::any : tag::nhwc);
}

dnnl::convolution_forward::primitive_desc forwardPd(const ConvGeometry& g) {
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                    actDesc(g.src()), anyDesc(g.weights()), actDesc(g.dst()), g.strides(),
                                    g.dilations(), g.padL(), g.padR());
  return dnnl::convolution_forward::primitive_desc(d, cpuEngine());
}

struct ConvForward {
  dnnl::convolution_forward prim;
  Staged src, weights, dst;
  explicit ConvForward(const ConvGeometry& g) {
    auto pd = forwardPd(g);
    prim = dnnl::convolution_forward(pd);
    src = Staged(userSrc(g), pd.src_desc(), true, false);
    weights = Staged(userWeights(g), pd.weights_desc(), true, false);
    dst = Staged(userDst(g), pd.dst_desc(), false, true);
  }
  void run(float* x, float* w, float* y) {
    memory dstMem = dst.out(y);
    prim.execute(cpuStream(), {{DNNL_ARG_SRC, src.in(x)}, {DNNL_ARG_WEIGHTS, weights.in(w)}, {DNNL_ARG_DST, dstMem}});
    dst.finish(y);
    cpuStream().wait();
  }
};

struct ConvBackwardData {
  dnnl::convolution_backward_data prim;
  Staged diffDst, weights, diffSrc;
  explicit ConvBackwardData(const ConvGeometry& g) {
    auto hint = forwardPd(g);
    dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, actDesc(g.src()),
                                            anyDesc(g.weights()), actDesc(g.dst()), g.strides(), g.dilations(),
                                            g.padL(), g.padR());
    dnnl::convolution_backward_data::primitive_desc pd(d, cpuEngine(), hint);
    prim = dnnl::convolution_backward_data(pd);
    diffDst = Staged(userDst(g), pd.diff_dst_desc(), true, false);
    weights = Staged(userWeights(g), pd.weights_desc(), true, false);
    diffSrc = Staged(userSrc(g), pd.diff_src_desc(), false, true);
  }
  void run(float* dy, float* w, float* dx) {
    memory out = diffSrc.out(dx);
    prim.execute(cpuStream(), {{DNNL_ARG_DIFF_DST, diffDst.in(dy)}, {DNNL_ARG_WEIGHTS, weights.in(w)}, {DNNL_ARG_DIFF_SRC, out}});
    diffSrc.finish(dx);
    cpuStream().wait();
  }
};

struct ConvBackwardWeights {
  dnnl::convolution_backward_weights prim;
  Staged src, diffDst, diffWeights;
  explicit ConvBackwardWeights(const ConvGeometry& g) {
    auto hint = forwardPd(g);
    dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, actDesc(g.src()),
                                               anyDesc(g.weights()), actDesc(g.dst()), g.strides(), g.dilations(),
                                               g.padL(), g.padR());
    dnnl::convolution_backward_weights::primitive_desc pd(d, cpuEngine(), hint);
    prim = dnnl::convolution_backward_weights(pd);
    src = Staged(userSrc(g), pd.src_desc(), true, false);
    diffDst = Staged(userDst(g), pd.diff_dst_desc(), true, false);
    diffWeights = Staged(userWeights(g), pd.diff_weights_desc(), false, true);
  }
  void run(float* x, float* dy, float* dw) {
    memory out = diffWeights.out(dw);
    prim.execute(cpuStream(), {{DNNL_ARG_SRC, src.in(x)}, {DNNL_ARG_DIFF_DST, diffDst.in(dy)}, {DNNL_ARG_DIFF_WEIGHTS, out}});
    diffWeights.finish(dw);
    cpuStream().wait();
  }
};

template <typename T>
T& cached(std::unordered_map<std::string, std::unique_ptr<T>>& cache, const ConvGeometry& g) {
  auto& slot = cache[g.key()];
  if (!slot) slot = std::make_unique<T>(g);
  return *slot;
}

thread_local std::unordered_map<std::string, std::unique_ptr<ConvForward>> forwardCache;
thread_local std::unordered_map<std::string, std::unique_ptr<ConvBackwardData>> backwardDataCache;
thread_local std::unordered_map<std::string, std::unique_ptr<ConvBackwardWeights>> backwardWeightsCache;

// Which convolutions go through trustgc's lowered-GEMM kernels (gemm_conv.h) instead of oneDNN's
// direct ones. Auto: the wide ones, where the lowering won in a per-shape comparison on two threads
// (npm run bench:conv-lowering; the 3×3 convolutions of the IB-INN presets at batch 32): forward
// with ≥ 24 input and ≥ 64 output channels (0.78–0.90× oneDNN's time; 32→32 was 1.01–1.13×, 16→16
// 1.33×), filter gradient with ≥ 24 input and ≥ 32 output channels (0.73–0.96×; 16→16 was 1.04×,
// 32→2 1.8–2.0×). TRUSTGC_CONV_GEMM=0 turns it off; setConvLowering switches at run time (tests
// force it on for every shape).
enum class Lowering { off = 0, automatic = 1, always = 2 };
std::atomic<Lowering>& lowering() {
  static std::atomic<Lowering> mode = [] {
    const char* v = getenv("TRUSTGC_CONV_GEMM");
    return v != nullptr && (std::string(v) == "0" || std::string(v) == "false") ? Lowering::off : Lowering::automatic;
  }();
  return mode;
}
bool lowered(const ConvGeometry& g, int64_t minOutputChannels) {
  const Lowering mode = lowering();
  return mode == Lowering::always || (mode == Lowering::automatic && g.c >= 24 && g.o >= minOutputChannels);
}
bool lowerForward(const ConvGeometry& g) { return lowered(g, 64); }
bool lowerFilterGradient(const ConvGeometry& g) { return lowered(g, 32); }

// conv2dForward(x, filter, y, geometry[17])
napi_value Conv2dForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 4);
    ConvGeometry g = ConvGeometry::from(intArray(env, a[3], 17, "geometry"));
    float* x = floatData(env, a[0], g.srcSize(), "x");
    float* w = floatData(env, a[1], g.weightsSize(), "filter");
    float* y = floatData(env, a[2], g.dstSize(), "y");
    if (lowerForward(g)) trustgc::gemmConvForward(g.shape(), x, w, y);
    else cached(forwardCache, g).run(x, w, y);
  });
}

// conv2dBackwardData(dy, filter, dx, geometry[17])
napi_value Conv2dBackwardData(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 4);
    ConvGeometry g = ConvGeometry::from(intArray(env, a[3], 17, "geometry"));
    float* dy = floatData(env, a[0], g.dstSize(), "dy");
    float* w = floatData(env, a[1], g.weightsSize(), "filter");
    float* dx = floatData(env, a[2], g.srcSize(), "dx");
    cached(backwardDataCache, g).run(dy, w, dx);
  });
}

// conv2dBackwardFilter(x, dy, dw, geometry[17])
napi_value Conv2dBackwardFilter(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 4);
    ConvGeometry g = ConvGeometry::from(intArray(env, a[3], 17, "geometry"));
    float* x = floatData(env, a[0], g.srcSize(), "x");
    float* dy = floatData(env, a[1], g.dstSize(), "dy");
    float* dw = floatData(env, a[2], g.weightsSize(), "dw");
    if (lowerFilterGradient(g)) trustgc::gemmConvBackwardFilter(g.shape(), x, dy, dw);
    else cached(backwardWeightsCache, g).run(x, dy, dw);
  });
}

// ---------------------------------------------------------------- matmul

// c[b] = op(a[b]) · op(b[b]); a is [batch, m, k] (or [batch, k, m] transposed), likewise b.
struct MatMul {
  dnnl::matmul prim;
  memory::desc a, b, c;
  MatMul(int64_t batch, int64_t m, int64_t k, int64_t n, bool transA, bool transB) {
    // A transposed operand is the same buffer read with swapped strides.
    a = memory::desc({batch, m, k}, dt::f32, transA ? memory::dims{m * k, 1, m} : memory::dims{m * k, k, 1});
    b = memory::desc({batch, k, n}, dt::f32, transB ? memory::dims{k * n, 1, k} : memory::dims{k * n, n, 1});
    c = memory::desc({batch, m, n}, dt::f32, memory::dims{m * n, n, 1});
    dnnl::matmul::desc d(a, b, c);
    prim = dnnl::matmul(dnnl::matmul::primitive_desc(d, cpuEngine()));
  }
};

thread_local std::unordered_map<std::string, std::unique_ptr<MatMul>> matmulCache;

// matMul(a, b, c, [batch, m, k, n, transA, transB])
napi_value MatMulKernel(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 4);
    auto d = intArray(env, a[3], 6, "dims");
    int64_t batch = d[0], m = d[1], k = d[2], n = d[3];
    float* pa = floatData(env, a[0], batch * m * k, "a");
    float* pb = floatData(env, a[1], batch * k * n, "b");
    float* pc = floatData(env, a[2], batch * m * n, "c");
    std::string key;
    for (int64_t v : d) key += std::to_string(v) + ",";
    auto& slot = matmulCache[key];
    if (!slot) slot = std::make_unique<MatMul>(batch, m, k, n, d[4] != 0, d[5] != 0);
    memory ma(slot->a, cpuEngine(), pa), mb(slot->b, cpuEngine(), pb), mc(slot->c, cpuEngine(), pc);
    // below ~4 MFLOP a second thread does not pay for its wake-up
    std::unique_ptr<SingleThreaded> one;
    if (2.0 * batch * m * k * n < 4e6) one = std::make_unique<SingleThreaded>();
    slot->prim.execute(cpuStream(), {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}});
    cpuStream().wait();
  });
}

// ---------------------------------------------------------------- fused element-wise kernels

// batchNormForward(x, gamma, beta, y, mean, variance, invStd, [rows, c, eps, relu])
napi_value BatchNormForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 8);
    auto d = numberArray(env, a[7], 4, "dims");
    const int64_t rows = static_cast<int64_t>(d[0]), c = static_cast<int64_t>(d[1]);
    trustgc::batchNormTrainForward(floatData(env, a[0], rows * c, "x"), floatData(env, a[1], c, "gamma"),
                                   floatData(env, a[2], c, "beta"), floatData(env, a[3], rows * c, "y"),
                                   floatData(env, a[4], c, "mean"), floatData(env, a[5], c, "variance"),
                                   floatData(env, a[6], c, "invStd"), rows, c, d[2], d[3] != 0);
  });
}

// batchNormBackward(dy, x, y | null, mean, invStd, gamma, dx, dgamma, dbeta, [rows, c]); y only for the relu variant
napi_value BatchNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 10);
    auto d = numberArray(env, a[9], 2, "dims");
    const int64_t rows = static_cast<int64_t>(d[0]), c = static_cast<int64_t>(d[1]);
    const float* y = optionalFloatData(env, a[2], rows * c, "y");
    trustgc::batchNormTrainBackward(floatData(env, a[0], rows * c, "dy"), floatData(env, a[1], rows * c, "x"), y,
                                    floatData(env, a[3], c, "mean"), floatData(env, a[4], c, "invStd"),
                                    floatData(env, a[5], c, "gamma"), floatData(env, a[6], rows * c, "dx"),
                                    floatData(env, a[7], c, "dgamma"), floatData(env, a[8], c, "dbeta"), rows, c);
  });
}

// affineForward(u, a, v, logdet, [samples, rowsPerSample, c, clamp, inScale, shiftScale])
napi_value AffineForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 5);
    auto d = numberArray(env, a[4], 6, "dims");
    const int64_t n = static_cast<int64_t>(d[0]), r = static_cast<int64_t>(d[1]), c = static_cast<int64_t>(d[2]);
    trustgc::softClampAffineForward(floatData(env, a[0], n * r * c, "u"), floatData(env, a[1], n * r * 2 * c, "a"),
                                    floatData(env, a[2], n * r * c, "v"), floatData(env, a[3], n, "logdet"), n, r, c,
                                    d[3], d[4], d[5]);
  });
}

// affineBackward(dv, dlogdet, u, a, du, da, [samples, rowsPerSample, c, clamp, inScale, shiftScale])
napi_value AffineBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 7);
    auto d = numberArray(env, a[6], 6, "dims");
    const int64_t n = static_cast<int64_t>(d[0]), r = static_cast<int64_t>(d[1]), c = static_cast<int64_t>(d[2]);
    trustgc::softClampAffineBackward(floatData(env, a[0], n * r * c, "dv"), floatData(env, a[1], n, "dlogdet"),
                                     floatData(env, a[2], n * r * c, "u"), floatData(env, a[3], n * r * 2 * c, "a"),
                                     floatData(env, a[4], n * r * c, "du"), floatData(env, a[5], n * r * 2 * c, "da"),
                                     n, r, c, d[3], d[4], d[5]);
  });
}

// channelAffineForward(x, scale, shift, y, [rows, c, relu])
napi_value ChannelAffineForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 5);
    auto d = numberArray(env, a[4], 3, "dims");
    const int64_t rows = static_cast<int64_t>(d[0]), c = static_cast<int64_t>(d[1]);
    trustgc::channelAffineForward(floatData(env, a[0], rows * c, "x"), floatData(env, a[1], c, "scale"),
                                  floatData(env, a[2], c, "shift"), floatData(env, a[3], rows * c, "y"), rows, c,
                                  d[2] != 0);
  });
}

// channelAffineBackward(dy, x, y | null, scale, dx, dscale, dshift, [rows, c]); y only for the relu variant
napi_value ChannelAffineBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 8);
    auto d = numberArray(env, a[7], 2, "dims");
    const int64_t rows = static_cast<int64_t>(d[0]), c = static_cast<int64_t>(d[1]);
    const float* y = optionalFloatData(env, a[2], rows * c, "y");
    trustgc::channelAffineBackward(floatData(env, a[0], rows * c, "dy"), floatData(env, a[1], rows * c, "x"), y,
                                   floatData(env, a[3], c, "scale"), floatData(env, a[4], rows * c, "dx"),
                                   floatData(env, a[5], c, "dscale"), floatData(env, a[6], c, "dshift"), rows, c);
  });
}

std::vector<float*> floatViews(napi_env env, napi_value list, const std::vector<int64_t>& sizes, const char* name) {
  bool isArray = false;
  napi_is_array(env, list, &isArray);
  if (!isArray) throw ArgError{std::string(name) + " must be an array of Float32Arrays"};
  uint32_t length = 0;
  napi_get_array_length(env, list, &length);
  if (length != sizes.size()) throw ArgError{std::string(name) + " must have " + std::to_string(sizes.size()) + " entries"};
  std::vector<float*> out(length);
  for (uint32_t i = 0; i < length; i++) {
    napi_value item;
    napi_get_element(env, list, i, &item);
    out[i] = floatData(env, item, sizes[i], name);
  }
  return out;
}

// optimizerStep(g, slotsIn[], slotsOut[], params[], paramsOut[], sizes[],
//               [adam, lr, gradScale, weightDecay, momentum, beta1, beta2, eps, bc1, bc2])
napi_value OptimizerStepKernel(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 7);
    uint32_t count = 0;
    napi_get_array_length(env, a[5], &count);
    auto sizes = intArray(env, a[5], count, "sizes");
    int64_t total = 0;
    for (int64_t n : sizes) total += n;
    auto h = numberArray(env, a[6], 10, "hyper");
    trustgc::OptimizerStep o{h[0] != 0, 0, h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]};
    uint32_t slotCount = 0;
    napi_get_array_length(env, a[1], &slotCount);
    o.slots = static_cast<int>(slotCount);
    if (o.adam && o.slots != 2) throw ArgError{"Adam needs two slots"};
    if (!o.adam && o.slots > 1) throw ArgError{"SGD takes at most one slot"};
    std::vector<int64_t> slotSizes(slotCount, total);
    auto slotsIn = floatViews(env, a[1], slotSizes, "slotsIn");
    auto slotsOut = floatViews(env, a[2], slotSizes, "slotsOut");
    auto params = floatViews(env, a[3], sizes, "params");
    auto paramsOut = floatViews(env, a[4], sizes, "paramsOut");
    std::vector<const float*> slotsInC(slotsIn.begin(), slotsIn.end()), paramsC(params.begin(), params.end());
    trustgc::optimizerStep(o, floatData(env, a[0], total, "g"), slotsInC.data(), slotsOut.data(), paramsC.data(),
                           paramsOut.data(), sizes.data(), static_cast<int64_t>(sizes.size()));
  });
}

// copyRows(src, dst, [rows, n, srcStride, srcOffset, dstStride, dstOffset])
napi_value CopyRows(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 3);
    auto d = intArray(env, a[2], 6, "dims");
    const int64_t rows = d[0], n = d[1], srcStride = d[2], srcOffset = d[3], dstStride = d[4], dstOffset = d[5];
    size_t srcLength = 0, dstLength = 0;
    const float* src = floatSpan(env, a[0], &srcLength, "src");
    float* dst = floatSpan(env, a[1], &dstLength, "dst");
    if (rows < 0 || n < 0 || srcOffset < 0 || dstOffset < 0 || srcOffset + n > srcStride || dstOffset + n > dstStride) {
      throw ArgError{"copyRows: inconsistent row geometry"};
    }
    if (rows > 0 && (static_cast<size_t>((rows - 1) * srcStride + srcOffset + n) > srcLength ||
                     static_cast<size_t>((rows - 1) * dstStride + dstOffset + n) > dstLength)) {
      throw ArgError{"copyRows: rows run past the end of src or dst"};
    }
    trustgc::copyRows(src, dst, rows, n, srcStride, srcOffset, dstStride, dstOffset);
  });
}

// sumOfSquares(x) → Σ x²
napi_value SumOfSquares(napi_env env, napi_callback_info info) {
  napi_value result = nullptr;
  napi_value status = guarded(env, [&] {
    auto a = args(env, info, 1);
    size_t length = 0;
    const float* x = floatSpan(env, a[0], &length, "x");
    napi_create_double(env, trustgc::sumOfSquares(x, static_cast<int64_t>(length)), &result);
  });
  return result ? result : status;
}

// ---------------------------------------------------------------- threads and info

napi_value SetNumThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 1);
    double n = 0;
    napi_get_value_double(env, a[0], &n);
    if (n < 1) throw ArgError{"thread count must be at least 1"};
    omp_set_num_threads(static_cast<int>(n));
  });
}

// setConvLowering(mode): 0 off, 1 automatic (by shape), 2 always
napi_value SetConvLowering(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 1);
    int32_t mode = -1;
    napi_get_value_int32(env, a[0], &mode);
    if (mode < 0 || mode > 2) throw ArgError{"convolution lowering mode must be 0, 1 or 2"};
    lowering() = static_cast<Lowering>(mode);
  });
}

napi_value GetNumThreads(napi_env env, napi_callback_info) {
  napi_value out;
  napi_create_int32(env, omp_get_max_threads(), &out);
  return out;
}

napi_value Version(napi_env env, napi_callback_info) {
  const dnnl_version_t* v = dnnl_version();
  std::string s = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  napi_value out;
  napi_create_string_utf8(env, s.c_str(), s.size(), &out);
  return out;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"conv2dForward", nullptr, Conv2dForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackwardData", nullptr, Conv2dBackwardData, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackwardFilter", nullptr, Conv2dBackwardFilter, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"matMul", nullptr, MatMulKernel, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormForward", nullptr, BatchNormForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"batchNormBackward", nullptr, BatchNormBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"affineForward", nullptr, AffineForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"affineBackward", nullptr, AffineBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"channelAffineForward", nullptr, ChannelAffineForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"channelAffineBackward", nullptr, ChannelAffineBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"optimizerStep", nullptr, OptimizerStepKernel, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"copyRows", nullptr, CopyRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sumOfSquares", nullptr, SumOfSquares, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setNumThreads", nullptr, SetNumThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setConvLowering", nullptr, SetConvLowering, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"getNumThreads", nullptr, GetNumThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"version", nullptr, Version, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
