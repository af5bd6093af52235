// Tiny models for tests: the model.* sizes most tests use, and tensor comparisons (SPEC §9).
#pragma once
#include <ATen/ATen.h>

#include <algorithm>

#include "prospect/core/config.h"

namespace prospect::test {

// hidden 32, MLP 64, 2 layers, 4 heads, 2 key/value heads (tests change what they need).
inline ModelConfig tiny_model_config() {
  ModelConfig c;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  return c;
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// SPEC §9: max|a - b| / max(max|b|, 1e-8).
inline double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  double den = std::max(b.to(at::kDouble).abs().max().item<double>(), 1e-8);
  return max_abs_diff(a, b) / den;
}

}  // namespace prospect::test
