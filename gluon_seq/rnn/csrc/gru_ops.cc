// gluon_seq's compiled CPU operator for the GRU's unfused kernel
// (gluon_seq/rnn/unfused.py), built into one library with lstm_ops.cc by
// gluon_seq/rnn/compiled_ops.py (-O3 -fno-trapping-math -march=native).
//
// _gs_gru_cell(x_gates (N,3H), h_gates (N,3H), h_prev (N,H), b_hh (3H)) -> h (N,H)
//   The pointwise half of one GRU step, after the recurrent GEMM: gates are
//   stacked (reset r, update z, candidate n) as in gluon.rnn.GRU and the RNN
//   operator.  x_gates is the hoisted input projection, b_i* included; h_gates
//   is W_h* h without bias; the recurrent bias b_hh is added here, since the
//   candidate's part of it sits inside the reset gate (cuDNN's convention,
//   gluon_seq/rnn/cells.py) and cannot join the input projection:
//
//     r = sigmoid(x_r + h_r + b_hr)          z = sigmoid(x_z + h_z + b_hz)
//     n = tanh(x_n + r * (h_n + b_hn))
//     h = (1 - z) * n + z * h_prev   (computed as n + z * (h_prev - n))
//
//   One vectorised pass forward and one backward, instead of a dozen small
//   operators per step.

#include "gru_rows.h"

using namespace gluon_seq;  // NOLINT: the shared activations and MXNet's extension types

namespace {

// Inputs: x_gates, h_gates (N, 3H), h_prev (N, H), b_hh (3H).  Output: h (N, H).
MXReturnValue gru_forward(const Attrs&, std::vector<MXTensor>* in, std::vector<MXTensor>* out,
                          const OpResource&) {
  const int64_t n = (*in)[2].shape[0], H = (*in)[2].shape[1];
  const float* x = (*in)[0].data<float>();
  const float* r = (*in)[1].data<float>();
  const float* h_prev = (*in)[2].data<float>();
  const float* b = (*in)[3].data<float>();
  float* h = (*out)[0].data<float>();
  gru::step_forward(n, H, x, r, b, h_prev, h);
  return MX_SUCCESS;
}

// Inputs: dh (the output's gradient), x_gates, h_gates, h_prev, b_hh (forward
// inputs), h (forward output).  Outputs: d x_gates, d h_gates, d h_prev, d b_hh.
MXReturnValue gru_backward(const Attrs&, std::vector<MXTensor>* in,
                           std::vector<MXTensor>* out, const OpResource&) {
  const int64_t n = (*in)[0].shape[0], H = (*in)[0].shape[1];
  const float* dh = (*in)[0].data<float>();
  const float* x = (*in)[1].data<float>();
  const float* r = (*in)[2].data<float>();
  const float* h_prev = (*in)[3].data<float>();
  const float* b = (*in)[4].data<float>();
  float* dx = (*out)[0].data<float>();
  float* dr = (*out)[1].data<float>();
  float* dh_prev = (*out)[2].data<float>();
  float* db = (*out)[3].data<float>();
  std::memset(db, 0, sizeof(float) * 3 * H);
  gru::step_backward(n, H, x, r, b, h_prev, dh, dx, dr, dh_prev, db);
  return MX_SUCCESS;
}

MXReturnValue gru_types(const Attrs&, std::vector<int>* in_types, std::vector<int>* out_types) {
  return float32_only("_gs_gru_cell", *in_types, out_types);
}

MXReturnValue gru_shapes(const Attrs&, std::vector<std::vector<unsigned int>>* in_shapes,
                         std::vector<std::vector<unsigned int>>* out_shapes) {
  const auto& x = (*in_shapes)[0];
  const auto& r = (*in_shapes)[1];
  const auto& h = (*in_shapes)[2];
  const auto& b = (*in_shapes)[3];
  if (x.size() != 2 || r != x || h.size() != 2 || h[0] != x[0] || 3 * h[1] != x[1] ||
      b.size() != 1 || b[0] != x[1]) {
    MX_ERROR_MSG << "_gs_gru_cell wants gates (N, 3H), (N, 3H), a state (N, H) and a bias (3H)";
    return MX_FAIL;
  }
  (*out_shapes)[0] = h;
  return MX_SUCCESS;
}

}  // namespace

REGISTER_OP(_gs_gru_cell)
    .setForward(gru_forward, "cpu")
    .setBackward(gru_backward, "cpu")
    .setParseAttrs(fixed_arity<4, 1>)
    .setInferType(gru_types)
    .setInferShape(gru_shapes);
