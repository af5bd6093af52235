// The dump of one training step that tools/reference/check_step.py reads (see its docstring):
// batch.safetensors (the collated batch and the global label counts) and cpp.safetensors (the loss and
// every parameter's gradient under "grad.<name>"). The model itself is written with save_llama.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <array>
#include <string>

#include "prospect/model/safetensors.h"

namespace prospect::test {

// Tensors of the batch that are undefined are left out (check_step.py treats their term as 0).
inline void save_step_batch(const std::string& path, const at::Tensor& input_ids, const at::Tensor& attention_mask,
                            const at::Tensor& frames, const at::Tensor& speaking_gen_labels,
                            const at::Tensor& speaking_labels, const at::Tensor& dst_gen_labels,
                            const at::Tensor& dst_update_labels, const std::array<int64_t, 4>& counts) {
  NamedTensors t;
  auto add = [&](const char* name, const at::Tensor& x) {
    if (x.defined()) t.emplace_back(name, x.contiguous());
  };
  add("input_ids", input_ids.to(at::kLong));
  add("attention_mask", attention_mask.to(at::kLong));
  if (frames.defined()) add("frames", frames.to(at::kFloat));
  for (auto& [name, x] : {std::pair<const char*, at::Tensor>{"speaking_gen_labels", speaking_gen_labels},
                          {"speaking_labels", speaking_labels},
                          {"dst_gen_labels", dst_gen_labels},
                          {"dst_update_labels", dst_update_labels}})
    if (x.defined()) add(name, x.to(at::kLong));
  add("label_counts", at::tensor(std::vector<int64_t>(counts.begin(), counts.end()), at::kLong));
  save_safetensors(path, t);
}

// The loss and every parameter's .grad (zeros where a parameter has none).
inline void save_step_grads(const std::string& path, const at::Tensor& loss, torch::nn::Module& m) {
  NamedTensors t;
  t.emplace_back("loss", loss.detach().to(at::kDouble).reshape({1}));
  for (auto& p : m.named_parameters()) {
    at::Tensor g = p.value().grad();
    t.emplace_back("grad." + p.key(), g.defined() ? g.detach().to(at::kFloat) : at::zeros_like(p.value()));
  }
  save_safetensors(path, t);
}

}  // namespace prospect::test
