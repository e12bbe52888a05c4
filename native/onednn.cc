// Neuron Lens optional native CPU kernels: convolutions (forward and input gradient, regular and depthwise)
// and batched matmuls on oneDNN (Debian's libdnnl), called by src/core/backend/onednn.ts with Float32Array
// views of the wasm backend's heap. Every call is synchronous and writes into an output the caller allocated.
//
// Plain NHWC / row-major tensors in and out; oneDNN picks its own weight layout ("any") and the reordered
// weights are kept per caller-given weight id (a constant filter is reordered once, not every step) until
// release(id). Primitives are kept per shape.
#include <node_api.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <cmath>
#include <algorithm>
#include <cstring>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

engine& eng() {
  static engine e(engine::kind::cpu, 0);
  return e;
}
stream& strm() {
  static stream s(eng());
  return s;
}

enum Act { kNone = 0, kRelu = 1, kRelu6 = 2 };

primitive_attr actAttr(int act) {
  primitive_attr attr;
  if (act != kNone) {
    post_ops po;
    if (act == kRelu) po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    else po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f);
    attr.set_post_ops(po);
  }
  return attr;
}

// ---- convolution ---------------------------------------------------------------------------------

// params: mode (0 forward, 1 input gradient), n, ih, iw, ic, oh, ow, oc, kh, kw, groups, sh, sw, dh, dw,
//         pt, pl, pb, pr, act (forward only), weight id (0: not kept)
constexpr int kConvParams = 21;

struct ConvPrim {
  primitive prim;
  memory::desc src, wei, dst, userWei;  // src/dst in the call's direction: x->y forward, dy->dx backward
  bool hasBias = false;
};

std::unordered_map<std::string, std::unique_ptr<ConvPrim>> convPrims;
// weight id -> (primitive key -> reordered weights)
std::unordered_map<int, std::unordered_map<std::string, memory>> keptWeights;

std::string keyOf(const int* p, int n) {
  std::string k(reinterpret_cast<const char*>(p), sizeof(int) * n);
  return k;
}

ConvPrim& convPrim(const int* p, bool hasBias) {
  // The key leaves out the weight id (last param) and adds the bias flag.
  std::string key = keyOf(p, kConvParams - 1) + (hasBias ? "b" : "-");
  auto it = convPrims.find(key);
  if (it != convPrims.end()) return *it->second;
  const int mode = p[0], n = p[1], ih = p[2], iw = p[3], ic = p[4], oh = p[5], ow = p[6], oc = p[7], kh = p[8], kw = p[9],
            g = p[10], sh = p[11], sw = p[12], dh = p[13], dw = p[14], pt = p[15], pl = p[16], pb = p[17], pr = p[18], act = p[19];
  memory::desc xmd({n, ic, ih, iw}, dt::f32, tag::nhwc);
  memory::desc ymd({n, oc, oh, ow}, dt::f32, tag::nhwc);
  memory::desc wany, wuser;
  if (g == 1) {
    wany = memory::desc({oc, ic, kh, kw}, dt::f32, tag::any);
    wuser = memory::desc({oc, ic, kh, kw}, dt::f32, tag::hwio);
  } else {
    wany = memory::desc({g, oc / g, ic / g, kh, kw}, dt::f32, tag::any);
    wuser = memory::desc({g, oc / g, ic / g, kh, kw}, dt::f32, tag::hwigo);
  }
  memory::desc bmd({oc}, dt::f32, tag::a);
  memory::dims strides{sh, sw}, dil{dh - 1, dw - 1}, padL{pt, pl}, padR{pb, pr};
  auto c = std::make_unique<ConvPrim>();
  c->userWei = wuser;
  auto fwdDesc = hasBias && mode == 0
                     ? convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, xmd, wany, bmd, ymd, strides, dil, padL, padR)
                     : convolution_forward::desc(mode == 0 ? prop_kind::forward_inference : prop_kind::forward_training,
                                                 algorithm::convolution_direct, xmd, wany, ymd, strides, dil, padL, padR);
  if (mode == 0) {
    convolution_forward::primitive_desc pd(fwdDesc, actAttr(act), eng());
    c->prim = convolution_forward(pd);
    c->src = pd.src_desc();
    c->wei = pd.weights_desc();
    c->dst = pd.dst_desc();
    c->hasBias = hasBias;
  } else {
    convolution_forward::primitive_desc hint(fwdDesc, eng());
    convolution_backward_data::desc bd(algorithm::convolution_direct, xmd, wany, ymd, strides, dil, padL, padR);
    convolution_backward_data::primitive_desc pd(bd, eng(), hint);
    c->prim = convolution_backward_data(pd);
    c->src = pd.diff_dst_desc();
    c->wei = pd.weights_desc();
    c->dst = pd.diff_src_desc();
  }
  auto& ref = *c;
  convPrims.emplace(key, std::move(c));
  return ref;
}

memory weightsFor(ConvPrim& c, const std::string& primKey, int wid, float* data) {
  memory user(c.userWei, eng(), data);
  if (c.wei == c.userWei) return user;
  if (wid != 0) {
    auto& perPrim = keptWeights[wid];
    auto it = perPrim.find(primKey);
    if (it != perPrim.end()) return it->second;
  }
  memory re(c.wei, eng());
  reorder(user, re).execute(strm(), user, re);
  if (wid != 0) keptWeights[wid].emplace(primKey, re);
  return re;
}

// ---- N-API plumbing ------------------------------------------------------------------------------

struct View {
  void* data = nullptr;
  size_t bytes = 0;
};

