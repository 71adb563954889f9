// The GEMM of the layer operators (layer_ops.cc) and _gs_dense (dense_ops.cc): few
// rows (a batch) against a weight matrix that stays the same for every step of a
// layer, or for every call of a predictor.  The OpenBLAS in the mxnet wheel (0.3.13,
// a Zen kernel without AVX-512) packs that matrix again on every call and reached
// 34 GFLOP/s at PTB's (20 x 500) x (500 x 2000), 3 at one row; this reached 101
// (one thread; the measured limit is 117).  The matrix is packed once, into panels
// of 64 columns, and a panel's slice (kDepth x 64 floats, 128 KB) stays in cache
// while every row block passes over it.  GCC's vector extension keeps 6 rows x 64
// columns of results in 24 16-float registers (AVX-512; pairs of AVX2 registers
// without).
#ifndef GLUON_SEQ_SMALL_GEMM_H_
#define GLUON_SEQ_SMALL_GEMM_H_

#include <cstdint>
#include <cstring>

namespace gluon_seq {

constexpr int64_t kPanel = 64;  // output columns per panel: four 16-float vectors
typedef float v16 __attribute__((vector_size(64)));
// The same vector at any float address: loads and stores that leave the
// accumulators in registers (memcpy into them would put them in memory).
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));

// Floats that pack_panels writes for a (K, n) matrix.
inline int64_t panel_floats(int64_t K, int64_t n) { return (n + kPanel - 1) / kPanel * K * kPanel; }

// B (K, n) as ceil(n / 64) panels of (K, 64) at `panels`, the last zero-padded.
// B(k, j) is b[k * k_step + j * j_step], so a row-major W (n, K) packs as W^T.
inline void pack_panels(const float* b, int64_t K, int64_t n, int64_t k_step, int64_t j_step,
                        float* panels) {
  for (int64_t p = 0; p * kPanel < n; ++p) {
    float* panel = panels + p * K * kPanel;
    const float* first = b + p * kPanel * j_step;
    const int64_t width = n - p * kPanel < kPanel ? n - p * kPanel : kPanel;
    // k outside: the 64 source columns are read in step, each cache line used whole
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t jj = 0; jj < width; ++jj)
        panel[k * kPanel + jj] = first[k * k_step + jj * j_step];
      for (int64_t jj = width; jj < kPanel; ++jj) panel[k * kPanel + jj] = 0.0f;
    }
  }
}

// R rows of A (A(r, k) = a[r * r_step + k * k_step]) times one panel, into
// columns [col, col + width) of R rows of c: c = A B + beta c.
template <int R>
inline void panel_rows(int64_t K, const float* a, int64_t r_step, int64_t k_step,
                       const float* panel, float beta, float* c, int64_t ldc, int64_t col,
                       int64_t width) {
  v16 acc[R][4] = {};
  for (int64_t k = 0; k < K; ++k) {
    const v16u* row = reinterpret_cast<const v16u*>(panel + k * kPanel);
    const v16 w[4] = {row[0], row[1], row[2], row[3]};
    for (int r = 0; r < R; ++r) {
      const float s = a[r * r_step + k * k_step];
      for (int q = 0; q < 4; ++q) acc[r][q] += s * w[q];
    }
  }
  for (int r = 0; r < R; ++r) {
    float got[kPanel];
    for (int q = 0; q < 4; ++q) reinterpret_cast<v16u*>(got)[q] = acc[r][q];
    float* row = c + r * ldc + col;
    if (beta == 0.0f) {
      for (int64_t j = 0; j < width; ++j) row[j] = got[j];
    } else {
      for (int64_t j = 0; j < width; ++j) row[j] = got[j] + beta * row[j];
    }
  }
}

constexpr int kRows = 6;  // rows per block: 24 accumulators and 4 weight vectors in 32 registers

// The last m % kRows rows: panel_rows<R> with R as a constant, R = m.
template <int R>
inline void tail_rows(int64_t m, int64_t K, const float* a, int64_t r_step, int64_t k_step,
                      const float* panel, float beta, float* c, int64_t ldc, int64_t col,
                      int64_t width) {
  if (m == R) panel_rows<R>(K, a, r_step, k_step, panel, beta, c, ldc, col, width);
  else tail_rows<R - 1>(m, K, a, r_step, k_step, panel, beta, c, ldc, col, width);
}

template <>
inline void tail_rows<0>(int64_t, int64_t, const float*, int64_t, int64_t, const float*, float,
                         float*, int64_t, int64_t, int64_t) {}

constexpr int64_t kDepth = 512;  // K per pass: a panel's 128 KB slice stays in L2 meanwhile
constexpr int64_t kParallelFlops = 1 << 20;  // multiply-adds from which threads share a GEMM

// c (m, n) = A (m, K) B + beta c, with B packed by pack_panels and c row-major
// (ldc).  K is taken kDepth at a time, so that each panel's slice stays in cache
// while every row block passes over it (the recurrent weight gradient has K = T x N,
// 64,000 at IMDB's shape).  Panels are shared out among OpenMP's threads when the
// product is large.
inline void gemm_packed(int64_t m, int64_t n, int64_t K, const float* a, int64_t r_step,
                        int64_t k_step, const float* panels, float beta, float* c, int64_t ldc) {
  const int64_t count = (n + kPanel - 1) / kPanel, blocks = (m + kRows - 1) / kRows;
  for (int64_t k0 = 0; k0 < K; k0 += kDepth) {
    const int64_t depth = K - k0 < kDepth ? K - k0 : kDepth;
    const float b = k0 ? 1.0f : beta;  // later slices add to what the first wrote
    const float* a_k = a + k0 * k_step;
    // One task per (panel, block of rows), panel-major: a thread's run of tasks mostly
    // shares one panel.  A batch of 1,000 with 2 panels splits as well as PTB's 32 panels.
#pragma omp parallel for schedule(static) if (m * n * depth >= kParallelFlops)
    for (int64_t task = 0; task < count * blocks; ++task) {
      const int64_t p = task / blocks, r = task % blocks * kRows;
      const float* panel = panels + (p * K + k0) * kPanel;
      const int64_t col = p * kPanel, width = n - col < kPanel ? n - col : kPanel;
      if (r + kRows <= m)
        panel_rows<kRows>(depth, a_k + r * r_step, r_step, k_step, panel, b, c + r * ldc, ldc,
                          col, width);
      else
        tail_rows<kRows - 1>(m - r, depth, a_k + r * r_step, r_step, k_step, panel, b,
                             c + r * ldc, ldc, col, width);
    }
  }
}

}  // namespace gluon_seq

#endif  // GLUON_SEQ_SMALL_GEMM_H_
