// gluon_seq's per-layer operators for the unfused kernel (gluon_seq/rnn/unfused.py),
// built into one library with lstm_ops.cc and gru_ops.cc by gluon_seq/rnn/compiled_ops.py.
//
// _gs_lstm_layer(x_gates (T,N,4H), h0 (N,H), c0 (N,H), w_hh (4H,H))
//     -> h (T,N,H), c (T,N,H), recurrent (T,N,4H)
// _gs_gru_layer(x_gates (T,N,3H), h0 (N,H), w_hh (3H,H), b_hh (3H))
//     -> h (T,N,H), recurrent (T,N,3H)
//   Every step of one direction of one layer: the recurrent GEMM h_{t-1} w_hh^T
//   and the pointwise cell (lstm_rows.h, gru_rows.h), walked in C++.  It is still
//   the per-step cell -- the same gates, weights and arithmetic as the cell
//   operators -- but the whole walk is one operator: a PTB layer of 35 steps was
//   70 operators forward and as many backward, and MXNet summed the 35 per-step
//   gradients of w_hh one 4 MB array at a time.  Here the backward forms d w_hh
//   as one GEMM over all steps, K = T x N.  Every GEMM is small_gemm.h's.
//   `recurrent` (each step's h_{t-1} w_hh^T) is kept for the backward, which
//   recomputes the activations from it as the cell operators do; its own
//   gradient is ignored, since nothing outside reads it.
//   With packed=1 (a predictor's graph: gluon_seq/serving/folding.py), w_hh comes
//   already packed by _gs_panels (dense_ops.cc), once at load, and has no gradient.

#include "gru_rows.h"
#include "lstm_rows.h"
#include "small_gemm.h"

using namespace gluon_seq;  // NOLINT: the shared activations and MXNet's extension types

