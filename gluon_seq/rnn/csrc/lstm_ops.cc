// gluon_seq's compiled CPU operators for its LSTM layer (gluon_seq/rnn/unfused.py,
// gluon_seq/rnn/fused.py), loaded with mx.library.load by gluon_seq/rnn/compiled_ops.py,
// which builds this file with gru_ops.cc and -O3 -fno-trapping-math -march=native.
// The activations (exp_, sigmoid, tanh_) are in cell_math.h, the row passes in lstm_rows.h.
//
// _gs_lstm_cell(x_gates (N,4H), h_gates (N,4H), c_prev (N,H)) -> h, c (N,H)
//   The pointwise half of one LSTM step.  The unfused kernel does one GEMM per
//   step for the recurrent projection; everything after it -- adding the
//   hoisted input projection, splitting four gates, three sigmoids, two tanh,
//   the cell update -- would otherwise be a dozen small operators, each a
//   separate pass over memory with its own dispatch.  Here it is one vectorised
//   pass forward and one backward.  Gates are stacked (input, forget,
//   candidate, output), as in the stock cell and the RNN operator.
//
// _gs_pack(w_0, ..., w_{k-1}, num_args=k) -> flat
//   The fused kernel's weights as the one flat vector the RNN operator takes
//   (defined further down).

#include "lstm_rows.h"

using namespace gluon_seq;  // NOLINT: the shared activations and MXNet's extension types

namespace {

// Inputs: x_gates, h_gates (N, 4H), c_prev (N, H).  Outputs: h, c (N, H).
MXReturnValue cell_forward(const Attrs&, std::vector<MXTensor>* in,
                           std::vector<MXTensor>* out, const OpResource&) {
  const int64_t n = (*in)[2].shape[0], H = (*in)[2].shape[1];
  const float* x = (*in)[0].data<float>();
  const float* r = (*in)[1].data<float>();
  const float* c_prev = (*in)[2].data<float>();
  float* h = (*out)[0].data<float>();
  float* c = (*out)[1].data<float>();
  lstm::step_forward(n, H, x, r, c_prev, h, c);
  return MX_SUCCESS;
}

// Inputs: dh, dc (output gradients), x_gates, h_gates, c_prev (forward inputs),
// h, c (forward outputs).  Outputs: d x_gates, d h_gates (equal: the step adds
// them), d c_prev.
MXReturnValue cell_backward(const Attrs&, std::vector<MXTensor>* in,
                            std::vector<MXTensor>* out, const OpResource&) {
  const int64_t n = (*in)[0].shape[0], H = (*in)[0].shape[1];
  const float* dh = (*in)[0].data<float>();
  const float* dc = (*in)[1].data<float>();
  const float* x = (*in)[2].data<float>();
  const float* r = (*in)[3].data<float>();
  const float* c_prev = (*in)[4].data<float>();
  const float* c = (*in)[6].data<float>();
  float* dx = (*out)[0].data<float>();
  float* dr = (*out)[1].data<float>();
  float* dc_prev = (*out)[2].data<float>();
  lstm::step_backward(n, H, x, r, c_prev, c, dh, dc, dx, dc_prev);
  std::memcpy(dr, dx, sizeof(float) * n * 4 * H);  // the sum's two addends get one gradient
  return MX_SUCCESS;
}

MXReturnValue cell_types(const Attrs&, std::vector<int>* in_types, std::vector<int>* out_types) {
  return float32_only("_gs_lstm_cell", *in_types, out_types);
}

MXReturnValue cell_shapes(const Attrs&, std::vector<std::vector<unsigned int>>* in_shapes,
                          std::vector<std::vector<unsigned int>>* out_shapes) {
  const auto& x = (*in_shapes)[0];
  const auto& r = (*in_shapes)[1];
  const auto& c = (*in_shapes)[2];
  if (x.size() != 2 || r != x || c.size() != 2 || c[0] != x[0] || 4 * c[1] != x[1]) {
    MX_ERROR_MSG << "_gs_lstm_cell wants gates (N, 4H), (N, 4H) and a cell (N, H)";
    return MX_FAIL;
  }
  (*out_shapes)[0] = c;
  (*out_shapes)[1] = c;
  return MX_SUCCESS;
}

// ---------------------------------------------------------------------------
// _gs_pack(w_0, ..., w_{k-1}, num_args=k) -> flat (sum of sizes,)
//
// The fused kernel's RNN operator takes every weight and bias as one flat
// vector.  MXNet's own concatenation (_rnn_param_concat) copies element by
// element; at PTB's 4 million weights it took 13 ms forward and as long again
// backward, a quarter of a training step.  This is the same copy as memcpy
// calls, and its backward hands each weight its slice of the gradient.

MXReturnValue pack_attrs(const Attrs& attrs, int* num_in, int* num_out) {
  const auto found = attrs.find("num_args");
  if (found == attrs.end() || std::stoi(found->second) < 1) {
    MX_ERROR_MSG << "_gs_pack needs num_args >= 1";
    return MX_FAIL;
  }
  *num_in = std::stoi(found->second);
  *num_out = 1;
  return MX_SUCCESS;
}

MXReturnValue pack_types(const Attrs&, std::vector<int>* in_types, std::vector<int>* out_types) {
  return float32_only("_gs_pack", *in_types, out_types);
}

MXReturnValue pack_shapes(const Attrs&, std::vector<std::vector<unsigned int>>* in_shapes,
                          std::vector<std::vector<unsigned int>>* out_shapes) {
  unsigned int total = 0;
  for (const auto& shape : *in_shapes) {
    unsigned int size = 1;
    for (unsigned int d : shape) size *= d;
    total += size;
  }
  (*out_shapes)[0] = {total};
  return MX_SUCCESS;
}

MXReturnValue pack_forward(const Attrs&, std::vector<MXTensor>* in, std::vector<MXTensor>* out,
                           const OpResource&) {
  float* flat = (*out)[0].data<float>();
  for (auto& part : *in) {
    std::memcpy(flat, part.data<float>(), sizeof(float) * part.size());
    flat += part.size();
  }
  return MX_SUCCESS;
}

// Inputs: d flat, then the k forward inputs, then flat.  Outputs: the k input gradients.
MXReturnValue pack_backward(const Attrs&, std::vector<MXTensor>* in, std::vector<MXTensor>* out,
                            const OpResource&) {
  const float* flat = (*in)[0].data<float>();
  for (auto& grad : *out) {
    std::memcpy(grad.data<float>(), flat, sizeof(float) * grad.size());
    flat += grad.size();
  }
  return MX_SUCCESS;
}

}  // namespace

REGISTER_OP(_gs_pack)
    .setForward(pack_forward, "cpu")
    .setBackward(pack_backward, "cpu")
    .setParseAttrs(pack_attrs)
    .setInferType(pack_types)
    .setInferShape(pack_shapes);

REGISTER_OP(_gs_lstm_cell)
    .setForward(cell_forward, "cpu")
    .setBackward(cell_backward, "cpu")
    .setParseAttrs(fixed_arity<3, 2>)
    .setInferType(cell_types)
    .setInferShape(cell_shapes);

MXReturnValue initialize(int version) {
  return version >= 10900 ? MX_SUCCESS : MX_FAIL;
}
