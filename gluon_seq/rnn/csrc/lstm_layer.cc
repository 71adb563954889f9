// gluon_seq's per-layer LSTM operator for the unfused kernel (gluon_seq/rnn/unfused.py),
// built into one library with lstm_ops.cc and gru_ops.cc by gluon_seq/rnn/compiled_ops.py.
//
// _gs_lstm_layer(x_gates (T,N,4H), h0 (N,H), c0 (N,H), w_hh (4H,H))
//     -> h (T,N,H), c (T,N,H), recurrent (T,N,4H)
//   Every step of one direction of one layer: the recurrent GEMM h_{t-1} w_hh^T
//   and the pointwise cell of lstm_rows.h, walked in C++.  It is still the
//   per-step cell -- the same gates, weights and arithmetic as _gs_lstm_cell --
//   but the whole walk is one operator: a PTB layer of 35 steps was 70
//   operators forward and as many backward, and MXNet summed the 35 per-step
//   gradients of w_hh one 4 MB array at a time.  Here the backward forms
//   d w_hh as one GEMM over all steps, K = T x N.  Every GEMM is small_gemm.h's.
//   `recurrent` (each step's h_{t-1} w_hh^T) is kept for the backward, which
//   recomputes the activations from it as the cell operator does; its own
//   gradient is ignored, since nothing outside reads it.

#include "lstm_rows.h"
#include "small_gemm.h"

using namespace gluon_seq;  // NOLINT: the shared activations and MXNet's extension types

