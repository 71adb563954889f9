// gluon_seq's optimizer updates for large tensors (gluon_seq/training/optim.py), built
// into one library with the layer operators by gluon_seq/rnn/compiled_ops.py.
//
// MXNet 1.9.1's sgd_update and sgd_mom_update cost about 1 ns an element on one
// thread here, ten times PyTorch's add_ (BENCHMARKS.md, "Optimizer updates"); at
// PTB's millions of weights that was most of what the update cost.  These are the
// same formulas, in the same order of operations, as one vectorised pass:
//
// _gs_sgd_update(weight, grad, lr, wd, rescale_grad, clip_gradient) -> out
//   out = (1 - lr wd) weight - lr clip(rescale_grad grad)       (MXNet's SGDKernel)
// _gs_sgd_mom_update(weight, grad, mom, lr, momentum, wd, rescale_grad, clip_gradient) -> out
//   mom = momentum mom - lr wd weight - lr clip(rescale_grad grad);  out = weight + mom
//   (MXNet's SGDMomKernel; mom is updated in place)
// _gs_adam_update(weight, grad, mean, var, lr, beta1, beta2, epsilon, wd, rescale_grad,
//                 clip_gradient) -> out
//   g = clip(rescale_grad grad + wd weight); mean = beta1 mean + (1 - beta1) g;
//   var = beta2 var + (1 - beta2) g g; out = weight - lr mean / (sqrt(var) + epsilon)
//   (MXNet's AdamUpdateKernel; lr already carries the bias correction; mean and var
//   are updated in place)
//
// clip_gradient < 0 means no clipping, as in MXNet.  out may be weight itself.
// Products are not fused into FMAs (the pragmas below: gcc's, and the standard one
// clang honours), so the results are MXNet's to the bit.

#pragma GCC optimize("fp-contract=off")
#pragma STDC FP_CONTRACT OFF

#include "cell_math.h"

using namespace gluon_seq;  // NOLINT: MXNet's extension types