bool typed(napi_env env, napi_value v, napi_typedarray_type want, View* out, const char* what) {
  bool isTyped = false;
  napi_is_typedarray(env, v, &isTyped);
  if (!isTyped) {
    napi_throw_type_error(env, nullptr, (std::string(what) + " must be a typed array").c_str());
    return false;
  }
  napi_typedarray_type t;
  size_t len;
  napi_value ab;
  size_t off;
  napi_get_typedarray_info(env, v, &t, &len, &out->data, &ab, &off);
  if (t != want) {
    napi_throw_type_error(env, nullptr, (std::string(what) + " has the wrong element type").c_str());
    return false;
  }
  out->bytes = len * (t == napi_float64_array ? 8 : t == napi_int32_array || t == napi_float32_array ? 4 : 1);
  if (out->data == nullptr && len > 0) {
    napi_throw_error(env, nullptr, (std::string(what) + ": no data pointer (detached buffer?)").c_str());
    return false;
  }
  return true;
}

bool isNull(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_null || t == napi_undefined;
}

bool need(napi_env env, const View& v, size_t floats, const char* what) {
  if (v.bytes < floats * 4) {
    napi_throw_range_error(env, nullptr, (std::string(what) + " is smaller than its shape").c_str());
    return false;
  }
  return true;
}

// conv(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, params: Int32Array)
napi_value Conv(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc != 5) {
    napi_throw_error(env, nullptr, "conv expects 5 arguments");
    return nullptr;
  }
  View x, w, b, y, pv;
  if (!typed(env, args[0], napi_float32_array, &x, "x") || !typed(env, args[1], napi_float32_array, &w, "filter") ||
      !typed(env, args[3], napi_float32_array, &y, "y") || !typed(env, args[4], napi_int32_array, &pv, "params"))
    return nullptr;
  const bool hasBias = !isNull(env, args[2]);
  if (hasBias && !typed(env, args[2], napi_float32_array, &b, "bias")) return nullptr;
  if (pv.bytes != kConvParams * 4) {
    napi_throw_range_error(env, nullptr, "conv params must have 21 entries");
    return nullptr;
  }
  const int* p = static_cast<const int*>(pv.data);
  const int mode = p[0], n = p[1], ih = p[2], iw = p[3], ic = p[4], oh = p[5], ow = p[6], oc = p[7], kh = p[8], kw = p[9], g = p[10];
  if (g < 1 || ic % g != 0 || oc % g != 0) {
    napi_throw_range_error(env, nullptr, "conv: channels are not divisible by groups");
    return nullptr;
  }
  const size_t inFloats = size_t(n) * ih * iw * ic, outFloats = size_t(n) * oh * ow * oc, wFloats = size_t(kh) * kw * (ic / g) * oc;
  const size_t srcFloats = mode == 0 ? inFloats : outFloats, dstFloats = mode == 0 ? outFloats : inFloats;
  if (!need(env, x, srcFloats, "x") || !need(env, y, dstFloats, "y") || !need(env, w, wFloats, "filter") ||
      (hasBias && !need(env, b, oc, "bias")))
    return nullptr;
  try {
    ConvPrim& c = convPrim(p, hasBias);
    std::string primKey = keyOf(p, kConvParams - 1) + (hasBias ? "b" : "-");
    memory src(c.src, eng(), x.data), dst(c.dst, eng(), y.data);
    memory wei = weightsFor(c, primKey, p[20], static_cast<float*>(w.data));
    if (mode == 0) {
      std::unordered_map<int, memory> a{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
      if (hasBias) a.emplace(DNNL_ARG_BIAS, memory(memory::desc({oc}, dt::f32, tag::a), eng(), b.data));
      c.prim.execute(strm(), a);
    } else {
      c.prim.execute(strm(), {{DNNL_ARG_DIFF_DST, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, dst}});
    }
    strm().wait();
  } catch (const dnnl::error& e) {
    napi_throw_error(env, nullptr, (std::string("oneDNN convolution: ") + e.what()).c_str());
  }
  return nullptr;
}

// ---- matmul ---------------------------------------------------------------------------------------

// params: batchA, batchB, m, k, n, transposeA, transposeB, act, weight id of b (0: not kept; only with batchB 1)
constexpr int kMatParams = 9;
struct MatPrim {
  matmul prim;
  memory::desc wei;  // what the primitive reads: b's own layout, or oneDNN's ("any") for a kept b
};
std::unordered_map<std::string, std::unique_ptr<MatPrim>> matPrims;

