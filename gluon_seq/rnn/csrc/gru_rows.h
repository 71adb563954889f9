// The pointwise GRU step for one row, forward and backward, shared by the
// per-step cell (gru_ops.cc) and the per-layer operator (layer_ops.cc).
#ifndef GLUON_SEQ_GRU_ROWS_H_
#define GLUON_SEQ_GRU_ROWS_H_

#include "cell_math.h"

namespace gluon_seq {
namespace gru {

// One row.  Every pointer is a separate H-long run (restrict parameters are
// what lets gcc vectorise the loop): gates r, z, n of the input and the
// recurrent projections, the recurrent biases, h_prev, the output.
inline void row_forward(int64_t hidden, const float* __restrict__ xr, const float* __restrict__ xz,
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
inline void row_backward(int64_t hidden, const float* __restrict__ xr, const float* __restrict__ xz,
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

// One step over n rows: x, r (n, 3H) gate projections (r without b), b (3H), h_prev
// (n, H) -> h (n, H).
inline void step_forward(int64_t n, int64_t H, const float* x, const float* r, const float* b,
                         const float* h_prev, float* h) {
#pragma omp parallel for schedule(static) if (n * H >= kParallelCells)
  for (int64_t row = 0; row < n; ++row) {
    const float* xr = x + row * 3 * H;
    const float* rr = r + row * 3 * H;
    row_forward(H, xr, xr + H, xr + 2 * H, rr, rr + H, rr + 2 * H, b, b + H, b + 2 * H,
                h_prev + row * H, h + row * H);
  }
}

// Its backward, from dh (n, H): dx, dr (n, 3H), the direct part of dh_prev (n, H),
// and b's gradient added into db (3H) (on one thread: every row adds into db).
inline void step_backward(int64_t n, int64_t H, const float* x, const float* r, const float* b,
                          const float* h_prev, const float* dh, float* dx, float* dr,
                          float* dh_prev, float* db) {
  for (int64_t row = 0; row < n; ++row) {
    const float* xr = x + row * 3 * H;
    const float* rr = r + row * 3 * H;
    float* dxr = dx + row * 3 * H;
    float* drr = dr + row * 3 * H;
    row_backward(H, xr, xr + H, xr + 2 * H, rr, rr + H, rr + 2 * H, b, b + H, b + 2 * H,
                 h_prev + row * H, dh + row * H, dxr, dxr + H, dxr + 2 * H, drr, drr + H,
                 drr + 2 * H, dh_prev + row * H, db, db + H, db + 2 * H);
  }
}

}  // namespace gru
}  // namespace gluon_seq

#endif  // GLUON_SEQ_GRU_ROWS_H_
