#include "prospect/model/dst_model.h"

#include <filesystem>
#include <regex>
#include <sstream>

#include "prospect/core/error.h"
#include "prospect/model/grad_checkpoint.h"
#include "prospect/model/safetensors.h"

namespace prospect {
namespace fs = std::filesystem;

namespace {
const char* kHeadFile = "prospect.safetensors";
// the rows the project adds to a LoRA model's base, saved beside the adapter
const char* kImageRowEmbed = "image_row.embed_tokens";
const char* kImageRowHead = "image_row.lm_head";
bool is_extra_param(const std::string& name) {
  return name.rfind("mm_projector.", 0) == 0 || name.rfind("speaking_decision_head.", 0) == 0 ||
         name.rfind("dst_update_head.", 0) == 0 || name.rfind("dst_state_head.", 0) == 0;
}
}  // namespace

DSTProActLlamaImpl::DSTProActLlamaImpl(const LlamaConfig& lm_config, int64_t feature_dim, int64_t state_steps)
    : LlamaForCausalLMImpl(lm_config),
      image_token_id(lm_config.vocab_size - 1),
      feature_dim(feature_dim),
      state_steps(state_steps) {
  PROSPECT_CHECK(feature_dim > 0, "DST model: feature_dim must be positive, got {}", feature_dim);
  PROSPECT_CHECK(state_steps >= 0, "DST model: state_steps must be >= 0, got {}", state_steps);
  int64_t H = lm_config.hidden_size;
  mm_projector = register_module(
      "mm_projector", torch::nn::Sequential(torch::nn::Linear(feature_dim, H), torch::nn::GELU(), torch::nn::Linear(H, H)));
  speaking_decision_head = register_module("speaking_decision_head", torch::nn::Linear(H, 1));
  dst_update_head = register_module("dst_update_head", torch::nn::Linear(H, 1));
  // last, so that the draws above are the same with and without it
  if (state_steps > 0) dst_state_head = register_module("dst_state_head", torch::nn::Linear(H, 3 * state_steps));
}

void DSTProActLlamaImpl::add_lora(const LoraOptions& options, const std::string& base_dir, const std::string& base_hash) {
  PROSPECT_CHECK(!has_lora(), "the model already has a LoRA adapter");
  lora = register_module("lora", LoraAdapter(config, options));
  lora->to(lm_head_weight().device());
  lora->attach(*this);
  lora_base = base_dir;
  lora_base_hash = base_hash;
  for (auto& p : named_parameters())
    if (p.key().rfind("model.", 0) == 0 || p.key().rfind("lm_head.", 0) == 0) p.value().set_requires_grad(false);
}

at::Tensor DSTProActLlamaImpl::project(const at::Tensor& frames) {
  PROSPECT_CHECK(frames.dim() == 2 && frames.size(1) == feature_dim,
                 "frames have shape [{}], the projector expects [N, {}]", fmt::join(frames.sizes(), ", "), feature_dim);
  return mm_projector->forward(frames.to(lm_head_weight().device(), lm_head_weight().scalar_type()));
}

at::Tensor DSTProActLlamaImpl::inputs_embeds(const at::Tensor& input_ids, const at::Tensor& frames) {
  PROSPECT_CHECK(input_ids.dim() == 2, "input_ids must be [B, T], got [{}]", fmt::join(input_ids.sizes(), ", "));
  at::Tensor is_image = input_ids == image_token_id;
  // The `<image>` row of the embedding is never read: those ids are looked up as 0 and replaced.
  at::Tensor emb = embed(input_ids.masked_fill(is_image, 0));
  at::Tensor where = flat_index(is_image);
  int64_t n = where.size(0);
  int64_t got = frames.defined() ? frames.size(0) : 0;
  PROSPECT_CHECK(got == n, "{} frame rows for {} <image> tokens (id {})", got, n, image_token_id);
  if (n == 0) return emb;
  int64_t B = emb.size(0), T = emb.size(1), H = emb.size(2);
  // Under autocast the projector's output is in the autocast dtype while the embedding lookup stays in
  // the weights' dtype: the rows take the embedding's (the next block's linears cast again).
  return emb.reshape({B * T, H}).index_put({where}, project(frames).to(emb.scalar_type())).view({B, T, H});
}

at::Tensor DSTProActLlamaImpl::hidden_states(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                             const at::Tensor& frames) {
  at::Tensor x = inputs_embeds(input_ids, frames);
  bool ckpt = gradient_checkpointing && is_training() && torch::GradMode::is_enabled();
  return hidden(x, attention_mask, {}, nullptr, ckpt ? checkpoint_runner() : BlockRunner());
}

at::Tensor DSTProActLlamaImpl::speaking_logit(const at::Tensor& h) { return speaking_decision_head(h).squeeze(-1); }
at::Tensor DSTProActLlamaImpl::dst_logit(const at::Tensor& h) { return dst_update_head(h).squeeze(-1); }
at::Tensor DSTProActLlamaImpl::state_logits(const at::Tensor& h) {
  PROSPECT_CHECK(has_state_head(), "the model has no state head (model.dst_state_head)");
  std::vector<int64_t> shape(h.sizes().begin(), h.sizes().end() - 1);
  shape.push_back(state_steps);
  shape.push_back(3);
  return dst_state_head(h).view(shape);
}

DSTOutput DSTProActLlamaImpl::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                      const at::Tensor& frames, const at::Tensor& decision_index,
                                      const at::Tensor& lm_index) {
  at::Tensor h = hidden_states(input_ids, attention_mask, frames);
  at::Tensor flat = h.reshape({-1, h.size(2)});
  DSTOutput out;
  at::Tensor hd = flat.index_select(0, decision_index.to(at::kLong));
  out.speaking_logits = speaking_logit(hd);
  out.dst_logits = dst_logit(hd);
  if (has_state_head()) out.state_logits = state_logits(hd);
  out.lm_logits = logits(flat.index_select(0, lm_index.to(at::kLong)));
  return out;
}

