// DSTProActLlama (SPEC §4): an HF Llama whose vocabulary has grown by one row for the `<image>` token
// (id = the base model's vocab_size), a projector from frame features to the hidden size whose output
// replaces the `<image>` embeddings, and two Linear(H, 1) heads on the final hidden state: the speaking
// decision and the DST update decision. Parameter names are the reference code's: model.*, lm_head.*,
// mm_projector.0.*, mm_projector.2.*, speaking_decision_head.*, dst_update_head.*.
// Optionally (model.dst_state_head) a third head, dst_state_head = Linear(H, 3 * S): at a decision
// point, for each of the clip's first S steps (step_ids order), logits of not_started / in_progress /
// completed (StepState's order). It is created after the other heads, so a model without it draws
// exactly the same initial weights as before the head existed.
//
// On disk (save_dst_model / load_dst_model), a folder:
//   config.json          HF Llama config with vocab_size = base + 1 (the `<image>` row included) and
//                        "image_token_id" (HF ignores the extra key)
//   model.safetensors    the LM part with HF names: transformers loads it as LlamaForCausalLM
//   prospect.safetensors mm_projector.* and the heads; __metadata__ feature_dim, image_token_id
//                        (dst_state_head.* only in a model with the state head)
// A model with a LoRA adapter (model.lora_rank > 0, lora.h) is saved against its base instead: the base
// stays the user's unchanged HF folder, and the folder holds
//   config.json               as above (vocab_size = base + 1)
//   adapter_config.json       PEFT's (base_model_name_or_path = the base folder)
//   adapter_model.safetensors PEFT's names: PeftModel.from_pretrained loads it onto the base
//   prospect.safetensors      the projector and heads, and the rows the project adds to the base:
//                             image_row.embed_tokens [1, H] (and image_row.lm_head [1, H] when untied);
//                             __metadata__ also lora_base (the folder) and lora_base_hash (weights_hash)
// Loading it needs the base: a base folder that is missing, or whose weights hash differs, is an Error.
#pragma once
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>

#include <string>

#include "prospect/core/config.h"
#include "prospect/model/llama.h"
#include "prospect/model/lora.h"

namespace prospect {

struct DSTOutput {
  at::Tensor speaking_logits;  // [P] at the decision positions
  at::Tensor dst_logits;       // [P]
  at::Tensor lm_logits;        // [Q, vocab] at the LM positions only
  at::Tensor state_logits;     // [P, S, 3] with the state head; undefined without
};

struct DSTProActLlamaImpl : LlamaForCausalLMImpl {
  // lm_config.vocab_size already includes the `<image>` row (image_token_id = vocab_size - 1).
  // state_steps > 0: with the state head for that many steps.
  DSTProActLlamaImpl(const LlamaConfig& lm_config, int64_t feature_dim, int64_t state_steps = 0);

  // input_ids, attention_mask [B, T] (mask undefined = all ones); frames [N, feature_dim] in the order
  // of the `<image>` tokens, row-major over batch then position; decision_index [P] and lm_index [Q]
  // are flat indices into B*T (b * T + t), e.g. flat_index(labels != -100). The LM head runs only at
  // lm_index. Errors when N differs from the number of `<image>` tokens or D from feature_dim.
  DSTOutput forward(const at::Tensor& input_ids, const at::Tensor& attention_mask, const at::Tensor& frames,
                    const at::Tensor& decision_index, const at::Tensor& lm_index);

  // The pieces, for streaming inference with a KV cache (generate.h) and for tests:
  at::Tensor inputs_embeds(const at::Tensor& input_ids, const at::Tensor& frames);  // [B, T, H]
  at::Tensor project(const at::Tensor& frames);        // [N, D] -> [N, H]
  at::Tensor speaking_logit(const at::Tensor& hidden);  // [..., H] -> [...]
  at::Tensor dst_logit(const at::Tensor& hidden);       // [..., H] -> [...]
  at::Tensor state_logits(const at::Tensor& hidden);    // [..., H] -> [..., S, 3] (state head required)
  bool has_state_head() const { return state_steps > 0; }
  // Final hidden states [B, T, H]; with gradient_checkpointing (and grad mode on) every block is
  // recomputed in backward (grad_checkpoint.h).
  at::Tensor hidden_states(const at::Tensor& input_ids, const at::Tensor& attention_mask, const at::Tensor& frames);

  int64_t image_token_id;
  int64_t feature_dim;
  int64_t state_steps = 0;  // 0: no state head
  bool gradient_checkpointing = false;
  torch::nn::Sequential mm_projector{nullptr};
  torch::nn::Linear speaking_decision_head{nullptr}, dst_update_head{nullptr};
  torch::nn::Linear dst_state_head{nullptr};  // only with state_steps > 0

  // LoRA: an adapter on the frozen base (registered as "lora" after the heads), the base's folder and
  // its weights' hash. add_lora makes the adapter (A drawn from the global generator), attaches it and
  // freezes every model.* and lm_head.* parameter.
  void add_lora(const LoraOptions& options, const std::string& base_dir, const std::string& base_hash);
  bool has_lora() const { return !lora.is_empty(); }
  LoraAdapter lora{nullptr};
  std::string lora_base, lora_base_hash;
};
TORCH_MODULE(DSTProActLlama);

// Flat indices b * T + t of the true entries of a [B, T] bool tensor (row-major), int64 [P].
at::Tensor flat_index(const at::Tensor& mask);

// The model's state head against model.dst_state_head / model.dst_state_steps: UsageError naming
// the key and `where` (the folder the model came from) when they disagree.
void check_state_head(const ModelConfig& cfg, const DSTProActLlamaImpl& m, const std::string& where);

// A fresh model (HF initialisation) with sizes from the model config (the state head too, when
// model.dst_state_head); base_vocab = the tokenizer's size
// (or cfg.vocab_size when > 0); `<image>` id = base_vocab. Seeded from `seed`.
DSTProActLlama make_dst_model_scratch(const ModelConfig& cfg, int64_t base_vocab, int64_t feature_dim,
                                      uint64_t seed);
// An HF Llama folder grown by the `<image>` row (embedding and untied lm_head rows = the mean row);
// the projector and heads freshly initialised from `seed`.
DSTProActLlama make_dst_model_from_hf(const std::string& dir, int64_t feature_dim, uint64_t seed,
                                      int64_t state_steps = 0);
// model.init: "scratch", a folder of ours (with prospect.safetensors), or an HF folder. Applies
// model.gradient_checkpointing and model.freeze; a folder of ours must agree with model.dst_state_head.
DSTProActLlama make_dst_model(const ModelConfig& cfg, int64_t base_vocab, int64_t feature_dim, uint64_t seed);

// Our folder (layout above). feature_dim 0: take it from the file; otherwise it must match. The state
// head is there when the file holds dst_state_head.weight ([3 * S, H]).
// Errors name the folder/file and tensor: missing heads, projector not fitting the feature dim, ...
DSTProActLlama load_dst_model(const std::string& dir, int64_t feature_dim = 0);
void save_dst_model(DSTProActLlama& m, const std::string& dir, at::ScalarType dtype = at::kFloat);
bool is_dst_model_dir(const std::string& dir);  // has prospect.safetensors

// Sets requires_grad = false on every parameter whose name matches (std::regex_search) one of the
// comma-separated patterns, e.g. "^model\\.,^lm_head\\." trains only the projector and heads. Returns the
// number of frozen parameters. A pattern that is not a regex or matches nothing: UsageError naming it.
int freeze_parameters(torch::nn::Module& m, const std::string& patterns);

}  // namespace prospect