// matmul(a, b, bias | null, c, params): c[batch, m, n] = act(op(a) x op(b) + bias); a batch of 1 broadcasts.
napi_value MatMul(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc != 5) {
    napi_throw_error(env, nullptr, "matmul expects 5 arguments");
    return nullptr;
  }
  View a, bm, bias, c, pv;
  if (!typed(env, args[0], napi_float32_array, &a, "a") || !typed(env, args[1], napi_float32_array, &bm, "b") ||
      !typed(env, args[3], napi_float32_array, &c, "c") || !typed(env, args[4], napi_int32_array, &pv, "params"))
    return nullptr;
  const bool hasBias = !isNull(env, args[2]);
  if (hasBias && !typed(env, args[2], napi_float32_array, &bias, "bias")) return nullptr;
  if (pv.bytes != kMatParams * 4) {
    napi_throw_range_error(env, nullptr, "matmul params must have 9 entries");
    return nullptr;
  }
  const int* p = static_cast<const int*>(pv.data);
  const memory::dim ba = p[0], bb = p[1], m = p[2], k = p[3], n = p[4];
  const bool ta = p[5] != 0, tb = p[6] != 0;
  const int act = p[7];
  const memory::dim batch = ba > bb ? ba : bb;
  if ((ba != batch && ba != 1) || (bb != batch && bb != 1)) {
    napi_throw_range_error(env, nullptr, "matmul: batch sizes do not broadcast");
    return nullptr;
  }
  if (!need(env, a, size_t(ba * m * k), "a") || !need(env, bm, size_t(bb * k * n), "b") || !need(env, c, size_t(batch * m * n), "c") ||
      (hasBias && !need(env, bias, size_t(n), "bias")))
    return nullptr;
  try {
    memory::desc amd({ba, m, k}, dt::f32, ta ? memory::dims{m * k, 1, m} : memory::dims{m * k, k, 1});
    memory::desc bmd({bb, k, n}, dt::f32, tb ? memory::dims{k * n, 1, k} : memory::dims{k * n, n, 1});
    memory::desc cmd({batch, m, n}, dt::f32, memory::dims{m * n, n, 1});
    memory::desc biasmd({1, 1, n}, dt::f32, memory::dims{n, n, 1});
    // A kept b (a constant, by weight id) is reordered once into oneDNN's own layout, as for convolutions.
    const int wid = bb == 1 ? p[8] : 0;
    std::string key = keyOf(p, kMatParams - 1) + (hasBias ? "b" : "-") + (wid ? "k" : "-");
    auto it = matPrims.find(key);
    if (it == matPrims.end()) {
      memory::desc wmd = wid ? memory::desc({bb, k, n}, dt::f32, tag::any) : bmd;
      auto d = hasBias ? matmul::desc(amd, wmd, biasmd, cmd) : matmul::desc(amd, wmd, cmd);
      matmul::primitive_desc pd(d, actAttr(act), eng());
      it = matPrims.emplace(key, std::unique_ptr<MatPrim>(new MatPrim{matmul(pd), pd.weights_desc()})).first;
    }
    memory user(bmd, eng(), bm.data);
    memory wei = user;
    if (it->second->wei != bmd) {
      auto& perPrim = keptWeights[wid];
      auto kw = perPrim.find(key);
      if (kw == perPrim.end()) {
        memory re(it->second->wei, eng());
        reorder(user, re).execute(strm(), user, re);
        kw = perPrim.emplace(key, re).first;
      }
      wei = kw->second;
    }
    std::unordered_map<int, memory> args2{{DNNL_ARG_SRC, memory(amd, eng(), a.data)},
                                          {DNNL_ARG_WEIGHTS, wei},
                                          {DNNL_ARG_DST, memory(cmd, eng(), c.data)}};
    if (hasBias) args2.emplace(DNNL_ARG_BIAS, memory(biasmd, eng(), bias.data));
    it->second->prim.execute(strm(), args2);
    strm().wait();
  } catch (const dnnl::error& e) {
    napi_throw_error(env, nullptr, (std::string("oneDNN matmul: ") + e.what()).c_str());
  }
  return nullptr;
}

// actGrad(dy, y, out, act): out = dy where the activation's output y is on its slope (relu: y > 0;
// relu6: 0 < y < 6), else 0. The input gradient of a fused convolution's activation.
napi_value ActGrad(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  View dy, y, out;
  int32_t act = 0;
  if (argc != 4 || !typed(env, args[0], napi_float32_array, &dy, "dy") || !typed(env, args[1], napi_float32_array, &y, "y") ||
      !typed(env, args[2], napi_float32_array, &out, "out"))
    return nullptr;
  if (napi_get_value_int32(env, args[3], &act) != napi_ok || (act != kRelu && act != kRelu6)) {
    napi_throw_range_error(env, nullptr, "actGrad: act must be 1 (relu) or 2 (relu6)");
    return nullptr;
  }
  const size_t n = dy.bytes / 4;
  if (y.bytes / 4 != n || out.bytes / 4 != n) {
    napi_throw_range_error(env, nullptr, "actGrad: dy, y and out differ in size");
    return nullptr;
  }
  const float* d = static_cast<const float*>(dy.data);
  const float* v = static_cast<const float*>(y.data);
  float* o = static_cast<float*>(out.data);
  const float hi = act == kRelu6 ? 6.f : __builtin_inff();
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++) {
    const bool on = (v[i] > 0.f) & (v[i] < hi);
    o[i] = on ? d[i] : 0.f;
  }
  return nullptr;
}

bool rowsOf(napi_env env, napi_callback_info info, int nargs, View* views, int32_t* cols, const char* what) {
  size_t argc = 4;
  napi_value args[4];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (int(argc) != nargs + 1) {
    napi_throw_error(env, nullptr, (std::string(what) + ": wrong number of arguments").c_str());
    return false;
  }
  for (int i = 0; i < nargs; i++)
    if (!typed(env, args[i], napi_float32_array, &views[i], what)) return false;
  if (napi_get_value_int32(env, args[nargs], cols) != napi_ok || *cols < 1) {
    napi_throw_range_error(env, nullptr, (std::string(what) + ": the row length must be a positive integer").c_str());
    return false;
  }
  for (int i = 1; i < nargs; i++)
    if (views[i].bytes != views[0].bytes || (views[0].bytes / 4) % *cols != 0) {
      napi_throw_range_error(env, nullptr, (std::string(what) + ": arrays differ in size or are not whole rows").c_str());
      return false;
    }
  return true;
}

