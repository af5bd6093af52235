// One AdamW update of one parameter in about one pass over memory. PyTorch's AdamW is ten tensor ops
// per parameter (ten passes over p, g, m, v, each a parallel region of its own); this kernel does the
// same arithmetic block by cache-sized block, in the same float operations and order (the square root
// is ATen's own, on the block), so its result is bitwise equal to that op sequence:
//   p *= 1 - lr * wd;  m = fma(g, 1 - b1, m * b1);  v = fma((1 - b2) * g, g, v * b2);
//   p = p + (-lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
// fp32 contiguous CPU tensors on a CPU with AVX2 and FMA take the blocked loops; anything else (GPU, other
// dtypes) runs the op sequence.
#pragma once
#include <ATen/core/Tensor.h>

namespace prospect {

struct AdamWStep {
  double lr, beta1, beta2, eps;
  double weight_decay;  // 0 for parameters without decay
  double bias_correction1, bias_correction2;  // 1 - beta^step
};

// Updates p, m (exp_avg), v (exp_avg_sq) in place from gradient g. Call under NoGradGuard.
void adamw_update_(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, const AdamWStep& s);

}  // namespace prospect
