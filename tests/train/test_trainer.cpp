// The training loop end to end on a tiny synthetic dataset (CPU, 1 thread): resume is bitwise, a kill
// while a checkpoint is written leaves `latest` loadable, the saved LM loads as a plain Llama with the
// same logits, and bad input gives a clear message, the right exit code and no checkpoint overwritten.
#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/version.h>

#include "prospect/checkpoint/checkpoint.h"
#include "prospect/core/error.h"
#include "prospect/data/store.h"
#include "prospect/data/synth.h"
#include "prospect/distributed/signals.h"
#include "prospect/model/dst_model.h"
#include "prospect/model/safetensors.h"
#include "prospect/seq/collate.h"
#include "prospect/text/chat_template.h"
#include "prospect/text/tokenizer.h"
#include "prospect/train/losses.h"
#include "prospect/train/trainer.h"
#include "test_util.h"
#include "tiny_model.h"
#include "tiny_store.h"

namespace fs = std::filesystem;
using namespace prospect;

namespace {

// A small synthetic dataset (16 videos, 16-d features), made once for the build tree.
std::string tiny_data() { return test::synth_data("test_train_data", 16, 16); }

Config tiny_config() {
  Config c;
  const std::string d = tiny_data();
  c.data.train = d + "/train.h5";
  c.data.val = d + "/val.h5";
  c.data.test = d + "/test.h5";
  c.data.tokenizer = d + "/tokenizer.model";
  c.data.max_seq_len = 256;
  c.data.neg_frame_sampling_rate = 0.5;
  c.model = test::tiny_model_config();
  c.model.num_attention_heads = 2;
  c.model.num_key_value_heads = 1;
  c.optim.warmup_steps = 3;
  c.train.max_steps = 20;
  c.train.micro_batch_size = 2;
  c.train.grad_accum = 2;
  c.train.save_every = 10;
  c.train.val_every = 0;
  c.train.threads = 1;
  c.data.virtual_ranks = 2;
  return c;
}

std::string fresh_dir(const std::string& name) { return test::fresh_dir("train_" + name); }

void expect_same_tensors(const std::string& a, const std::string& b) {
  TensorMap x = load_safetensors(a), y = load_safetensors(b);
  ASSERT_EQ(x.size(), y.size()) << a;
  for (auto& [k, t] : x) {
    ASSERT_TRUE(y.count(k)) << k;
    EXPECT_TRUE(at::equal(t, y[k])) << a << ": " << k << " differs";
  }
}

// Runs prospect_train with arguments (and "NAME=value" environment settings); returns the exit code
// (128 + signal when killed), output in *out.
int run_train(const std::vector<std::string>& args, std::string* out = nullptr, const std::string& env = "") {
  std::string cmd = (env.empty() ? "" : "env '" + env + "' ") + test::binary_path("prospect_train");
  for (auto& a : args) cmd += " '" + a + "'";
  auto c = test::run_program(cmd);
  if (out) *out = c.output;
  return c.code;
}

std::vector<std::string> tiny_args(const std::string& run_dir) {
  const std::string d = tiny_data();
  return {"--run-dir", run_dir, "--data.train=" + d + "/train.h5", "--data.val=" + d + "/val.h5",
          "--data.tokenizer=" + d + "/tokenizer.model", "--data.max_seq_len=256", "--model.hidden_size=32",
          "--model.intermediate_size=64", "--model.num_hidden_layers=2", "--model.num_attention_heads=2",
          "--model.num_key_value_heads=1", "--train.micro_batch_size=2", "--train.threads=1", "--train.val_every=0"};
}

// args with "--key=value" set (replacing an earlier value of that key: options may not repeat)
std::vector<std::string> with(std::vector<std::string> args, const std::string& kv) {
  std::string key = kv.substr(0, kv.find('=') + 1);
  args.erase(std::remove_if(args.begin(), args.end(), [&](const std::string& a) { return a.rfind(key, 0) == 0; }),
             args.end());
  args.push_back(kv);
  return args;
}

// Starts prospect_train in the background, its output discarded; returns its pid (-1 on failure).
pid_t start_train(const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  std::vector<std::string> all = {test::binary_path("prospect_train")};
  for (auto& a : args) all.push_back(a);
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  int devnull = ::open("/dev/null", O_WRONLY);
  dup2(devnull, 1);
  dup2(devnull, 2);
  execv(argv[0], argv.data());
  _exit(127);
}

}  // namespace