at::Tensor flat_index(const at::Tensor& mask) {
  return mask.reshape({-1}).nonzero().squeeze(1);
}

// ---------------------------------------------------------------- construction, save, load

namespace {
int64_t state_steps_of(const ModelConfig& cfg) { return cfg.dst_state_head ? cfg.dst_state_steps : 0; }
}  // namespace

void check_state_head(const ModelConfig& cfg, const DSTProActLlamaImpl& m, const std::string& where) {
  if (cfg.dst_state_head != m.has_state_head())
    usage_fail("model.dst_state_head = {} disagrees with the model of {}, which has {} state head", cfg.dst_state_head,
               where, m.has_state_head() ? "a" : "no");
  if (m.has_state_head() && m.state_steps != cfg.dst_state_steps)
    usage_fail("model.dst_state_steps = {} disagrees with the model of {}, whose state head covers {} steps",
               cfg.dst_state_steps, where, m.state_steps);
}

DSTProActLlama make_dst_model_scratch(const ModelConfig& cfg, int64_t base_vocab, int64_t feature_dim, uint64_t seed) {
  LlamaConfig c;
  c.vocab_size = (cfg.vocab_size > 0 ? cfg.vocab_size : base_vocab) + 1;
  c.hidden_size = cfg.hidden_size;
  c.intermediate_size = cfg.intermediate_size;
  c.num_hidden_layers = cfg.num_hidden_layers;
  c.num_attention_heads = cfg.num_attention_heads;
  c.num_key_value_heads = cfg.num_key_value_heads;
  c.rms_norm_eps = cfg.rms_norm_eps;
  c.rope_theta = cfg.rope_theta;
  c.tie_word_embeddings = cfg.tie_word_embeddings;
  c.max_position_embeddings = 4096;
  c.check("model config");
  c.raw["image_token_id"] = c.vocab_size - 1;
  torch::manual_seed(seed);
  return DSTProActLlama(c, feature_dim, state_steps_of(cfg));
}

namespace {
// The base of make_dst_model_from_hf grown by the `<image>` rows: `rows` (the saved ones of a LoRA
// model) or, undefined, the mean rows.
DSTProActLlama grow_hf_model(const std::string& dir, int64_t feature_dim, uint64_t seed, int64_t state_steps,
                             const at::Tensor& embed_row = {}, const at::Tensor& head_row = {});
}  // namespace

DSTProActLlama make_dst_model_from_hf(const std::string& dir, int64_t feature_dim, uint64_t seed,
                                      int64_t state_steps) {
  return grow_hf_model(dir, feature_dim, seed, state_steps);
}

namespace {
DSTProActLlama grow_hf_model(const std::string& dir, int64_t feature_dim, uint64_t seed, int64_t state_steps,
                             const at::Tensor& embed_row, const at::Tensor& head_row) {
  LlamaForCausalLM base = load_llama(dir);
  LlamaConfig c = base->config;
  c.vocab_size += 1;
  c.raw["image_token_id"] = c.vocab_size - 1;
  torch::manual_seed(seed);
  DSTProActLlama m(c, feature_dim, state_steps);
  torch::NoGradGuard ng;
  TensorMap t;
  for (auto& p : base->named_parameters()) t[p.key()] = p.value();
  // The grown rows: the mean of the existing rows (the embedding row is never read; the LM head row
  // is masked at generation and never a target).
  auto grow = [](const at::Tensor& w, const at::Tensor& row) {
    return at::cat({w, row.defined() ? row.to(w.scalar_type()).view({1, -1}) : w.mean(0, true)}, 0);
  };
  t["model.embed_tokens.weight"] = grow(t["model.embed_tokens.weight"], embed_row);
  if (!c.tie_word_embeddings) t["lm_head.weight"] = grow(t["lm_head.weight"], head_row);
  load_parameters(*m, t, dir, false, {"mm_projector.", "speaking_decision_head.", "dst_update_head.", "dst_state_head."});
  return m;
}
}  // namespace

