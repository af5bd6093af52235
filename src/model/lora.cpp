// LoRA pairs, the adapter and PEFT's folder layout (lora.h).
#include "prospect/model/lora.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/init.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <sstream>

#include "prospect/core/error.h"
#include "prospect/core/file.h"
#include "prospect/core/rng.h"

namespace prospect {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kAdapterConfig = "adapter_config.json";
const char* kAdapterWeights = "adapter_model.safetensors";
// PEFT's prefix of a LoraModel around a LlamaForCausalLM, and our adapter's.
const std::string kPeftPrefix = "base_model.model.model.";

// model.lora_targets' short names and HF's module names, in the order the pairs are made.
const std::vector<std::pair<std::string, std::string>> kTargets = {
    {"q", "q_proj"}, {"k", "k_proj"}, {"v", "v_proj"}, {"o", "o_proj"},
    {"gate", "gate_proj"}, {"up", "up_proj"}, {"down", "down_proj"}};

bool has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

double LoraOptions::scaling() const {
  return rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank);
}

LoraOptions lora_options(const ModelConfig& cfg) {
  LoraOptions o;
  o.rank = cfg.lora_rank;
  o.alpha = cfg.lora_alpha;
  o.dropout = cfg.lora_dropout;
  if (o.rank < 0) usage_fail("model.lora_rank = {}: must be >= 0 (0: no LoRA)", o.rank);
  if (!(o.alpha > 0)) usage_fail("model.lora_alpha = {}: must be > 0", o.alpha);
  if (!(o.dropout >= 0 && o.dropout < 1)) usage_fail("model.lora_dropout = {}: must be in [0, 1)", o.dropout);
  std::stringstream ss(cfg.lora_targets);
  std::string t;
  std::vector<std::string> asked;
  while (std::getline(ss, t, ',')) {
    if (t.empty()) continue;
    auto it = std::find_if(kTargets.begin(), kTargets.end(), [&](auto& k) { return k.first == t; });
    if (it == kTargets.end())
      usage_fail("model.lora_targets: '{}' is not one of q, k, v, o, gate, up, down", t);
    asked.push_back(it->second);
  }
  for (auto& [s, name] : kTargets)  // our order, whatever the key's
    if (has(asked, name) && !has(o.targets, name)) o.targets.push_back(name);
  if (o.targets.empty()) usage_fail("model.lora_targets is empty: name some of q, k, v, o, gate, up, down");
  return o;
}

// ---------------------------------------------------------------- the pair

LoraPairImpl::LoraPairImpl(int64_t in, int64_t out, const LoraOptions& o, uint64_t site, const uint64_t* dropout_key)
    : scaling(o.scaling()), dropout(o.dropout), site(site), dropout_key(dropout_key) {
  lora_A = register_parameter("lora_A", at::empty({o.rank, in}));
  lora_B = register_parameter("lora_B", at::zeros({out, o.rank}));
  torch::NoGradGuard ng;
  torch::nn::init::kaiming_uniform_(lora_A, std::sqrt(5.0));  // nn.Linear's default, as PEFT
}

at::Tensor LoraPairImpl::forward(const at::Tensor& x) {
  at::Tensor h = x;
  if (dropout > 0 && is_training()) {
    // keep with probability 1 - p, kept values scaled by 1 / (1 - p) (nn.Dropout), from the keyed generator
    auto gen = at::make_generator<at::CPUGeneratorImpl>(splitmix64(*dropout_key ^ splitmix64(site)));
    at::Tensor keep = at::empty(x.sizes(), at::kFloat).bernoulli_(1.0 - dropout, gen);
    h = x * (keep / (1.0 - dropout)).to(x.device(), x.scalar_type());
  }
  return at::linear(at::linear(h, lora_A), lora_B) * scaling;
}

// ---------------------------------------------------------------- the adapter

