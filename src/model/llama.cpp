#include "prospect/model/llama.h"

#include <torch/nn/functional/activation.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>

#include "prospect/core/error.h"
#include "prospect/core/file.h"
#include "prospect/model/kv_cache.h"
#include "prospect/model/lora.h"

namespace prospect {
namespace fs = std::filesystem;
using nlohmann::json;

at::Tensor rope_inv_freq(const LlamaConfig& c) {
  // As HF: 1 / theta^(arange(0, d, 2) / d) in fp32, then llama3's per-frequency rescaling.
  int64_t d = c.head_size();
  at::Tensor inv = 1.0 / at::pow(c.rope_theta, at::arange(0, d, 2, at::kLong).to(at::kFloat) / static_cast<double>(d));
  if (c.rope_type == "llama3") {
    double old_len = static_cast<double>(c.rope_original_max_position_embeddings);
    double low_wavelen = old_len / c.rope_low_freq_factor;
    double high_wavelen = old_len / c.rope_high_freq_factor;
    at::Tensor wavelen = 2 * M_PI / inv;
    at::Tensor scaled = at::where(wavelen > low_wavelen, inv / c.rope_factor, inv);
    at::Tensor smooth = (old_len / wavelen - c.rope_low_freq_factor) / (c.rope_high_freq_factor - c.rope_low_freq_factor);
    at::Tensor smoothed = (1 - smooth) * scaled / c.rope_factor + smooth * scaled;
    at::Tensor medium = at::logical_not(wavelen < high_wavelen).logical_and(at::logical_not(wavelen > low_wavelen));
    inv = at::where(medium, smoothed, scaled);
  }
  return inv;
}

std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& inv_freq, const at::Tensor& positions) {
  at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq.to(positions.device());  // [B, T, d/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos(), emb.sin()};
}

namespace {
// x [B, T, heads, hd] -> x * cos + rotate_half(x) * sin, where sin_signed already carries rotate_half's
// sign (-sin on the first half): rotate_half(x) * sin = cat(x2, x1) * sin_signed = roll(x, hd/2) *
// sin_signed. roll's backward is one roll; cat of two narrows would cost two zero-filled full-size
// tensors (SliceBackward) in backward.
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin_signed) {
  return x * cos + at::roll(x, {x.size(-1) / 2}, {-1}) * sin_signed;
}

// The per-forward tables of BlockInputs (see llama.h) from cos, sin and mask (and fused/causal_only).
void fill_attention_tables(BlockInputs& in, int64_t head_size) {
  int64_t h = head_size / 2;
  at::Tensor sin_signed = at::cat({in.sin.narrow(-1, 0, h).neg(), in.sin.narrow(-1, h, h)}, -1);
  // Scaling the queries instead of the [T, S] scores: one small multiply folded into the tables. With a
  // power-of-two scale (head_size 4, 16, 64, 256) the scores are bitwise those of HF's order.
  double scale = 1.0 / std::sqrt(static_cast<double>(head_size));
  in.rope_cos = in.cos.unsqueeze(2);
  in.rope_sin = sin_signed.unsqueeze(2);
  in.rope_cos_q = (in.cos * scale).unsqueeze(2);
  in.rope_sin_q = (sin_signed * scale).unsqueeze(2);
  if (in.fused && (in.causal_only || !in.rows.empty())) return;  // is_causal per window: no mask tensor
  // The lowest finite value rather than -inf: a fully masked row (a padded query) stays finite. Added to
  // an allowed score it changes nothing; added to a masked one it gives the lowest value, as masked_fill.
  // Both paths add this same bias (a boolean mask in the fused path would turn such a row into NaN or
  // zeros depending on the kernel; this way every kernel gives the materialised path's finite row).
  in.bias = at::zeros(in.mask.sizes(), in.cos.options().dtype(at::kFloat))
                .masked_fill_(in.mask.logical_not(), std::numeric_limits<float>::lowest());
}
}  // namespace

// ---------------------------------------------------------------- modules

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps(eps) {
  weight = register_parameter("weight", at::ones({dim}));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  // HF computes the statistics in fp32 and casts back before the weight.
  at::Tensor h = x.to(at::kFloat);
  h = h * at::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * h.to(x.scalar_type());
}

