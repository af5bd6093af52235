// SPEC §2.3: `-n 2` and `-n 1 --data.virtual_ranks=2` train on the same batches, so they end with the
// same weights (up to the order of the floating-point sums: relative difference <= 1e-6, SPEC §9).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>

#include "prospect/data/synth.h"
#include "prospect/model/safetensors.h"

namespace fs = std::filesystem;
using namespace prospect;

namespace {

const std::string kBin = PROSPECT_BINARY_DIR;

int sh(const std::string& cmd) {
  int st = std::system((cmd + " > /dev/null 2>&1").c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace

TEST(TrainerMpi, TwoRanksEqualOneRankWithTwoVirtualRanks) {
  std::string d = kBin + "/test_train_mpi_data";
  if (!fs::exists(d + "/tokenizer.model")) {
    fs::remove_all(d);
    SynthOptions o;
    o.out = d;
    o.videos = 16;
    o.dim = 16;
    synth_dataset(o);
  }
  std::string args = " --data.train=" + d + "/train.h5 --data.val=" + d + "/val.h5 --data.tokenizer=" + d +
                     "/tokenizer.model --data.max_seq_len=256 --model.hidden_size=32 --model.intermediate_size=64"
                     " --model.num_hidden_layers=2 --model.num_attention_heads=2 --model.num_key_value_heads=1"
                     " --train.micro_batch_size=2 --train.grad_accum=2 --train.threads=1 --train.max_steps=8"
                     " --train.val_every=0 --data.virtual_ranks=2";
  std::string two = kBin + "/test_train_runs/mpi_two", one = kBin + "/test_train_runs/mpi_one";
  fs::remove_all(two);
  fs::remove_all(one);
  ASSERT_EQ(sh(std::string(PROSPECT_MPIRUN) + " -n 2 " + kBin + "/prospect_train --run-dir " + two + args), 0);
  ASSERT_EQ(sh(kBin + "/prospect_train --run-dir " + one + args), 0);
  for (const char* f : {"model.safetensors", "prospect.safetensors"}) {
    TensorMap a = load_safetensors(two + "/checkpoints/step-000008/" + f);
    TensorMap b = load_safetensors(one + "/checkpoints/step-000008/" + f);
    ASSERT_EQ(a.size(), b.size());
    double worst = 0;
    for (auto& [k, t] : b)
      worst = std::max(worst, (a[k] - t).abs().max().item<double>() / std::max(t.abs().max().item<double>(), 1e-8));
    EXPECT_LE(worst, 1e-6) << f;
  }
}