namespace {
// SPEC §6: a run stopped at step 10 and resumed ends at step 20 with the weights and optimizer state of
// the run that never stopped, bit for bit; metrics.jsonl has every step once with SPEC §6's fields.
// Returns the folder of the run that never stopped.
std::string expect_resume_is_bitwise(const Config& c, const std::string& name) {
  std::string a = fresh_dir(name + "straight"), b = fresh_dir(name + "resumed");
  EXPECT_EQ(run_training(c, {a, ""}), 0);

  TrainArgs first{b, ""};
  first.stop_after_step = 10;
  EXPECT_THROW(run_training(c, first), StopRequested);
  clear_stop_request();
  EXPECT_EQ(fs::read_symlink(b + "/checkpoints/latest").string(), "step-000010");
  EXPECT_EQ(run_training(c, {b, "auto"}), 0);

  for (const char* f : {"model.safetensors", "prospect.safetensors", "optimizer.safetensors"})
    expect_same_tensors(a + "/checkpoints/step-000020/" + f, b + "/checkpoints/step-000020/" + f);
  // metrics.jsonl: 20 step records in both runs, with every field of SPEC §6
  std::ifstream in(b + "/metrics.jsonl");
  std::string line;
  int steps = 0, vals = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("split")) {
      ++vals;
      for (const char* k : {"step", "speaking_f1", "dst_update_f1", "ppl_assistant", "ppl_dst"}) EXPECT_TRUE(j.contains(k)) << k;
      continue;
    }
    ++steps;
    for (const char* k : {"step", "loss", "loss_speaking_gen", "loss_speaking", "loss_dst_gen", "loss_dst_update", "lr",
                          "grad_norm", "tokens", "sequences", "tokens_padded", "padding_share", "tokens_per_s",
                          "step_time_s", "data_wait_s", "comm_s", "comm_counts_s", "comm_grad_s", "comm_loss_s",
                          "peak_rss_mb"})
      EXPECT_TRUE(j.contains(k)) << k;
    EXPECT_TRUE(std::isfinite(j["loss"].get<double>()));
    const double tokens = j["tokens"].get<double>(), padded = j["tokens_padded"].get<double>();
    EXPECT_GE(padded, tokens) << line;
    EXPECT_NEAR(j["padding_share"].get<double>(), (padded - tokens) / padded, 1e-12) << line;
  }
  EXPECT_EQ(steps, 20);
  EXPECT_EQ(vals, 1);
  // keep_last = 3 by default: 10 and 20 here
  EXPECT_TRUE(fs::exists(b + "/checkpoints/step-000010/trainer.json"));
  EXPECT_TRUE(fs::exists(b + "/checkpoints/tokenizer.model") == false);
  EXPECT_TRUE(fs::exists(b + "/checkpoints/step-000020/tokenizer.model"));
  return a;
}

// The step records (not validation) of a run's metrics.jsonl.
std::vector<nlohmann::json> step_records(const std::string& run) {
  std::vector<nlohmann::json> out;
  std::ifstream in(run + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);)
    if (auto j = nlohmann::json::parse(line); !j.contains("split")) out.push_back(j);
  return out;
}
}  // namespace

TEST(Trainer, ResumeIsBitwise) {
  at::set_num_threads(1);
  expect_resume_is_bitwise(tiny_config(), "");
}

// The same with train.pack; and against the unpacked run: the same tokens and first-step loss, fewer
// positions computed.
TEST(Trainer, PackedResumeIsBitwise) {
  at::set_num_threads(1);
  Config c = tiny_config();
  c.data.max_seq_len = 1024;  // whole clips of about 500 tokens: two to a row
  c.train.pack = true;
  std::string packed = expect_resume_is_bitwise(c, "packed_");
  Config u = c;
  u.train.pack = false;
  u.train.max_steps = 4;
  u.train.save_every = 0;
  std::string plain = fresh_dir("unpacked");
  ASSERT_EQ(run_training(u, {plain, ""}), 0);
  std::vector<nlohmann::json> p = step_records(packed), q = step_records(plain);
  ASSERT_GE(p.size(), 4u);
  ASSERT_EQ(q.size(), 4u);
  int64_t padded_p = 0, padded_q = 0;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(p[i]["tokens"], q[i]["tokens"]) << "step " << i + 1;
    EXPECT_EQ(p[i]["sequences"], q[i]["sequences"]) << "step " << i + 1;
    EXPECT_LE(p[i]["tokens_padded"].get<int64_t>(), q[i]["tokens_padded"].get<int64_t>()) << "step " << i + 1;
    padded_p += p[i]["tokens_padded"].get<int64_t>(), padded_q += q[i]["tokens_padded"].get<int64_t>();
  }
  EXPECT_LT(padded_p, padded_q);
  const double lp = p[0]["loss"].get<double>(), lq = q[0]["loss"].get<double>();
  EXPECT_LE(std::abs(lp - lq) / std::abs(lq), 1e-5) << lp << " vs " << lq;
}

// model.dst_state_head with loss.w_dst_state = 0 must leave every other weight bitwise as the run
// without the head: the head is drawn after the other parameters, its zero-weighted term adds exact
// zeros to the gradients, and its zero gradients add nothing to the clipped norm. So the head is
// purely additive, and with the key off nothing of the model's path runs differently.
TEST(Trainer, StateHeadWithZeroWeightLeavesTheRestBitwise) {
  at::set_num_threads(1);
  Config c = tiny_config();
  c.train.max_steps = 6;
  c.train.save_every = 0;
  std::string a = fresh_dir("state_off"), b = fresh_dir("state_zero");
  EXPECT_EQ(run_training(c, {a, ""}), 0);
  c.model.dst_state_head = true;
  c.loss.w_dst_state = 0.0;
  EXPECT_EQ(run_training(c, {b, ""}), 0);
  const std::string ca = a + "/checkpoints/step-000006/", cb = b + "/checkpoints/step-000006/";
  expect_same_tensors(ca + "model.safetensors", cb + "model.safetensors");
  TensorMap x = load_safetensors(ca + "prospect.safetensors"), y = load_safetensors(cb + "prospect.safetensors");
  EXPECT_EQ(y.size(), x.size() + 2);
  for (auto& [k, t] : x) EXPECT_TRUE(y.count(k) && at::equal(t, y[k])) << k;
  EXPECT_TRUE(y.count("dst_state_head.weight"));
  // the four loss terms per step are the same; only the run with the head logs its term
  std::ifstream fa(a + "/metrics.jsonl"), fb(b + "/metrics.jsonl");
  std::string la, lb;
  int steps = 0;
  while (std::getline(fa, la) && std::getline(fb, lb)) {
    auto ja = nlohmann::json::parse(la), jb = nlohmann::json::parse(lb);
    if (ja.contains("split")) {
      EXPECT_FALSE(ja.contains("state_accuracy"));
      EXPECT_TRUE(jb.contains("state_accuracy"));
      continue;
    }
    ++steps;
    for (const char* k : {"loss", "loss_speaking_gen", "loss_speaking", "loss_dst_gen", "loss_dst_update", "grad_norm"})
      EXPECT_EQ(ja[k].get<double>(), jb[k].get<double>()) << k << " at step " << ja["step"];
    EXPECT_FALSE(ja.contains("loss_dst_state"));
    EXPECT_TRUE(jb.contains("loss_dst_state"));
  }
  EXPECT_EQ(steps, 6);
  // resuming the run with the head under a config without it: an error naming the key
  std::string out;
  std::vector<std::string> args = tiny_args(b);
  args.push_back("--resume=auto");
  args.push_back("--train.max_steps=8");
  EXPECT_EQ(run_train(args, &out), 2) << out;
  EXPECT_NE(out.find("model.dst_state_head"), std::string::npos) << out;
}

