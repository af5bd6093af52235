// The Llama decoder exactly as Hugging Face's LlamaForCausalLM computes it (fp32 on CPU): token
// embedding, per block RMSNorm -> GQA attention with rotate-half rotary embedding (rope_theta, optional
// "llama3" rope scaling) -> residual -> RMSNorm -> SwiGLU MLP -> residual, final RMSNorm, tied or untied
// lm_head. Parameter names are HF's (model.layers.0.self_attn.q_proj.weight, ...), so named_parameters()
// is exactly the tensor list of an HF model.safetensors (lm_head.weight absent when tied).
//
// The forward is split so callers can (a) feed inputs_embeds (the DST model replaces <image> rows),
// (b) get the final hidden states and apply the LM head only where needed, (c) run each decoder block
// on its own (gradient checkpointing) and (d) decode incrementally with a KVCache.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/version.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "prospect/model/llama_config.h"
#include "prospect/model/safetensors.h"

namespace prospect {

struct KVCache;       // kv_cache.h
struct LoraPairImpl;  // lora.h

// Whether attention can go through at::scaled_dot_product_attention (LibTorch 2.x); LibTorch 1.13 has
// only the materialised path. See LlamaAttentionImpl::forward.
constexpr bool kFusedAttentionAvailable = TORCH_VERSION_MAJOR >= 2;

// inv_freq of the rotary embedding [head_size/2], fp32, with llama3 scaling applied (HF's numbers).
at::Tensor rope_inv_freq(const LlamaConfig& c);
// cos, sin [B, T, head_size] for integer positions [B, T] (HF: emb = cat(freqs, freqs)).
std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& inv_freq, const at::Tensor& positions);

struct RMSNormImpl : torch::nn::Module {
  RMSNormImpl(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

// What every block of one forward shares: rotary tables and the attention mask.
struct BlockInputs {
  at::Tensor cos, sin;  // [B, T, head_size]
  at::Tensor mask;      // bool [B, 1, T, S] (true = may attend), S = past + T keys
  KVCache* cache = nullptr;  // when set, keys/values are written at [past, past + T) and S keys are read
  int64_t past = 0;
  // Derived once per forward for every block (block_inputs fills them; the attention derives them itself
  // when they are undefined): rotary tables [B, T, 1, head_size] with rotate_half's sign folded into sin,
  // the queries' copies with 1/sqrt(head_size) folded in, and the mask as an additive float bias
  // [B, 1, T, S] (0 = may attend, the lowest float otherwise; undefined when the fused path needs none).
  at::Tensor rope_cos, rope_sin, rope_cos_q, rope_sin_q, bias;
  // Attention through at::scaled_dot_product_attention rather than materialised scores.
  bool fused = false;
  // No key is masked and there is no past: the mask is exactly causal, so the fused path passes
  // is_causal and no mask tensor (which lets the GPU take its flash kernel).
  bool causal_only = false;
  // Fused path, no past, every row its windows one after another then right padding (how training
  // collates, packed or not): per row, each window's [start, end) and where the padding starts. The
  // attention then runs causally within each window and skips the masked [T, T] blocks (a packed row of
  // n windows costs the sum of their squares, not its length squared). Empty: the mask path.
  struct RowWindows {
    std::vector<std::pair<int64_t, int64_t>> windows;
    int64_t pad_start = 0;
  };
  std::vector<RowWindows> rows;
};

struct LlamaAttentionImpl : torch::nn::Module {
  explicit LlamaAttentionImpl(const LlamaConfig& c);
  at::Tensor forward(const at::Tensor& x, const BlockInputs& in, int64_t layer);
#if TORCH_VERSION_MAJOR >= 2
  // The attention of q, k, v through at::scaled_dot_product_attention (in.fused; llama.cpp says which
  // kernel runs where).
  at::Tensor fused_attention(const at::Tensor& q, at::Tensor k, at::Tensor v, const BlockInputs& in) const;
  at::Tensor window_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const BlockInputs& in) const;
#endif
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  // LoRA pairs on the projections (lora.h; owned by the adapter, null = the plain projection).
  LoraPairImpl *q_lora = nullptr, *k_lora = nullptr, *v_lora = nullptr, *o_lora = nullptr;
  int64_t n_heads, n_kv_heads, head_size;
};
TORCH_MODULE(LlamaAttention);

struct LlamaMLPImpl : torch::nn::Module {
  explicit LlamaMLPImpl(const LlamaConfig& c);
  at::Tensor forward(const at::Tensor& x);  // down(silu(gate(x)) * up(x))
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  LoraPairImpl *gate_lora = nullptr, *up_lora = nullptr, *down_lora = nullptr;  // as in the attention
};
TORCH_MODULE(LlamaMLP);

struct LlamaDecoderLayerImpl : torch::nn::Module {
  LlamaDecoderLayerImpl(const LlamaConfig& c, int64_t index);
  at::Tensor forward(const at::Tensor& x, const BlockInputs& in);  // [B, T, H] -> [B, T, H]
  LlamaAttention self_attn{nullptr};
  LlamaMLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  int64_t index;
  // Whether any weight the block computes with (its own or an attached LoRA pair's) requires grad.
  bool has_trainable_weights();
};
TORCH_MODULE(LlamaDecoderLayer);

// HF's LlamaModel: registered as "model" inside LlamaForCausalLM.
struct LlamaModelImpl : torch::nn::Module {
  explicit LlamaModelImpl(const LlamaConfig& c);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  std::vector<LlamaDecoderLayer> blocks;  // the same modules as `layers`, typed
};
TORCH_MODULE(LlamaModel);

// A block runner: called for every decoder block; the default runs block->forward(x, in). Gradient
// checkpointing passes one that wraps the call (grad_checkpoint.h).
using BlockRunner = std::function<at::Tensor(LlamaDecoderLayer&, const at::Tensor&, const BlockInputs&)>;

struct LlamaForCausalLMImpl : torch::nn::Module {
  explicit LlamaForCausalLMImpl(const LlamaConfig& c);