namespace {
torch::nn::Linear linear(int64_t in, int64_t out) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}
// W x, plus the LoRA pair's (alpha/r) B A dropout(x) where one is attached (PEFT's order: base first).
at::Tensor project(torch::nn::Linear& proj, LoraPairImpl* lora, const at::Tensor& x) {
  at::Tensor y = proj(x);
  return lora ? y + lora->forward(x) : y;
}
}  // namespace

#if TORCH_VERSION_MAJOR >= 2
namespace {
double lowest_finite(at::ScalarType t) {
  switch (t) {
    case at::kBFloat16: return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    case at::kHalf: return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    case at::kDouble: return std::numeric_limits<double>::lowest();
    default: return std::numeric_limits<float>::lowest();
  }
}
}  // namespace

// q [B, heads, T, hd] (already scaled by 1/sqrt(hd)), k, v [B, kv_heads, S, hd] -> [B, T, heads * hd].
//
// at::scaled_dot_product_attention picks a kernel per call (at::_fused_sdp_choice says which). On the
// CPU (LibTorch 2.12) it is the fused flash kernel (_scaled_dot_product_flash_attention_cpu, choice 1 =
// flash_attention) for fp32 and bf16, with is_causal or with our float bias, GQA or not: blocks of
// queries against blocks of keys with an online softmax, so neither the [T, S] scores nor their
// probabilities are stored; backward recomputes them from the saved log-sum-exp. Memory O(T) per head
// instead of O(T * S), time the same O(T * S * hd). On the GPU: flash (is_causal, no mask tensor) or
// memory-efficient / cuDNN (with the bias). tests/model/test_llama.cpp checks the CPU choice.
//
// The scale is folded into the queries (as in the materialised path), so SDPA gets scale = 1. GQA:
// enable_gqa (kv head j serves query heads j*rep .. j*rep+rep-1, as repeat_interleave) where the
// kernel takes it: the CPU kernel always, the GPU's flash kernel (no mask); the GPU's kernels that take
// a mask do not, so there the keys and values are repeated.
at::Tensor LlamaAttentionImpl::fused_attention(const at::Tensor& q, at::Tensor k, at::Tensor v,
                                               const BlockInputs& in) const {
  if (!in.rows.empty()) return window_attention(q, k, v, in);
  int64_t B = q.size(0), T = q.size(2), rep = n_heads / n_kv_heads;
  std::optional<at::Tensor> bias;
  // [B, 1, T, S], broadcast over the heads, in the queries' dtype as the kernels want (bf16 under
  // autocast) and with that dtype's lowest finite value: the fp32 lowest would round to -inf in bf16,
  // and a fully masked row would then be NaN (or zeros) depending on the kernel.
  if (!in.causal_only) {
    at::ScalarType dt = q.scalar_type();
    bias = dt == in.bias.scalar_type()
               ? in.bias
               : at::zeros(in.mask.sizes(), q.options()).masked_fill_(in.mask.logical_not(), lowest_finite(dt));
  }
  bool gqa = rep > 1 && (q.device().is_cpu() || in.causal_only);
  if (rep > 1 && !gqa) {
    k = k.repeat_interleave(rep, 1);
    v = v.repeat_interleave(rep, 1);
  }
  at::Tensor o = at::scaled_dot_product_attention(q, k, v, bias, /*dropout_p=*/0.0, /*is_causal=*/in.causal_only,
                                                  /*scale=*/1.0, /*enable_gqa=*/gqa);
  return o.transpose(1, 2).reshape({B, T, n_heads * head_size});
}