// softmax(x, y, cols): y = softmax of each row of x.
napi_value Softmax(napi_env env, napi_callback_info info) {
  View v[2];
  int32_t cols;
  if (!rowsOf(env, info, 2, v, &cols, "softmax")) return nullptr;
  const float* x = static_cast<const float*>(v[0].data);
  float* y = static_cast<float*>(v[1].data);
  const int64_t rows = int64_t(v[0].bytes / 4) / cols;
#pragma omp parallel for schedule(static) if (rows * cols > 16384)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = xr[0];
    for (int j = 1; j < cols; j++) m = xr[j] > m ? xr[j] : m;
    float sum = 0.f;
    for (int j = 0; j < cols; j++) {
      yr[j] = expf(xr[j] - m);
      sum += yr[j];
    }
    const float inv = 1.f / sum;
    for (int j = 0; j < cols; j++) yr[j] *= inv;
  }
  return nullptr;
}

// softmaxGrad(dy, y, dx, cols): dx = y * (dy - sum(dy * y)) per row (the softmax's input gradient from its output).
napi_value SoftmaxGrad(napi_env env, napi_callback_info info) {
  View v[3];
  int32_t cols;
  if (!rowsOf(env, info, 3, v, &cols, "softmaxGrad")) return nullptr;
  const float* dy = static_cast<const float*>(v[0].data);
  const float* y = static_cast<const float*>(v[1].data);
  float* dx = static_cast<float*>(v[2].data);
  const int64_t rows = int64_t(v[0].bytes / 4) / cols;
#pragma omp parallel for schedule(static) if (rows * cols > 16384)
  for (int64_t r = 0; r < rows; r++) {
    const float* g = dy + r * cols;
    const float* p = y + r * cols;
    float* o = dx + r * cols;
    float dot = 0.f;
    for (int j = 0; j < cols; j++) dot += g[j] * p[j];
    for (int j = 0; j < cols; j++) o[j] = p[j] * (g[j] - dot);
  }
  return nullptr;
}

// layerNorm(x, gamma | null, beta | null, y, cols, eps): y = (x - mean) / sqrt(var + eps) * gamma + beta per row.
// layerNormGrad(dy, x, gamma | null, dx, cols, eps): its input gradient,
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma, xhat the normalized x.
napi_value LayerNormBoth(napi_env env, napi_callback_info info, bool grad) {
  const char* what = grad ? "layerNormGrad" : "layerNorm";
  size_t argc = 6;
  napi_value args[6];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc != 6) {
    napi_throw_error(env, nullptr, (std::string(what) + " expects 6 arguments").c_str());
    return nullptr;
  }
  View a, b, gamma, beta, out;
  int32_t cols;
  double eps;
  // forward: x, gamma, beta, y; gradient: dy, x, gamma, dx
  if (!typed(env, args[0], napi_float32_array, &a, what) || !typed(env, args[3], napi_float32_array, &out, what)) return nullptr;
  if (grad ? !typed(env, args[1], napi_float32_array, &b, what) : false) return nullptr;
  const int gi = grad ? 2 : 1;
  const bool hasGamma = !isNull(env, args[gi]);
  if (hasGamma && !typed(env, args[gi], napi_float32_array, &gamma, what)) return nullptr;
  const bool hasBeta = !grad && !isNull(env, args[2]);
  if (hasBeta && !typed(env, args[2], napi_float32_array, &beta, what)) return nullptr;
  if (napi_get_value_int32(env, args[4], &cols) != napi_ok || cols < 1 || napi_get_value_double(env, args[5], &eps) != napi_ok) {
    napi_throw_range_error(env, nullptr, (std::string(what) + ": bad row length or epsilon").c_str());
    return nullptr;
  }
  const size_t n = a.bytes / 4;
  if (n % cols != 0 || out.bytes != a.bytes || (grad && b.bytes != a.bytes) || (hasGamma && gamma.bytes / 4 != size_t(cols)) ||
      (hasBeta && beta.bytes / 4 != size_t(cols))) {
    napi_throw_range_error(env, nullptr, (std::string(what) + ": sizes do not match").c_str());
    return nullptr;
  }
  const float* x = static_cast<const float*>(grad ? b.data : a.data);
  const float* dy = grad ? static_cast<const float*>(a.data) : nullptr;
  const float* g = hasGamma ? static_cast<const float*>(gamma.data) : nullptr;
  const float* be = hasBeta ? static_cast<const float*>(beta.data) : nullptr;
  float* o = static_cast<float*>(out.data);
  const int64_t rows = int64_t(n) / cols;
#pragma omp parallel for schedule(static) if (int64_t(n) > 16384)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    float* orow = o + r * cols;
    double mean = 0, var = 0;
    for (int j = 0; j < cols; j++) mean += xr[j];
    mean /= cols;
    for (int j = 0; j < cols; j++) var += (xr[j] - mean) * (xr[j] - mean);
    var /= cols;
    const double rstd = 1.0 / std::sqrt(var + eps);
    if (!grad) {
      for (int j = 0; j < cols; j++) {
        double v = (xr[j] - mean) * rstd;
        if (g) v *= g[j];
        if (be) v += be[j];
        orow[j] = float(v);
      }
      continue;
    }
    const float* d = dy + r * cols;
    double mg = 0, mgx = 0;
    for (int j = 0; j < cols; j++) {
      const double gj = g ? double(d[j]) * g[j] : d[j];
      mg += gj;
      mgx += gj * (xr[j] - mean) * rstd;
    }
    mg /= cols;
    mgx /= cols;
    for (int j = 0; j < cols; j++) {
      const double gj = g ? double(d[j]) * g[j] : d[j];
      orow[j] = float(rstd * (gj - mg - (xr[j] - mean) * rstd * mgx));
    }
  }
  return nullptr;
}
napi_value LayerNorm(napi_env env, napi_callback_info info) { return LayerNormBoth(env, info, false); }
napi_value LayerNormGrad(napi_env env, napi_callback_info info) { return LayerNormBoth(env, info, true); }

