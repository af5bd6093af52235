// The sentence encoder of sentence_encoder.h: BERT and MPNet forwards in eval mode (no dropout),
// mean pooling over the attention mask, L2 normalisation.
#include "prospect/model/sentence_encoder.h"

#include <c10/core/InferenceMode.h>

#include <cmath>
#include <limits>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "prospect/core/error.h"
#include "prospect/core/file.h"
#include "prospect/model/safetensors.h"

namespace prospect {

namespace {

using json = nlohmann::json;

json read_json(const std::string& path) {
  std::string text;
  if (!read_file(path, &text)) fail("{}: cannot read (a sentence-transformers folder needs it)", path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail("{}: not JSON: {}", path, e.what());
  }
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// What the folder's modules.json and its Pooling config say; the transformer must be the first module.
void read_modules(const std::string& dir, SentenceEncoderConfig& cfg) {
  json modules = read_json(dir + "/modules.json");
  std::string pooling_path;
  bool transformer = false;
  for (const auto& m : modules) {
    std::string type = m.value("type", ""), path = m.value("path", "");
    if (ends_with(type, ".Transformer")) {
      if (!path.empty()) usage_fail("{}/modules.json: the Transformer module must be the folder itself, found path '{}'", dir, path);
      transformer = true;
    } else if (ends_with(type, ".Pooling")) {
      pooling_path = path;
    } else if (ends_with(type, ".Normalize")) {
      cfg.normalize = true;
    } else {
      usage_fail("{}/modules.json: module type '{}' is not supported (Transformer, Pooling, Normalize)", dir, type);
    }
  }
  if (!transformer || pooling_path.empty())
    usage_fail("{}/modules.json: needs a Transformer and a Pooling module", dir);
  json pool = read_json(dir + "/" + pooling_path + "/config.json");
  for (const auto& [key, v] : pool.items()) {
    if (key.rfind("pooling_mode_", 0) != 0 || !v.is_boolean()) continue;
    if (v.get<bool>() != (key == "pooling_mode_mean_tokens"))
      usage_fail("{}/{}/config.json: only mean pooling is supported ({} is {})", dir, pooling_path, key, v.get<bool>());
  }
  if (!pool.value("pooling_mode_mean_tokens", false))
    usage_fail("{}/{}/config.json: pooling_mode_mean_tokens must be true", dir, pooling_path);
}

at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, double eps) {
  return at::layer_norm(x, {x.size(-1)}, w, b, eps);
}

}  // namespace

at::Tensor SentenceEncoder::relative_buckets(int64_t n, int64_t num_buckets, int64_t max_distance) {
  // HF's MPNet relative_position_bucket, op for op (float32 log, truncation by .to(long)).
  auto pos = at::arange(n, at::kLong);
  at::Tensor relative = pos.unsqueeze(0) - pos.unsqueeze(1);  // [query, key] = key - query
  at::Tensor m = -relative;
  const int64_t half = num_buckets / 2;
  at::Tensor ret = (m < 0).to(at::kLong) * half;
  m = m.abs();
  const int64_t max_exact = half / 2;
  at::Tensor is_small = m < max_exact;
  at::Tensor large =
      max_exact + (at::log(m.to(at::kFloat) / max_exact) / std::log(static_cast<double>(max_distance) / max_exact) *
                   static_cast<double>(half - max_exact))
                      .to(at::kLong);
  large = at::min(large, at::full_like(large, half - 1));
  return ret + at::where(is_small, m, large);
}

SentenceEncoder::SentenceEncoder(const std::string& dir) {
  read_modules(dir, cfg_);
  const std::string cfg_path = dir + "/config.json";
  json c = read_json(cfg_path);
  try {
    cfg_.model_type = c.at("model_type").get<std::string>();
    if (cfg_.model_type != "bert" && cfg_.model_type != "mpnet")
      usage_fail("{}: model_type '{}' is not supported (bert, mpnet)", cfg_path, cfg_.model_type);
    std::string act = c.value("hidden_act", "gelu");
    if (act != "gelu") usage_fail("{}: hidden_act '{}' is not supported (gelu)", cfg_path, act);
    cfg_.vocab_size = c.at("vocab_size").get<int64_t>();
    cfg_.hidden = c.at("hidden_size").get<int64_t>();
    cfg_.layers = c.at("num_hidden_layers").get<int64_t>();
    cfg_.heads = c.at("num_attention_heads").get<int64_t>();
    cfg_.intermediate = c.at("intermediate_size").get<int64_t>();
    cfg_.max_positions = c.at("max_position_embeddings").get<int64_t>();
    if (cfg_.model_type == "bert") {
      cfg_.layer_norm_eps = c.value("layer_norm_eps", 1e-12);
      cfg_.type_vocab_size = c.value("type_vocab_size", int64_t{2});
      if (c.value("position_embedding_type", std::string("absolute")) != "absolute")
        usage_fail("{}: position_embedding_type must be absolute", cfg_path);
    } else {
      cfg_.layer_norm_eps = c.value("layer_norm_eps", 1e-5);
      cfg_.relative_buckets = c.value("relative_attention_num_buckets", int64_t{32});
      cfg_.padding_idx = 1;  // MPNetEmbeddings fixes padding_idx at 1
    }
  } catch (const json::exception& e) {
    fail("{}: {}", cfg_path, e.what());
  }
  if (cfg_.heads <= 0 || cfg_.hidden % cfg_.heads != 0)
    usage_fail("{}: hidden_size {} is not a multiple of num_attention_heads {}", cfg_path, cfg_.hidden, cfg_.heads);
  json sb = read_json(dir + "/sentence_bert_config.json");
  cfg_.max_seq_length = sb.value("max_seq_length", cfg_.max_positions);
  if (sb.value("do_lower_case", false))
    usage_fail("{}/sentence_bert_config.json: do_lower_case true is not supported", dir);

  SafetensorsDir st(dir);
  const std::string prefix = st.contains("embeddings.word_embeddings.weight") ? "" : cfg_.model_type + ".";
  auto get = [&](const std::string& name, std::vector<int64_t> shape) {
    const std::string full = prefix + name;
    if (!st.contains(full)) fail("{}: tensor {} missing", dir, full);
    at::Tensor t = st.tensor(full).to(at::kFloat);
    if (t.sizes() != at::IntArrayRef(shape))
      fail("{}: tensor {} has shape [{}], expected [{}]", dir, full, fmt::join(t.sizes(), ", "), fmt::join(shape, ", "));
    return t;
  };
  const int64_t H = cfg_.hidden, I = cfg_.intermediate;
  word_ = get("embeddings.word_embeddings.weight", {cfg_.vocab_size, H});
  pos_ = get("embeddings.position_embeddings.weight", {cfg_.max_positions, H});
  ln_w_ = get("embeddings.LayerNorm.weight", {H});
  ln_b_ = get("embeddings.LayerNorm.bias", {H});
  if (cfg_.model_type == "bert") {
    type_ = get("embeddings.token_type_embeddings.weight", {cfg_.type_vocab_size, H});
  } else {
    rel_bias_ = get("encoder.relative_attention_bias.weight", {cfg_.relative_buckets, cfg_.heads});
  }
  for (int64_t l = 0; l < cfg_.layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    Layer L;
    if (cfg_.model_type == "bert") {
      L.q_w = get(p + "attention.self.query.weight", {H, H}), L.q_b = get(p + "attention.self.query.bias", {H});
      L.k_w = get(p + "attention.self.key.weight", {H, H}), L.k_b = get(p + "attention.self.key.bias", {H});
      L.v_w = get(p + "attention.self.value.weight", {H, H}), L.v_b = get(p + "attention.self.value.bias", {H});
      L.o_w = get(p + "attention.output.dense.weight", {H, H}), L.o_b = get(p + "attention.output.dense.bias", {H});
      L.ln1_w = get(p + "attention.output.LayerNorm.weight", {H});
      L.ln1_b = get(p + "attention.output.LayerNorm.bias", {H});
    } else {
      L.q_w = get(p + "attention.attn.q.weight", {H, H}), L.q_b = get(p + "attention.attn.q.bias", {H});
      L.k_w = get(p + "attention.attn.k.weight", {H, H}), L.k_b = get(p + "attention.attn.k.bias", {H});
      L.v_w = get(p + "attention.attn.v.weight", {H, H}), L.v_b = get(p + "attention.attn.v.bias", {H});
      L.o_w = get(p + "attention.attn.o.weight", {H, H}), L.o_b = get(p + "attention.attn.o.bias", {H});
      L.ln1_w = get(p + "attention.LayerNorm.weight", {H}), L.ln1_b = get(p + "attention.LayerNorm.bias", {H});
    }
    L.i_w = get(p + "intermediate.dense.weight", {I, H}), L.i_b = get(p + "intermediate.dense.bias", {I});
    L.out_w = get(p + "output.dense.weight", {H, I}), L.out_b = get(p + "output.dense.bias", {H});
    L.ln2_w = get(p + "output.LayerNorm.weight", {H}), L.ln2_b = get(p + "output.LayerNorm.bias", {H});
    layers_.push_back(std::move(L));
  }
}

at::Tensor SentenceEncoder::embed(const std::vector<std::vector<int32_t>>& ids) const {
  c10::InferenceMode guard;
  const int64_t B = static_cast<int64_t>(ids.size()), H = cfg_.hidden, NH = cfg_.heads, D = H / NH;
  if (B == 0) return at::zeros({0, H}, at::kFloat);
  int64_t T = 0;
  for (const auto& v : ids) {
    if (v.empty()) fail("sentence encoder: an empty id list (a text needs at least its special tokens)");
    T = std::max<int64_t>(T, static_cast<int64_t>(v.size()));
    for (int32_t id : v)
      if (id < 0 || id >= cfg_.vocab_size) fail("sentence encoder: token id {} outside the vocabulary ({})", id, cfg_.vocab_size);
  }
  // MPNet's positions start after padding_idx, so a text may have max_positions - padding_idx - 1 ids.
  const int64_t max_ids = cfg_.model_type == "mpnet" ? cfg_.max_positions - cfg_.padding_idx - 1 : cfg_.max_positions;
  if (T > max_ids) fail("sentence encoder: {} ids in one text, the model takes at most {}", T, max_ids);

  // ids and mask [B, T], padded on the right with the padding id
  const int64_t pad = cfg_.model_type == "mpnet" ? cfg_.padding_idx : 0;
  at::Tensor input = at::full({B, T}, pad, at::kLong), mask = at::zeros({B, T}, at::kLong);
  auto in_a = input.accessor<int64_t, 2>();
  auto m_a = mask.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b)
    for (size_t t = 0; t < ids[b].size(); ++t) in_a[b][t] = ids[b][t], m_a[b][t] = 1;