LoraAdapterImpl::LoraAdapterImpl(const LlamaConfig& c, const LoraOptions& o) : options(o) {
  PROSPECT_CHECK(o.rank > 0, "a LoRA adapter needs rank > 0, got {}", o.rank);
  layers = register_module("layers", torch::nn::ModuleList());
  const int64_t H = c.hidden_size, I = c.intermediate_size, q = c.num_attention_heads * c.head_size(),
                kv = c.num_key_value_heads * c.head_size();
  struct Shape {
    int64_t in, out;
  };
  const std::map<std::string, Shape> shapes = {{"q_proj", {H, q}},      {"k_proj", {H, kv}},   {"v_proj", {H, kv}},
                                               {"o_proj", {q, H}},      {"gate_proj", {H, I}}, {"up_proj", {H, I}},
                                               {"down_proj", {I, H}}};
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    auto block = std::make_shared<torch::nn::Module>();
    auto attn = block->register_module("self_attn", std::make_shared<torch::nn::Module>());
    auto mlp = block->register_module("mlp", std::make_shared<torch::nn::Module>());
    LoraBlockPairs pairs;
    for (size_t t = 0; t < kTargets.size(); ++t) {
      const std::string& name = kTargets[t].second;
      if (!has(o.targets, name)) continue;
      LoraPair p(shapes.at(name).in, shapes.at(name).out, o, static_cast<uint64_t>(i * 16 + t), &dropout_key);
      bool in_attn = name == "q_proj" || name == "k_proj" || name == "v_proj" || name == "o_proj";
      (in_attn ? attn : mlp)->register_module(name, p);
      if (name == "q_proj") pairs.q_proj = p;
      if (name == "k_proj") pairs.k_proj = p;
      if (name == "v_proj") pairs.v_proj = p;
      if (name == "o_proj") pairs.o_proj = p;
      if (name == "gate_proj") pairs.gate_proj = p;
      if (name == "up_proj") pairs.up_proj = p;
      if (name == "down_proj") pairs.down_proj = p;
    }
    layers->push_back(block);
    blocks.push_back(pairs);
  }
}

void LoraAdapterImpl::attach(LlamaForCausalLMImpl& m) {
  PROSPECT_CHECK(m.model->blocks.size() == blocks.size(), "LoRA adapter for {} blocks, the model has {}", blocks.size(),
                 m.model->blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    auto& b = blocks[i];
    auto& attn = *m.model->blocks[i]->self_attn;
    auto& mlp = *m.model->blocks[i]->mlp;
    auto ptr = [](LoraPair& p) -> LoraPairImpl* { return p.is_empty() ? nullptr : p.get(); };
    attn.q_lora = ptr(b.q_proj), attn.k_lora = ptr(b.k_proj), attn.v_lora = ptr(b.v_proj), attn.o_lora = ptr(b.o_proj);
    mlp.gate_lora = ptr(b.gate_proj), mlp.up_lora = ptr(b.up_proj), mlp.down_lora = ptr(b.down_proj);
  }
}

void LoraAdapterImpl::merge_into(LlamaForCausalLMImpl& m) {
  PROSPECT_CHECK(m.model->blocks.size() == blocks.size(), "LoRA adapter for {} blocks, the model has {}", blocks.size(),
                 m.model->blocks.size());
  torch::NoGradGuard ng;
  auto merge = [](torch::nn::Linear& proj, const LoraPair& p) {
    if (!p) return;
    at::Tensor& w = proj->weight;
    at::Tensor delta = at::matmul(p->lora_B.to(at::kFloat), p->lora_A.to(at::kFloat)) * p->scaling;
    w.copy_((w.to(at::kFloat) + delta.to(w.device())).to(w.scalar_type()));
  };
  for (size_t i = 0; i < blocks.size(); ++i) {
    auto& b = blocks[i];
    auto& attn = *m.model->blocks[i]->self_attn;
    auto& mlp = *m.model->blocks[i]->mlp;
    merge(attn.q_proj, b.q_proj), merge(attn.k_proj, b.k_proj), merge(attn.v_proj, b.v_proj);
    merge(attn.o_proj, b.o_proj);
    merge(mlp.gate_proj, b.gate_proj), merge(mlp.up_proj, b.up_proj), merge(mlp.down_proj, b.down_proj);
    attn.q_lora = attn.k_lora = attn.v_lora = attn.o_lora = nullptr;
    mlp.gate_lora = mlp.up_lora = mlp.down_lora = nullptr;
  }
}