// The fused attention of rows laid out as windows then right padding (in.rows): each window attends
// causally to itself alone, and the padded queries to every kept key of their row (what the mask path
// gives them: finite rows that no loss reads). The same function as the mask, without the masked
// blocks: time sum(n_i^2) over a row's windows instead of T^2, and no [B, 1, T, T] bias. The pieces
// come from split (its backward is one cat) and go back together with cat (its backward is views):
// narrow on q, k, v would allocate and zero a full-size gradient per piece in backward.
at::Tensor LlamaAttentionImpl::window_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                const BlockInputs& in) const {
  int64_t B = q.size(0), T = q.size(2);
  bool gqa = n_heads != n_kv_heads;  // no mask tensor: every kernel takes enable_gqa
  std::vector<at::Tensor> qr = q.split(1, 0), kr = k.split(1, 0), vr = v.split(1, 0), rows;
  for (int64_t b = 0; b < B; ++b) {
    const BlockInputs::RowWindows& r = in.rows[static_cast<size_t>(b)];
    std::vector<int64_t> sizes;
    for (const auto& [start, end] : r.windows) sizes.push_back(end - start);
    if (r.pad_start < T) sizes.push_back(T - r.pad_start);
    std::vector<at::Tensor> qs = qr[b].split_with_sizes(sizes, 2), ks = kr[b].split_with_sizes(sizes, 2),
                            vs = vr[b].split_with_sizes(sizes, 2), parts;
    for (size_t i = 0; i < r.windows.size(); ++i)
      parts.push_back(at::scaled_dot_product_attention(qs[i], ks[i], vs[i], {}, 0.0, /*is_causal=*/true,
                                                       /*scale=*/1.0, gqa));
    if (r.pad_start < T) {
      at::Tensor kept_k = r.windows.size() == 1 ? ks[0] : at::cat(at::TensorList(ks).slice(0, r.windows.size()), 2);
      at::Tensor kept_v = r.windows.size() == 1 ? vs[0] : at::cat(at::TensorList(vs).slice(0, r.windows.size()), 2);
      parts.push_back(at::scaled_dot_product_attention(qs.back(), kept_k, kept_v, {}, 0.0, /*is_causal=*/false,
                                                       /*scale=*/1.0, gqa));
    }
    rows.push_back(parts.size() == 1 ? parts[0] : at::cat(parts, 2));
  }
  at::Tensor o = B == 1 ? rows[0] : at::cat(rows, 0);  // [B, heads, T, hd]
  return o.transpose(1, 2).reshape({B, T, n_heads * head_size});
}
#endif

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaConfig& c)
    : n_heads(c.num_attention_heads), n_kv_heads(c.num_key_value_heads), head_size(c.head_size()) {
  q_proj = register_module("q_proj", linear(c.hidden_size, n_heads * head_size));
  k_proj = register_module("k_proj", linear(c.hidden_size, n_kv_heads * head_size));
  v_proj = register_module("v_proj", linear(c.hidden_size, n_kv_heads * head_size));
  o_proj = register_module("o_proj", linear(n_heads * head_size, c.hidden_size));
}