// channelAffine(x, scale, offset, y, act): y = act(x * scale[c] + offset[c]), c the last axis (an inference batch norm
// and its relu). channelAffineGrad(dy, y, scale, dx, act): dx = dy * scale[c] where y is on the activation's slope.
napi_value ChannelAffineBoth(napi_env env, napi_callback_info info, bool grad) {
  const char* what = grad ? "channelAffineGrad" : "channelAffine";
  size_t argc = 5;
  napi_value args[5];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  View a, b, scale, out;
  int32_t act = 0;
  // forward: (x, scale, offset, y); gradient: (dy, y, scale, dx). a = x or dy, b = offset or y.
  if (argc != 5 || !typed(env, args[0], napi_float32_array, &a, what) || !typed(env, args[grad ? 1 : 2], napi_float32_array, &b, what) ||
      !typed(env, args[grad ? 2 : 1], napi_float32_array, &scale, what) || !typed(env, args[3], napi_float32_array, &out, what))
    return nullptr;
  if (napi_get_value_int32(env, args[4], &act) != napi_ok || act < kNone || act > kRelu6) {
    napi_throw_range_error(env, nullptr, (std::string(what) + ": act must be 0, 1 or 2").c_str());
    return nullptr;
  }
  const size_t n = a.bytes / 4, c = scale.bytes / 4;
  if (c == 0 || n % c != 0 || out.bytes != a.bytes || (grad ? b.bytes != a.bytes : b.bytes != scale.bytes)) {
    napi_throw_range_error(env, nullptr, (std::string(what) + ": sizes do not match").c_str());
    return nullptr;
  }
  const float* av = static_cast<const float*>(a.data);
  const float* bv = static_cast<const float*>(b.data);
  const float* sv = static_cast<const float*>(scale.data);
  float* o = static_cast<float*>(out.data);
  const float hi = act == kRelu6 ? 6.f : __builtin_inff();
  const int64_t rows = int64_t(n / c);
#pragma omp parallel for schedule(static) if (int64_t(n) > 65536)
  for (int64_t r = 0; r < rows; r++) {
    const float* ar = av + r * c;
    float* orow = o + r * c;
    if (!grad) {
      for (size_t j = 0; j < c; j++) {
        float v = ar[j] * sv[j] + bv[j];
        if (act != kNone) v = v < 0.f ? 0.f : (v > hi ? hi : v);
        orow[j] = v;
      }
    } else {
      const float* yr = bv + r * c;
      for (size_t j = 0; j < c; j++) {
        const bool on = act == kNone || ((yr[j] > 0.f) & (yr[j] < hi));
        orow[j] = on ? ar[j] * sv[j] : 0.f;
      }
    }
  }
  return nullptr;
}
napi_value ChannelAffine(napi_env env, napi_callback_info info) { return ChannelAffineBoth(env, info, false); }
napi_value ChannelAffineGrad(napi_env env, napi_callback_info info) { return ChannelAffineBoth(env, info, true); }

// affineSample(x, out, affines, params, fill) and affineSampleGrad(dy, dx, affines, params): the bilinear resampler of
// src/core/render/sampler.ts (which has the semantics), the same arithmetic (float64 positions and weights).
// params: b, h, w, c, oh, ow; affines: 6 float64 per batch element.
struct Taps {
  int64_t idx[4];
  double wt[4];
  double wf;
};

inline void tapsAt(const double* m, int64_t base, int h, int w, int c, int i, int j, Taps* t) {
  const double yo = i + 0.5, xo = j + 0.5;
  const double sy = m[0] * yo + m[1] * xo + m[2] + 0.5;
  const double sx = m[3] * yo + m[4] * xo + m[5] + 0.5;
  const double y0f = std::floor(sy), x0f = std::floor(sx);
  const double fy = sy - y0f, fx = sx - x0f;
  const int64_t y0 = int64_t(y0f), x0 = int64_t(x0f), r0 = y0 - 1, q0 = x0 - 1;
  const bool inR0 = r0 >= 0 && r0 < h, inR1 = y0 >= 0 && y0 < h, inQ0 = q0 >= 0 && q0 < w, inQ1 = x0 >= 0 && x0 < w;
  t->wt[0] = (1 - fy) * (1 - fx);
  t->wt[1] = (1 - fy) * fx;
  t->wt[2] = fy * (1 - fx);
  t->wt[3] = fy * fx;
  t->idx[0] = inR0 && inQ0 ? (base + r0 * w + q0) * c : -1;
  t->idx[1] = inR0 && inQ1 ? (base + r0 * w + x0) * c : -1;
  t->idx[2] = inR1 && inQ0 ? (base + y0 * w + q0) * c : -1;
  t->idx[3] = inR1 && inQ1 ? (base + y0 * w + x0) * c : -1;
  t->wf = 0;
  for (int k = 0; k < 4; k++)
    if (t->idx[k] < 0) t->wf += t->wt[k];
}

