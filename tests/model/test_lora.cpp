// LoRA (model/lora.h): the branch's math, merging, the keyed dropout, the gradient with gradient
// checkpointing and a frozen projector, and the folder of a LoRA model (against its base).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "model_test_util.h"
#include "prospect/core/error.h"
#include "prospect/model/dst_model.h"
#include "prospect/model/lora.h"

using namespace prospect;
namespace fs = std::filesystem;

namespace {

LlamaConfig tiny_llama(bool tied) {
  LlamaConfig c;
  c.vocab_size = 40;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.tie_word_embeddings = tied;
  return c;
}

LoraOptions all_targets(int64_t rank, double alpha, double dropout = 0) {
  ModelConfig m;
  m.lora_rank = rank;
  m.lora_alpha = alpha;
  m.lora_dropout = dropout;
  return lora_options(m);
}

// B is zero in a fresh adapter; random B makes every branch contribute.
void randomise_b(LoraAdapterImpl& a) {
  torch::NoGradGuard ng;
  for (auto& p : a.named_parameters())
    if (p.key().find("lora_B") != std::string::npos) p.value().normal_(0, 0.2);
}

at::Tensor ids() { return at::tensor({3, 7, 1, 30, 12, 5, 9}, at::kLong).unsqueeze(0); }

}  // namespace

TEST(Lora, OptionsCheckTheKeys) {
  ModelConfig m;
  m.lora_rank = 4;
  m.lora_targets = "v,q,down";
  LoraOptions o = lora_options(m);
  EXPECT_EQ(o.targets, (std::vector<std::string>{"q_proj", "v_proj", "down_proj"}));
  EXPECT_DOUBLE_EQ(o.scaling(), 16.0 / 4);
  m.lora_targets = "q,lm_head";
  EXPECT_THROW(lora_options(m), UsageError);
  m.lora_targets = "";
  EXPECT_THROW(lora_options(m), UsageError);
}

// y = W x + (alpha / r) B A x, by hand for one projection; a fresh adapter (B = 0) changes nothing.
TEST(Lora, BranchIsScaledBAAndFreshAdapterIsIdentity) {
  torch::manual_seed(1);
  LlamaForCausalLM m(tiny_llama(false));
  m->eval();
  torch::NoGradGuard ng;
  at::Tensor before = m->forward(ids());
  LoraAdapter a(m->config, all_targets(4, 8));
  a->attach(*m);
  EXPECT_TRUE(at::equal(m->forward(ids()), before));
  randomise_b(*a);
  EXPECT_GT(test::max_abs_diff(m->forward(ids()), before), 1e-3);
  at::Tensor x = at::randn({3, 16});
  auto& pair = *a->blocks[1].q_proj;
  at::Tensor want = at::matmul(x, m->model->blocks[1]->self_attn->q_proj->weight.t()) +
                    2.0 * at::matmul(at::matmul(x, pair.lora_A.t()), pair.lora_B.t());
  at::Tensor got = m->model->blocks[1]->self_attn->q_proj(x) + pair.forward(x);
  EXPECT_LE(test::max_abs_diff(got, want), 1e-6);
}

// Merged weights W + (alpha / r) B A give the adapted model's logits.
TEST(Lora, MergeEqualsTheAdaptedModel) {
  torch::manual_seed(2);
  LlamaForCausalLM m(tiny_llama(true));
  m->eval();
  torch::NoGradGuard ng;
  LoraAdapter a(m->config, all_targets(3, 6));
  a->attach(*m);
  randomise_b(*a);
  at::Tensor adapted = m->forward(ids());
  a->merge_into(*m);
  EXPECT_LE(test::rel_diff(m->forward(ids()), adapted), 1e-5);
}

// The masks depend on the key only: the same key gives the same output, another key another one;
// evaluation applies no dropout.
TEST(Lora, DropoutIsKeyed) {
  torch::manual_seed(3);
  LlamaForCausalLM m(tiny_llama(false));
  LoraAdapter a(m->config, all_targets(4, 8, 0.5));
  a->attach(*m);
  randomise_b(*a);
  m->train();
  a->train();
  torch::NoGradGuard ng;
  a->dropout_key = lora_dropout_key(1, 2, 3, 4);
  at::Tensor y1 = m->forward(ids());
  torch::manual_seed(99);  // the global generator plays no part
  at::Tensor y2 = m->forward(ids());
  EXPECT_TRUE(at::equal(y1, y2));
  a->dropout_key = lora_dropout_key(1, 2, 3, 5);
  EXPECT_FALSE(at::equal(m->forward(ids()), y1));
  m->eval();
  a->eval();
  at::Tensor e1 = m->forward(ids());
  a->dropout_key = 0;
  EXPECT_TRUE(at::equal(m->forward(ids()), e1));
}

