// AdamW of our own (PyTorch's update rule, decoupled weight decay) so that its state is plain named
// tensors: saved to optimizer.safetensors and restored bit for bit on resume. Weight decay is not
// applied to 1-d parameters (norms, biases). Also the learning-rate schedule (linear warmup, then
// cosine to min_lr), global-norm gradient clipping and freezing by name pattern.
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "prospect/core/config.h"

namespace prospect {

using NamedParams = std::vector<std::pair<std::string, at::Tensor>>;

// lr of optimizer step `step` (0-based) of `max_steps`.
double lr_at(const OptimConfig& cfg, int64_t step, int64_t max_steps);

// Sets requires_grad = false on every parameter whose name matches one of the comma-separated
// regexes (std::regex_search); returns the parameters left trainable. A bad regex is a UsageError.
NamedParams apply_freeze(const NamedParams& params, const std::string& patterns);

// Global L2 norm of the gradients (fp64 accumulation); scales them by clip / norm when norm > clip > 0
// and the norm is finite. Returns the norm before clipping (non-finite when any gradient is).
double clip_grad_norm(const NamedParams& params, double clip);

class AdamW {
 public:
  AdamW(NamedParams params, const OptimConfig& cfg);
  // One update with learning rate lr from each parameter's .grad() (a parameter without one is skipped).
  void step(double lr);
  int64_t steps() const { return steps_; }
  const NamedParams& params() const { return params_; }

  // "step" (int64 [1]), "exp_avg.<name>", "exp_avg_sq.<name>" (fp32).
  NamedParams state() const;
  // Restores state(); errors name `source` and the tensor when one is missing or mis-shaped.
  void load_state(const std::map<std::string, at::Tensor>& tensors, const std::string& source);

 private:
  NamedParams params_;
  std::vector<at::Tensor> m_, v_;
  std::vector<bool> decay_;
  OptimConfig cfg_;
  int64_t steps_ = 0;
};

}  // namespace prospect