at::Tensor LlamaAttentionImpl::forward(const at::Tensor& x, const BlockInputs& in_shared, int64_t layer) {
  const BlockInputs* pin = &in_shared;
  BlockInputs local;
  if (!in_shared.rope_cos.defined()) {  // built by hand rather than by block_inputs
    local = in_shared;
    fill_attention_tables(local, head_size);
    pin = &local;
  }
  const BlockInputs& in = *pin;
  int64_t B = x.size(0), T = x.size(1), rep = n_heads / n_kv_heads;
  // Rotary embedding on [B, T, heads, hd] as the projections lay it out; the queries also take the
  // 1/sqrt(head_size) of the scores.
  at::Tensor q = apply_rope(project(q_proj, q_lora, x).view({B, T, n_heads, head_size}), in.rope_cos_q, in.rope_sin_q).transpose(1, 2);
  at::Tensor k = apply_rope(project(k_proj, k_lora, x).view({B, T, n_kv_heads, head_size}), in.rope_cos, in.rope_sin).transpose(1, 2);
  at::Tensor v = project(v_proj, v_lora, x).view({B, T, n_kv_heads, head_size}).transpose(1, 2);
  if (in.cache) {
    // Write the new keys/values into their slots, then read every filled slot.
    KVCache& c = *in.cache;
    c.k[layer].narrow(2, in.past, T).copy_(k);
    c.v[layer].narrow(2, in.past, T).copy_(v);
    k = c.k[layer].narrow(2, 0, in.past + T);
    v = c.v[layer].narrow(2, 0, in.past + T);
  }
#if TORCH_VERSION_MAJOR >= 2
  if (in.fused) return project(o_proj, o_lora, fused_attention(q, k, v, in));
#endif
  int64_t S = k.size(2);
  // Materialised path (the only one on LibTorch 1.13). Grouped-query attention without HF's repeat_kv copies: kv head j serves the `rep` consecutive query
  // heads j*rep .. j*rep+rep-1, so the queries as [B, n_kv, rep*T, hd] meet each kv head's keys and
  // values in one batched matmul (the same products as repeating the keys).
  at::Tensor qg = q.reshape({B, n_kv_heads, rep * T, head_size});
  // Scores (already scaled) and softmax in fp32, as HF's eager path upcasts, whatever the compute dtype.
  at::Tensor scores = at::matmul(qg, k.transpose(2, 3)).to(at::kFloat);  // [B, n_kv, rep*T, S]
  // Out of place: the add's backward passes the gradient through (an in-place add on this view would
  // cost a CopySlices clone of the whole score gradient in backward).
  scores = scores.view({B, n_kv_heads, rep, T, S}) + in.bias.unsqueeze(1);
  at::Tensor p = at::softmax(scores, -1).to(q.scalar_type()).view({B, n_kv_heads, rep * T, S});
  at::Tensor o = at::matmul(p, v).view({B, n_heads, T, head_size}).transpose(1, 2).reshape({B, T, n_heads * head_size});
  return project(o_proj, o_lora, o);
}

LlamaMLPImpl::LlamaMLPImpl(const LlamaConfig& c) {
  gate_proj = register_module("gate_proj", linear(c.hidden_size, c.intermediate_size));
  up_proj = register_module("up_proj", linear(c.hidden_size, c.intermediate_size));
  down_proj = register_module("down_proj", linear(c.intermediate_size, c.hidden_size));
}

at::Tensor LlamaMLPImpl::forward(const at::Tensor& x) {
  return project(down_proj, down_lora, at::silu(project(gate_proj, gate_lora, x)) * project(up_proj, up_lora, x));
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaConfig& c, int64_t index) : index(index) {
  self_attn = register_module("self_attn", LlamaAttention(c));
  mlp = register_module("mlp", LlamaMLP(c));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

at::Tensor LlamaDecoderLayerImpl::forward(const at::Tensor& x, const BlockInputs& in) {
  at::Tensor h = x + self_attn->forward(input_layernorm(x), in, index);
  return h + mlp(post_attention_layernorm(h));
}

bool LlamaDecoderLayerImpl::has_trainable_weights() {
  for (auto& p : parameters())
    if (p.requires_grad()) return true;
  for (LoraPairImpl* l : {self_attn->q_lora, self_attn->k_lora, self_attn->v_lora, self_attn->o_lora, mlp->gate_lora,
                          mlp->up_lora, mlp->down_lora})
    if (l && (l->lora_A.requires_grad() || l->lora_B.requires_grad())) return true;
  return false;
}

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    blocks.emplace_back(c, i);
    layers->push_back(blocks.back());
  }
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

LlamaForCausalLMImpl::LlamaForCausalLMImpl(const LlamaConfig& c) : config(c) {
  config.check("llama config");
  model = register_module("model", LlamaModel(c));
  if (!c.tie_word_embeddings) lm_head = register_module("lm_head", linear(c.hidden_size, c.vocab_size));
  inv_freq = rope_inv_freq(c);
  // HF's _init_weights: normal(0, 0.02) for linear and embedding weights, norms at 1.
  torch::NoGradGuard ng;
  for (auto& p : named_parameters())
    if (p.key().find("layernorm") == std::string::npos && p.key().find("norm.weight") == std::string::npos)
      p.value().normal_(0.0, 0.02);
}

at::Tensor LlamaForCausalLMImpl::embed(const at::Tensor& ids) {
  return model->embed_tokens(ids);
}

