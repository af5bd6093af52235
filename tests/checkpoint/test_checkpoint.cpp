// The checkpoint folder: what save_checkpoint writes read_checkpoint finds again (trainer state, run
// configuration, layout, tokenizer copy, model, optimizer state), `latest` and keep_last, a bare model
// folder, and the configuration a run from a checkpoint goes on with: the checkpoint's model and
// layout, the user's keys checked against them only where the user set them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

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
  cfg.data.frames = "turns";
  cfg.data.dst_turns = false;
  cfg.data.max_seq_len = 333;
  cfg.data.system_prompt = "Goal: {goal}";
  c.layout = sequence_layout(cfg, SpecialIds{30, 1, 2, 7});
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
  EXPECT_EQ(ck.layout->frames, "turns");
  EXPECT_FALSE(ck.layout->dst_turns);
  EXPECT_EQ(ck.layout->max_seq_len, 333);
  EXPECT_EQ(ck.layout->system_prompt, "Goal: {goal}");
  ASSERT_TRUE(ck.layout->special_ids.has_value());
  EXPECT_EQ(ck.layout->special_ids->image, 30);
  EXPECT_EQ(ck.layout->special_ids->bos, 1);
  EXPECT_EQ(ck.layout->special_ids->eos, 2);
  EXPECT_EQ(ck.layout->special_ids->end_of_turn, 7);
  EXPECT_EQ(ck.tokenizer_path, latest + "/tok.model");
  std::ifstream tok(ck.tokenizer_path);
  std::string bytes((std::istreambuf_iterator<char>(tok)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes, "tokenizer bytes");
  ASSERT_TRUE(ck.run_config.has_value());
  // the run's configuration with the model's own values (vocabulary and feature size were "0: derived")
  EXPECT_EQ(*ck.run_config, to_ini(config_as_trained(cfg, model)));
  Config saved;
  load_ini_text(*ck.run_config, saved);
  EXPECT_EQ(saved.model.vocab_size, 30);
  EXPECT_EQ(saved.model.feature_dim, 8);
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
  EXPECT_NO_THROW(check_model_config(other, ck)) << "a default the user did not set is not compared";
  other.set_keys.insert("model.intermediate_size");
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
  run.model.rope_theta = 500000;  // what the model is, but not set by the user: the checkpoint's wins
  EXPECT_NO_THROW(check_model_config(run, ck));
  EXPECT_EQ(checkpoint_config(run, ck).model.rope_theta, cfg.model.rope_theta);
  run.set_keys.insert("model.rope_theta");
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

namespace {

// A training checkpoint of a model unlike the configuration's defaults (as model.init makes one), its
// layout and tokenizer copy.
Checkpoint saved_run(const std::string& dir, Config* cfg_out) {
  Config cfg = small_config(dir);
  std::ofstream(cfg.data.tokenizer) << "tokenizer bytes";
  cfg.data.dst_turns = false;
  cfg.data.max_seq_len = 333;
  cfg.data.frames = "turns";
  cfg.data.system_prompt = "Goal: {goal}";
  cfg.model.rms_norm_eps = 1e-6;
  cfg.model.tie_word_embeddings = false;
  cfg.model.dst_state_head = true;
  cfg.model.dst_state_steps = 5;
  DSTProActLlama model = make_dst_model_scratch(cfg.model, 30, 8, 1);
  NamedTensors optimizer;
  CheckpointContents c;
  c.model = &model;
  c.optimizer_state = &optimizer;
  c.run_config = &cfg;
  c.layout = sequence_layout(cfg);
  c.tokenizer_path = cfg.data.tokenizer;
  Checkpoint ck = read_checkpoint(save_checkpoint(dir + "/run", c));
  *cfg_out = cfg;
  return ck;
}

}  // namespace

// A default configuration (what a run from model.init leaves unset) evaluates the checkpoint: every
// model key and every layout key comes from it.
TEST(Checkpoint, DefaultsTakeTheCheckpointsModelAndLayout) {
  std::string dir = fresh_dir("defaults");
  Config trained;
  Checkpoint ck = saved_run(dir, &trained);
  Config defaults;
  ASSERT_NE(defaults.model.hidden_size, trained.model.hidden_size);
  EXPECT_NO_THROW(check_model_config(defaults, ck));
  Config c = checkpoint_config(defaults, ck);
  EXPECT_EQ(c.model.hidden_size, 32);
  EXPECT_EQ(c.model.intermediate_size, 64);
  EXPECT_EQ(c.model.num_hidden_layers, 2);
  EXPECT_EQ(c.model.num_attention_heads, 4);
  EXPECT_EQ(c.model.num_key_value_heads, 2);
  EXPECT_EQ(c.model.vocab_size, 30);
  EXPECT_EQ(c.model.feature_dim, 8);
  EXPECT_EQ(c.model.rms_norm_eps, 1e-6);
  EXPECT_FALSE(c.model.tie_word_embeddings);
  EXPECT_TRUE(c.model.dst_state_head);
  EXPECT_EQ(c.model.dst_state_steps, 5);
  EXPECT_EQ(c.data.template_name, "llama3");
  EXPECT_EQ(c.data.tokenizer, ck.dir + "/tok.model");
  EXPECT_EQ(c.data.frames, "turns");
  EXPECT_FALSE(c.data.dst_turns);
  EXPECT_EQ(c.data.max_seq_len, 333);
  EXPECT_EQ(c.data.system_prompt, "Goal: {goal}");
}

// A key the user set that disagrees is an error naming it; one that agrees is fine; data.frames only
// warns (streaming evaluation shows every frame whatever it says).
TEST(Checkpoint, SetKeysThatDisagreeAreErrors) {
  std::string dir = fresh_dir("set_keys");
  Config trained;
  Checkpoint ck = saved_run(dir, &trained);
  auto error_for = [&](const std::string& key, const std::string& value) {
    Config c;
    load_ini_text("[" + key.substr(0, key.find('.')) + "]\n" + key.substr(key.find('.') + 1) + " = " + value + "\n", c);
    EXPECT_TRUE(is_set(c, key));
    return test::error_message<UsageError>([&] { checkpoint_config(c, ck); });
  };
  for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{{"model.hidden_size", "64"},
                                                                             {"model.num_key_value_heads", "4"},
                                                                             {"model.tie_word_embeddings", "true"},
                                                                             {"model.dst_state_head", "false"},
                                                                             {"model.dst_state_steps", "6"},
                                                                             {"model.feature_dim", "9"},
                                                                             {"data.template", "plain"},
                                                                             {"data.dst_turns", "true"},
                                                                             {"data.max_seq_len", "512"},
                                                                             {"data.system_prompt", "other"}}) {
    std::string e = error_for(key, value);
    EXPECT_NE(e.find(key + " = " + value), std::string::npos) << key << ": " << e;
    EXPECT_NE(e.find(ck.dir), std::string::npos) << e;
  }
  Config agree;
  load_ini_text("[model]\nhidden_size = 32\nfeature_dim = 0\n[data]\nmax_seq_len = 333\nframes = all\n", agree);
  Config c = checkpoint_config(agree, ck);
  EXPECT_EQ(c.data.frames, "turns") << "data.frames warns and takes the checkpoint's";
  // the tokenizer: the same bytes elsewhere agree, other bytes do not
  Config tok;
  tok.data.tokenizer = dir + "/same.model";
  tok.set_keys.insert("data.tokenizer");
  std::ofstream(tok.data.tokenizer) << "tokenizer bytes";
  EXPECT_EQ(checkpoint_config(tok, ck).data.tokenizer, ck.tokenizer_path);
  std::ofstream(tok.data.tokenizer) << "other bytes";
  std::string e = test::error_message<UsageError>([&] { checkpoint_config(tok, ck); });
  EXPECT_NE(e.find("data.tokenizer"), std::string::npos) << e;
}

// A trainer.json written before the layout keys were recorded takes them from its run configuration.
TEST(Checkpoint, OlderTrainerJsonTakesTheLayoutFromItsConfig) {
  std::string dir = fresh_dir("older");
  Config trained;
  Checkpoint ck = saved_run(dir, &trained);
  std::string path = ck.dir + "/trainer.json";
  auto j = nlohmann::json::parse(test::read_text(path));
  for (const char* k : {"frames", "dst_turns", "max_seq_len", "system_prompt", "special_ids"}) j.erase(k);
  std::ofstream(path) << j.dump(2);
  Checkpoint old = read_checkpoint(ck.dir);
  ASSERT_TRUE(old.layout.has_value());
  EXPECT_EQ(old.layout->frames, "turns");
  EXPECT_FALSE(old.layout->dst_turns);
  EXPECT_EQ(old.layout->max_seq_len, 333);
  EXPECT_EQ(old.layout->system_prompt, "Goal: {goal}");
  EXPECT_FALSE(old.layout->special_ids.has_value());
}