NamedTensors LoraAdapterImpl::peft_tensors() {
  NamedTensors out;
  // layers.N.self_attn.q_proj.lora_A -> base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight
  for (auto& p : named_parameters())
    out.emplace_back(kPeftPrefix + p.key() + ".weight", p.value().detach().to(at::kCPU, at::kFloat));
  return out;
}

void LoraAdapterImpl::load_peft_tensors(const TensorMap& tensors, const std::string& source) {
  torch::NoGradGuard ng;
  std::set<std::string> used;
  for (auto& p : named_parameters()) {
    const std::string name = kPeftPrefix + p.key() + ".weight";
    auto it = tensors.find(name);
    if (it == tensors.end()) fail("{}: tensor '{}' is missing", source, name);
    if (it->second.sizes() != p.value().sizes())
      fail("{}: tensor '{}' has shape [{}], the adapter expects [{}]", source, name, fmt::join(it->second.sizes(), ", "),
           fmt::join(p.value().sizes(), ", "));
    p.value().copy_(it->second);
    used.insert(name);
  }
  for (auto& [name, t] : tensors)
    if (!used.count(name)) fail("{}: tensor '{}' is not a weight of this adapter (r, target_modules)", source, name);
}

uint64_t lora_dropout_key(int64_t seed, int64_t step, int64_t virtual_rank, int64_t micro_batch) {
  uint64_t h = splitmix64(static_cast<uint64_t>(seed) ^ 0x4c6f5241ull);  // "LoRA"
  for (int64_t v : {step, virtual_rank, micro_batch}) h = splitmix64(h ^ static_cast<uint64_t>(v));
  return h;
}

std::string weights_hash(const std::string& hf_dir) {
  SafetensorsDir d(hf_dir);
  std::vector<std::string> names = d.names();
  std::sort(names.begin(), names.end());
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, 64 bits
  auto add = [&h](const void* data, size_t n) {
    const unsigned char* c = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
      h ^= c[i];
      h *= 0x100000001b3ull;
    }
  };
  for (auto& n : names) {
    const auto& e = d.entry(n);
    std::string head = fmt::format("{}|{}|{}|", n, safetensors_dtype_name(e.dtype), fmt::join(e.shape, ","));
    add(head.data(), head.size());
    at::Tensor t = d.tensor(n).contiguous();
    add(t.data_ptr(), t.nbytes());
  }
  return fmt::format("{:016x}", h);
}

// ---------------------------------------------------------------- PEFT's folder

void save_peft_adapter(LoraAdapterImpl& a, const std::string& dir, const std::string& base_dir) {
  fs::create_directories(dir);
  const LoraOptions& o = a.options;
  json cfg = {{"peft_type", "LORA"},
              {"task_type", "CAUSAL_LM"},
              {"base_model_name_or_path", base_dir},
              {"r", o.rank},
              {"lora_alpha", o.alpha},
              {"lora_dropout", o.dropout},
              {"target_modules", o.targets},
              {"bias", "none"},
              {"fan_in_fan_out", false},
              {"use_rslora", o.rslora},
              {"use_dora", false},
              {"init_lora_weights", true},
              {"inference_mode", true},
              {"modules_to_save", nullptr},
              {"layers_to_transform", nullptr},
              {"rank_pattern", json::object()},
              {"alpha_pattern", json::object()}};
  save_safetensors((fs::path(dir) / kAdapterWeights).string(), a.peft_tensors(), {{"format", "pt"}});
  write_file_atomic((fs::path(dir) / kAdapterConfig).string(), cfg.dump(2) + "\n");
}

bool is_peft_adapter_dir(const std::string& dir) { return fs::exists(fs::path(dir) / kAdapterConfig); }