napi_value AffineSampleBoth(napi_env env, napi_callback_info info, bool grad) {
  const char* what = grad ? "affineSampleGrad" : "affineSample";
  size_t argc = 5;
  napi_value args[5];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  View in, out, aff, pv;
  double fill = 0;
  if (argc != size_t(grad ? 4 : 5) || !typed(env, args[0], napi_float32_array, &in, what) || !typed(env, args[1], napi_float32_array, &out, what) ||
      !typed(env, args[2], napi_float64_array, &aff, what) || !typed(env, args[3], napi_int32_array, &pv, what) ||
      (!grad && napi_get_value_double(env, args[4], &fill) != napi_ok)) {
    if (!grad || argc != 4) napi_throw_error(env, nullptr, (std::string(what) + ": bad arguments").c_str());
    return nullptr;
  }
  if (pv.bytes != 6 * 4) {
    napi_throw_range_error(env, nullptr, (std::string(what) + " params must have 6 entries").c_str());
    return nullptr;
  }
  const int* p = static_cast<const int*>(pv.data);
  const int b = p[0], h = p[1], w = p[2], c = p[3], oh = p[4], ow = p[5];
  const size_t imgFloats = size_t(b) * h * w * c, outFloats = size_t(b) * oh * ow * c;
  if (aff.bytes != size_t(b) * 6 * 8 || in.bytes / 4 != (grad ? outFloats : imgFloats) || out.bytes / 4 != (grad ? imgFloats : outFloats)) {
    napi_throw_range_error(env, nullptr, (std::string(what) + ": sizes do not match").c_str());
    return nullptr;
  }
  const double* maps = static_cast<const double*>(aff.data);
  const float* src = static_cast<const float*>(in.data);
  float* dst = static_cast<float*>(out.data);
  if (!grad) {
#pragma omp parallel for schedule(static) if (outFloats > 65536)
    for (int64_t row = 0; row < int64_t(b) * oh; row++) {
      const int bi = int(row / oh), i = int(row % oh);
      Taps t;
      for (int j = 0; j < ow; j++) {
        tapsAt(maps + 6 * bi, int64_t(bi) * h * w, h, w, c, i, j, &t);
        float* o = dst + (size_t(row) * ow + j) * c;
        for (int ch = 0; ch < c; ch++) {
          double v = t.wf * fill;
          for (int k = 0; k < 4; k++)
            if (t.idx[k] >= 0) v += t.wt[k] * src[t.idx[k] + ch];
          o[ch] = float(v);
        }
      }
    }
    return nullptr;
  }
  std::memset(dst, 0, imgFloats * 4);
  // Batch elements scatter into disjoint images: one thread each.
#pragma omp parallel for schedule(static) if (b > 1 && outFloats > 65536)
  for (int bi = 0; bi < b; bi++) {
    Taps t;
    for (int i = 0; i < oh; i++) {
      for (int j = 0; j < ow; j++) {
        tapsAt(maps + 6 * bi, int64_t(bi) * h * w, h, w, c, i, j, &t);
        const float* g = src + ((size_t(bi) * oh + i) * ow + j) * c;
        for (int k = 0; k < 4; k++) {
          if (t.idx[k] < 0) continue;
          for (int ch = 0; ch < c; ch++) dst[t.idx[k] + ch] = float(dst[t.idx[k] + ch] + t.wt[k] * g[ch]);
        }
      }
    }
  }
  return nullptr;
}
napi_value AffineSample(napi_env env, napi_callback_info info) { return AffineSampleBoth(env, info, false); }
napi_value AffineSampleGrad(napi_env env, napi_callback_info info) { return AffineSampleBoth(env, info, true); }

// avgPoolGrad(dy, dx, params): the average pool's input gradient, each output's dy spread over the in-bounds inputs
// of its window divided by their count (the forward divides by that count: padding never counts).
// params: n, ih, iw, c, oh, ow, kh, kw, sh, sw, pt, pl
napi_value AvgPoolGrad(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  View dy, dx, pv;
  if (argc != 3 || !typed(env, args[0], napi_float32_array, &dy, "dy") || !typed(env, args[1], napi_float32_array, &dx, "dx") ||
      !typed(env, args[2], napi_int32_array, &pv, "params"))
    return nullptr;
  if (pv.bytes != 12 * 4) {
    napi_throw_range_error(env, nullptr, "avgPoolGrad params must have 12 entries");
    return nullptr;
  }
  const int* p = static_cast<const int*>(pv.data);
  const int n = p[0], ih = p[1], iw = p[2], c = p[3], oh = p[4], ow = p[5], kh = p[6], kw = p[7], sh = p[8], sw = p[9], pt = p[10], pl = p[11];
  const size_t inFloats = size_t(n) * ih * iw * c;
  if (!need(env, dx, inFloats, "dx") || !need(env, dy, size_t(n) * oh * ow * c, "dy")) return nullptr;
  const float* g = static_cast<const float*>(dy.data);
  float* d = static_cast<float*>(dx.data);
  std::memset(d, 0, inFloats * 4);
  // Threads split the channels: windows overlap, channels never do.
#pragma omp parallel if (size_t(oh) * ow * c * kh * kw > 65536)
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int k0 = int(int64_t(c) * t / nt), k1 = int(int64_t(c) * (t + 1) / nt);
    for (int b = 0; b < n; b++) {
      for (int i = 0; i < oh; i++) {
        const int r0 = std::max(i * sh - pt, 0), r1 = std::min(i * sh - pt + kh, ih);
        for (int j = 0; j < ow; j++) {
          const int q0 = std::max(j * sw - pl, 0), q1 = std::min(j * sw - pl + kw, iw);
          const int count = (r1 - r0) * (q1 - q0);
          if (count <= 0) continue;
          const float inv = 1.f / float(count);
          const float* gr = g + ((size_t(b) * oh + i) * ow + j) * c;
          for (int r = r0; r < r1; r++)
            for (int q = q0; q < q1; q++) {
              float* dr = d + ((size_t(b) * ih + r) * iw + q) * c;
              for (int k = k0; k < k1; k++) dr[k] += gr[k] * inv;
            }
        }
      }
    }
  }
  return nullptr;
}