// The state head learns on the synthetic data: its loss falls and its validation accuracy over
// (decision point, step) labels beats always answering the most frequent state.
TEST(Trainer, StateHeadLearns) {
  at::set_num_threads(1);
  Config c = tiny_config();
  c.model.dst_state_head = true;
  c.train.max_steps = 40;
  c.train.save_every = 0;
  c.optim.lr = 3e-3;
  std::string a = fresh_dir("state_learns");
  EXPECT_EQ(run_training(c, {a, ""}), 0);
  std::vector<double> loss;
  double accuracy = -1;
  std::ifstream in(a + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("split"))
      accuracy = j["state_accuracy"].get<double>();
    else
      loss.push_back(j["loss_dst_state"].get<double>());
  }
  ASSERT_EQ(loss.size(), 40u);
  double first = 0, last = 0;
  for (int i = 0; i < 5; ++i) first += loss[i], last += loss[loss.size() - 1 - i];
  EXPECT_LT(last, 0.7 * first) << "state loss, first 5 steps " << first / 5 << ", last 5 " << last / 5;

  // the majority baseline of the validation labels, counted here from the clips
  auto tok = load_tokenizer(c.data.tokenizer);
  ChatTemplate tmpl = make_chat_template(c.data.template_name, *tok);
  Store val(c.data.val);
  SeqOptions opt = seq_options(c.data, static_cast<int32_t>(tok->vocab_size()), val.fps());
  opt.state_steps = c.model.dst_state_steps;
  double count[3] = {0, 0, 0};
  for (int64_t i = 0; i < val.num_clips(); ++i)
    for (const Sequence& s : make_sequences(val.clip(i), tmpl, opt, Sampling{}))
      for (const auto& v : s.dst_state)
        for (int64_t y : v) count[y] += 1;
  double total = count[0] + count[1] + count[2];
  ASSERT_GT(total, 0);
  double majority = std::max({count[0], count[1], count[2]}) / total;
  std::cout << "state head: loss " << first / 5 << " -> " << last / 5 << ", validation accuracy " << accuracy
            << " (majority " << majority << ", " << total << " labels)\n";
  EXPECT_GT(accuracy, majority + 0.05);
}

// Synthetic data with progress summaries (prospect_data synth --progress): windows cut after an
// assistant turn end with the summary request and answer, and training runs on them.
TEST(Trainer, TrainsOnProgressSummaries) {
  at::set_num_threads(1);
  const std::string d = test::synth_data("test_train_progress", 16, 16, 1, true, true);
  Config c = tiny_config();
  c.data.train = d + "/train.h5";
  c.data.val = d + "/val.h5";
  c.data.tokenizer = d + "/tokenizer.model";
  c.data.max_seq_len = 384;
  c.train.max_steps = 4;
  c.train.save_every = 0;
  auto tok = load_tokenizer(c.data.tokenizer);
  ChatTemplate tmpl = make_chat_template(c.data.template_name, *tok);
  Store train(c.data.train);
  SeqOptions opt = seq_options(c.data, static_cast<int32_t>(tok->vocab_size()), train.fps());
  const std::vector<int32_t> ask = tmpl.content(kSummaryPrompt);
  int windows = 0, with_summary = 0;
  for (int64_t i = 0; i < train.num_clips(); ++i)
    for (const Sequence& s : make_sequences(train.clip(i), tmpl, opt, Sampling{})) {
      ++windows;
      with_summary += std::search(s.ids.begin(), s.ids.end(), ask.begin(), ask.end()) != s.ids.end();
      EXPECT_LE(s.ids.size(), 384u);
    }
  std::cout << windows << " windows, " << with_summary << " end with a progress summary\n";
  EXPECT_GT(with_summary, 0);
  std::string run = fresh_dir("progress");
  EXPECT_EQ(run_training(c, {run, ""}), 0);
  std::ifstream in(run + "/metrics.jsonl");
  int steps = 0;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("split")) continue;
    ++steps;
    EXPECT_TRUE(std::isfinite(j["loss_speaking_gen"].get<double>()));
  }
  EXPECT_EQ(steps, 4);
}

