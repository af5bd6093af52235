// The HF config.json of a Llama model (SPEC §4): sizes, rotary settings and rope scaling, read and
// written with every unknown key kept. No tensors: what only needs the sizes (the KV cache, the
// checkpoint checks) includes this, not llama.h.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace prospect {

// HF config.json of a Llama model. Unknown keys are kept in `raw` and written back unchanged.
struct LlamaConfig {
  int64_t vocab_size = 32000;
  int64_t hidden_size = 256;
  int64_t intermediate_size = 768;
  int64_t num_hidden_layers = 4;
  int64_t num_attention_heads = 4;
  int64_t num_key_value_heads = 4;
  int64_t head_dim = 0;  // 0: hidden_size / num_attention_heads
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  // rope_scaling: rope_type "" (none) or "llama3"; "linear" and "dynamic" are refused.
  std::string rope_type;
  double rope_factor = 8.0;
  double rope_low_freq_factor = 1.0;
  double rope_high_freq_factor = 4.0;
  int64_t rope_original_max_position_embeddings = 8192;
  nlohmann::json raw = nlohmann::json::object();  // the whole file as read (bos/eos ids, ...)

  int64_t head_size() const { return head_dim > 0 ? head_dim : hidden_size / num_attention_heads; }
  void check(const std::string& where) const;  // Error naming `where` and the field when inconsistent
};
LlamaConfig parse_llama_config(const nlohmann::json& j, const std::string& where = "config.json");
LlamaConfig load_llama_config(const std::string& path);  // a config.json file
nlohmann::json llama_config_json(const LlamaConfig& c);  // raw with our fields written over it
void save_llama_config(const std::string& path, const LlamaConfig& c);

}  // namespace prospect