  // embeddings [B, T, H]
  at::Tensor x = at::embedding(word_, input);
  if (cfg_.model_type == "bert") {
    x = x + pos_.slice(0, 0, T).unsqueeze(0) + type_[0];
  } else {
    at::Tensor not_pad = input.ne(cfg_.padding_idx).to(at::kLong);  // as HF: by id, not by mask
    at::Tensor positions = at::cumsum(not_pad, 1) * not_pad + cfg_.padding_idx;
    x = x + at::embedding(pos_, positions);
  }
  x = layer_norm(x, ln_w_, ln_b_, cfg_.layer_norm_eps);

  // additive mask [B, 1, 1, T]: the float minimum at padding
  at::Tensor add_mask = (1.0 - mask.to(at::kFloat)).mul(std::numeric_limits<float>::lowest()).view({B, 1, 1, T});
  at::Tensor bias;  // mpnet: [1, NH, T, T]
  if (cfg_.model_type == "mpnet")
    bias = at::embedding(rel_bias_, relative_buckets(T, cfg_.relative_buckets)).permute({2, 0, 1}).unsqueeze(0);

  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  for (const Layer& L : layers_) {
    auto heads = [&](const at::Tensor& t) { return t.view({B, T, NH, D}).transpose(1, 2); };  // [B, NH, T, D]
    at::Tensor q = heads(at::linear(x, L.q_w, L.q_b)), k = heads(at::linear(x, L.k_w, L.k_b)),
               v = heads(at::linear(x, L.v_w, L.v_b));
    at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) * scale;  // [B, NH, T, T]
    if (bias.defined()) scores = scores + bias;
    scores = scores + add_mask;
    at::Tensor ctx = at::matmul(at::softmax(scores, -1), v).transpose(1, 2).reshape({B, T, H});
    x = layer_norm(at::linear(ctx, L.o_w, L.o_b) + x, L.ln1_w, L.ln1_b, cfg_.layer_norm_eps);
    at::Tensor inner = at::gelu(at::linear(x, L.i_w, L.i_b));
    x = layer_norm(at::linear(inner, L.out_w, L.out_b) + x, L.ln2_w, L.ln2_b, cfg_.layer_norm_eps);
  }

  // mean over the real tokens, then unit length
  at::Tensor mf = mask.to(at::kFloat).unsqueeze(-1);                           // [B, T, 1]
  at::Tensor pooled = (x * mf).sum(1) / at::clamp_min(mf.sum(1), 1e-9);        // [B, H]
  if (cfg_.normalize) pooled = pooled / at::clamp_min(pooled.norm(2, {1}, true), 1e-12);
  return pooled.contiguous();
}

}  // namespace prospect
