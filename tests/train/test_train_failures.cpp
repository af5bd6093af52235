// Failures of a multi-process job as a user meets them (SPEC §6, §7): one rank's bad data ends every
// rank at once with exit 1 and the clip named in rank 0's log (prospect_train and prospect_eval); the
// peers' wait for a slow checkpoint save is bounded by dist.save_timeout_s, not dist.timeout_s; a
// resume with another process count keeps the data order of the run's virtual ranks, and one that
// cannot keep it is refused unless train.inexact_resume.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <sstream>

#include "prospect/data/store.h"
#include "prospect/model/safetensors.h"
#include "test_util.h"
#include "train_test_util.h"

namespace fs = std::filesystem;
using namespace prospect;

namespace {

struct Outcome {
  int code = -1;
  std::string output;
  double seconds = 0;
};

// cmd with stdout and stderr together, ended by `timeout` after limit_s (exit 124) so that a job left
// waiting for a dead peer cannot hold the test until its own collective timeout.
Outcome run(const std::string& cmd, int limit_s = 120) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = test::run_program("timeout -s KILL " + std::to_string(limit_s) + " " + cmd);
  return {r.code, r.output, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
}

std::string mpirun(int n) { return std::string(PROSPECT_MPIRUN) + " -n " + std::to_string(n) + " "; }
std::string train_bin() { return test::binary_path("prospect_train"); }

// The largest relative difference between the tensors of two safetensors files.
double worst_relative_difference(const std::string& a_path, const std::string& b_path) {
  TensorMap a = load_safetensors(a_path), b = load_safetensors(b_path);
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (auto& [k, t] : b) {
    if (!a.count(k)) return 1e30;
    worst = std::max(worst, (a[k] - t).abs().max().item<double>() / std::max(t.abs().max().item<double>(), 1e-8));
  }
  return worst;
}

}  // namespace

// The value scan at start is shared out over the ranks (clip index modulo 2): clip 1's NaN is found by
// rank 1 alone, and rank 0 goes on to its next collective.
TEST(TrainFailures, OneRanksBadDataEndsTrainingAtOnce) {
  std::string dir = test::fresh_dir("train_fail_rank_train");
  test::copy_store_with_nan(test::tiny_train_data() + "/train.h5", dir + "/nan.h5", 1);
  const std::string clip_id = Store(dir + "/nan.h5").clip(1).id();
  Outcome r = run(mpirun(2) + train_bin() + test::tiny_train_args(dir + "/run", {dir + "/nan.h5"}) +
                  " --train.max_steps=4 --dist.timeout_s=300");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_LT(r.seconds, 60) << r.output;
  const std::string log = test::read_text(dir + "/run/train.log");  // rank 0's
  EXPECT_NE(log.find("[rank 0] error: rank 1 failed: "), std::string::npos) << log;
  EXPECT_NE(log.find(clip_id), std::string::npos) << log;
  EXPECT_NE(log.find("ending the job with exit code 1"), std::string::npos) << log;
}

// prospect_eval streams clip c on rank c % 2: rank 1 meets clip 1's NaN row while rank 0 streams.
TEST(TrainFailures, OneRanksBadDataEndsEvaluationAtOnce) {
  std::string dir = test::fresh_dir("train_fail_rank_eval");
  ASSERT_EQ(run(train_bin() + test::tiny_train_args(dir + "/run") + " --train.max_steps=1").code, 0);
  test::copy_store_with_nan(test::tiny_train_data() + "/test.h5", dir + "/nan.h5", 1, 2);
  const std::string clip_id = Store(dir + "/nan.h5").clip(1).id();
  Outcome r = run(mpirun(2) + test::binary_path("prospect_eval") + " --config " + dir + "/run/config.ini --checkpoint " +
                  dir + "/run/checkpoints/latest --split test --out " + dir + "/eval --data.test=" + dir +
                  "/nan.h5 --dist.timeout_s=300");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_LT(r.seconds, 60) << r.output;
  // rank 0's own line names the failed rank and the clip
  bool found = false;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);)
    found |= line.find("[rank 0] error: rank 1 failed: ") != std::string::npos && line.find(clip_id) != std::string::npos;
  EXPECT_TRUE(found) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/eval/eval.json"));
}

