// The pointwise LSTM step for one row, forward and backward, shared by the
// per-step cell (lstm_ops.cc) and the per-layer operator (layer_ops.cc).
#ifndef GLUON_SEQ_LSTM_ROWS_H_
#define GLUON_SEQ_LSTM_ROWS_H_

#include "cell_math.h"

namespace gluon_seq {
namespace lstm {

// One row of the step.  Every pointer is a separate H-long run (restrict
// parameters are what lets gcc vectorise the loops): gates i, f, g, o of the
// input and the recurrent projections, the previous cell, and the outputs.
inline void row_forward(int64_t hidden, const float* __restrict__ xi,
                        const float* __restrict__ xf, const float* __restrict__ xg,
                        const float* __restrict__ xo,
                        const float* __restrict__ ri, const float* __restrict__ rf,
                        const float* __restrict__ rg, const float* __restrict__ ro,
                        const float* __restrict__ c_prev, float* __restrict__ h,
                        float* __restrict__ c) {
  for (int64_t j = 0; j < hidden; ++j) {
    const float i = sigmoid(xi[j] + ri[j]);
    const float f = sigmoid(xf[j] + rf[j]);
    const float g = tanh_(xg[j] + rg[j]);
    const float o = sigmoid(xo[j] + ro[j]);
    const float cell = f * c_prev[j] + i * g;
    c[j] = cell;
    h[j] = o * tanh_(cell);
  }
}

// The backward pass recomputes the activations from the forward inputs rather
// than having the forward store them: five vectorised exps per element cost
// less than writing and re-reading 5H floats per row through memory.
inline void row_backward(int64_t hidden, const float* __restrict__ xi,
                         const float* __restrict__ xf, const float* __restrict__ xg,
                         const float* __restrict__ xo,
                         const float* __restrict__ ri, const float* __restrict__ rf,
                         const float* __restrict__ rg, const float* __restrict__ ro,
                         const float* __restrict__ c_prev, const float* __restrict__ c,
                         const float* __restrict__ dh, const float* __restrict__ dc,
                         float* __restrict__ di, float* __restrict__ df, float* __restrict__ dg,
                         float* __restrict__ d_o, float* __restrict__ dc_prev) {
  for (int64_t j = 0; j < hidden; ++j) {
    const float i = sigmoid(xi[j] + ri[j]);
    const float f = sigmoid(xf[j] + rf[j]);
    const float g = tanh_(xg[j] + rg[j]);
    const float o = sigmoid(xo[j] + ro[j]);
    const float tc = tanh_(c[j]);
    const float dcell = dc[j] + dh[j] * o * (1.0f - tc * tc);
    di[j] = dcell * g * i * (1.0f - i);
    df[j] = dcell * c_prev[j] * f * (1.0f - f);
    dg[j] = dcell * i * (1.0f - g * g);
    d_o[j] = dh[j] * tc * o * (1.0f - o);
    dc_prev[j] = dcell * f;
  }
}

// One step over n rows: x, r (n, 4H) gate projections, c_prev (n, H) -> h, c (n, H).
inline void step_forward(int64_t n, int64_t H, const float* x, const float* r,
                         const float* c_prev, float* h, float* c) {
#pragma omp parallel for schedule(static) if (n * H >= kParallelCells)
  for (int64_t row = 0; row < n; ++row) {
    const float* xr = x + row * 4 * H;
    const float* rr = r + row * 4 * H;
    row_forward(H, xr, xr + H, xr + 2 * H, xr + 3 * H, rr, rr + H, rr + 2 * H, rr + 3 * H,
                c_prev + row * H, h + row * H, c + row * H);
  }
}

// Its backward: with the step's inputs, its cell c and the gradients dh, dc (n, H),
// the gradient of the gate pre-activations d (n, 4H) and of c_prev.
inline void step_backward(int64_t n, int64_t H, const float* x, const float* r,
                          const float* c_prev, const float* c, const float* dh,
                          const float* dc, float* d, float* dc_prev) {
#pragma omp parallel for schedule(static) if (n * H >= kParallelCells)
  for (int64_t row = 0; row < n; ++row) {
    const float* xr = x + row * 4 * H;
    const float* rr = r + row * 4 * H;
    float* dr = d + row * 4 * H;
    row_backward(H, xr, xr + H, xr + 2 * H, xr + 3 * H, rr, rr + H, rr + 2 * H, rr + 3 * H,
                 c_prev + row * H, c + row * H, dh + row * H, dc + row * H, dr, dr + H,
                 dr + 2 * H, dr + 3 * H, dc_prev + row * H);
  }
}

}  // namespace lstm
}  // namespace gluon_seq

#endif  // GLUON_SEQ_LSTM_ROWS_H_