// The reentrant-checkpoint trap: with the base frozen and the projector frozen, the first block's
// input does not require grad, and no block has a trainable parameter of its own. Every LoRA weight
// must still get its gradient, the same as without checkpointing (dropout on: the recompute draws the
// forward's masks), and the blocks must really be recomputed in backward (not run plainly): a dropout
// key changed between forward and backward changes the checkpointed run's gradients.
TEST(Lora, EveryLoraWeightGetsAGradientWithCheckpointingAndFrozenProjector) {
  auto run = [](bool ckpt, uint64_t key_in_backward) {
    std::map<std::string, at::Tensor> grads;
    torch::manual_seed(4);
    LlamaConfig c = tiny_llama(false);
    c.vocab_size += 1;
    DSTProActLlama m(c, 8);
    m->add_lora(all_targets(2, 4, 0.2), "", "");
    randomise_b(*m->lora);
    freeze_parameters(*m, "^mm_projector\\.");
    m->gradient_checkpointing = ckpt;
    m->train();
    m->lora->dropout_key = 7;
    at::Tensor input = at::tensor({1, 40, 40, 5, 6}, at::kLong).unsqueeze(0);  // 40 = <image>
    at::Tensor frames = at::randn({2, 8});
    DSTOutput out = m->forward(input, {}, frames, at::tensor({2, 4}, at::kLong), at::tensor({3, 4}, at::kLong));
    m->lora->dropout_key = key_in_backward;
    (out.speaking_logits.sum() + out.dst_logits.sum() + out.lm_logits.logsumexp(-1).sum()).backward();
    int lora_params = 0;
    for (auto& p : m->named_parameters()) {
      if (p.key().rfind("model.", 0) == 0 || p.key().rfind("lm_head.", 0) == 0 || p.key().rfind("mm_projector.", 0) == 0) {
        EXPECT_FALSE(p.value().requires_grad()) << p.key();
        continue;
      }
      if (p.key().rfind("lora.", 0) != 0) continue;
      ++lora_params;
      EXPECT_TRUE(p.value().grad().defined()) << p.key() << " (checkpointing " << ckpt << ")";
      if (!p.value().grad().defined()) continue;
      EXPECT_GT(p.value().grad().abs().max().item<double>(), 0) << p.key();
      grads[p.key()] = p.value().grad().clone();
    }
    EXPECT_EQ(lora_params, 2 * 7 * 2);  // 2 blocks, 7 targets, A and B
    return grads;
  };
  auto plain = run(false, 7), checkpointed = run(true, 7), rekeyed = run(true, 8);
  double changed = 0;
  for (auto& [k, g] : plain) {
    EXPECT_LE(test::rel_diff(checkpointed[k], g), 1e-5) << k;
    changed = std::max(changed, test::rel_diff(rekeyed[k], g));
  }
  EXPECT_GT(changed, 1e-3) << "the blocks were not recomputed in backward";
}

// A LoRA model's folder: PEFT's adapter files, no model.safetensors; it loads back against its base
// with the same outputs, and a changed base is refused.
TEST(Lora, FolderHoldsTheAdapterAndNeedsItsBase) {
  std::string dir = test::model_dir("lora_folder").string();
  torch::manual_seed(5);
  LlamaForCausalLM base(tiny_llama(false));
  save_llama(base, dir + "/base");
  ModelConfig cfg;
  cfg.init = dir + "/base";
  cfg.lora_rank = 4;
  cfg.lora_targets = "q,v,down";
  DSTProActLlama m = make_dst_model(cfg, 40, 8, 11);
  EXPECT_TRUE(m->has_lora());
  randomise_b(*m->lora);
  {
    torch::NoGradGuard ng;
    m->model->embed_tokens->weight[40].fill_(0.5);
    m->lm_head->weight[40].fill_(-0.25);
  }
  save_dst_model(m, dir + "/ck");
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors", "prospect.safetensors", "config.json"})
    EXPECT_TRUE(fs::exists(dir + "/ck/" + f)) << f;
  EXPECT_FALSE(fs::exists(dir + "/ck/model.safetensors"));
  TensorMap adapter = load_safetensors(dir + "/ck/adapter_model.safetensors");
  EXPECT_EQ(adapter.size(), 2u * 3 * 2);
  EXPECT_TRUE(adapter.count("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));

  DSTProActLlama back = load_dst_model(dir + "/ck");
  ASSERT_TRUE(back->has_lora());
  m->eval();
  back->eval();
  torch::NoGradGuard ng;
  at::Tensor input = at::tensor({1, 40, 7, 5}, at::kLong).unsqueeze(0);
  at::Tensor frames = at::randn({1, 8});
  auto idx = at::tensor({1, 2, 3}, at::kLong);
  DSTOutput a = m->forward(input, {}, frames, idx, idx), b = back->forward(input, {}, frames, idx, idx);
  EXPECT_TRUE(at::equal(a.lm_logits, b.lm_logits));
  EXPECT_TRUE(at::equal(a.speaking_logits, b.speaking_logits));

  // the base changed: refused, naming the base
  base->model->norm->weight.add_(1e-3);
  save_llama(base, dir + "/base");
  try {
    load_dst_model(dir + "/ck");
    FAIL() << "a changed base was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("weights hash"), std::string::npos) << e.what();
  }
}