  // Token embeddings [B, T, H] of ids [B, T].
  at::Tensor embed(const at::Tensor& ids);
  // Rotary tables and masks for one forward. attention_mask [B, S] over every key (past and new;
  // undefined = all ones): 0 = padding, otherwise the number of the token's window in its row (1/0 for
  // one window per row). A token attends to the earlier kept keys of its own window only (packed
  // windows: a block-diagonal causal mask). positions [B, T] (undefined = from the mask: kept tokens
  // before it in its window, which is 0..T-1 for one right-padded window, and restarts at 0 at each
  // packed window). With a cache, past = cache->length.
  BlockInputs block_inputs(int64_t B, int64_t T, const at::Tensor& attention_mask, const at::Tensor& positions,
                           KVCache* cache);
  // Final hidden states (after model.norm) [B, T, H] of inputs_embeds [B, T, H].
  at::Tensor hidden(const at::Tensor& inputs_embeds, const at::Tensor& attention_mask = {},
                    const at::Tensor& positions = {}, KVCache* cache = nullptr, const BlockRunner& runner = nullptr);
  // LM head on hidden states [..., H] -> [..., vocab] (tied: embed_tokens.weight).
  at::Tensor logits(const at::Tensor& hidden);
  // Full logits [B, T, vocab] of ids (HF's forward): for tests and prospect_lm logits.
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& attention_mask = {});
  const at::Tensor& lm_head_weight() const;

  LlamaConfig config;
  // Attention path of every forward: fused (at::scaled_dot_product_attention, the default where LibTorch
  // 2.x has it) or materialised scores (the only path on 1.13; tests and benchmarks compare the two).
  // true without LibTorch 2.x is an Error at the next forward.
  bool fused_attention = kFusedAttentionAvailable;
  LlamaModel model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tie_word_embeddings
  at::Tensor inv_freq;                  // not a parameter or buffer (HF: non-persistent)
};
TORCH_MODULE(LlamaForCausalLM);

// Copies tensors into the module's parameters by name (dtype converted to the parameter's). Errors name
// `source` and the tensor: missing, mis-shaped, or (unless allow_extra) not a parameter of the module.
// Names in `skip` are neither required nor loaded.
void load_parameters(torch::nn::Module& module, const TensorMap& tensors, const std::string& source,
                     bool allow_extra = false, const std::vector<std::string>& skip_prefixes = {});
// The same from a folder, one tensor at a time; errors name the file that holds the tensor.
void load_parameters(torch::nn::Module& module, const SafetensorsDir& tensors, bool allow_extra = false,
                     const std::vector<std::string>& skip_prefixes = {});
NamedTensors named_parameter_list(torch::nn::Module& module, at::ScalarType dtype = at::kFloat,
                                  const std::string& prefix_filter = "");

// An HF folder: config.json + model.safetensors (or sharded). Missing folder/files: Error naming them.
LlamaForCausalLM load_llama(const std::string& dir);
// Writes config.json and model.safetensors (sharded above max_shard_bytes, 0 = never) in `dtype`.
void save_llama(LlamaForCausalLM& m, const std::string& dir, at::ScalarType dtype = at::kFloat,
                uint64_t max_shard_bytes = 0);

}  // namespace prospect