// Rank 0's checkpoint write takes 8 s (the test hook), far past dist.timeout_s = 3: the peers wait for it
// under dist.save_timeout_s. Then a save limit shorter than the write ends the job with exit 4, naming it.
TEST(TrainFailures, SlowSaveIsBoundedByItsOwnLimit) {
  std::string dir = test::fresh_dir("train_fail_slow_save");
  const std::string cmd = mpirun(2) + "-x PROSPECT_TEST_SAVE_DELAY_S=8 " + train_bin();
  const std::string args = " --train.max_steps=2 --train.save_every=0 --dist.timeout_s=3";
  Outcome ok = run(cmd + test::tiny_train_args(dir + "/ok") + args);
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_TRUE(fs::exists(dir + "/ok/checkpoints/step-000002/model.safetensors")) << ok.output;

  Outcome short_limit = run(cmd + test::tiny_train_args(dir + "/short") + args + " --dist.save_timeout_s=1");
  EXPECT_EQ(short_limit.code, 4) << short_limit.output;
  EXPECT_NE(short_limit.output.find("timed out after 1.0 s (dist.save_timeout_s)"), std::string::npos)
      << short_limit.output;
}

// A run of 2 processes (2 virtual ranks by default) saved at step 4 goes on with 1 process: the same
// data order, so step 8 equals the uninterrupted run's up to the order of the floating-point sums
// (SPEC §9; bitwise only with the same process count, as summing 2 ranks' gradients by MPI and
// accumulating them in one process round differently). Asking for another data order is refused
// unless train.inexact_resume; so is a process count that cannot share the saved virtual ranks.
TEST(TrainFailures, ResumeWithAnotherProcessCountKeepsTheDataOrder) {
  std::string dir = test::fresh_dir("train_fail_resume_world");
  const std::string args = " --train.max_steps=8 --train.save_every=4 --train.grad_accum=2";
  ASSERT_EQ(run(mpirun(2) + train_bin() + test::tiny_train_args(dir + "/two") + args).code, 0);
  const std::string step4 = dir + "/two/checkpoints/step-000004";

  Outcome one = run(train_bin() + test::tiny_train_args(dir + "/one") + args + " --resume " + step4);
  ASSERT_EQ(one.code, 0) << one.output;
  EXPECT_NE(one.output.find("resuming a run of 2 processes with 1: the same 2 virtual ranks"), std::string::npos)
      << one.output;
  for (const char* f : {"model.safetensors", "prospect.safetensors"})
    EXPECT_LE(worst_relative_difference(dir + "/two/checkpoints/step-000008/" + f,
                                        dir + "/one/checkpoints/step-000008/" + f),
              1e-6)
        << f;

  Outcome other = run(train_bin() + test::tiny_train_args(dir + "/other") + args + " --resume " + step4 +
                  " --data.virtual_ranks=1");
  EXPECT_EQ(other.code, 2) << other.output;
  EXPECT_NE(other.output.find("cannot resume"), std::string::npos) << other.output;
  EXPECT_NE(other.output.find("train.inexact_resume"), std::string::npos) << other.output;
  EXPECT_FALSE(fs::exists(dir + "/other/checkpoints"));

  Outcome asked = run(train_bin() + test::tiny_train_args(dir + "/asked") + args + " --resume " + step4 +
                  " --data.virtual_ranks=1 --train.inexact_resume=true");
  EXPECT_EQ(asked.code, 0) << asked.output;
  EXPECT_NE(asked.output.find("the data order changes"), std::string::npos) << asked.output;
  // another data order: step 8 is not the uninterrupted run's
  EXPECT_GT(worst_relative_difference(dir + "/two/checkpoints/step-000008/model.safetensors",
                                      dir + "/asked/checkpoints/step-000008/model.safetensors"),
            1e-4);

  // 3 virtual ranks saved by one process; 2 processes cannot share them
  ASSERT_EQ(run(train_bin() + test::tiny_train_args(dir + "/three") + args + " --data.virtual_ranks=3").code, 0);
  Outcome uneven = run(mpirun(2) + train_bin() + test::tiny_train_args(dir + "/uneven") + args + " --resume " + dir +
                   "/three/checkpoints/step-000004");
  EXPECT_EQ(uneven.code, 2) << uneven.output;
  EXPECT_NE(uneven.output.find("cannot resume"), std::string::npos) << uneven.output;
}

// The same refusal under mpirun: every rank ends with exit 2 (not a timeout), the key named.
TEST(TrainFailures, NcclWithoutAGpuEndsEveryRankWithExit2) {
  std::string dir = test::fresh_dir("train_failures_nccl");
  auto r = run(mpirun(2) + train_bin() + test::tiny_train_args(dir + "/run") +
               " --train.max_steps=1 --model.device=cpu --dist.backend=nccl");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("dist.backend=nccl"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, 60) << "ended by a timeout, not at once";
}