namespace {

// Scratch from MXNet's workspace, which persists between calls: `floats` floats,
// or nullptr past alloc_cpu's int byte count.  Every call to alloc_cpu returns the
// same workspace, so an operator asks once.
float* scratch(const OpResource& res, int64_t floats, const char* op) {
  const int64_t bytes = floats * static_cast<int64_t>(sizeof(float));
  if (bytes > INT32_MAX) {
    MX_ERROR_MSG << op << " needs " << bytes << " bytes of scratch, more than MXNet lends";
    return nullptr;
  }
  return static_cast<float*>(res.alloc_cpu(static_cast<int>(bytes)));
}

bool packed(const Attrs& attrs) {
  const auto found = attrs.find("packed");
  return found != attrs.end() && found->second == "1";
}

// Whether a backward must refuse: packed weights have no gradient (the message says so).
bool inference_only(const Attrs& attrs, const char* op) {
  if (!packed(attrs)) return false;
  MX_ERROR_MSG << op << " with packed weights is for inference: it has no backward";
  return true;
}

// w_hh^T (H, G*H) packed: the input itself when packed=1, else packed into scratch.
const float* recurrent_panels(const Attrs& attrs, MXTensor& w, int64_t G, int64_t H,
                              const OpResource& res, const char* op) {
  if (packed(attrs)) return w.data<float>();
  float* w_t = scratch(res, panel_floats(H, G * H), op);
  if (w_t) pack_panels(w.data<float>(), H, G * H, 1, H, w_t);
  return w_t;
}

// Floats of scratch that weight_gradient packs h0 and h[0..T-2] into.
int64_t states_floats(int64_t T, int64_t n, int64_t H) {
  return panel_floats(n, H) + panel_floats((T - 1) * n, H);
}

// d w_hh (G, H) = sum over steps of d_t^T h_{t-1}, from the gate gradients d (T, N, G)
// and the layer's states h0 (N, H), h (T, N, H): d^T (G, T N) times h0 and then
// h[0..T-2], each packed into `packed` (states_floats); A(r, k) = d[k * G + r].
void weight_gradient(int64_t T, int64_t n, int64_t H, int64_t G, const float* d,
                     const float* h0, const float* h, float* packed, float* dw) {
  float* h_p = packed + panel_floats(n, H);
  pack_panels(h0, n, H, H, 1, packed);
  gemm_packed(G, H, n, d, 1, G, packed, 0.0f, dw, H);
  if (T > 1) {
    pack_panels(h, (T - 1) * n, H, H, 1, h_p);
    gemm_packed(G, H, (T - 1) * n, d + n * G, 1, G, h_p, 1.0f, dw, H);
  }
}

// ---------------------------------------------------------------------------
// LSTM.  Inputs: x_gates, h0, c0, w_hh.  Outputs: h, c, recurrent (all steps).
MXReturnValue lstm_forward(const Attrs& attrs, std::vector<MXTensor>* in,
                           std::vector<MXTensor>* out, const OpResource& res) {
  const int64_t T = (*in)[0].shape[0], n = (*in)[1].shape[0], H = (*in)[1].shape[1];
  const float* x = (*in)[0].data<float>();
  float* h = (*out)[0].data<float>();
  float* c = (*out)[1].data<float>();
  float* rec = (*out)[2].data<float>();
  const int64_t state = n * H, gates = n * 4 * H;
  const float* w_t = recurrent_panels(attrs, (*in)[3], 4, H, res, "_gs_lstm_layer");
  if (!w_t) return MX_FAIL;
  for (int64_t t = 0; t < T; ++t) {
    const float* h_prev = t ? h + (t - 1) * state : (*in)[1].data<float>();
    const float* c_prev = t ? c + (t - 1) * state : (*in)[2].data<float>();
    gemm_packed(n, 4 * H, H, h_prev, H, 1, w_t, 0.0f, rec + t * gates, 4 * H);  // (N, 4H)
    lstm::step_forward(n, H, x + t * gates, rec + t * gates, c_prev, h + t * state,
                       c + t * state);
  }
  return MX_SUCCESS;
}

// Inputs: dh, dc, d recurrent (output gradients), x_gates, h0, c0, w_hh (forward
// inputs), h, c, recurrent (forward outputs).  Outputs: d x_gates, d h0, d c0, d w_hh.
MXReturnValue lstm_backward(const Attrs& attrs, std::vector<MXTensor>* in,
                            std::vector<MXTensor>* out, const OpResource& res) {
  if (inference_only(attrs, "_gs_lstm_layer")) return MX_FAIL;
  const int64_t T = (*in)[3].shape[0], n = (*in)[4].shape[0], H = (*in)[4].shape[1];
  const float* dh_out = (*in)[0].data<float>();
  const float* dc_out = (*in)[1].data<float>();
  const float* x = (*in)[3].data<float>();
  const float* c0 = (*in)[5].data<float>();
  const float* c = (*in)[8].data<float>();
  const float* rec = (*in)[9].data<float>();
  float* dx = (*out)[0].data<float>();  // each step's gate gradient (N, 4H)
  const int64_t state = n * H, gates = n * 4 * H, w_floats = panel_floats(4 * H, H);
  float* w_p = scratch(res, w_floats + 3 * state + states_floats(T, n, H), "_gs_lstm_layer");
  if (!w_p) return MX_FAIL;
  pack_panels((*in)[6].data<float>(), 4 * H, H, H, 1, w_p);  // w_hh (4H, H)
  float* dh = w_p + w_floats;  // (N, H) each: the gradients reaching step t
  float* dc = dh + state;
  float* dc_prev = dc + state;
  std::memcpy(dh, dh_out + (T - 1) * state, sizeof(float) * state);
  std::memcpy(dc, dc_out + (T - 1) * state, sizeof(float) * state);
  for (int64_t t = T - 1; t >= 0; --t) {
    const float* c_prev = t ? c + (t - 1) * state : c0;
    float* d = dx + t * gates;
    lstm::step_backward(n, H, x + t * gates, rec + t * gates, c_prev, c + t * state, dh, dc, d,
                        dc_prev);
    // dh_{t-1} = d w_hh (N, H), plus what the layer's output at t-1 received
    float* dh_prev = t ? dh : (*out)[1].data<float>();
    if (t) std::memcpy(dh_prev, dh_out + (t - 1) * state, sizeof(float) * state);
    gemm_packed(n, H, 4 * H, d, 4 * H, 1, w_p, t ? 1.0f : 0.0f, dh_prev, H);
    float* dc_next = t ? dc : (*out)[2].data<float>();
    const float* dc_given = t ? dc_out + (t - 1) * state : nullptr;
    for (int64_t j = 0; j < state; ++j) dc_next[j] = dc_prev[j] + (dc_given ? dc_given[j] : 0.0f);
  }
  weight_gradient(T, n, H, 4 * H, dx, (*in)[4].data<float>(), (*in)[7].data<float>(),
                  dc_prev + state, (*out)[3].data<float>());
  return MX_SUCCESS;
}

// ---------------------------------------------------------------------------
// GRU.  Inputs: x_gates (with b_ih), h0, w_hh, b_hh.  Outputs: h, recurrent (all steps).
MXReturnValue gru_forward(const Attrs& attrs, std::vector<MXTensor>* in,
                          std::vector<MXTensor>* out, const OpResource& res) {
  const int64_t T = (*in)[0].shape[0], n = (*in)[1].shape[0], H = (*in)[1].shape[1];
  const float* x = (*in)[0].data<float>();
  const float* b = (*in)[3].data<float>();
  float* h = (*out)[0].data<float>();
  float* rec = (*out)[1].data<float>();
  const int64_t state = n * H, gates = n * 3 * H;
  const float* w_t = recurrent_panels(attrs, (*in)[2], 3, H, res, "_gs_gru_layer");
  if (!w_t) return MX_FAIL;
  for (int64_t t = 0; t < T; ++t) {
    const float* h_prev = t ? h + (t - 1) * state : (*in)[1].data<float>();
    gemm_packed(n, 3 * H, H, h_prev, H, 1, w_t, 0.0f, rec + t * gates, 3 * H);  // (N, 3H)
    gru::step_forward(n, H, x + t * gates, rec + t * gates, b, h_prev, h + t * state);
  }
  return MX_SUCCESS;
}

// Inputs: dh, d recurrent (output gradients), x_gates, h0, w_hh, b_hh (forward inputs),
// h, recurrent (forward outputs).  Outputs: d x_gates, d h0, d w_hh, d b_hh.
MXReturnValue gru_backward(const Attrs& attrs, std::vector<MXTensor>* in,
                           std::vector<MXTensor>* out, const OpResource& res) {
  if (inference_only(attrs, "_gs_gru_layer")) return MX_FAIL;
  const int64_t T = (*in)[2].shape[0], n = (*in)[3].shape[0], H = (*in)[3].shape[1];
  const float* dh_out = (*in)[0].data<float>();
  const float* x = (*in)[2].data<float>();
  const float* h0 = (*in)[3].data<float>();
  const float* b = (*in)[5].data<float>();
  const float* h = (*in)[6].data<float>();
  const float* rec = (*in)[7].data<float>();
  float* dx = (*out)[0].data<float>();
  float* db = (*out)[3].data<float>();
  const int64_t state = n * H, gates = n * 3 * H, w_floats = panel_floats(3 * H, H);
  float* w_p = scratch(res, w_floats + T * gates + 2 * state + states_floats(T, n, H),
                       "_gs_gru_layer");
  if (!w_p) return MX_FAIL;
  pack_panels((*in)[4].data<float>(), 3 * H, H, H, 1, w_p);  // w_hh (3H, H)
  float* dr = w_p + w_floats;  // (T, N, 3H): the recurrent projection's gradient
  float* dh = dr + T * gates;  // (N, H): the gradient reaching step t
  float* dh_direct = dh + state;  // (N, H): its part through z, not the GEMM
  std::memcpy(dh, dh_out + (T - 1) * state, sizeof(float) * state);
  std::memset(db, 0, sizeof(float) * 3 * H);
  for (int64_t t = T - 1; t >= 0; --t) {
    const float* h_prev = t ? h + (t - 1) * state : h0;
    float* d = dr + t * gates;
    gru::step_backward(n, H, x + t * gates, rec + t * gates, b, h_prev, dh, dx + t * gates, d,
                       dh_direct, db);
    float* dh_prev = t ? dh : (*out)[1].data<float>();  // dh_direct + d w_hh (+ output's)
    for (int64_t j = 0; j < state; ++j)
      dh_prev[j] = dh_direct[j] + (t ? dh_out[(t - 1) * state + j] : 0.0f);
    gemm_packed(n, H, 3 * H, d, 3 * H, 1, w_p, 1.0f, dh_prev, H);
  }
  weight_gradient(T, n, H, 3 * H, dr, h0, h, dh_direct + state, (*out)[2].data<float>());
  return MX_SUCCESS;
}

// ---------------------------------------------------------------------------
// Registration: shapes (T, N, G*H) gates, (N, H) states, (G*H, H) weights.

// w is (G*H, H), or with packed=1 its panels (panel_floats(H, G*H),).
bool layer_shapes_ok(const Attrs& attrs, const std::vector<unsigned int>& x,
                     const std::vector<unsigned int>& h0, const std::vector<unsigned int>& w,
                     unsigned int gates) {
  if (x.size() != 3 || h0.size() != 2 || x[0] < 1 || x[1] != h0[0] || x[2] != gates * h0[1])
    return false;
  if (packed(attrs)) return w.size() == 1 && w[0] == panel_floats(h0[1], x[2]);
  return w.size() == 2 && w[0] == x[2] && w[1] == h0[1];
}

MXReturnValue lstm_types(const Attrs&, std::vector<int>* in_types, std::vector<int>* out_types) {
  return float32_only("_gs_lstm_layer", *in_types, out_types);
}

MXReturnValue lstm_shapes(const Attrs& attrs, std::vector<std::vector<unsigned int>>* in_shapes,
                          std::vector<std::vector<unsigned int>>* out_shapes) {
  const auto& x = (*in_shapes)[0];
  const auto& h0 = (*in_shapes)[1];
  if (!layer_shapes_ok(attrs, x, h0, (*in_shapes)[3], 4) || (*in_shapes)[2] != h0) {
    MX_ERROR_MSG << "_gs_lstm_layer wants gates (T, N, 4H), states (N, H) and weights (4H, H)";
    return MX_FAIL;
  }
  (*out_shapes)[0] = {x[0], x[1], h0[1]};
  (*out_shapes)[1] = {x[0], x[1], h0[1]};
  (*out_shapes)[2] = x;
  return MX_SUCCESS;
}

MXReturnValue gru_types(const Attrs&, std::vector<int>* in_types, std::vector<int>* out_types) {
  return float32_only("_gs_gru_layer", *in_types, out_types);
}

MXReturnValue gru_shapes(const Attrs& attrs, std::vector<std::vector<unsigned int>>* in_shapes,
                         std::vector<std::vector<unsigned int>>* out_shapes) {
  const auto& x = (*in_shapes)[0];
  const auto& h0 = (*in_shapes)[1];
  const auto& b = (*in_shapes)[3];
  if (!layer_shapes_ok(attrs, x, h0, (*in_shapes)[2], 3) || b.size() != 1 || b[0] != x[2]) {
    MX_ERROR_MSG << "_gs_gru_layer wants gates (T, N, 3H), a state (N, H), weights (3H, H) "
                    "and a bias (3H)";
    return MX_FAIL;
  }
  (*out_shapes)[0] = {x[0], x[1], h0[1]};
  (*out_shapes)[1] = x;
  return MX_SUCCESS;
}

}  // namespace

REGISTER_OP(_gs_lstm_layer)
    .setForward(lstm_forward, "cpu")
    .setBackward(lstm_backward, "cpu")
    .setParseAttrs(fixed_arity<4, 3>)
    .setInferType(lstm_types)
    .setInferShape(lstm_shapes);

REGISTER_OP(_gs_gru_layer)
    .setForward(gru_forward, "cpu")
    .setBackward(gru_backward, "cpu")
    .setParseAttrs(fixed_arity<4, 2>)
    .setInferType(gru_types)
    .setInferShape(gru_shapes);