bool is_dst_model_dir(const std::string& dir) { return fs::exists(fs::path(dir) / kHeadFile); }

void save_dst_model(DSTProActLlama& m, const std::string& dir, at::ScalarType dtype) {
  fs::create_directories(dir);
  NamedTensors lm, extra;
  for (auto& p : m->named_parameters()) {
    if (p.key().rfind("lora.", 0) == 0) continue;  // the adapter's own files
    at::Tensor t = p.value().detach().to(at::kCPU, is_extra_param(p.key()) ? at::kFloat : dtype);
    (is_extra_param(p.key()) ? extra : lm).emplace_back(p.key(), t);
  }
  std::map<std::string, std::string> meta = {{"format", "pt"},
                                             {"feature_dim", std::to_string(m->feature_dim)},
                                             {"image_token_id", std::to_string(m->image_token_id)}};
  if (m->has_lora()) {
    // The base stays the user's folder: the adapter, plus the rows the project added to the base.
    torch::NoGradGuard ng;
    extra.emplace_back(kImageRowEmbed, m->model->embed_tokens->weight[m->image_token_id].detach().to(at::kCPU, at::kFloat).view({1, -1}));
    if (m->lm_head)
      extra.emplace_back(kImageRowHead, m->lm_head->weight[m->image_token_id].detach().to(at::kCPU, at::kFloat).view({1, -1}));
    meta["lora_base"] = m->lora_base;
    meta["lora_base_hash"] = m->lora_base_hash;
    save_peft_adapter(*m->lora, dir, m->lora_base);
  } else {
    save_safetensors_dir(dir, lm);
  }
  save_safetensors((fs::path(dir) / kHeadFile).string(), extra, meta);
  LlamaConfig c = m->config;
  c.raw["image_token_id"] = m->image_token_id;
  c.raw["torch_dtype"] = dtype == at::kBFloat16 ? "bfloat16" : dtype == at::kHalf ? "float16" : "float32";
  save_llama_config((fs::path(dir) / "config.json").string(), c);
}

namespace {
// A LoRA model's folder (see dst_model.h): its base, checked against the saved hash, grown by the saved
// rows, the adapter attached, then the projector and heads.
DSTProActLlama load_lora_dst_model(const std::string& dir, const SafetensorsFile& heads, int64_t feature_dim,
                                   int64_t state_steps) {
  const auto& meta = heads.metadata();
  auto field = [&](const char* key) {
    auto it = meta.find(key);
    if (it == meta.end() || it->second.empty())
      fail("{}: __metadata__ has no {} (a LoRA model names its base)", heads.path(), key);
    return it->second;
  };
  const std::string base = field("lora_base"), hash = field("lora_base_hash");
  if (!fs::is_directory(base))
    fail("{}: its base model folder {} does not exist (a LoRA checkpoint needs its base, unchanged)", dir, base);
  const std::string found = weights_hash(base);
  if (found != hash)
    fail("{}: the base model {} has weights hash {}, the adapter was trained on {} (another or a changed base)", dir,
         base, found, hash);
  if (!heads.contains(kImageRowEmbed)) fail("{}: tensor '{}' is missing", heads.path(), kImageRowEmbed);
  at::Tensor head_row = heads.contains(kImageRowHead) ? heads.tensor(kImageRowHead) : at::Tensor();
  DSTProActLlama m = grow_hf_model(base, feature_dim, 0, state_steps, heads.tensor(kImageRowEmbed), head_row);
  if (!m->config.tie_word_embeddings && !head_row.defined())
    fail("{}: tensor '{}' is missing (the base's lm_head is untied)", heads.path(), kImageRowHead);
  m->add_lora(read_peft_adapter_config(dir), base, hash);
  TensorMap adapter = load_safetensors((fs::path(dir) / "adapter_model.safetensors").string());
  m->lora->load_peft_tensors(adapter, (fs::path(dir) / "adapter_model.safetensors").string());
  TensorMap rest;
  for (auto& [name, e] : heads.entries())
    if (is_extra_param(name)) rest[name] = heads.tensor(name);
  load_parameters(*m, rest, heads.path(), false, {"model.", "lm_head.", "lora."});
  return m;
}
}  // namespace

