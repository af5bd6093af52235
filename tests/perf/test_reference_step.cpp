// One training step (loss and every gradient) of the C++ model equals the PyTorch eager reference
// (tools/reference/torch_model.py, computed in float64) within 1e-5 relative (SPEC §9), on a batch with
// right padding, grouped-query attention and labels at some positions only: the plain Llama with a CE
// loss, and the DST model with the project's loss (BCE and focal, checkpointed or not).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/nn/functional/loss.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "perf/step_dump.h"
#include "prospect/model/dst_model.h"
#include "prospect/model/llama.h"
#include "prospect/train/losses.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) { return prospect::test::fresh_dir("perf_" + name); }

// Runs check_step.py on dir; returns its JSON report (exit status in "exit").
nlohmann::json check_step(const fs::path& dir, const std::string& args = "") {
  std::string cmd = "/usr/bin/python3 " + std::string(PROSPECT_SOURCE_DIR) + "/tools/reference/check_step.py " +
                    dir.string() + " " + args;
  auto c = prospect::test::run_command(cmd);
  nlohmann::json j = nlohmann::json::parse(c.output, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) j = {{"unparsed", c.output}};
  j["exit"] = c.code;
  return j;
}

// check_step.py's report: loss and every gradient within 1e-5 (relative) of the reference.
void expect_agreement(const nlohmann::json& r, size_t num_parameters) {
  ASSERT_TRUE(r.contains("ok")) << r.dump(1);
  EXPECT_EQ(r["exit"], 0) << r.dump(1);
  EXPECT_TRUE(r["missing"].empty()) << r.dump(1);
  EXPECT_LE(r["loss_rel"].get<double>(), 1e-5) << r.dump(1);
  EXPECT_LE(r["worst_grad_rel"].get<double>(), 1e-5) << r.dump(1);
  EXPECT_EQ(r["grads"].size(), num_parameters);
  std::printf("loss %.8g (reference %.8g), worst gradient %s rel %.3g\n", r["loss"].get<double>(),
              r["ref_loss"].get<double>(), r["worst_grad"].get<std::string>().c_str(),
              r["worst_grad_rel"].get<double>());
}

// The plain LM step: CE summed over the labelled positions / their count.
void plain_llama_step(bool tied) {
  at::set_num_threads(1);
  at::manual_seed(tied ? 11 : 7);
  prospect::LlamaConfig c;
  c.vocab_size = 97, c.hidden_size = 64, c.intermediate_size = 96, c.num_hidden_layers = 2;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.tie_word_embeddings = tied;
  prospect::LlamaForCausalLM m(c);
  {  // non-trivial norm weights and larger weights than HF's init, so every path carries signal
    at::NoGradGuard ng;
    for (auto& p : m->named_parameters()) {
      if (p.key().find("norm") != std::string::npos) p.value().add_(at::randn_like(p.value()) * 0.3);
      else p.value().mul_(5.0);
    }
  }
  const int64_t B = 2, T = 24;
  at::Tensor ids = at::randint(0, c.vocab_size, {B, T}, at::kLong);
  at::Tensor mask = at::ones({B, T}, at::kLong);
  mask[1].narrow(0, 17, T - 17).zero_();  // right padding on the second sequence
  at::Tensor labels = at::randint(0, c.vocab_size, {B, T}, at::kLong);
  labels.masked_fill_(at::rand({B, T}) < 0.4, -100);
  labels.masked_fill_(mask == 0, -100);
  int64_t count = (labels != -100).sum().item<int64_t>();
  int64_t global = count + 5;  // as if other micro-batches/ranks held 5 more labelled positions

  at::Tensor h = m->hidden(m->embed(ids), mask).reshape({B * T, c.hidden_size});
  at::Tensor sel = (labels.reshape({-1}) != -100).nonzero().squeeze(1);
  at::Tensor logits = m->logits(h.index_select(0, sel));
  at::Tensor loss = at::cross_entropy_loss(logits, labels.reshape({-1}).index_select(0, sel), {}, at::Reduction::Sum) /
                    static_cast<double>(global);
  loss.backward();

  fs::path dir = temp_dir(tied ? "plain_tied" : "plain_untied");
  prospect::save_llama(m, dir.string());
  prospect::test::save_step_batch((dir / "batch.safetensors").string(), ids, mask, {}, labels, {}, {}, {},
                                  {global, 0, 0, 0});
  prospect::test::save_step_grads((dir / "cpp.safetensors").string(), loss, *m);
  nlohmann::json r = check_step(dir);
  expect_agreement(r, m->named_parameters().size());

  // The checker is not vacuous: one gradient off by 1e-4 of its largest entry fails it.
  {
    at::NoGradGuard ng;
    at::Tensor g = m->named_parameters()["model.layers.1.mlp.up_proj.weight"].grad();
    g[0][0] += 1e-4 * g.abs().max().item<double>();
  }
  prospect::test::save_step_grads((dir / "cpp.safetensors").string(), loss, *m);
  nlohmann::json bad = check_step(dir);
  EXPECT_NE(bad["exit"], 0) << bad.dump(1);
  EXPECT_EQ(bad["worst_grad"], "model.layers.1.mlp.up_proj.weight") << bad.dump(1);
}

