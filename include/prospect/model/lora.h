// LoRA adapters on the decoder's linear projections, computed and stored as Hugging Face PEFT does.
//
// A target projection y = W x (W [out, in], frozen) becomes
//     y = W x + (alpha / r) * B (A dropout(x))        A [r, in], B [out, r]
// A is drawn kaiming-uniform (a = sqrt(5), as nn.Linear and PEFT), B is zero, so a fresh adapter leaves
// the model unchanged. Targets are any of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj,
// down_proj (model.lora_targets: q,k,v,o,gate,up,down), in every decoder block.
//
// Dropout: PEFT's nn.Dropout draws from the global generator, so two runs that split the same
// micro-batches differently over processes would draw different masks. Here every mask is drawn from a
// generator keyed by the adapter's dropout_key (the trainer sets it per micro-batch from the seed, the
// step, the virtual rank and the micro-batch: lora_dropout_key) and the projection's place (block,
// projection). The same micro-batch gets the same masks whatever process runs it, and a gradient
// checkpoint's recompute draws exactly the forward's masks. The mask is drawn on the CPU and moved to
// x's device (a [B, T, in] byte-sized draw per projection).
//
// The adapter is a module of its own (registered in the DST model as "lora"; its parameter names
// lora.layers.N.self_attn.q_proj.lora_A map one to one onto PEFT's
// base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight). The Llama's projections hold raw
// pointers to its pairs (llama.h), so the Llama's own parameters keep HF's names.
//
// On disk (PEFT's layout, loadable with PeftModel.from_pretrained onto the transformers base):
//   adapter_config.json        peft_type LORA, r, lora_alpha, lora_dropout, target_modules,
//                              base_model_name_or_path, task_type CAUSAL_LM, ...
//   adapter_model.safetensors  base_model.model.model.layers.N.<self_attn|mlp>.<proj>.lora_<A|B>.weight
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "prospect/core/config.h"
#include "prospect/model/llama.h"
#include "prospect/model/safetensors.h"

namespace prospect {

struct LoraOptions {
  int64_t rank = 0;  // r; 0 = no adapter
  double alpha = 16;
  double dropout = 0;
  bool rslora = false;  // PEFT's use_rslora: scaling alpha / sqrt(r) (read from PEFT adapters only)
  std::vector<std::string> targets;  // HF module names: q_proj, ..., down_proj
  double scaling() const;            // alpha / r (alpha / sqrt(r) with rslora)
};

// model.lora_* checked: rank >= 0, alpha > 0, 0 <= dropout < 1, targets a non-empty subset of
// q,k,v,o,gate,up,down (UsageError naming the key).
LoraOptions lora_options(const ModelConfig& cfg);

// One adapted projection: lora_A [r, in], lora_B [out, r].
struct LoraPairImpl : torch::nn::Module {
  LoraPairImpl(int64_t in, int64_t out, const LoraOptions& o, uint64_t site, const uint64_t* dropout_key);
  // (alpha / r) B A dropout(x): [..., in] -> [..., out]; dropout only in training mode.
  at::Tensor forward(const at::Tensor& x);
  at::Tensor lora_A, lora_B;
  double scaling, dropout;
  uint64_t site;                   // the projection's place (block, projection): part of the mask's key
  const uint64_t* dropout_key;     // the adapter's
};
TORCH_MODULE(LoraPair);

// One block's pairs (null where the projection is not a target).
struct LoraBlockPairs {
  LoraPair q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  LoraPair gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};

struct LoraAdapterImpl : torch::nn::Module {
  // Pairs for options.targets in every block of a model of config c (A drawn from the global generator).
  LoraAdapterImpl(const LlamaConfig& c, const LoraOptions& options);
  // Points the model's projections at this adapter's pairs (the adapter must outlive that use).
  void attach(LlamaForCausalLMImpl& model);
  // Adds (alpha / r) B A into each target's W and detaches the pairs from the model.
  void merge_into(LlamaForCausalLMImpl& model);
  // PEFT's tensor names and values (fp32 on the CPU), and the reverse.
  NamedTensors peft_tensors();
  void load_peft_tensors(const TensorMap& tensors, const std::string& source);

  LoraOptions options;
  uint64_t dropout_key = 0;  // set per micro-batch by the trainer (lora_dropout_key)
  torch::nn::ModuleList layers{nullptr};  // per block: submodules self_attn, mlp holding the pairs
  std::vector<LoraBlockPairs> blocks;     // the same pairs, typed
};
TORCH_MODULE(LoraAdapter);

// The key of one micro-batch's dropout masks.
uint64_t lora_dropout_key(int64_t seed, int64_t step, int64_t virtual_rank, int64_t micro_batch);

// A hash of a model folder's weights (every tensor's name, dtype, shape and bytes, in name order; the
// same whatever the sharding), as 16 hex digits.
std::string weights_hash(const std::string& hf_dir);

// adapter_config.json + adapter_model.safetensors in `dir` (PEFT's layout above).
void save_peft_adapter(LoraAdapterImpl& adapter, const std::string& dir, const std::string& base_dir);
bool is_peft_adapter_dir(const std::string& dir);  // has adapter_config.json
// The options of dir/adapter_config.json. Error naming the file and field for what this code cannot
// apply exactly (DoRA, biases, rank/alpha patterns, layer subsets, target_modules not among ours, ...).
LoraOptions read_peft_adapter_config(const std::string& dir, std::string* base_dir = nullptr);
// An adapter folder of ours (prospect.safetensors beside the adapter, with lora_base_hash) against the base
// folder it is applied to: Error naming both when the base's weights_hash differs. A PEFT adapter
// without our file: nothing to check.
void check_adapter_base(const std::string& adapter_dir, const std::string& base_dir);
// A PEFT adapter folder onto `model`: the adapter (attached), its weights loaded. Errors name the file.
LoraAdapter load_peft_adapter(LlamaForCausalLMImpl& model, const std::string& dir);

}  // namespace prospect