DSTProActLlama load_dst_model(const std::string& dir, int64_t feature_dim) {
  if (!fs::is_directory(dir)) fail("model folder {} does not exist", dir);
  std::string head_path = (fs::path(dir) / kHeadFile).string();
  if (!fs::exists(head_path)) fail("{}: missing {} (the projector and heads of a DST model)", dir, kHeadFile);
  std::string cfg_path = (fs::path(dir) / "config.json").string();
  LlamaConfig c = load_llama_config(cfg_path);
  if (c.raw.contains("image_token_id") && c.raw["image_token_id"] != c.vocab_size - 1)
    fail("{}: image_token_id {} must be vocab_size - 1 = {}", cfg_path, c.raw["image_token_id"].dump(), c.vocab_size - 1);
  SafetensorsFile heads(head_path);
  const char* proj = "mm_projector.0.weight";
  if (!heads.contains(proj)) fail("{}: tensor '{}' is missing", head_path, proj);
  auto& shape = heads.entries().at(proj).shape;
  if (shape.size() != 2 || shape[0] != c.hidden_size)
    fail("{}: tensor '{}' has shape [{}], expected [{}, feature_dim]", head_path, proj, fmt::join(shape, ", "),
         c.hidden_size);
  if (feature_dim > 0 && shape[1] != feature_dim)
    fail("{}: the projector takes {}-d features ('{}' is [{}]) but the frames are {}-d", head_path, shape[1], proj,
         fmt::join(shape, ", "), feature_dim);
  int64_t state_steps = 0;
  const char* state = "dst_state_head.weight";
  if (heads.contains(state)) {
    auto& ss = heads.entries().at(state).shape;
    if (ss.size() != 2 || ss[0] % 3 != 0 || ss[0] == 0 || ss[1] != c.hidden_size)
      fail("{}: tensor '{}' has shape [{}], expected [3 * steps, {}]", head_path, state, fmt::join(ss, ", "),
           c.hidden_size);
    state_steps = ss[0] / 3;
  }
  if (is_peft_adapter_dir(dir)) return load_lora_dst_model(dir, heads, shape[1], state_steps);
  DSTProActLlama m(c, shape[1], state_steps);
  SafetensorsDir t(dir);
  t.add(head_path);
  load_parameters(*m, t, false, c.tie_word_embeddings ? std::vector<std::string>{"lm_head."} : std::vector<std::string>{});
  return m;
}

DSTProActLlama make_dst_model(const ModelConfig& cfg, int64_t base_vocab, int64_t feature_dim, uint64_t seed) {
  DSTProActLlama m{nullptr};
  if (cfg.init == "scratch") {
    m = make_dst_model_scratch(cfg, base_vocab, feature_dim, seed);
  } else if (!fs::is_directory(cfg.init)) {
    fail("model.init: folder {} does not exist (expected scratch, an HF folder or a checkpoint)", cfg.init);
  } else if (is_dst_model_dir(cfg.init)) {
    m = load_dst_model(cfg.init, feature_dim);
    check_state_head(cfg, *m, cfg.init);
  } else {
    m = make_dst_model_from_hf(cfg.init, feature_dim, seed, state_steps_of(cfg));
    // after the projector and heads: their draws are the same with and without LoRA
    if (cfg.lora_rank > 0) m->add_lora(lora_options(cfg), fs::canonical(cfg.init).string(), weights_hash(cfg.init));
  }
  if (cfg.lora_rank > 0 && !m->has_lora())
    usage_fail("model.lora_rank = {} needs model.init = an HF Llama folder (the base the adapter is saved against) "
               "or a LoRA checkpoint, not {}",
               cfg.lora_rank, cfg.init);
  m->gradient_checkpointing = cfg.gradient_checkpointing;
  if (!cfg.freeze.empty()) freeze_parameters(*m, cfg.freeze);
  return m;
}

int freeze_parameters(torch::nn::Module& m, const std::string& patterns) {
  int frozen = 0;
  std::stringstream ss(patterns);
  std::string pat;
  auto params = m.named_parameters();
  while (std::getline(ss, pat, ',')) {
    if (pat.empty()) continue;
    std::regex re;
    try {
      re = std::regex(pat);
    } catch (const std::regex_error& e) {
      usage_fail("model.freeze: '{}' is not a regular expression ({})", pat, e.what());
    }
    int matched = 0;
    for (auto& p : params) {
      if (!std::regex_search(p.key(), re)) continue;
      ++matched;
      if (p.value().requires_grad()) {
        p.value().set_requires_grad(false);
        ++frozen;
      }
    }
    if (matched == 0) usage_fail("model.freeze: pattern '{}' matches no parameter", pat);
  }
  return frozen;
}

}  // namespace prospect
