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

#include "cell_math.h"

using namespace gluon_seq;  // NOLINT: the shared activations and MXNet's extension types

namespace {

// One row.  Every pointer is a separate H-long run (restrict parameters are
// what lets gcc vectorise the loop): gates r, z, n of the input and the
// recurrent projections, the recurrent biases, h_prev, the output.
void row_forward(int64_t hidden, const float* __restrict__ xr, const float* __restrict__ xz,
                 const float* __restrict__ xn, const float* __restrict__ rr,
                 const float* __restrict__ rz, const float* __restrict__ rn,
                 const float* __restrict__ br, const float* __restrict__ bz,
                 const float* __restrict__ bn, const float* __restrict__ h_prev,
                 float* __restrict__ h) {
  for (int64_t j = 0; j < hidden; ++j) {
    const float r = sigmoid(xr[j] + rr[j] + br[j]);
    const float z = sigmoid(xz[j] + rz[j] + bz[j]);
    const float n = tanh_(xn[j] + r * (rn[j] + bn[j]));
    h[j] = n + z * (h_prev[j] - n);
  }
}

// The gradients of one row.  Activations are recomputed from the forward
// inputs (three vectorised exps) rather than stored by the forward pass.  The
// r and z gates get the same gradient in x_gates, h_gates and b_hh (they are
// sums); the candidate's h_gates and b_hn parts differ from its x_gates part
// by the reset gate.  b_hh's gradient is summed over the rows into db.
void row_backward(int64_t hidden, const float* __restrict__ xr, const float* __restrict__ xz,
                  const float* __restrict__ xn, const float* __restrict__ rr,
                  const float* __restrict__ rz, const float* __restrict__ rn,
                  const float* __restrict__ br, const float* __restrict__ bz,
                  const float* __restrict__ bn, const float* __restrict__ h_prev,
                  const float* __restrict__ dh, float* __restrict__ dxr,
                  float* __restrict__ dxz, float* __restrict__ dxn, float* __restrict__ drr,
                  float* __restrict__ drz, float* __restrict__ drn,
                  float* __restrict__ dh_prev, float* __restrict__ dbr,
                  float* __restrict__ dbz, float* __restrict__ dbn) {
  for (int64_t j = 0; j < hidden; ++j) {
    const float r = sigmoid(xr[j] + rr[j] + br[j]);
    const float z = sigmoid(xz[j] + rz[j] + bz[j]);
    const float m = rn[j] + bn[j];
    const float n = tanh_(xn[j] + r * m);
    const float dn = dh[j] * (1.0f - z) * (1.0f - n * n);  // d pre-activation of n
    const float dr = dn * m * r * (1.0f - r);
    const float dz = dh[j] * (h_prev[j] - n) * z * (1.0f - z);
    dxr[j] = dr;
    drr[j] = dr;
    dxz[j] = dz;
    drz[j] = dz;
    dxn[j] = dn;
    drn[j] = dn * r;
    dbr[j] += dr;
    dbz[j] += dz;
    dbn[j] += dn * r;
    dh_prev[j] = dh[j] * z;
  }
}

// Inputs: x_gates, h_gates (N, 3H), h_prev (N, H), b_hh (3H).  Output: h (N, H).
MXReturnValue gru_forward(const Attrs&, std::vector<MXTensor>* in, std::vector<MXTensor>* out,
                          const OpResource&) {
  const int64_t n = (*in)[2].shape[0], H = (*in)[2].shape[1];
  const float* x = (*in)[0].data<float>();
  const float* r = (*in)[1].data<float>();
  const float* h_prev = (*in)[2].data<float>();
  const float* b = (*in)[3].data<float>();
  float* h = (*out)[0].data<float>();
  for (int64_t row = 0; row < n; ++row) {
    const float* xr = x + row * 3 * H;
    const float* rr = r + row * 3 * H;
    row_forward(H, xr, xr + H, xr + 2 * H, rr, rr + H, rr + 2 * H, b, b + H, b + 2 * H,
                h_prev + row * H, h + row * H);
  }
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
  for (int64_t row = 0; row < n; ++row) {
    const float* xr = x + row * 3 * H;
    const float* rr = r + row * 3 * H;
    float* dxr = dx + row * 3 * H;
    float* drr = dr + row * 3 * H;
    row_backward(H, xr, xr + H, xr + 2 * H, rr, rr + H, rr + 2 * H, b, b + H, b + 2 * H,
                 h_prev + row * H, dh + row * H, dxr, dxr + H, dxr + 2 * H, drr, drr + H,
                 drr + 2 * H, dh_prev + row * H, db, db + H, db + 2 * H);
  }
  return MX_SUCCESS;
}

MXReturnValue gru_attrs(const Attrs&, int* num_in, int* num_out) {
  *num_in = 4;
  *num_out = 1;
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
    .setParseAttrs(gru_attrs)
    .setInferType(gru_types)
    .setInferShape(gru_shapes);
