// Tests that need a CUDA device (CTest label gpu). tests/gpu/CMakeLists.txt registers them only where
// configure found a device; tools/gpu_check.sh runs them. Each compares the GPU with the CPU:
//   - one forward and backward of a tiny model: fp32 on the GPU equals the CPU's within reduction-order
//     rounding, bf16 autocast within bf16's;
//   - a few training steps of prospect_train on one GPU with bf16 and gradient checkpointing;
//   - prospect_eval's streaming decisions on the demo model: the GPU's (fp32) equal the CPU's.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "device_batch.h"
#include "prospect/model/device.h"
#include "prospect/model/dst_model.h"
#include "prospect/train/losses.h"
#include "test_util.h"
#include "tiny_model.h"
#include "tiny_store.h"

using namespace prospect;

namespace {

constexpr int64_t kVocab = 40, kD = 12;

struct Pass {
  DSTOutput out;
  at::Tensor loss;
  std::map<std::string, at::Tensor> grads;  // on the CPU
};

Pass forward_backward(const ComputeDevice& dev) {
  ModelConfig c = test::tiny_model_config();
  DSTProActLlama m = make_dst_model(c, kVocab, kD, 11);  // the same weights on every call (seeded)
  m->to(dev.device);
  m->train();
  Batch b = to_device(test::device_batch(m->image_token_id, kD, 2, 48).batch, dev.device);
  Pass p;
  {
    AutocastGuard autocast(dev);
    p.out = m->forward(b.input_ids, b.attention_mask, b.frames, b.decision_index, b.lm_index);
  }
  p.loss = compute_loss(p.out.speaking_logits, p.out.dst_logits, p.out.lm_logits, b, b.counts, LossConfig{}).loss;
  p.loss.backward();
  for (auto& q : m->named_parameters()) p.grads[q.key()] = q.value().grad().to(at::kCPU, at::kFloat);
  return p;
}

void expect_close(const Pass& gpu, const Pass& cpu, double tol, const char* what) {
  auto cpu_f = [](const at::Tensor& t) { return t.to(at::kCPU, at::kFloat); };
  EXPECT_LE(test::rel_diff(cpu_f(gpu.out.speaking_logits), cpu.out.speaking_logits), tol) << what;
  EXPECT_LE(test::rel_diff(cpu_f(gpu.out.dst_logits), cpu.out.dst_logits), tol) << what;
  EXPECT_LE(test::rel_diff(cpu_f(gpu.out.lm_logits), cpu.out.lm_logits), tol) << what;
  EXPECT_LE(test::rel_diff(cpu_f(gpu.loss), cpu.loss), tol) << what;
  for (auto& [name, g] : cpu.grads) EXPECT_LE(test::rel_diff(gpu.grads.at(name), g), tol) << what << ": " << name;
}

std::vector<nlohmann::json> jsonl(const std::string& path) {
  std::vector<nlohmann::json> v;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) v.push_back(nlohmann::json::parse(line));
  return v;
}

}  // namespace

TEST(Gpu, ForwardBackwardEqualsTheCpus) {
  ASSERT_TRUE(torch::cuda::is_available()) << "registered for a machine with a CUDA device";
  ModelConfig cpu_cfg, fp32_cfg, bf16_cfg;
  cpu_cfg.device = "cpu", cpu_cfg.dtype = "fp32";
  fp32_cfg.device = "cuda", fp32_cfg.dtype = "fp32";
  bf16_cfg.device = "cuda", bf16_cfg.dtype = "bf16";
  Pass cpu = forward_backward(select_device(cpu_cfg, 0));
  ComputeDevice gpu = select_device(fp32_cfg, 0);
  ASSERT_TRUE(gpu.device.is_cuda());
  // fp32 (TF32 off, LibTorch's default for matmul): only the order of reductions differs
  expect_close(forward_backward(gpu), cpu, 1e-4, "fp32");
  // bf16 autocast: 8 mantissa bits through 2 layers
  expect_close(forward_backward(select_device(bf16_cfg, 0)), cpu, 5e-2, "bf16");
}

TEST(Gpu, TrainingStepsBf16WithCheckpointing) {
  const std::string d = test::synth_data("test_gpu_data", 8, 16);
  const std::string run = test::fresh_dir("gpu_train");
  std::string cmd = test::binary_path("prospect_train") + " --run-dir " + run + " --data.train=" + d +
                    "/train.h5 --data.val=" + d + "/val.h5 --data.tokenizer=" + d +
                    "/tokenizer.model --data.max_seq_len=256 --model.hidden_size=64 --model.intermediate_size=128"
                    " --model.num_hidden_layers=2 --model.num_attention_heads=4 --model.num_key_value_heads=2"
                    " --model.device=cuda --model.dtype=bf16 --model.gradient_checkpointing=true"
                    " --train.micro_batch_size=2 --train.max_steps=4 --train.val_every=2 --train.threads=2";
  auto r = test::run_program(cmd);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("rank 0 runs on cuda:0"), std::string::npos) << r.output;
  int steps = 0, vals = 0;
  for (const nlohmann::json& j : jsonl(run + "/metrics.jsonl")) {
    if (j.contains("split")) {
      ++vals;
      continue;
    }
    ++steps;
    EXPECT_TRUE(std::isfinite(j["loss"].get<double>())) << j.dump();
    EXPECT_FALSE(j["skipped"].get<bool>()) << j.dump();
    ASSERT_TRUE(j["gpu_peak_mb"].is_number()) << j.dump();
    EXPECT_GT(j["gpu_peak_mb"].get<double>(), 0.0) << j.dump();
  }
  EXPECT_EQ(steps, 4);
  EXPECT_EQ(vals, 2);
}

TEST(GpuDemo, StreamingDecisionsEqualTheCpus) {
  std::string b = PROSPECT_BINARY_DIR, demo = b + "/fixtures/demo";
  std::string ckpt = b + "/fixtures/run/checkpoints/latest";
  ASSERT_TRUE(std::filesystem::exists(ckpt)) << ckpt;
  std::string dir = test::fresh_dir("gpu_stream_demo");
  auto eval = [&](const std::string& name, const std::string& device) {
    std::string out = dir + "/" + name;
    auto r = test::run_program(test::binary_path("prospect_eval") + " --config " + PROSPECT_SOURCE_DIR +
                               "/configs/demo.ini --checkpoint " + ckpt + " --split test --out " + out +
                               " --data.test=" + demo + "/test.h5 --data.tokenizer=" + demo +
                               "/tokenizer.model --train.threads=4 --model.dtype=fp32 --model.device=" + device);
    EXPECT_EQ(r.code, 0) << r.output;
    return out;
  };
  std::string cpu = eval("cpu", "cpu"), gpu = eval("gpu", "cuda");
  std::vector<nlohmann::json> pc = jsonl(cpu + "/predictions.jsonl"), pg = jsonl(gpu + "/predictions.jsonl");
  ASSERT_EQ(pc.size(), pg.size());
  ASSERT_FALSE(pc.empty());
  for (size_t i = 0; i < pc.size(); ++i) EXPECT_EQ(pg[i], pc[i]) << "clip " << i;
  EXPECT_EQ(test::read_text(gpu + "/eval.json"), test::read_text(cpu + "/eval.json"));
}
