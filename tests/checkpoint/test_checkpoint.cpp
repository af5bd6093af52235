// The checkpoint folder: what save_checkpoint writes read_checkpoint finds again (trainer state, run
// configuration, layout, tokenizer copy, model, optimizer state), `latest` and keep_last, a bare model
// folder, and the model keys checked against either kind.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "prospect/checkpoint/checkpoint.h"
#include "prospect/core/error.h"
#include "prospect/model/dst_model.h"
#include "test_util.h"
#include "tiny_model.h"

using namespace prospect;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) { return test::fresh_dir("checkpoint_" + name); }

Config small_config(const std::string& dir) {
  Config c;
  c.model = test::tiny_model_config();
  c.data.template_name = "llama3";
  c.data.tokenizer = dir + "/tok.model";
  c.train.keep_last = 2;
  return c;
}

}  // namespace

TEST(Checkpoint, WhatIsSavedIsReadBack) {
  std::string dir = fresh_dir("roundtrip");
  Config cfg = small_config(dir);
  std::ofstream(cfg.data.tokenizer) << "tokenizer bytes";
  DSTProActLlama model = make_dst_model_scratch(cfg.model, 30, 8, 1);
  NamedTensors optimizer = {{"step", at::full({1}, 3, at::kLong)}, {"exp_avg.x", at::ones({2, 2})}};
  CheckpointContents c;
  c.model = &model;
  c.optimizer_state = &optimizer;
  c.run_config = &cfg;
  c.layout = sequence_layout(cfg);
  c.tokenizer_path = cfg.data.tokenizer;
  c.world_size = 2;
  for (int64_t step : {1, 2, 3}) {
    c.trainer.step = step;
    c.trainer.epoch = 1;
    c.trainer.epoch_step = step + 4;
    c.trainer.tokens_seen = 100 * step;
    c.trainer.torch_rng = "0a0b";
    EXPECT_EQ(save_checkpoint(dir + "/run", c), dir + "/run/checkpoints/" + checkpoint_name(step));
  }
  // keep_last = 2: step 1 is gone; latest is step 3
  EXPECT_FALSE(fs::exists(dir + "/run/checkpoints/step-000001"));
  EXPECT_TRUE(fs::exists(dir + "/run/checkpoints/step-000002"));
  std::string latest = latest_checkpoint(dir + "/run");
  EXPECT_EQ(fs::path(latest).filename().string(), "step-000003");

  Checkpoint ck = read_checkpoint(dir + "/run/checkpoints/latest");
  EXPECT_EQ(ck.dir, latest);
  ASSERT_TRUE(ck.trainer.has_value());
  EXPECT_EQ(ck.trainer->step, 3);
  EXPECT_EQ(ck.trainer->epoch, 1);
  EXPECT_EQ(ck.trainer->epoch_step, 7);
  EXPECT_EQ(ck.trainer->tokens_seen, 300);
  EXPECT_EQ(ck.trainer->torch_rng, "0a0b");
  ASSERT_TRUE(ck.layout.has_value());
  EXPECT_EQ(ck.layout->template_name, "llama3");
  EXPECT_EQ(ck.tokenizer_path, latest + "/tok.model");
  std::ifstream tok(ck.tokenizer_path);
  std::string bytes((std::istreambuf_iterator<char>(tok)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes, "tokenizer bytes");
  ASSERT_TRUE(ck.run_config.has_value());
  EXPECT_EQ(*ck.run_config, to_ini(cfg));
  TensorMap opt = load_optimizer_state(ck);
  EXPECT_TRUE(at::equal(opt.at("exp_avg.x"), at::ones({2, 2})));
  DSTProActLlama back = load_checkpoint_model(ck);
  auto a = model->named_parameters(), b = back->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (auto& p : a) EXPECT_TRUE(at::equal(p.value(), b[p.key()])) << p.key();
  EXPECT_NO_THROW(check_model_config(cfg, ck));
}

TEST(Checkpoint, BareModelFolderHasNoTrainerState) {
  std::string dir = fresh_dir("bare");
  Config cfg = small_config(dir);
  DSTProActLlama model = make_dst_model_scratch(cfg.model, 30, 8, 1);
  save_dst_model(model, dir + "/model");
  Checkpoint ck = read_checkpoint(dir + "/model");
  EXPECT_FALSE(ck.trainer.has_value());
  EXPECT_FALSE(ck.layout.has_value());
  EXPECT_FALSE(ck.run_config.has_value());
  EXPECT_TRUE(ck.tokenizer_path.empty());
  EXPECT_THROW(load_optimizer_state(ck), Error);
  EXPECT_NO_THROW(check_model_config(cfg, ck));
  Config other = cfg;
  other.model.intermediate_size = 48;
  std::string e = test::error_message<UsageError>([&] { check_model_config(other, ck); });
  EXPECT_NE(e.find("model.intermediate_size = 48"), std::string::npos) << e;
}

TEST(Checkpoint, ModelKeysAgainstTheRunConfig) {
  std::string dir = fresh_dir("keys");
  Config cfg = small_config(dir);
  std::ofstream(cfg.data.tokenizer) << "t";
  DSTProActLlama model = make_dst_model_scratch(cfg.model, 30, 8, 1);
  NamedTensors optimizer;
  CheckpointContents c;
  c.model = &model;
  c.optimizer_state = &optimizer;
  c.run_config = &cfg;
  c.tokenizer_path = cfg.data.tokenizer;
  Checkpoint ck = read_checkpoint(save_checkpoint(dir + "/run", c));
  Config run = cfg;
  run.model.gradient_checkpointing = true;  // how to run: not checked
  run.model.device = "cuda";
  EXPECT_NO_THROW(check_model_config(run, ck));
  run.model.rope_theta = 500000;  // what the model is
  std::string e = test::error_message<UsageError>([&] { check_model_config(run, ck); });
  EXPECT_NE(e.find("model.rope_theta"), std::string::npos) << e;
}

TEST(Checkpoint, ReadErrorsNameTheFolder) {
  std::string dir = fresh_dir("errors");
  std::string e = test::error_message<Error>([&] { read_checkpoint(dir + "/nope"); });
  EXPECT_NE(e.find(dir + "/nope"), std::string::npos) << e;
  fs::create_directories(dir + "/bad");
  std::ofstream(dir + "/bad/trainer.json") << "{\"step\": 1,";
  EXPECT_THROW(read_checkpoint(dir + "/bad"), Error);
  std::ofstream(dir + "/bad/trainer.json") << R"({"step": 1, "epoch": 0, "epoch_step": 1, "config": "",
                                                  "template": "plain", "tokenizer": "gone.model"})";
  e = test::error_message<Error>([&] { read_checkpoint(dir + "/bad"); });
  EXPECT_NE(e.find("gone.model"), std::string::npos) << e;
}