TEST(Trainer, SavedLanguageModelLoadsAsPlainLlama) {
  at::set_num_threads(1);
  Config c = tiny_config();
  c.train.max_steps = 3;
  std::string dir = fresh_dir("plain_llama");
  ASSERT_EQ(run_training(c, {dir, ""}), 0);
  std::string run = dir + "/checkpoints/step-000003";
  DSTProActLlama dst = load_dst_model(run);
  LlamaForCausalLM lm = load_llama(run);
  at::Tensor ids = at::tensor({1, 5, 9, 30, 7, 2}, at::kLong).reshape({1, 6});
  at::NoGradGuard g;
  at::Tensor a = lm->forward(ids);
  DSTOutput o = dst->forward(ids, at::ones_like(ids), at::zeros({0, dst->feature_dim}), at::arange(6),
                             at::arange(6, at::kLong));
  EXPECT_TRUE(at::allclose(a.reshape({6, -1}), o.lm_logits, 1e-6, 1e-6));
}

// Where latest points, as a step folder name ("" for none); an error when it points nowhere.
std::string latest_name(const std::string& run) {
  std::string latest = latest_checkpoint(run);
  return latest.empty() ? "" : fs::path(latest).filename().string();
}

void expect_loadable(const std::string& dir) {
  EXPECT_NO_THROW({
    DSTProActLlama m = load_dst_model(dir);
    load_safetensors(dir + "/optimizer.safetensors");
    EXPECT_TRUE(read_checkpoint(dir).trainer.has_value());
  }) << dir;
}

// A kill at each point of a save (the PROSPECT_TEST_KILL_IN_SAVE hook of checkpoint.h, so every point
// is reached for sure): latest still points at a whole checkpoint, the previous one until the link is
// swapped, and the next run resumes from it. The last case saves a step again over the folder latest
// points to (--resume from an older checkpoint) and is killed once that folder is replaced.
TEST(Trainer, KillDuringCheckpointLeavesLatestLoadable) {
  std::string run = fresh_dir("killed"), out;
  auto args = with(with(tiny_args(run), "--train.save_every=1"), "--resume=auto");
  ASSERT_EQ(run_train(with(args, "--train.max_steps=1"), &out), 0) << out;
  int64_t step = 1;
  for (const char* point : {"begun", "model", "optimizer", "trainer", "written", "renamed", "latest"}) {
    SCOPED_TRACE(point);
    const int64_t next = step + 1;
    const std::string kill = std::string("PROSPECT_TEST_KILL_IN_SAVE=") + point + ":" + std::to_string(next);
    EXPECT_EQ(run_train(with(args, "--train.max_steps=50"), &out, kill), 128 + SIGKILL) << out;
    if (std::string(point) == "latest") step = next;  // killed after the swap: the new one is whole
    ASSERT_EQ(latest_name(run), checkpoint_name(step));
    expect_loadable(run + "/checkpoints/latest");
  }
  // the next run resumes from latest, past the leftovers of the killed saves
  ASSERT_EQ(run_train(with(args, "--train.max_steps=" + std::to_string(step + 2)), &out), 0) << out;
  EXPECT_NE(out.find("resuming from"), std::string::npos) << out;
  EXPECT_EQ(latest_name(run), checkpoint_name(step + 2));
  for (auto& e : fs::directory_iterator(run + "/checkpoints"))
    EXPECT_EQ(e.path().filename().string().rfind(".tmp-", 0), std::string::npos) << e.path();

  // step + 2 saved again from step + 1 (chosen with --resume), killed once the old step + 2 is gone
  auto from_older = with(with(args, "--resume=" + run + "/checkpoints/" + checkpoint_name(step + 1)),
                         "--train.max_steps=" + std::to_string(step + 2));
  const std::string kill = "PROSPECT_TEST_KILL_IN_SAVE=replaced:" + std::to_string(step + 2);
  EXPECT_EQ(run_train(from_older, &out, kill), 128 + SIGKILL) << out;
  ASSERT_NO_THROW(latest_name(run));
  ASSERT_FALSE(latest_name(run).empty());
  expect_loadable(run + "/checkpoints/latest");
  EXPECT_EQ(read_checkpoint(run + "/checkpoints/latest").trainer->step, step + 2);
  // and the next run goes on from it
  ASSERT_EQ(run_train(with(args, "--train.max_steps=" + std::to_string(step + 3)), &out), 0) << out;
  EXPECT_EQ(latest_name(run), checkpoint_name(step + 3));
  expect_loadable(run + "/checkpoints/latest");
}

// The hook refuses a value it does not understand (a typo must not make the test above pass silently).
TEST(Trainer, KillHookRejectsUnknownPoints) {
  std::string run = fresh_dir("kill_typo"), out;
  auto args = with(tiny_args(run), "--train.max_steps=1");
  EXPECT_EQ(run_train(args, &out, "PROSPECT_TEST_KILL_IN_SAVE=modle:1"), 1) << out;
  EXPECT_NE(out.find("PROSPECT_TEST_KILL_IN_SAVE=modle:1"), std::string::npos) << out;
}