namespace {
// The rows of window [B, T] (CPU, int64; 0 = padding) as windows laid out one after another, then
// right padding: each window one run of one number, none after the padding starts, and at least one
// window per row. Empty when any row is laid out otherwise (left padding, a window split in two, a row
// of padding only): the attention then takes the mask.
std::vector<BlockInputs::RowWindows> window_rows(const at::Tensor& window) {
  const int64_t B = window.size(0), T = window.size(1);
  const int64_t* w = window.data_ptr<int64_t>();
  std::vector<BlockInputs::RowWindows> rows(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t* r = w + b * T;
    BlockInputs::RowWindows& out = rows[b];
    int64_t t = 0;
    while (t < T && r[t] != 0) {
      int64_t start = t;
      while (t < T && r[t] == r[start]) ++t;
      for (const auto& [s, e] : out.windows)
        if (r[s] == r[start]) return {};  // the same window in two runs
      out.windows.emplace_back(start, t);
    }
    out.pad_start = t;
    for (; t < T; ++t)
      if (r[t] != 0) return {};  // a token after padding
    if (out.windows.empty()) return {};
  }
  return rows;
}
}  // namespace

BlockInputs LlamaForCausalLMImpl::block_inputs(int64_t B, int64_t T, const at::Tensor& attention_mask,
                                               const at::Tensor& positions, KVCache* cache) {
  BlockInputs in;
  in.cache = cache;
  in.past = cache ? cache->length : 0;
  int64_t S = in.past + T;
  if (cache) {
    PROSPECT_CHECK(cache->batch == B, "KV cache holds batch {}, the input has {}", cache->batch, B);
    PROSPECT_CHECK(S <= cache->max_len, "KV cache full: {} + {} tokens exceed its {} slots", in.past, T,
                   cache->max_len);
  }
  if (fused_attention && !kFusedAttentionAvailable)
    fail("fused attention (at::scaled_dot_product_attention) needs LibTorch 2.x; this build has {}", TORCH_VERSION);
  in.fused = fused_attention;
  // the model's device (inv_freq is a plain member, which Module::to does not move)
  auto dev = lm_head_weight().device();
  at::Tensor window, key_ok;  // int64 [B, S] (0 = padding, else the window number), bool [B, S]
  if (attention_mask.defined()) {
    PROSPECT_CHECK(attention_mask.dim() == 2 && attention_mask.size(0) == B && attention_mask.size(1) == S,
                   "attention_mask has shape [{}], expected [{}, {}]", fmt::join(attention_mask.sizes(), ", "), B, S);
    window = attention_mask.to(dev, at::kLong);
    key_ok = window != 0;
  }
  at::Tensor pos = positions;
  if (!pos.defined()) {
    if (key_ok.defined()) {
      // Kept tokens counted from the start of the token's window: a window starts where the number
      // changes to a non-zero one (padding continues the window before it). With one window per row
      // every start is 0 (right padding) or the first token (left padding): cumsum(mask) - 1.
      at::Tensor kept = key_ok.to(at::kLong), count = kept.cumsum(1);
      at::Tensor idx = at::arange(S, window.options()).unsqueeze(0).expand({B, S});
      at::Tensor prev = at::cat({at::full({B, 1}, -1, window.options()), window.narrow(1, 0, S - 1)}, 1);
      at::Tensor start = std::get<0>(at::where((window != prev).logical_and(key_ok), idx, at::zeros_like(idx)).cummax(1));
      at::Tensor before = (count - kept).gather(1, start);  // kept tokens before the window
      pos = (count - before).sub(1).clamp_min(0).narrow(1, in.past, T);
    } else {
      pos = at::arange(in.past, S, at::TensorOptions().dtype(at::kLong).device(dev)).unsqueeze(0).expand({B, T});
    }
  }
  PROSPECT_CHECK(pos.dim() == 2 && pos.size(0) == B && pos.size(1) == T, "positions have shape [{}], expected [{}, {}]",
                 fmt::join(pos.sizes(), ", "), B, T);
  std::tie(in.cos, in.sin) = rope_cos_sin(inv_freq, pos);
  // Query t (absolute in.past + t) sees keys j <= in.past + t that the attention mask keeps.
  at::Tensor qi = at::arange(in.past, S, at::TensorOptions().dtype(at::kLong).device(dev)).unsqueeze(1);
  at::Tensor kj = at::arange(0, S, at::TensorOptions().dtype(at::kLong).device(dev)).unsqueeze(0);
  at::Tensor causal = (kj <= qi).unsqueeze(0).unsqueeze(0);  // [1, 1, T, S]
  if (key_ok.defined()) {
    // A token attends to the kept keys of its own window (block-diagonal with packed windows); a padded
    // query (window 0) to every kept key, as without windows, so its row stays finite.
    at::Tensor qw = window.narrow(1, in.past, T).view({B, 1, T, 1});
    at::Tensor same = (qw == window.view({B, 1, 1, S})).logical_or(qw == 0);
    in.mask = causal.logical_and(key_ok.view({B, 1, 1, S})).logical_and(same);
  } else {
    in.mask = causal.expand({B, 1, T, S});
  }
  // One host sync per forward (not per block) when a mask is given: the windows' layout on the host, for
  // whether the mask is exactly causal (every key kept, one window) or is windows then right padding.
  in.causal_only = in.fused && in.past == 0 && !key_ok.defined();
  if (in.fused && in.past == 0 && key_ok.defined()) {
    in.rows = window_rows(window.to(at::kCPU).contiguous());
    in.causal_only = !in.rows.empty() && std::all_of(in.rows.begin(), in.rows.end(), [&](const auto& r) {
      return r.windows.size() == 1 && r.pad_start == T;
    });
    if (in.causal_only) in.rows.clear();
  }
  fill_attention_tables(in, config.head_size());
  return in;
}