// gelu(x, y): y = x * Phi(x) = x/2 * (1 + erf(x / sqrt 2)). geluGrad(dy, x, dx): dx = dy * (Phi(x) + x * phi(x)).
napi_value GeluBoth(napi_env env, napi_callback_info info, bool grad) {
  const char* what = grad ? "geluGrad" : "gelu";
  size_t argc = 3;
  napi_value args[3];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  View a, b, c;
  if (argc != size_t(grad ? 3 : 2) || !typed(env, args[0], napi_float32_array, &a, what) || !typed(env, args[1], napi_float32_array, &b, what) ||
      (grad && !typed(env, args[2], napi_float32_array, &c, what))) {
    if (argc != size_t(grad ? 3 : 2)) napi_throw_error(env, nullptr, (std::string(what) + ": wrong number of arguments").c_str());
    return nullptr;
  }
  const size_t n = a.bytes / 4;
  if (b.bytes != a.bytes || (grad && c.bytes != a.bytes)) {
    napi_throw_range_error(env, nullptr, (std::string(what) + ": sizes do not match").c_str());
    return nullptr;
  }
  const float* av = static_cast<const float*>(a.data);
  const float* bv = static_cast<const float*>(b.data);
  float* out = grad ? static_cast<float*>(c.data) : static_cast<float*>(b.data);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++) {
    if (!grad) {
      const float x = av[i];
      out[i] = 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    } else {
      const float x = bv[i];
      const float cdf = 0.5f * (1.f + erff(x * 0.70710678118654752f));
      const float pdf = 0.39894228040143268f * expf(-0.5f * x * x);
      out[i] = av[i] * (cdf + x * pdf);
    }
  }
  return nullptr;
}
napi_value Gelu(napi_env env, napi_callback_info info) { return GeluBoth(env, info, false); }
napi_value GeluGrad(napi_env env, napi_callback_info info) { return GeluBoth(env, info, true); }

// transpose(x, y, shape, perm): y = x with its axes permuted (y's axis i is x's axis perm[i]); any rank up to 8.
napi_value Transpose(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  View x, y, sv, pv;
  if (argc != 4 || !typed(env, args[0], napi_float32_array, &x, "transpose x") || !typed(env, args[1], napi_float32_array, &y, "transpose y") ||
      !typed(env, args[2], napi_int32_array, &sv, "transpose shape") || !typed(env, args[3], napi_int32_array, &pv, "transpose perm"))
    return nullptr;
  const int rank = int(sv.bytes / 4);
  const int* shape = static_cast<const int*>(sv.data);
  const int* perm = static_cast<const int*>(pv.data);
  bool ok = rank >= 1 && rank <= 8 && int(pv.bytes / 4) == rank;
  int64_t n = 1;
  int seen = 0;
  for (int i = 0; ok && i < rank; i++) {
    ok = perm[i] >= 0 && perm[i] < rank && !(seen & (1 << perm[i])) && shape[i] >= 0;
    if (ok) seen |= 1 << perm[i];
    n *= shape[i];
  }
  if (!ok || x.bytes / 4 != size_t(n) || y.bytes != x.bytes) {
    napi_throw_range_error(env, nullptr, "transpose: bad shape, permutation or sizes");
    return nullptr;
  }
  if (n == 0) return nullptr;
  int64_t inStride[8], outDim[8], outStride[8];
  int64_t st = 1;
  int64_t xs[8];
  for (int i = rank - 1; i >= 0; i--) { xs[i] = st; st *= shape[i]; }
  for (int i = 0; i < rank; i++) { outDim[i] = shape[perm[i]]; inStride[i] = xs[perm[i]]; }
  st = 1;
  for (int i = rank - 1; i >= 0; i--) { outStride[i] = st; st *= outDim[i]; }
  const float* src = static_cast<const float*>(x.data);
  float* dst = static_cast<float*>(y.data);
  // Rows of the output's last axis; each row walks the input with one stride.
  const int64_t cols = outDim[rank - 1], rows = n / cols, last = inStride[rank - 1];
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t r = 0; r < rows; r++) {
    int64_t rem = r * cols, off = 0;
    for (int i = 0; i < rank - 1; i++) {
      const int64_t q = rem / outStride[i];
      rem -= q * outStride[i];
      off += q * inStride[i];
    }
    float* o = dst + r * cols;
    if (last == 1) std::memcpy(o, src + off, size_t(cols) * 4);
    else for (int64_t j = 0; j < cols; j++) o[j] = src[off + j * last];
  }
  return nullptr;
}

// maxPoolGrad(x, dy, dx, params): dx = the max pool's input gradient, each output's dy added at the first largest
// input of its window (TF.js's cpu order: rows, then columns); padding never wins.
// params: n, ih, iw, c, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  View x, dy, dx, pv;
  if (argc != 4 || !typed(env, args[0], napi_float32_array, &x, "x") || !typed(env, args[1], napi_float32_array, &dy, "dy") ||
      !typed(env, args[2], napi_float32_array, &dx, "dx") || !typed(env, args[3], napi_int32_array, &pv, "params"))
    return nullptr;
  if (pv.bytes != 14 * 4) {
    napi_throw_range_error(env, nullptr, "maxPoolGrad params must have 14 entries");
    return nullptr;
  }
  const int* p = static_cast<const int*>(pv.data);
  const int n = p[0], ih = p[1], iw = p[2], c = p[3], oh = p[4], ow = p[5], kh = p[6], kw = p[7], sh = p[8], sw = p[9], dh = p[10],
            dw = p[11], pt = p[12], pl = p[13];
  const size_t inFloats = size_t(n) * ih * iw * c, outFloats = size_t(n) * oh * ow * c;
  if (!need(env, x, inFloats, "x") || !need(env, dx, inFloats, "dx") || !need(env, dy, outFloats, "dy")) return nullptr;
  const float* xv = static_cast<const float*>(x.data);
  const float* dyv = static_cast<const float*>(dy.data);
  float* dxv = static_cast<float*>(dx.data);
  std::memset(dxv, 0, inFloats * 4);
  // Threads split the channels: windows overlap, channels never do.