// train.keep_last: only the newest checkpoints stay, latest among them.
TEST(Trainer, KeepLastPrunesOlderCheckpoints) {
  std::string run = fresh_dir("keep_last"), out;
  auto args = with(with(with(tiny_args(run), "--train.save_every=1"), "--train.max_steps=5"), "--train.keep_last=2");
  ASSERT_EQ(run_train(args, &out), 0) << out;
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(run + "/checkpoints")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"latest", "step-000004", "step-000005"}));
  EXPECT_EQ(latest_name(run), "step-000005");
  // a resumed run with keep_last 1 prunes what the earlier run kept
  ASSERT_EQ(run_train(with(with(with(args, "--resume=auto"), "--train.keep_last=1"), "--train.max_steps=6"), &out), 0)
      << out;
  names.clear();
  for (auto& e : fs::directory_iterator(run + "/checkpoints")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"latest", "step-000006"}));
}

// --resume <dir>: a chosen checkpoint (not latest, in another run folder) continues exactly as the run
// that wrote it did: the same weights at the end (bitwise on CPU). A folder that is not there is an
// error naming it.
TEST(Trainer, ResumeFromAChosenCheckpoint) {
  std::string a = fresh_dir("resume_dir_a"), b = fresh_dir("resume_dir_b") + "/run", out;
  auto args = with(with(tiny_args(a), "--train.save_every=2"), "--train.max_steps=6");
  ASSERT_EQ(run_train(args, &out), 0) << out;
  ASSERT_TRUE(fs::exists(a + "/checkpoints/step-000002"));
  auto resumed = with(with(with(tiny_args(b), "--train.save_every=2"), "--train.max_steps=6"),
                      "--resume=" + a + "/checkpoints/step-000002");
  ASSERT_EQ(run_train(resumed, &out), 0) << out;
  EXPECT_NE(out.find("step-000002 (step 2)"), std::string::npos) << out;
  for (const char* f : {"model.safetensors", "prospect.safetensors", "optimizer.safetensors"})
    expect_same_tensors(a + "/checkpoints/step-000006/" + f, b + "/checkpoints/step-000006/" + f);
  EXPECT_FALSE(fs::exists(b + "/checkpoints/step-000002"));  // it started at step 2, saved from 4 on

  auto missing = with(tiny_args(fresh_dir("resume_dir_c")), "--resume=" + a + "/checkpoints/step-000003");
  EXPECT_NE(run_train(missing, &out), 0);
  EXPECT_NE(out.find(a + "/checkpoints/step-000003"), std::string::npos) << out;
}

TEST(Trainer, BadInputExitCodes) {
  std::string out;
  std::string base = fresh_dir("bad");
  // unknown config key: usage, exit 2, named
  EXPECT_EQ(run_train({"--run-dir", base + "/a", "--train.no_such_key=1"}, &out), 2);
  EXPECT_NE(out.find("no_such_key"), std::string::npos) << out;

  // missing tokenizer: exit 1, path named
  auto args = with(tiny_args(base + "/b"), "--data.tokenizer=" + base + "/missing.model");
  EXPECT_EQ(run_train(args, &out), 1);
  EXPECT_NE(out.find("missing.model"), std::string::npos) << out;

  // not a store: exit 1, path named
  fs::create_directories(base);
  std::ofstream(base + "/junk.h5") << "not hdf5";
  args = with(tiny_args(base + "/c"), "--data.train=" + base + "/junk.h5");
  EXPECT_EQ(run_train(args, &out), 1);
  EXPECT_NE(out.find("junk.h5"), std::string::npos) << out;

  // a finished run, then: non-empty folder without --resume (2), a model key against the checkpoint (2)
  std::string good = base + "/good";
  args = with(tiny_args(good), "--train.max_steps=2");
  ASSERT_EQ(run_train(args, &out), 0) << out;
  std::string latest = fs::read_symlink(good + "/checkpoints/latest").string();
  EXPECT_EQ(run_train(args, &out), 2);
  EXPECT_NE(out.find("not empty"), std::string::npos) << out;
  auto resumed = with(with(with(args, "--resume=auto"), "--model.hidden_size=64"), "--train.max_steps=4");
  EXPECT_EQ(run_train(resumed, &out), 2);
  EXPECT_NE(out.find("model.hidden_size"), std::string::npos) << out;

  // NaN frames: refused by the value scan at start (exit 1, named non-finite); the checkpoint is untouched
  {
    Store src(tiny_data() + "/train.h5");
    StoreWriter w(base + "/nan.h5", src.embedding_dim(), src.fps(), "synthetic", false);
    for (int64_t c = 0; c < src.num_clips(); ++c) {
      std::vector<float> rows(src.clip_rows(c) * src.embedding_dim(), std::nanf(""));
      w.add_clip(src.clip(c), rows.data(), src.clip_rows(c));
    }
    w.close();
  }
  auto nan = with(with(with(with(args, "--resume=auto"), "--train.max_steps=20"), "--train.max_bad_steps=3"),
                  "--data.train=" + base + "/nan.h5");
  auto before = fs::last_write_time(good + "/checkpoints/" + latest + "/model.safetensors");
  EXPECT_EQ(run_train(nan, &out), 1);
  EXPECT_NE(out.find("non-finite"), std::string::npos) << out;
  EXPECT_EQ(fs::read_symlink(good + "/checkpoints/latest").string(), latest);
  EXPECT_EQ(fs::last_write_time(good + "/checkpoints/" + latest + "/model.safetensors"), before);
}