at::Tensor LlamaForCausalLMImpl::hidden(const at::Tensor& inputs_embeds, const at::Tensor& attention_mask,
                                        const at::Tensor& positions, KVCache* cache, const BlockRunner& runner) {
  PROSPECT_CHECK(inputs_embeds.dim() == 3 && inputs_embeds.size(2) == config.hidden_size,
                 "inputs_embeds has shape [{}], expected [B, T, {}]", fmt::join(inputs_embeds.sizes(), ", "),
                 config.hidden_size);
  BlockInputs in = block_inputs(inputs_embeds.size(0), inputs_embeds.size(1), attention_mask, positions, cache);
  // As HF: the rotary tables are computed in fp32 and applied in the compute dtype.
  in.cos = in.cos.to(inputs_embeds.scalar_type());
  in.sin = in.sin.to(inputs_embeds.scalar_type());
  for (at::Tensor* t : {&in.rope_cos, &in.rope_sin, &in.rope_cos_q, &in.rope_sin_q}) *t = t->to(inputs_embeds.scalar_type());
  at::Tensor x = inputs_embeds;
  for (auto& block : model->blocks) x = runner ? runner(block, x, in) : block->forward(x, in);
  if (cache) cache->length = in.past + inputs_embeds.size(1);
  return model->norm(x);
}

const at::Tensor& LlamaForCausalLMImpl::lm_head_weight() const {
  return lm_head ? lm_head->weight : model->embed_tokens->weight;
}

at::Tensor LlamaForCausalLMImpl::logits(const at::Tensor& hidden) {
  return at::matmul(hidden, lm_head_weight().t());
}

at::Tensor LlamaForCausalLMImpl::forward(const at::Tensor& ids, const at::Tensor& attention_mask) {
  return logits(hidden(embed(ids), attention_mask));
}

// ---------------------------------------------------------------- load / save