LoraOptions read_peft_adapter_config(const std::string& dir, std::string* base_dir) {
  const std::string path = (fs::path(dir) / kAdapterConfig).string();
  std::string text;
  PROSPECT_CHECK(read_file(path, &text), "cannot read {} (a PEFT adapter folder has adapter_config.json)", path);
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) fail("{}: not a JSON object", path);
  auto unsupported = [&](const char* field, const std::string& why) {
    fail("{}: {} = {}: {} (this LoRA applies plain PEFT LoRA only)", path, field, j[field].dump(), why);
  };
  if (j.value("peft_type", "") != "LORA") unsupported("peft_type", "not a LoRA adapter");
  LoraOptions o;
  try {
    o.rank = j.at("r").get<int64_t>();
    o.alpha = j.at("lora_alpha").get<double>();
    o.dropout = j.value("lora_dropout", 0.0);
    o.rslora = j.value("use_rslora", false);
  } catch (const json::exception& e) {
    fail("{}: {}", path, e.what());
  }
  if (o.rank <= 0) fail("{}: r = {} must be positive", path, o.rank);
  auto set_and = [&](const char* f) { return j.contains(f) && !j[f].is_null(); };
  auto non_empty = [&](const char* f) { return set_and(f) && !j[f].empty(); };
  if (j.value("use_dora", false)) unsupported("use_dora", "DoRA is not implemented");
  if (j.value("bias", std::string("none")) != "none") unsupported("bias", "biases are not trained here");
  if (j.value("lora_bias", false)) unsupported("lora_bias", "biases are not trained here");
  if (j.value("fan_in_fan_out", false)) unsupported("fan_in_fan_out", "Llama's linears are not Conv1D");
  if (non_empty("rank_pattern")) unsupported("rank_pattern", "one rank for every target only");
  if (non_empty("alpha_pattern")) unsupported("alpha_pattern", "one alpha for every target only");
  if (set_and("layers_to_transform")) unsupported("layers_to_transform", "every block is adapted");
  if (non_empty("modules_to_save")) unsupported("modules_to_save", "no fully trained base modules");
  if (set_and("trainable_token_indices")) unsupported("trainable_token_indices", "not implemented");
  if (set_and("layer_replication")) unsupported("layer_replication", "not implemented");
  const json& tm = j.contains("target_modules") ? j["target_modules"] : json();
  if (tm.is_string() && tm.get<std::string>() == "all-linear") {
    for (auto& [s, name] : kTargets) o.targets.push_back(name);
  } else if (tm.is_array()) {
    for (auto& t : tm) {
      std::string name = t.is_string() ? t.get<std::string>() : "";
      if (std::none_of(kTargets.begin(), kTargets.end(), [&](auto& k) { return k.second == name; }))
        unsupported("target_modules", fmt::format("'{}' is not one of q_proj, k_proj, v_proj, o_proj, gate_proj, "
                                                  "up_proj, down_proj", t.dump()));
    }
    for (auto& [s, name] : kTargets)
      if (std::any_of(tm.begin(), tm.end(), [&](const json& t) { return t == name; })) o.targets.push_back(name);
  } else {
    unsupported("target_modules", "expected a list of module names or \"all-linear\"");
  }
  if (o.targets.empty()) unsupported("target_modules", "no target");
  if (base_dir) *base_dir = j.value("base_model_name_or_path", std::string());
  return o;
}

void check_adapter_base(const std::string& adapter_dir, const std::string& base_dir) {
  const std::string ours = (fs::path(adapter_dir) / "prospect.safetensors").string();
  if (!fs::exists(ours)) return;
  SafetensorsFile f(ours);
  auto it = f.metadata().find("lora_base_hash");
  if (it == f.metadata().end()) return;
  const std::string found = weights_hash(base_dir);
  if (found != it->second)
    fail("{}: the adapter was trained on a base with weights hash {}; {} has {} (another or a changed base)",
         adapter_dir, it->second, base_dir, found);
}

LoraAdapter load_peft_adapter(LlamaForCausalLMImpl& model, const std::string& dir) {
  LoraOptions o = read_peft_adapter_config(dir);
  LoraAdapter a(model.config, o);
  const std::string path = (fs::path(dir) / kAdapterWeights).string();
  if (!fs::exists(path)) fail("{}: missing {}", dir, kAdapterWeights);
  a->load_peft_tensors(load_safetensors(path), path);
  a->to(model.lm_head_weight().device());
  a->attach(model);
  return a;
}

}  // namespace prospect