// No silent fallbacks (SPEC §4): a device or precision that cannot be had is a usage error (exit 2)
// that names the key, found and expected, before the run folder exists; what can be had runs, and
// metrics.jsonl says "gpu_peak_mb": null on the CPU.
TEST(Trainer, DeviceAndDtypeRequests) {
  std::string out;
  std::string base = fresh_dir("device");
  // no GPU visible: an empty CUDA_VISIBLE_DEVICES hides any GPU the machine has
  EXPECT_EQ(run_train(with(tiny_args(base + "/cuda"), "--model.device=cuda"), &out, "CUDA_VISIBLE_DEVICES="), 2);
  EXPECT_NE(out.find("model.device=cuda: found no CUDA device"), std::string::npos) << out;
  EXPECT_NE(out.find("expected"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(base + "/cuda"));
  // auto without a GPU is the CPU in fp32
  auto cpu = with(with(tiny_args(base + "/auto"), "--train.max_steps=1"), "--model.device=auto");
  ASSERT_EQ(run_train(cpu, &out, "CUDA_VISIBLE_DEVICES="), 0) << out;
  EXPECT_NE(out.find("rank 0 runs on cpu"), std::string::npos) << out;
  std::ifstream metrics(base + "/auto/metrics.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(metrics, line));
  nlohmann::json step = nlohmann::json::parse(line);
  ASSERT_TRUE(step.contains("gpu_peak_mb")) << line;
  EXPECT_TRUE(step["gpu_peak_mb"].is_null()) << line;
  // bf16 on the CPU: LibTorch 2.x runs it (autocast), 1.13 refuses it
  auto bf16 = with(with(with(tiny_args(base + "/bf16"), "--train.max_steps=2"), "--model.device=cpu"),
                   "--model.dtype=bf16");
#if TORCH_VERSION_MAJOR >= 2
  EXPECT_EQ(run_train(bf16, &out), 0) << out;
  EXPECT_NE(out.find("bf16 autocast"), std::string::npos) << out;
#else
  EXPECT_EQ(run_train(bf16, &out), 2) << out;
  EXPECT_NE(out.find("model.dtype=bf16 on the CPU: found LibTorch " TORCH_VERSION), std::string::npos) << out;
  EXPECT_NE(out.find("expected LibTorch >= 2"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(base + "/bf16"));
#endif
}

TEST(Trainer, ConfigsParse) {
  for (const char* f : {"configs/demo.ini", "configs/llama3_2_1b_siglip.ini"}) {
    Config c;
    EXPECT_NO_THROW(load_ini_file(std::string(PROSPECT_SOURCE_DIR) + "/" + f, c)) << f;
    EXPECT_NO_THROW(check_config(c)) << f;
  }
}

// SPEC §5 with the real model: 4 micro-batches of one clip each, every one divided by the step's
// global counts, give the loss and gradients of one batch of the 4 clips (relative difference <= 1e-6).
TEST(Trainer, AccumulationEqualsOneBatchWithTheRealModel) {
  at::set_num_threads(1);
  Config c = tiny_config();
  std::unique_ptr<Tokenizer> tok = load_tokenizer(c.data.tokenizer);
  ChatTemplate tmpl = make_chat_template("plain", *tok);
  Store store(c.data.train);
  ModelConfig mc = c.model;
  auto make = [&] { return make_dst_model_scratch(mc, tok->vocab_size(), store.embedding_dim(), 7); };
  DSTProActLlama big = make(), small = make();
  SeqOptions opt = seq_options(c.data, static_cast<int32_t>(big->image_token_id), store.fps());
  std::vector<Sequence> seqs;
  std::vector<at::Tensor> frames;
  for (int64_t k = 0; k < 4; ++k) {
    Sequence s = make_sequences(store.clip(k), tmpl, opt, Sampling{1, 0, 0.3 * k})[0];  // label counts differ
    at::Tensor rows = at::empty({store.clip_rows(k), store.embedding_dim()});
    store.read_clip(k, rows.data_ptr<float>());
    seqs.push_back(s);
    frames.push_back(rows);
  }
  std::vector<const Sequence*> all;
  for (auto& s : seqs) all.push_back(&s);
  auto loss_of = [&](DSTProActLlama& m, const Batch& b, const LabelCounts& g) {
    DSTOutput o = m->forward(b.input_ids, b.attention_mask, b.frames, b.decision_index, b.lm_index);
    return compute_loss(o.speaking_logits, o.dst_logits, o.lm_logits, b, g, c.loss).loss;
  };
  Batch whole = collate(all, frames, 0);
  at::Tensor lb = loss_of(big, whole, whole.counts);
  lb.backward();
  double total = 0;
  for (int k = 0; k < 4; ++k) {
    at::Tensor l = loss_of(small, collate({all[k]}, {frames[k]}, 0), whole.counts);
    l.backward();
    total += l.item<double>();
  }
  EXPECT_LE(std::abs(total - lb.item<double>()) / std::abs(lb.item<double>()), 1e-6);
  auto pb = big->named_parameters();
  auto ps = small->named_parameters();
  double worst = 0;
  for (auto& kv : pb) {
    at::Tensor a = ps[kv.key()].grad(), b = kv.value().grad();
    worst = std::max(worst, (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-8));
  }
  EXPECT_LE(worst, 1e-6);
}

// Packing (train.pack) with the real model and the state head: the windows of 6 clips packed into rows
// of at most data.max_seq_len tokens give the loss and gradients of the unpacked batch (relative
// difference <= 1e-5): attention stays within each window, positions restart per window, and the
// losses see the same labels and are divided by the same counts.
TEST(Trainer, PackedEqualsUnpackedWithTheRealModel) {
  at::set_num_threads(1);
  Config c = tiny_config();
  c.data.max_seq_len = 1024;  // whole clips of about 500 tokens: two to a row
  c.model.dst_state_head = true;
  std::unique_ptr<Tokenizer> tok = load_tokenizer(c.data.tokenizer);
  ChatTemplate tmpl = make_chat_template("plain", *tok);
  Store store(c.data.train);
  ModelConfig mc = c.model;
  auto make = [&] { return make_dst_model_scratch(mc, tok->vocab_size(), store.embedding_dim(), 7); };
  DSTProActLlama unpacked = make(), packed = make();
  SeqOptions opt = seq_options(c.data, static_cast<int32_t>(unpacked->image_token_id), store.fps());
  opt.state_steps = static_cast<int>(unpacked->state_steps);
  std::vector<Sequence> seqs;
  std::vector<at::Tensor> frames;
  for (int64_t k = 0; k < 6; ++k) {
    at::Tensor rows = at::empty({store.clip_rows(k), store.embedding_dim()});
    store.read_clip(k, rows.data_ptr<float>());
    for (Sequence& s : make_sequences(store.clip(k), tmpl, opt, Sampling{1, 0, 0.5})) {
      seqs.push_back(std::move(s));
      frames.push_back(rows);
    }
  }
  std::vector<const Sequence*> all;
  for (auto& s : seqs) all.push_back(&s);
  Batch u = collate(all, frames, 0), p = collate(all, frames, 0, c.data.max_seq_len);
  ASSERT_LT(p.input_ids.size(0), u.input_ids.size(0)) << "nothing was packed";
  EXPECT_LT(padding_count(p).padding_share(), padding_count(u).padding_share());
  ASSERT_GT(u.counts.dst_state, 0);
  auto loss_of = [&](DSTProActLlama& m, const Batch& b) {
    DSTOutput o = m->forward(b.input_ids, b.attention_mask, b.frames, b.decision_index, b.lm_index);
    return compute_loss(o.speaking_logits, o.dst_logits, o.lm_logits, b, b.counts, c.loss, o.state_logits);
  };
  LossTerms lu = loss_of(unpacked, u), lp = loss_of(packed, p);
  lu.loss.backward();
  lp.loss.backward();
  const double want = lu.loss.item<double>();
  EXPECT_LE(std::abs(lp.loss.item<double>() - want) / std::abs(want), 1e-5);
  for (auto [a, b] : {std::pair{lu.speaking_gen, lp.speaking_gen}, {lu.speaking, lp.speaking}, {lu.dst_gen, lp.dst_gen},
                      {lu.dst_update, lp.dst_update}, {lu.dst_state, lp.dst_state}})
    EXPECT_LE(std::abs(a - b), 1e-5 * std::max(std::abs(a), 1e-8)) << a << " vs " << b;
  auto pu = unpacked->named_parameters();
  auto pp = packed->named_parameters();
  double worst = 0;
  for (auto& kv : pu) {
    at::Tensor a = pp[kv.key()].grad(), b = kv.value().grad();
    ASSERT_TRUE(a.defined() && b.defined()) << kv.key();
    worst = std::max(worst, (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-8));
  }
  EXPECT_LE(worst, 1e-5);
  std::printf("  %lld windows: %lld rows unpacked (padding %.3f), %lld packed (padding %.3f); loss %.9g vs %.9g, "
              "worst gradient relative difference %.3g\n",
              static_cast<long long>(seqs.size()), static_cast<long long>(u.input_ids.size(0)),
              padding_count(u).padding_share(), static_cast<long long>(p.input_ids.size(0)),
              padding_count(p).padding_share(), want, lp.loss.item<double>(), worst);
}

// SIGTERM (Slurm's --signal): the run stops at the next step boundary, checkpoints, exits 3; the
// checkpoint is the step it stopped at, and --resume auto continues from there.
TEST(Trainer, SigtermCheckpointsAndExits3) {
  std::string run = fresh_dir("sigterm");
  auto args = with(tiny_args(run), "--train.max_steps=100000");
  pid_t pid = start_train(args);
  ASSERT_GE(pid, 0);
  // wait for the first steps to be logged, then signal
  for (int i = 0; i < 600 && !fs::exists(run + "/metrics.jsonl"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 3);
  std::string latest = latest_checkpoint(run);
  ASSERT_FALSE(latest.empty());
  int64_t step = read_checkpoint(latest).trainer->step;
  EXPECT_GT(step, 0);
  EXPECT_EQ(fs::path(latest).filename().string(), checkpoint_name(step));
}

// The no-DST baseline (data.dst_turns = false) end to end: training sees no DST_UPDATE turn (the DST
// text loss 0 at every step, no DST perplexity at validation), and prospect_eval never asks the DST
// head, even at a DST threshold every probability passes (the checkpoint's dst_turns = false; an
// evaluation that sets data.dst_turns = true is refused), while a model trained the same way with DST turns, at the same
// thresholds, does produce updates (so the check can fail).
TEST(Trainer, NoDstBaselineTrainsAndEvaluates) {
  std::string run = fresh_dir("no_dst"), out;
  auto args = with(with(with(tiny_args(run), "--train.max_steps=3"), "--data.dst_turns=false"), "--train.val_every=3");
  ASSERT_EQ(run_train(args, &out), 0) << out;
  std::ifstream in(run + "/metrics.jsonl");
  int steps = 0, vals = 0;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("split")) {
      ++vals;
      EXPECT_TRUE(j["ppl_dst"].is_null()) << line;
      EXPECT_TRUE(j["ppl_assistant"].is_number()) << line;
      continue;
    }
    ++steps;
    EXPECT_EQ(j["loss_dst_gen"].get<double>(), 0.0) << line;
    EXPECT_GT(j["loss_speaking_gen"].get<double>(), 0.0) << line;
  }
  EXPECT_EQ(steps, 3);
  EXPECT_EQ(vals, 1);

  const std::string d = tiny_data();
  auto eval_run = [&](const std::string& run, const std::string& name, const std::string& extra) {
    std::string dir = run + "/" + name, ckpt = run + "/checkpoints/latest";
    auto r = test::run_program(test::binary_path("prospect_eval") + " --config " + run + "/config.ini --checkpoint " + ckpt +
                               " --split val --out " + dir + " --data.val=" + d + "/val.h5 --eval.max_new_tokens=4" +
                               " --eval.speak_threshold=0 --eval.dst_threshold=0 " + extra);
    EXPECT_EQ(r.code, 0) << r.output;
    return nlohmann::json::parse(test::read_text(dir + "/eval.json"));
  };
  // the checkpoint says how its sequences are laid out: an explicit data.dst_turns that disagrees is refused
  auto refused = test::run_program(test::binary_path("prospect_eval") + " --checkpoint " + run +
                                   "/checkpoints/latest --split val --out " + run + "/refused --data.val=" + d +
                                   "/val.h5 --data.dst_turns=true");
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_NE(refused.output.find("data.dst_turns = true"), std::string::npos) << refused.output;
  auto base = eval_run(run, "eval_no_dst", "");
  EXPECT_EQ(base["config"]["data"]["dst_turns"], false);
  EXPECT_GT(base["counts"]["turns"].get<int64_t>(), 0) << base.dump();  // it spoke
  EXPECT_TRUE(base["speaking_event"]["precision"].is_number()) << base.dump();
  EXPECT_EQ(base["dst_update_event"]["precision"], nullptr) << base.dump();  // and never updated the state
  EXPECT_EQ(base["dst_update_event"]["recall"], 0.0) << base.dump();
  std::string control = fresh_dir("no_dst_control");
  ASSERT_EQ(run_train(with(with(tiny_args(control), "--train.max_steps=3"), "--train.val_every=3"), &out), 0) << out;
  auto with_dst = eval_run(control, "eval_dst", "");
  EXPECT_TRUE(with_dst["dst_update_event"]["precision"].is_number()) << with_dst.dump();
}

// LoRA (model.lora_rank) with gradient checkpointing, accumulation, dropout and 2 virtual ranks:
// resume is bitwise as without; the checkpoint holds the adapter in PEFT's layout and not the base,
// the optimizer has state for the trained weights only, and prospect_eval evaluates the checkpoint.
TEST(Trainer, LoraResumeIsBitwiseAndItsCheckpointEvaluates) {
  at::set_num_threads(1);
  Config c = tiny_config();
  // the base: an HF folder of the tiny model's sizes over the tokenizer's vocabulary
  const std::string base = fresh_dir("lora_base");
  {
    DSTProActLlama scratch = make_dst_model_scratch(c.model, load_tokenizer(c.data.tokenizer)->vocab_size(), 16, 3);
    LlamaConfig lc = scratch->config;
    lc.vocab_size -= 1;
    lc.raw.erase("image_token_id");
    torch::manual_seed(3);
    LlamaForCausalLM m(lc);
    save_llama(m, base);
  }
  c.model.init = base;
  c.model.lora_rank = 4;
  c.model.lora_dropout = 0.1;
  c.model.lora_targets = "q,v,o,down";
  c.model.gradient_checkpointing = true;
  c.train.max_steps = 6;
  c.train.save_every = 3;
  std::string a = fresh_dir("lora_straight"), b = fresh_dir("lora_resumed");
  EXPECT_EQ(run_training(c, {a, ""}), 0);
  TrainArgs first{b, ""};
  first.stop_after_step = 3;
  EXPECT_THROW(run_training(c, first), StopRequested);
  clear_stop_request();
  EXPECT_EQ(run_training(c, {b, "auto"}), 0);
  const std::string last = "/checkpoints/step-000006/";
  for (const char* f : {"adapter_model.safetensors", "prospect.safetensors", "optimizer.safetensors"})
    expect_same_tensors(a + last + f, b + last + f);
  EXPECT_FALSE(fs::exists(a + last + "model.safetensors"));
  EXPECT_TRUE(fs::exists(a + last + "adapter_config.json"));
  TensorMap adapter = load_safetensors(a + last + "adapter_model.safetensors");
  EXPECT_EQ(adapter.size(), 2u * 4 * 2);  // 2 blocks, 4 targets, A and B
  for (auto& [k, t] : load_safetensors(a + last + "optimizer.safetensors"))
    EXPECT_EQ(k.find("model."), std::string::npos) << "optimizer state for the frozen base: " << k;

  auto r = test::run_program(test::binary_path("prospect_eval") + " --config " + a + "/config.ini --checkpoint " + a +
                             "/checkpoints/latest --split val --out " + a + "/eval --eval.max_new_tokens=4");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(a + "/eval/eval.json")) << r.output;
}
