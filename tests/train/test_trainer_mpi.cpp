// SPEC §2.3: `-n 2` and `-n 1 --data.virtual_ranks=2` train on the same batches, so they end with the
// same weights (up to the order of the floating-point sums: relative difference <= 1e-6, SPEC §9).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "prospect/model/safetensors.h"
#include "test_util.h"
#include "tiny_store.h"

using namespace prospect;

namespace {

int sh(const std::string& cmd) { return test::run_command(cmd + " > /dev/null 2>&1").code; }

}  // namespace

TEST(TrainerMpi, TwoRanksEqualOneRankWithTwoVirtualRanks) {
  std::string d = test::synth_data("test_train_data", 16, 16);  // the dataset of test_trainer
  std::string args = " --data.train=" + d + "/train.h5 --data.val=" + d + "/val.h5 --data.tokenizer=" + d +
                     "/tokenizer.model --data.max_seq_len=256 --model.hidden_size=32 --model.intermediate_size=64"
                     " --model.num_hidden_layers=2 --model.num_attention_heads=2 --model.num_key_value_heads=1"
                     " --train.micro_batch_size=2 --train.grad_accum=2 --train.threads=1 --train.max_steps=8"
                     " --train.val_every=0 --data.virtual_ranks=2";
  std::string two = test::fresh_dir("train_mpi_two"), one = test::fresh_dir("train_mpi_one");
  ASSERT_EQ(sh(std::string(PROSPECT_MPIRUN) + " -n 2 " + test::binary_path("prospect_train") + " --run-dir " + two + args), 0);
  ASSERT_EQ(sh(test::binary_path("prospect_train") + " --run-dir " + one + args), 0);
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
