// config.json of a Llama model (llama_config.h).
#include "prospect/model/llama_config.h"

#include <fstream>

#include "prospect/core/error.h"
#include "prospect/core/file.h"

namespace prospect {

using nlohmann::json;

namespace {

template <typename T>
void read_field(const json& j, const char* key, T* out, const std::string& where, bool required) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) fail("{}: missing field '{}'", where, key);
    return;
  }
  try {
    *out = j[key].get<T>();
  } catch (const json::exception&) {
    fail("{}: field '{}' has the wrong type ({})", where, key, j[key].dump());
  }
}

}  // namespace

void LlamaConfig::check(const std::string& where) const {
  auto positive = [&](const char* name, int64_t v) {
    if (v <= 0) fail("{}: {} must be positive, found {}", where, name, v);
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden_size);
  positive("intermediate_size", intermediate_size);
  positive("num_hidden_layers", num_hidden_layers);
  positive("num_attention_heads", num_attention_heads);
  positive("num_key_value_heads", num_key_value_heads);
  if (num_attention_heads % num_key_value_heads != 0)
    fail("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", where, num_attention_heads,
         num_key_value_heads);
  if (head_dim <= 0 && hidden_size % num_attention_heads != 0)
    fail("{}: hidden_size {} is not a multiple of num_attention_heads {}", where, hidden_size, num_attention_heads);
  if (head_size() % 2 != 0) fail("{}: head size {} must be even for rotary embeddings", where, head_size());
  if (!(rms_norm_eps > 0)) fail("{}: rms_norm_eps must be positive", where);
  if (!(rope_theta > 0)) fail("{}: rope_theta must be positive", where);
  if (!rope_type.empty() && rope_type != "llama3")
    fail("{}: rope_scaling type '{}' is not supported (only llama3)", where, rope_type);
  if (rope_type == "llama3" && (rope_factor <= 0 || rope_high_freq_factor <= rope_low_freq_factor ||
                                rope_original_max_position_embeddings <= 0))
    fail("{}: rope_scaling llama3 needs factor > 0, high_freq_factor > low_freq_factor, "
         "original_max_position_embeddings > 0", where);
}

LlamaConfig parse_llama_config(const json& j, const std::string& where) {
  if (!j.is_object()) fail("{}: not a JSON object", where);
  LlamaConfig c;
  c.raw = j;
  read_field(j, "vocab_size", &c.vocab_size, where, true);
  read_field(j, "hidden_size", &c.hidden_size, where, true);
  read_field(j, "intermediate_size", &c.intermediate_size, where, true);
  read_field(j, "num_hidden_layers", &c.num_hidden_layers, where, true);
  read_field(j, "num_attention_heads", &c.num_attention_heads, where, true);
  c.num_key_value_heads = c.num_attention_heads;  // HF's default
  read_field(j, "num_key_value_heads", &c.num_key_value_heads, where, false);
  read_field(j, "head_dim", &c.head_dim, where, false);
  read_field(j, "max_position_embeddings", &c.max_position_embeddings, where, false);
  read_field(j, "rms_norm_eps", &c.rms_norm_eps, where, false);
  read_field(j, "rope_theta", &c.rope_theta, where, false);
  read_field(j, "tie_word_embeddings", &c.tie_word_embeddings, where, false);
  for (const char* k : {"attention_bias", "mlp_bias"})
    if (j.contains(k) && j[k].is_boolean() && j[k].get<bool>()) fail("{}: {} = true is not supported", where, k);
  // transformers 5 writes the rotary settings as one object, rope_parameters (rope_theta inside it);
  // earlier versions wrote rope_theta and rope_scaling. Either is read; a file with both is read from
  // rope_parameters, the one transformers 5 reads.
  const char* rope_key = "rope_scaling";
  if (j.contains("rope_parameters") && !j["rope_parameters"].is_null()) {
    rope_key = "rope_parameters";
    if (!j["rope_parameters"].is_object()) fail("{}: rope_parameters is not an object", where);
    read_field(j["rope_parameters"], "rope_theta", &c.rope_theta, where + " rope_parameters", false);
  }
  if (j.contains(rope_key) && !j[rope_key].is_null()) {
    const json& r = j[rope_key];
    if (!r.is_object()) fail("{}: {} is not an object", where, rope_key);
    std::string w = where + " " + rope_key;
    if (r.contains("rope_type")) read_field(r, "rope_type", &c.rope_type, w, true);
    else read_field(r, "type", &c.rope_type, w, true);
    if (c.rope_type == "default") c.rope_type.clear();
    if (c.rope_type == "llama3") {
      read_field(r, "factor", &c.rope_factor, w, true);
      read_field(r, "low_freq_factor", &c.rope_low_freq_factor, w, true);
      read_field(r, "high_freq_factor", &c.rope_high_freq_factor, w, true);
      read_field(r, "original_max_position_embeddings", &c.rope_original_max_position_embeddings, w, true);
    }
  }
  c.check(where);
  return c;
}

LlamaConfig load_llama_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot open {}", path);
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
  return parse_llama_config(j, path);
}

json llama_config_json(const LlamaConfig& c) {
  json j = c.raw.is_object() ? c.raw : json::object();
  if (!j.contains("architectures")) j["architectures"] = {"LlamaForCausalLM"};
  if (!j.contains("model_type")) j["model_type"] = "llama";
  if (!j.contains("hidden_act")) j["hidden_act"] = "silu";
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  if (c.head_dim > 0) j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  if (c.rope_type == "llama3") {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", c.rope_factor},
                         {"low_freq_factor", c.rope_low_freq_factor},
                         {"high_freq_factor", c.rope_high_freq_factor},
                         {"original_max_position_embeddings", c.rope_original_max_position_embeddings}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  if (j.contains("rope_parameters")) {  // transformers 5's form (read first there): the same values
    j["rope_parameters"] = {{"rope_type", c.rope_type.empty() ? "default" : c.rope_type}, {"rope_theta", c.rope_theta}};
    if (c.rope_type == "llama3")
      for (auto& [k, v] : j["rope_scaling"].items()) j["rope_parameters"][k] = v;
  }
  if (!j.contains("torch_dtype")) j["torch_dtype"] = "float32";
  return j;
}

void save_llama_config(const std::string& path, const LlamaConfig& c) {
  write_file_atomic(path, llama_config_json(c).dump(2) + "\n");
}

// ---------------------------------------------------------------- rotary embedding

}  // namespace prospect