namespace {

// Copies every parameter from `get` (checked against `shape_of`), then refuses names that are not
// parameters. `where(name)` is the file (or source) named in errors.
void load_parameters_impl(torch::nn::Module& module, const std::vector<std::string>& names,
                          const std::function<bool(const std::string&)>& has,
                          const std::function<std::vector<int64_t>(const std::string&)>& shape_of,
                          const std::function<at::Tensor(const std::string&)>& get,
                          const std::function<std::string(const std::string&)>& where, const std::string& source,
                          bool allow_extra, const std::vector<std::string>& skip_prefixes) {
  auto skipped = [&](const std::string& n) {
    for (auto& s : skip_prefixes)
      if (n.compare(0, s.size(), s) == 0) return true;
    return false;
  };
  torch::NoGradGuard ng;
  std::set<std::string> used;
  for (auto& p : module.named_parameters()) {
    const std::string& name = p.key();
    if (skipped(name)) continue;
    if (!has(name)) fail("{}: tensor '{}' is missing", source, name);
    std::vector<int64_t> shape = shape_of(name);
    if (at::IntArrayRef(shape) != p.value().sizes())
      fail("{}: tensor '{}' has shape [{}], the model expects [{}]", where(name), name, fmt::join(shape, ", "),
           fmt::join(p.value().sizes(), ", "));
    at::Tensor t = get(name);
    if (!at::isFloatingType(t.scalar_type()))
      fail("{}: tensor '{}' has dtype {}, expected a floating type", where(name), name, c10::toString(t.scalar_type()));
    p.value().copy_(t);
    used.insert(name);
  }
  if (allow_extra) return;
  for (auto& name : names) {
    if (used.count(name) || skipped(name)) continue;
    // Old HF checkpoints stored the (recomputable) rotary table.
    if (name.size() > 9 && name.compare(name.size() - 9, 9, ".inv_freq") == 0) continue;
    fail("{}: tensor '{}' is not a parameter of the model", where(name), name);
  }
}

}  // namespace

void load_parameters(torch::nn::Module& module, const TensorMap& tensors, const std::string& source,
                     bool allow_extra, const std::vector<std::string>& skip_prefixes) {
  std::vector<std::string> names;
  for (auto& [n, t] : tensors) names.push_back(n);
  load_parameters_impl(
      module, names, [&](const std::string& n) { return tensors.count(n) != 0; },
      [&](const std::string& n) { return tensors.at(n).sizes().vec(); }, [&](const std::string& n) { return tensors.at(n); },
      [&](const std::string&) { return source; }, source, allow_extra, skip_prefixes);
}

void load_parameters(torch::nn::Module& module, const SafetensorsDir& d, bool allow_extra,
                     const std::vector<std::string>& skip_prefixes) {
  load_parameters_impl(
      module, d.names(), [&](const std::string& n) { return d.contains(n); },
      [&](const std::string& n) { return d.entry(n).shape; }, [&](const std::string& n) { return d.tensor(n); },
      [&](const std::string& n) { return d.file_of(n); }, d.dir(), allow_extra, skip_prefixes);
}

NamedTensors named_parameter_list(torch::nn::Module& module, at::ScalarType dtype, const std::string& prefix) {
  NamedTensors out;
  for (auto& p : module.named_parameters())
    if (prefix.empty() || p.key().compare(0, prefix.size(), prefix) == 0)
      out.emplace_back(p.key(), p.value().detach().to(at::kCPU, dtype));
  return out;
}

LlamaForCausalLM load_llama(const std::string& dir) {
  if (!fs::is_directory(dir)) fail("model folder {} does not exist", dir);
  LlamaConfig c = load_llama_config((fs::path(dir) / "config.json").string());
  SafetensorsDir tensors(dir);
  LlamaForCausalLM m(c);
  // A tied model's file may still carry lm_head.weight (some exporters write it): it must equal the
  // embedding, so it is ignored.
  load_parameters(*m, tensors, false, c.tie_word_embeddings ? std::vector<std::string>{"lm_head."} : std::vector<std::string>{});
  return m;
}

void save_llama(LlamaForCausalLM& m, const std::string& dir, at::ScalarType dtype, uint64_t max_shard_bytes) {
  fs::create_directories(dir);
  LlamaConfig c = m->config;
  c.raw["torch_dtype"] = dtype == at::kBFloat16 ? "bfloat16" : dtype == at::kHalf ? "float16" : "float32";
  save_safetensors_dir(dir, named_parameter_list(*m, dtype), max_shard_bytes);
  save_llama_config((fs::path(dir) / "config.json").string(), c);
}

}  // namespace prospect
