// gluon_seq's inference operators over weights packed once, when a predictor loads
// (gluon_seq/serving/folding.py rewrites a compiled graph to use them, and its constant
// folding runs _gs_panels once).  Built into one library with the other operators by
// gluon_seq/rnn/compiled_ops.py.
//
// _gs_panels(w (n, K)) -> (panel_floats(K, n),)
//   w^T packed into small_gemm.h's 64-column panels: the layout the layer operators
//   (packed=1) and _gs_dense read, which they would otherwise make on every call.
//   MXNet 1.9.1's FullyConnected keeps a 2-D float32 weight in the plain layout, so
//   oneDNN packs PTB's 20 MB output weight again on every call.
// _gs_dense(x, panels, [bias], num_hidden=n, flatten=0|1, no_bias=0|1) -> y
//   FullyConnected's product and bias over packed weights: y = x w^T + b, with x read as
//   (M, K) rows (flatten=1: (N, K) for x (N, ...); flatten=0: every leading position).
//   Forward only.

#include "cell_math.h"
#include "small_gemm.h"

using namespace gluon_seq;  // NOLINT: MXNet's extension types

namespace {

bool flag(const Attrs& attrs, const char* key) {
  const auto found = attrs.find(key);
  return found != attrs.end() && (found->second == "1" || found->second == "True");
}

int64_t whole(const Attrs& attrs, const char* key) {
  const auto found = attrs.find(key);
  return found == attrs.end() ? -1 : std::stoll(found->second);
}

// ---------------------------------------------------------------------------
MXReturnValue panels_forward(const Attrs&, std::vector<MXTensor>* in,
                             std::vector<MXTensor>* out, const OpResource&) {
  const int64_t n = (*in)[0].shape[0], K = (*in)[0].shape[1];
  pack_panels((*in)[0].data<float>(), K, n, 1, K, (*out)[0].data<float>());
  return MX_SUCCESS;
}

MXReturnValue panels_types(const Attrs&, std::vector<int>* in_types,
                           std::vector<int>* out_types) {
  return float32_only("_gs_panels", *in_types, out_types);
}

MXReturnValue panels_shapes(const Attrs&, std::vector<std::vector<unsigned int>>* in_shapes,
                            std::vector<std::vector<unsigned int>>* out_shapes) {
  const auto& w = (*in_shapes)[0];
  if (w.size() != 2) {
    MX_ERROR_MSG << "_gs_panels wants a matrix (n, K)";
    return MX_FAIL;
  }
  (*out_shapes)[0] = {static_cast<unsigned int>(panel_floats(w[1], w[0]))};
  return MX_SUCCESS;
}

// ---------------------------------------------------------------------------
MXReturnValue dense_forward(const Attrs& attrs, std::vector<MXTensor>* in,
                            std::vector<MXTensor>* out, const OpResource&) {
  const int64_t n = whole(attrs, "num_hidden");
  const int64_t K = (*in)[1].size() / ((n + kPanel - 1) / kPanel * kPanel);
  const int64_t rows = (*in)[0].size() / K;
  float* y = (*out)[0].data<float>();
  gemm_packed(rows, n, K, (*in)[0].data<float>(), K, 1, (*in)[1].data<float>(), 0.0f, y, n);
  if (!flag(attrs, "no_bias")) {
    const float* b = (*in)[2].data<float>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < n; ++j) y[r * n + j] += b[j];
  }
  return MX_SUCCESS;
}

MXReturnValue dense_attrs(const Attrs& attrs, int* num_in, int* num_out) {
  if (whole(attrs, "num_hidden") < 1) {
    MX_ERROR_MSG << "_gs_dense needs num_hidden >= 1";
    return MX_FAIL;
  }
  *num_in = flag(attrs, "no_bias") ? 2 : 3;
  *num_out = 1;
  return MX_SUCCESS;
}

MXReturnValue dense_types(const Attrs&, std::vector<int>* in_types, std::vector<int>* out_types) {
  return float32_only("_gs_dense", *in_types, out_types);
}

MXReturnValue dense_shapes(const Attrs& attrs, std::vector<std::vector<unsigned int>>* in_shapes,
                           std::vector<std::vector<unsigned int>>* out_shapes) {
  const auto& x = (*in_shapes)[0];
  const unsigned int n = static_cast<unsigned int>(whole(attrs, "num_hidden"));
  const bool flatten = flag(attrs, "flatten");
  int64_t K = x.empty() ? 0 : x.back();
  if (flatten) {
    K = 1;
    for (size_t i = 1; i < x.size(); ++i) K *= x[i];
  }
  const auto& panels = (*in_shapes)[1];
  const bool bias_ok = flag(attrs, "no_bias") || (*in_shapes)[2] == std::vector<unsigned int>{n};
  if (x.size() < 2 || panels.size() != 1 || panels[0] != panel_floats(K, n) || !bias_ok) {
    MX_ERROR_MSG << "_gs_dense wants inputs (N, ..., K), panels of a (num_hidden, K) weight "
                    "and a bias (num_hidden)";
    return MX_FAIL;
  }
  std::vector<unsigned int> y = flatten ? std::vector<unsigned int>{x[0]} : x;
  if (flatten) y.push_back(n);
  else y.back() = n;
  (*out_shapes)[0] = y;
  return MX_SUCCESS;
}

}  // namespace

REGISTER_OP(_gs_panels)
    .setForward(panels_forward, "cpu")
    .setParseAttrs(fixed_arity<1, 1>)
    .setInferType(panels_types)
    .setInferShape(panels_shapes);

REGISTER_OP(_gs_dense)
    .setForward(dense_forward, "cpu")
    .setParseAttrs(dense_attrs)
    .setInferType(dense_types)
    .setInferShape(dense_shapes);