namespace {

// Elements from which OpenMP's threads share an update.  The pragmas say
// "if (parallel: ...)": a bare "if" on "parallel for simd" also governs the simd
// part, and below the bound the loops ran scalar, 4x slower.
constexpr int64_t kParallelUpdate = 1 << 16;

float number(const Attrs& attrs, const char* key, float otherwise) {
  const auto found = attrs.find(key);
  return found == attrs.end() ? otherwise : std::stof(found->second);
}

// The scalars of an update, read from its attributes.
struct Scalars {
  float lr, wd, rescale, clip, momentum;
  float beta1, beta2, epsilon;
  explicit Scalars(const Attrs& attrs)
      : lr(number(attrs, "lr", 0.0f)), wd(number(attrs, "wd", 0.0f)),
        rescale(number(attrs, "rescale_grad", 1.0f)),
        clip(number(attrs, "clip_gradient", -1.0f)), momentum(number(attrs, "momentum", 0.0f)),
        beta1(number(attrs, "beta1", 0.9f)), beta2(number(attrs, "beta2", 0.999f)),
        epsilon(number(attrs, "epsilon", 1e-8f)) {}
};

inline float clipped(float x, float bound) { return x < -bound ? -bound : (x > bound ? bound : x); }

// y = keep w - lr clip(rescale g), or keep w - (lr rescale) g without clipping.  The
// scalars are locals and the branch is outside the loops, which is what lets them
// run at the memory's speed (a struct member read inside the loop halved it).
void sgd(const Scalars& p, int64_t n, const float* w, const float* g, float* y) {
  const float keep = 1.0f - p.lr * p.wd, lr = p.lr, rescale = p.rescale, clip = p.clip;
  const float scale = lr * rescale;
  if (clip >= 0.0f) {
#pragma omp parallel for simd if (parallel: n >= kParallelUpdate)
    for (int64_t i = 0; i < n; ++i) y[i] = keep * w[i] - lr * clipped(rescale * g[i], clip);
  } else {
#pragma omp parallel for simd if (parallel: n >= kParallelUpdate)
    for (int64_t i = 0; i < n; ++i) y[i] = keep * w[i] - scale * g[i];
  }
}

// mom = momentum mom - (lr wd) w - lr clip(rescale g) (or - (lr rescale) g); y = w + mom.
void sgd_mom(const Scalars& p, int64_t n, const float* w, const float* g, float* mom, float* y) {
  const float decay = p.lr * p.wd, lr = p.lr, rescale = p.rescale, clip = p.clip;
  const float scale = lr * rescale, momentum = p.momentum;
  if (clip >= 0.0f) {
#pragma omp parallel for simd if (parallel: n >= kParallelUpdate)
    for (int64_t i = 0; i < n; ++i) {
      mom[i] = momentum * mom[i] - decay * w[i] - lr * clipped(rescale * g[i], clip);
      y[i] = w[i] + mom[i];
    }
  } else {
#pragma omp parallel for simd if (parallel: n >= kParallelUpdate)
    for (int64_t i = 0; i < n; ++i) {
      mom[i] = momentum * mom[i] - decay * w[i] - scale * g[i];
      y[i] = w[i] + mom[i];
    }
  }
}

// MXNet's Adam: the gradient (with decay) clipped, the moments, the step.
void adam(const Scalars& p, int64_t n, const float* w, const float* g, float* mean, float* var,
          float* y) {
  const float lr = p.lr, wd = p.wd, rescale = p.rescale, clip = p.clip, eps = p.epsilon;
  const float b1 = p.beta1, b2 = p.beta2, rest1 = 1.0f - b1, rest2 = 1.0f - b2;
  const float bound = clip >= 0.0f ? clip : INFINITY;  // clipping at infinity changes nothing
#pragma omp parallel for simd if (parallel: n >= kParallelUpdate)
  for (int64_t i = 0; i < n; ++i) {
    const float d = clipped(g[i] * rescale + w[i] * wd, bound);
    mean[i] = b1 * mean[i] + rest1 * d;
    var[i] = b2 * var[i] + rest2 * d * d;
    y[i] = w[i] - lr * mean[i] / (std::sqrt(var[i]) + eps);
  }
}

MXReturnValue sgd_forward(const Attrs& attrs, std::vector<MXTensor>* in,
                          std::vector<MXTensor>* out, const OpResource&) {
  sgd(Scalars(attrs), (*in)[0].size(), (*in)[0].data<float>(), (*in)[1].data<float>(),
      (*out)[0].data<float>());
  return MX_SUCCESS;
}

MXReturnValue sgd_mom_forward(const Attrs& attrs, std::vector<MXTensor>* in,
                              std::vector<MXTensor>* out, const OpResource&) {
  sgd_mom(Scalars(attrs), (*in)[0].size(), (*in)[0].data<float>(), (*in)[1].data<float>(),
          (*in)[2].data<float>(), (*out)[0].data<float>());
  return MX_SUCCESS;
}

MXReturnValue adam_forward(const Attrs& attrs, std::vector<MXTensor>* in,
                           std::vector<MXTensor>* out, const OpResource&) {
  adam(Scalars(attrs), (*in)[0].size(), (*in)[0].data<float>(), (*in)[1].data<float>(),
       (*in)[2].data<float>(), (*in)[3].data<float>(), (*out)[0].data<float>());
  return MX_SUCCESS;
}

const char* const kNames[] = {"_gs_sgd_update", "_gs_sgd_mom_update", "_gs_adam_update"};

template <int Op>
MXReturnValue update_types(const Attrs&, std::vector<int>* in_types,
                           std::vector<int>* out_types) {
  return float32_only(kNames[Op], *in_types, out_types);
}

MXReturnValue update_shapes(const Attrs&, std::vector<std::vector<unsigned int>>* in_shapes,
                            std::vector<std::vector<unsigned int>>* out_shapes) {
  for (const auto& shape : *in_shapes) {
    if (shape != (*in_shapes)[0]) {
      MX_ERROR_MSG << "an optimizer update wants its weight, gradient and state of one shape";
      return MX_FAIL;
    }
  }
  (*out_shapes)[0] = (*in_shapes)[0];
  return MX_SUCCESS;
}

MXReturnValue mom_mutates(const Attrs&, std::vector<int>* inputs) {
  *inputs = {2};
  return MX_SUCCESS;
}

MXReturnValue moments_mutate(const Attrs&, std::vector<int>* inputs) {
  *inputs = {2, 3};
  return MX_SUCCESS;
}

}  // namespace

REGISTER_OP(_gs_sgd_update)
    .setForward(sgd_forward, "cpu")
    .setParseAttrs(fixed_arity<2, 1>)
    .setInferType(update_types<0>)
    .setInferShape(update_shapes);

REGISTER_OP(_gs_sgd_mom_update)
    .setForward(sgd_mom_forward, "cpu")
    .setParseAttrs(fixed_arity<3, 1>)
    .setInferType(update_types<1>)
    .setInferShape(update_shapes)
    .setMutateInputs(mom_mutates);

REGISTER_OP(_gs_adam_update)
    .setForward(adam_forward, "cpu")
    .setParseAttrs(fixed_arity<4, 1>)
    .setInferType(update_types<2>)
    .setInferShape(update_shapes)
    .setMutateInputs(moments_mutate);