// The DST model's step: projector output replacing the <image> rows, both heads, the LM head at the LM
// positions only, and the project's loss (compute_loss: the four SPEC §5 terms, sums over labelled
// positions / global counts, BCE or focal, weighted).
void dst_step(bool checkpointing, const std::string& decision) {
  at::set_num_threads(1);
  at::manual_seed(checkpointing ? 21 : 23);
  prospect::LlamaConfig c;
  c.vocab_size = 98, c.hidden_size = 64, c.intermediate_size = 96, c.num_hidden_layers = 2;  // 97 + <image>
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.tie_word_embeddings = false;
  const int64_t D = 24, B = 2, T = 30, image = c.vocab_size - 1;
  prospect::DSTProActLlama m(c, D);
  m->gradient_checkpointing = checkpointing;
  m->train();
  {
    at::NoGradGuard ng;
    for (auto& p : m->named_parameters()) {
      if (p.key().find("norm") != std::string::npos) p.value().add_(at::randn_like(p.value()) * 0.3);
      else if (p.key().compare(0, 6, "model.") == 0 || p.key().compare(0, 8, "lm_head.") == 0) p.value().mul_(5.0);
    }
  }
  at::Tensor ids = at::randint(0, image, {B, T}, at::kLong);
  at::Tensor is_image = at::arange(T).remainder(3).eq(1).unsqueeze(0).expand({B, T}).clone();
  ids.masked_fill_(is_image, image);
  at::Tensor mask = at::ones({B, T}, at::kLong);
  mask[1].narrow(0, 23, T - 23).zero_();
  ids.masked_fill_(mask == 0, 0);
  is_image = ids == image;
  at::Tensor frames = at::randn({is_image.sum().item<int64_t>(), D});
  auto labels = [&](const at::Tensor& where, int64_t hi) {
    at::Tensor l = at::randint(0, hi, {B, T}, at::kLong);
    return l.masked_fill_(where.logical_not().logical_or(at::rand({B, T}) < 0.3).logical_or(mask == 0), -100);
  };
  at::Tensor speaking = labels(is_image, 2), dst_update = labels(is_image, 2);
  at::Tensor text = is_image.logical_not().logical_and(at::rand({B, T}) < 0.5);
  at::Tensor speaking_gen = labels(text, image), dst_gen = labels(text.logical_not().logical_and(is_image.logical_not()), image);
  std::array<int64_t, 4> counts;
  int64_t i = 0;
  for (auto* l : {&speaking_gen, &speaking, &dst_gen, &dst_update}) counts[i++] = (*l != -100).sum().item<int64_t>() + 3;

  at::Tensor decision_index = prospect::flat_index((speaking != -100).logical_or(dst_update != -100));
  at::Tensor lm = prospect::flat_index((speaking_gen != -100).logical_or(dst_gen != -100));
  prospect::DSTOutput out = m->forward(ids, mask, frames, decision_index, lm);
  prospect::Batch b;
  b.input_ids = ids, b.attention_mask = mask, b.frames = frames;
  b.speaking_labels = speaking, b.dst_update_labels = dst_update;
  b.speaking_gen_labels = speaking_gen, b.dst_gen_labels = dst_gen;
  b.decision_index = decision_index, b.lm_index = lm;
  prospect::LabelCounts global;
  global.speaking_gen = counts[0], global.speaking = counts[1], global.dst_gen = counts[2], global.dst_update = counts[3];
  prospect::LossConfig lc;
  lc.decision = decision;
  lc.w_speaking_gen = 1.0, lc.w_speaking = 0.5, lc.w_dst_gen = 2.0, lc.w_dst_update = 1.5;
  at::Tensor loss = prospect::compute_loss(out.speaking_logits, out.dst_logits, out.lm_logits, b, global, lc).loss;
  loss.backward();

  fs::path dir = temp_dir(std::string(checkpointing ? "dst_checkpointed_" : "dst_plain_") + decision);
  prospect::save_dst_model(m, dir.string());
  prospect::test::save_step_batch((dir / "batch.safetensors").string(), ids, mask, frames, speaking_gen, speaking,
                                  dst_gen, dst_update, counts);
  prospect::test::save_step_grads((dir / "cpp.safetensors").string(), loss, *m);
  nlohmann::json r = check_step(dir, "--decision " + decision + " --weights 1,0.5,2,1.5");
  expect_agreement(r, m->named_parameters().size());
  EXPECT_GT(r["grads"].size(), 20u);
}

}  // namespace

TEST(ReferenceStep, DSTModelBceMatchesPyTorch) { dst_step(false, "bce"); }
TEST(ReferenceStep, DSTModelFocalMatchesPyTorch) { dst_step(false, "focal"); }
TEST(ReferenceStep, DSTModelCheckpointedMatchesPyTorch) { dst_step(true, "bce"); }
TEST(ReferenceStep, PlainLlamaUntiedMatchesPyTorch) { plain_llama_step(false); }
TEST(ReferenceStep, PlainLlamaTiedMatchesPyTorch) { plain_llama_step(true); }
