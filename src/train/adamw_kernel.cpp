#include "prospect/train/adamw_kernel.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <cmath>

namespace prospect {

namespace {

// The op sequence of torch.optim.AdamW (single-tensor path), for what the fused loop does not take.
void adamw_ops(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, const AdamWStep& s) {
  if (s.weight_decay != 0) p.mul_(1.0 - s.lr * s.weight_decay);
  m.mul_(s.beta1).add_(g, 1.0 - s.beta1);
  v.mul_(s.beta2).addcmul_(g, g, 1.0 - s.beta2);
  at::Tensor denom = (v.sqrt() / std::sqrt(s.bias_correction2)).add_(s.eps);
  p.addcdiv_(m, denom, -s.lr / s.bias_correction1);
}

// ATen's vectorised kernels (AVX2/AVX-512, chosen at run time on any CPU with FMA) compute
// add(a, b, alpha) as fma(b, alpha, a) and addcmul(a, b, c, s) as fma(s * b, c, a), every other op here
// with separate roundings; this loop does exactly that, so it is
// compiled for AVX2 + FMA with contraction off except for the explicit std::fma. Other CPUs take the
// op sequence.
__attribute__((target("avx2,fma"), optimize("fp-contract=off"))) void adamw_range(float* p, const float* g, float* m, float* v,
                                                              int64_t begin, int64_t end, float decay, float b1,
                                                              float one_minus_b1, float b2, float one_minus_b2,
                                                              float bc2_sqrt, float eps, float neg_step) {
  for (int64_t i = begin; i < end; ++i) {
    float gi = g[i];
    float pi = p[i] * decay;
    float mi = m[i] * b1;
    mi = std::fma(gi, one_minus_b1, mi);
    float vi = v[i] * b2;
    vi = std::fma(one_minus_b2 * gi, gi, vi);
    float denom = std::sqrt(vi) / bc2_sqrt;
    denom = denom + eps;
    p[i] = pi + neg_step * mi / denom;
    m[i] = mi;
    v[i] = vi;
  }
}

}  // namespace

void adamw_update_(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, const AdamWStep& s) {
  bool fused = p.device().is_cpu() && p.scalar_type() == at::kFloat && g.scalar_type() == at::kFloat &&
               m.scalar_type() == at::kFloat && v.scalar_type() == at::kFloat && p.is_contiguous() &&
               g.is_contiguous() && m.is_contiguous() && v.is_contiguous() && g.device().is_cpu();
  static const bool avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#if TORCH_VERSION_MAJOR >= 2
  // LibTorch 2.x's float sqrt is not the correctly rounded one of this loop (about one element in
  // five differs by an ulp), so only the op sequence is bitwise equal to torch::optim::AdamW there.
  fused = false;
#endif
  if (!fused || !avx2_fma) return adamw_ops(p, g, m, v, s);
  // The scalars as ATen passes them to a float kernel: computed in double, then rounded to float.
  const float decay = s.weight_decay != 0 ? static_cast<float>(1.0 - s.lr * s.weight_decay) : 1.0f;
  const float b1 = static_cast<float>(s.beta1), one_minus_b1 = static_cast<float>(1.0 - s.beta1);
  const float b2 = static_cast<float>(s.beta2), one_minus_b2 = static_cast<float>(1.0 - s.beta2);
  const float bc2_sqrt = static_cast<float>(std::sqrt(s.bias_correction2));
  const float eps = static_cast<float>(s.eps);
  const float neg_step = static_cast<float>(-s.lr / s.bias_correction1);
  float* pp = p.data_ptr<float>();
  float* mp = m.data_ptr<float>();
  float* vp = v.data_ptr<float>();
  const float* gp = g.data_ptr<float>();
  at::parallel_for(0, p.numel(), 1 << 15, [&](int64_t b, int64_t e) {
    adamw_range(pp, gp, mp, vp, b, e, decay, b1, one_minus_b1, b2, one_minus_b2, bc2_sqrt, eps, neg_step);
  });
}

}  // namespace prospect