namespace {

// Scratch from MXNet's workspace, which persists between calls: `floats` floats,
// or nullptr past alloc_cpu's int byte count.  Every call to alloc_cpu returns the
// same workspace, so an operator asks once.
float* scratch(const OpResource& res, int64_t floats) {
  const int64_t bytes = floats * static_cast<int64_t>(sizeof(float));
  if (bytes > INT32_MAX) {
    MX_ERROR_MSG << "_gs_lstm_layer needs " << bytes << " bytes of scratch, more than MXNet lends";
    return nullptr;
  }
  return static_cast<float*>(res.alloc_cpu(static_cast<int>(bytes)));
}

// Inputs: x_gates, h0, c0, w_hh.  Outputs: h, c, recurrent (all steps).
MXReturnValue layer_forward(const Attrs&, std::vector<MXTensor>* in,
                            std::vector<MXTensor>* out, const OpResource& res) {
  const int64_t T = (*in)[0].shape[0], n = (*in)[1].shape[0], H = (*in)[1].shape[1];
  const float* x = (*in)[0].data<float>();
  const float* w = (*in)[3].data<float>();
  float* h = (*out)[0].data<float>();
  float* c = (*out)[1].data<float>();
  float* rec = (*out)[2].data<float>();
  const int64_t state = n * H, gates = n * 4 * H;
  float* w_t = scratch(res, panel_floats(H, 4 * H));
  if (!w_t) return MX_FAIL;
  pack_panels(w, H, 4 * H, 1, H, w_t);  // w_hh^T (H, 4H)
  for (int64_t t = 0; t < T; ++t) {
    const float* h_prev = t ? h + (t - 1) * state : (*in)[1].data<float>();
    const float* c_prev = t ? c + (t - 1) * state : (*in)[2].data<float>();
    gemm_packed(n, 4 * H, H, h_prev, H, 1, w_t, 0.0f, rec + t * gates, 4 * H);  // (N, 4H)
    step_forward(n, H, x + t * gates, rec + t * gates, c_prev, h + t * state, c + t * state);
  }
  return MX_SUCCESS;
}

// Inputs: dh, dc, d recurrent (output gradients), x_gates, h0, c0, w_hh (forward
// inputs), h, c, recurrent (forward outputs).  Outputs: d x_gates, d h0, d c0, d w_hh.
MXReturnValue layer_backward(const Attrs&, std::vector<MXTensor>* in,
                             std::vector<MXTensor>* out, const OpResource& res) {
  const int64_t T = (*in)[3].shape[0], n = (*in)[4].shape[0], H = (*in)[4].shape[1];
  const float* dh_out = (*in)[0].data<float>();
  const float* dc_out = (*in)[1].data<float>();
  const float* x = (*in)[3].data<float>();
  const float* h0 = (*in)[4].data<float>();
  const float* c0 = (*in)[5].data<float>();
  const float* w = (*in)[6].data<float>();
  const float* h = (*in)[7].data<float>();
  const float* c = (*in)[8].data<float>();
  const float* rec = (*in)[9].data<float>();
  float* dx = (*out)[0].data<float>();  // each step's gate gradient (N, 4H)
  const int64_t state = n * H, gates = n * 4 * H;
  const int64_t w_floats = panel_floats(4 * H, H), h0_floats = panel_floats(n, H);
  float* w_p = scratch(res, w_floats + 3 * state + h0_floats + panel_floats((T - 1) * n, H));
  if (!w_p) return MX_FAIL;
  pack_panels(w, 4 * H, H, H, 1, w_p);  // w_hh (4H, H)
  float* dh = w_p + w_floats;  // (N, H) each: the gradients reaching step t
  float* dc = dh + state;
  float* dc_prev = dc + state;
  float* h0_p = dc_prev + state;  // then h0 and h[0..T-2] packed for d w_hh
  float* h_p = h0_p + h0_floats;
  std::memcpy(dh, dh_out + (T - 1) * state, sizeof(float) * state);
  std::memcpy(dc, dc_out + (T - 1) * state, sizeof(float) * state);
  for (int64_t t = T - 1; t >= 0; --t) {
    const float* c_prev = t ? c + (t - 1) * state : c0;
    float* d = dx + t * gates;
    step_backward(n, H, x + t * gates, rec + t * gates, c_prev, c + t * state, dh,
                  dc, d, dc_prev);
    // dh_{t-1} = d w_hh (N, H), plus what the layer's output at t-1 received
    float* dh_prev = t ? dh : (*out)[1].data<float>();
    if (t) std::memcpy(dh_prev, dh_out + (t - 1) * state, sizeof(float) * state);
    gemm_packed(n, H, 4 * H, d, 4 * H, 1, w_p, t ? 1.0f : 0.0f, dh_prev, H);
    float* dc_next = t ? dc : (*out)[2].data<float>();
    const float* dc_given = t ? dc_out + (t - 1) * state : nullptr;
    for (int64_t j = 0; j < state; ++j) dc_next[j] = dc_prev[j] + (dc_given ? dc_given[j] : 0.0f);
  }
  // d w_hh (4H, H) = sum over steps of d_t^T h_{t-1}: dx^T (4H, T N) times h0 and then
  // h[0..T-2], each (rows, H); A(r, k) = dx[k * 4H + r]
  float* dw = (*out)[3].data<float>();
  pack_panels(h0, n, H, H, 1, h0_p);
  gemm_packed(4 * H, H, n, dx, 1, 4 * H, h0_p, 0.0f, dw, H);
  if (T > 1) {
    pack_panels(h, (T - 1) * n, H, H, 1, h_p);
    gemm_packed(4 * H, H, (T - 1) * n, dx + gates, 1, 4 * H, h_p, 1.0f, dw, H);
  }
  return MX_SUCCESS;
}

MXReturnValue layer_attrs(const Attrs&, int* num_in, int* num_out) {
  *num_in = 4;
  *num_out = 3;
  return MX_SUCCESS;
}

MXReturnValue layer_types(const Attrs&, std::vector<int>* in_types, std::vector<int>* out_types) {
  return float32_only("_gs_lstm_layer", *in_types, out_types);
}

MXReturnValue layer_shapes(const Attrs&, std::vector<std::vector<unsigned int>>* in_shapes,
                           std::vector<std::vector<unsigned int>>* out_shapes) {
  const auto& x = (*in_shapes)[0];
  const auto& h0 = (*in_shapes)[1];
  const auto& w = (*in_shapes)[3];
  if (x.size() != 3 || h0.size() != 2 || (*in_shapes)[2] != h0 || x[0] < 1 || x[1] != h0[0] ||
      x[2] != 4 * h0[1] || w.size() != 2 || w[0] != x[2] || w[1] != h0[1]) {
    MX_ERROR_MSG << "_gs_lstm_layer wants gates (T, N, 4H), states (N, H) and weights (4H, H)";
    return MX_FAIL;
  }
  (*out_shapes)[0] = {x[0], x[1], h0[1]};
  (*out_shapes)[1] = {x[0], x[1], h0[1]};
  (*out_shapes)[2] = x;
  return MX_SUCCESS;
}

}  // namespace

REGISTER_OP(_gs_lstm_layer)
    .setForward(layer_forward, "cpu")
    .setBackward(layer_backward, "cpu")
    .setParseAttrs(layer_attrs)
    .setInferType(layer_types)
    .setInferShape(layer_shapes);
