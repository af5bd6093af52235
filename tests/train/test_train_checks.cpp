// What training checks and writes around the loop (SPEC §2.3, §6): frame values are scanned once at
// start (a NaN row fails naming its clip, or is skipped with data.skip_invalid; an error of a file is
// never skipped); the last step of an epoch that repeats the epoch's first micro-batches says so;
// metrics.jsonl holds every step once after a resume that redoes steps a crash lost.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "prospect/checkpoint/checkpoint.h"
#include "prospect/data/store.h"
#include "test_util.h"
#include "train_test_util.h"

namespace fs = std::filesystem;
using namespace prospect;

namespace {

test::CommandResult train(const std::string& args) {
  return test::run_program(test::binary_path("prospect_train") + args);
}

// metrics.jsonl's records: the steps of the step records in order, and the number of validation records.
struct Metrics {
  std::vector<int64_t> steps;
  std::vector<bool> skipped;
  int vals = 0;
};
Metrics read_metrics(const std::string& path) {
  Metrics m;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("split")) {
      ++m.vals;
      continue;
    }
    m.steps.push_back(j["step"].get<int64_t>());
    m.skipped.push_back(j["skipped"].get<bool>());
  }
  return m;
}

std::vector<int64_t> one_to(int64_t n) {
  std::vector<int64_t> v;
  for (int64_t i = 1; i <= n; ++i) v.push_back(i);
  return v;
}

}  // namespace

TEST(TrainChecks, NonFiniteFramesFailAtStartNamingTheClip) {
  std::string dir = test::fresh_dir("train_checks_nan");
  test::copy_store_with_nan(test::tiny_train_data() + "/train.h5", dir + "/nan.h5", 3, 1);
  Store store(dir + "/nan.h5");
  const std::string id = store.clip(3).id();
  auto r = train(test::tiny_train_args(dir + "/run", {dir + "/nan.h5"}) + " --train.max_steps=8");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("clip 3 (" + id + ", video " + store.clip_video_uid(3) + "): non-finite frame embeddings: frame " +
                          std::to_string(store.clip(3).start_frame_idx + 1) + " (row " +
                          std::to_string(store.clip_offsets()[3] + 1) + ") holds NaN/Inf"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("data.skip_invalid=true"), std::string::npos) << r.output;
  EXPECT_TRUE(read_metrics(dir + "/run/metrics.jsonl").steps.empty());  // refused before the first step
}

// With data.skip_invalid the clip is left out: no step meets its NaN, so none is skipped as non-finite.
// 12 steps of 2 clips cover the split's clips at least once.
TEST(TrainChecks, SkipInvalidLeavesNonFiniteClipsOut) {
  std::string dir = test::fresh_dir("train_checks_skip");
  test::copy_store_with_nan(test::tiny_train_data() + "/train.h5", dir + "/nan.h5", 3, 1);
  ASSERT_LE(Store(dir + "/nan.h5").num_clips(), 24);
  auto r = train(test::tiny_train_args(dir + "/run", {dir + "/nan.h5"}) + " --train.max_steps=12 --data.skip_invalid=true");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1 invalid clips skipped (1 with non-finite values)"), std::string::npos) << r.output;
  Metrics m = read_metrics(dir + "/run/metrics.jsonl");
  EXPECT_EQ(m.steps, one_to(12));
  EXPECT_EQ(std::count(m.skipped.begin(), m.skipped.end(), true), 0);
}

// A validation store whose embeddings have another width than the training store's is an error of the
// file: refused at start, even with data.skip_invalid (which skips clips, never a file).
TEST(TrainChecks, FileErrorsAreNeverSkipped) {
  std::string dir = test::fresh_dir("train_checks_dim");
  const std::string other = test::synth_data("test_train_data_dim8", 4, 8, 1, /*tokenizer=*/false);
  auto r = train(test::tiny_train_args(dir + "/run", {"", other + "/val.h5"}) +
                 " --train.max_steps=2 --data.skip_invalid=true");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("embedding_dim"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("data.skip_invalid never skips"), std::string::npos) << r.output;
  EXPECT_TRUE(read_metrics(dir + "/run/metrics.jsonl").steps.empty());
}

// One virtual rank: an epoch has ceil(clips / micro_batch_size) micro-batches (the shard plan packs a
// rank's clips in order). grad_accum is chosen not to divide that count, so the epoch's last step
// repeats its first micro-batches: the log says how many.
TEST(TrainChecks, LastStepOfAnEpochRepeatingItsFirstMicroBatchesIsLogged) {
  std::string dir = test::fresh_dir("train_checks_refill");
  const int64_t clips = Store(test::tiny_train_data() + "/train.h5").num_clips();
  const int64_t M = (clips + 1) / 2;
  ASSERT_GT(M, 1);
  int64_t accum = 2;
  while (M % accum == 0) ++accum;
  const int64_t repeats = (M + accum - 1) / accum * accum - M;
  auto r = train(test::tiny_train_args(dir + "/run") + " --train.grad_accum=" + std::to_string(accum) +
                 " --train.max_steps=1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("epoch 0: " + std::to_string(M) +
                          " micro-batches per virtual rank are not a multiple of train.grad_accum = " +
                          std::to_string(accum) + ": the last step repeats the first " + std::to_string(repeats) +
                          " of each virtual rank"),
            std::string::npos)
      << r.output;
}

// A crash after step 10's checkpoint loses steps 11..20 (simulated: step 20's checkpoint removed, latest
// back at step 10); their records are in metrics.jsonl already. The resumed run writes them again, once.
TEST(TrainChecks, ResumeDropsTheRecordsOfLostSteps) {
  std::string dir = test::fresh_dir("train_checks_metrics");
  const std::string run = dir + "/run";
  const std::string args = test::tiny_train_args(run) + " --train.max_steps=20 --train.save_every=10";
  ASSERT_EQ(train(args).code, 0);
  Metrics before = read_metrics(run + "/metrics.jsonl");
  ASSERT_EQ(before.steps, one_to(20));
  fs::remove_all(run + "/checkpoints/step-000020");
  fs::remove(run + "/checkpoints/latest");
  fs::create_directory_symlink("step-000010", run + "/checkpoints/latest");
  ASSERT_EQ(read_checkpoint(latest_checkpoint(run)).trainer->step, 10);

  auto r = train(args + " --resume auto");
  ASSERT_EQ(r.code, 0) << r.output;
  Metrics after = read_metrics(run + "/metrics.jsonl");
  EXPECT_EQ(after.steps, one_to(20));
  EXPECT_EQ(after.vals, 1);  // the validation at the end, once
}

// dist.backend=nccl asks for the NCCL data plane, which needs the model on a GPU: without one (this
// machine, model.device auto -> cpu) a single process ends with exit 2 naming the key, before the run
// folder exists (SPEC §7).
TEST(TrainChecks, NcclWithoutAGpuIsAUsageErrorBeforeAnythingIsWritten) {
  std::string dir = test::fresh_dir("train_checks_nccl");
  auto r = train(test::tiny_train_args(dir + "/run") + " --train.max_steps=1 --model.device=cpu --dist.backend=nccl");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("dist.backend=nccl"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/run")) << "a refused request left a run folder";
}