#pragma omp parallel if (size_t(oh) * ow * c * kh * kw > 65536)
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int k0 = int(int64_t(c) * t / nt), k1 = int(int64_t(c) * (t + 1) / nt);
    std::vector<float> best(k1 - k0);
    std::vector<int64_t> at(k1 - k0);
    for (int b = 0; b < n; b++) {
      const float* xb = xv + size_t(b) * ih * iw * c;
      float* dxb = dxv + size_t(b) * ih * iw * c;
      for (int i = 0; i < oh; i++) {
        for (int j = 0; j < ow; j++) {
          std::fill(best.begin(), best.end(), -__builtin_inff());
          std::fill(at.begin(), at.end(), -1);
          for (int a = 0; a < kh; a++) {
            const int r = i * sh - pt + a * dh;
            if (r < 0 || r >= ih) continue;
            for (int e = 0; e < kw; e++) {
              const int q = j * sw - pl + e * dw;
              if (q < 0 || q >= iw) continue;
              const int64_t off = (int64_t(r) * iw + q) * c;
              for (int k = k0; k < k1; k++) {
                const float v = xb[off + k];
                if (v > best[k - k0] || at[k - k0] < 0) {
                  best[k - k0] = v;
                  at[k - k0] = off + k;
                }
              }
            }
          }
          const float* g = dyv + ((size_t(b) * oh + i) * ow + j) * c;
          for (int k = k0; k < k1; k++)
            if (at[k - k0] >= 0) dxb[at[k - k0]] += g[k];
        }
      }
    }
  }
  return nullptr;
}

// release(weightId): forget the reordered copies of that filter.
napi_value Release(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  int32_t id = 0;
  if (argc != 1 || napi_get_value_int32(env, arg, &id) != napi_ok) {
    napi_throw_type_error(env, nullptr, "release expects a weight id");
    return nullptr;
  }
  keptWeights.erase(id);
  return nullptr;
}

// stats(): {primitives, keptWeights} for tests of the caches.
napi_value Stats(napi_env env, napi_callback_info) {
  napi_value o, v;
  napi_create_object(env, &o);
  napi_create_uint32(env, uint32_t(convPrims.size() + matPrims.size()), &v);
  napi_set_named_property(env, o, "primitives", v);
  napi_create_uint32(env, uint32_t(keptWeights.size()), &v);
  napi_set_named_property(env, o, "keptWeights", v);
  return o;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"conv", nullptr, Conv, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"matmul", nullptr, MatMul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPoolGrad", nullptr, MaxPoolGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gelu", nullptr, Gelu, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"geluGrad", nullptr, GeluGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"avgPoolGrad", nullptr, AvgPoolGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"transpose", nullptr, Transpose, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"affineSample", nullptr, AffineSample, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"affineSampleGrad", nullptr, AffineSampleGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"channelAffine", nullptr, ChannelAffine, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"channelAffineGrad", nullptr, ChannelAffineGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layerNorm", nullptr, LayerNorm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layerNormGrad", nullptr, LayerNormGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmax", nullptr, Softmax, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmaxGrad", nullptr, SoftmaxGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"actGrad", nullptr, ActGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"release", nullptr, Release, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stats", nullptr, Stats, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  napi_value v;
  const dnnl_version_t* ver = dnnl_version();
  std::string s = "oneDNN " + std::to_string(ver->major) + "." + std::to_string(ver->minor) + "." + std::to_string(ver->patch);
  napi_create_string_utf8(env, s.c_str(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "version", v);
  // "native": compiled for the CPU that built it (-march=native); "portable": for any x86-64 (the .vsix's), or
  // "portable x86-64-v3": its copy for CPUs with AVX2 and FMA.
#if defined(NEURON_LENS_PORTABLE) && defined(__AVX2__)
  napi_create_string_utf8(env, "portable x86-64-v3", NAPI_AUTO_LENGTH, &v);
#elif defined(NEURON_LENS_PORTABLE)
  napi_create_string_utf8(env, "portable", NAPI_AUTO_LENGTH, &v);
#else
  napi_create_string_utf8(env, "native", NAPI_AUTO_LENGTH, &v);
#endif
  napi_set_named_property(env, exports, "build", v);
  // Instruction sets this build was compiled to use that this CPU lacks (a -march=native build copied from another
  // machine): the loader refuses the addon when the list is not empty, before any of its kernels runs.
  std::string missing;
#define NL_NEED(feature) if (!__builtin_cpu_supports(feature)) missing += (missing.empty() ? "" : " ") + std::string(feature)
#ifdef __SSE4_2__
  NL_NEED("sse4.2");
#endif
#ifdef __AVX__
  NL_NEED("avx");
#endif
#ifdef __AVX2__
  NL_NEED("avx2");
#endif
#ifdef __FMA__
  NL_NEED("fma");
#endif
#ifdef __AVX512F__
  NL_NEED("avx512f");
#endif
#ifdef __AVX512BW__
  NL_NEED("avx512bw");
#endif
#ifdef __AVX512VL__
  NL_NEED("avx512vl");
#endif
#ifdef __AVX512DQ__
  NL_NEED("avx512dq");
#endif
#undef NL_NEED
  napi_create_string_utf8(env, missing.c_str(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "cpuMissing", v);
  // The interface revision src/core/backend/onednn.ts expects (bump with every change to the functions above).
  napi_create_int32(env, 5, &v);
  napi_set_named_property(env, exports, "abi", v);
  return exports;
}
