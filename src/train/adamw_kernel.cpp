#include "prospect/train/adamw_kernel.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

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
// with separate roundings; the two loops below do exactly that, so they are compiled for AVX2 + FMA with
// contraction off except for the explicit std::fma. Other CPUs take the op sequence.
// The square root is ATen's own (at::sqrt_out on the block): LibTorch builds differ there (Debian's
// 1.13 rounds it correctly; the PyPI 2.x build is within an ulp but differs from the correctly rounded
// value in about one element in six), and calling ATen keeps the kernel bitwise equal to the op
// sequence of whichever LibTorch it is built with.
#define PROSPECT_ADAMW_TARGET __attribute__((target("avx2,fma"), optimize("fp-contract=off")))

struct AdamWScalars {  // as ATen passes them to a float kernel: computed in double, rounded to float
  float decay, b1, one_minus_b1, b2, one_minus_b2, bc2_sqrt, eps, neg_step;
};

// p *= decay; m = fma(g, 1 - b1, m * b1); v = fma((1 - b2) * g, g, v * b2)
PROSPECT_ADAMW_TARGET void moments_range(float* p, const float* g, float* m, float* v, int64_t n,
                                         const AdamWScalars& s) {
  for (int64_t i = 0; i < n; ++i) {
    float gi = g[i];
    p[i] = p[i] * s.decay;
    m[i] = std::fma(gi, s.one_minus_b1, m[i] * s.b1);
    v[i] = std::fma(s.one_minus_b2 * gi, gi, v[i] * s.b2);
  }
}

// p = p + neg_step * m / (sqrt_v / sqrt(bc2) + eps)
PROSPECT_ADAMW_TARGET void apply_range(float* p, const float* m, const float* sqrt_v, int64_t n,
                                       const AdamWScalars& s) {
  for (int64_t i = 0; i < n; ++i) {
    float denom = sqrt_v[i] / s.bc2_sqrt;
    denom = denom + s.eps;
    p[i] = p[i] + s.neg_step * m[i] / denom;
  }
}

}  // namespace

void adamw_update_(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, const AdamWStep& s) {
  bool fused = p.device().is_cpu() && p.scalar_type() == at::kFloat && g.scalar_type() == at::kFloat &&
               m.scalar_type() == at::kFloat && v.scalar_type() == at::kFloat && p.is_contiguous() &&
               g.is_contiguous() && m.is_contiguous() && v.is_contiguous() && g.device().is_cpu();
  static const bool avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (!fused || !avx2_fma) return adamw_ops(p, g, m, v, s);
  const AdamWScalars k{s.weight_decay != 0 ? static_cast<float>(1.0 - s.lr * s.weight_decay) : 1.0f,
                       static_cast<float>(s.beta1),
                       static_cast<float>(1.0 - s.beta1),
                       static_cast<float>(s.beta2),
                       static_cast<float>(1.0 - s.beta2),
                       static_cast<float>(std::sqrt(s.bias_correction2)),
                       static_cast<float>(s.eps),
                       static_cast<float>(-s.lr / s.bias_correction1)};
  float* pp = p.data_ptr<float>();
  float* mp = m.data_ptr<float>();
  float* vp = v.data_ptr<float>();
  const float* gp = g.data_ptr<float>();
  // Blocks of 16 Ki floats (64 KiB per array): the three passes over a block (moments, sqrt, apply)
  // run while it is in cache, so memory sees p, g, m, v about once instead of ten times.
  constexpr int64_t kBlock = 1 << 14;
  const at::Tensor v_flat = v.view({-1});
  at::parallel_for(0, p.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
    at::Tensor sqrt_v = at::empty({std::min(kBlock, end - begin)}, p.options());
    for (int64_t b = begin; b < end; b += kBlock) {
      int64_t n = std::min(kBlock, end - b);
      moments_range(pp + b, gp + b, mp + b, vp + b, n, k);
      at::Tensor out = sqrt_v.narrow(0, 0, n);
      at::sqrt_out(out, v_flat.narrow(0, b, n));
      apply_range(pp + b, mp + b, out.data_ptr<float>(), n, k);
    }
  });
}

}  // namespace prospect
