// Shared by gluon_seq's compiled CPU operators (lstm_ops.cc, gru_ops.cc): the
// activations as inline, vectorisable code, and the float32-only type rule.
// Built with -O3 -fno-trapping-math -march=native by gluon_seq/rnn/compiled_ops.py.
#ifndef GLUON_SEQ_CELL_MATH_H_
#define GLUON_SEQ_CELL_MATH_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "mxnet/lib_api.h"

namespace gluon_seq {

// Elements of a step's pointwise pass from which OpenMP's threads share its rows.
constexpr int64_t kParallelCells = 1 << 14;

// What every operator file names (each says `using namespace gluon_seq;`).
using Attrs = std::unordered_map<std::string, std::string>;
using mxnet::ext::MXReturnValue;
using mxnet::ext::MXTensor;
using mxnet::ext::OpResource;
using mxnet::ext::MX_FAIL;
using mxnet::ext::MX_SUCCESS;

// exp for |x| <= 88 as a short polynomial gcc can inline and vectorise, so a
// row of gates costs a few vector instructions per element instead of a libm
// call per element.  x = k ln2 + r with |r| <= ln2/2; e^r is the degree-6
// minimax polynomial from Cephes' expf (relative error about 1e-7, float's own
// rounding); 2^k goes straight into the exponent bits.
inline float exp_(float x) {
  const float k = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = (x - k * 0.693359375f) + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// Beyond +-40 the float results are already exactly 0, 1 or -1; clamping keeps
// exp's argument inside the range above (tanh doubles it: 80 < 88).
inline float clamp40(float x) { return x < -40.0f ? -40.0f : (x > 40.0f ? 40.0f : x); }
inline float sigmoid(float x) { return 1.0f / (1.0f + exp_(-clamp40(x))); }
inline float tanh_(float x) { return 2.0f / (1.0f + exp_(-2.0f * clamp40(x))) - 1.0f; }

// The input and output counts of an operator that has no count attribute, for
// REGISTER_OP(...).setParseAttrs(fixed_arity<inputs, outputs>).
template <int Inputs, int Outputs>
MXReturnValue fixed_arity(const Attrs&, int* num_in, int* num_out) {
  *num_in = Inputs;
  *num_out = Outputs;
  return MX_SUCCESS;
}

// Every operator takes and gives float32 only: every output is float32 if every
// input is, else a one-line error naming the operator.
inline MXReturnValue float32_only(const char* op, const std::vector<int>& in_types,
                                  std::vector<int>* out_types) {
  for (int t : in_types) {
    if (t != mxnet::ext::kFloat32) {
      MX_ERROR_MSG << op << " supports float32 only";
      return MX_FAIL;
    }
  }
  for (int& t : *out_types) t = mxnet::ext::kFloat32;
  return MX_SUCCESS;
}

}  // namespace gluon_seq

#endif  // GLUON_SEQ_CELL_MATH_H_
