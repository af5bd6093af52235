// The demo model (fixture demo_model: configs/demo.ini trained with 2 ranks and train.pack = true) has
// learned: its last teacher-forced validation in metrics.jsonl. And packing did its job: the steps
// computed under half the padding of the unpacked demo (9.4% of the positions over an epoch,
// docs/training.md).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

TEST(DemoModel, LearnedTheSyntheticTask) {
  std::ifstream in(std::string(PROSPECT_BINARY_DIR) + "/fixtures/run/metrics.jsonl");
  ASSERT_TRUE(in.good());
  nlohmann::json last;
  std::string line;
  double tokens = 0, padded = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.value("split", "") == "val") {
      last = j;
    } else {
      tokens += j["tokens"].get<double>();
      padded += j["tokens_padded"].get<double>();
    }
  }
  ASSERT_GT(padded, 0);
  EXPECT_LT((padded - tokens) / padded, 0.094 / 2);
  ASSERT_FALSE(last.is_null()) << "no validation record";
  ASSERT_FALSE(last["speaking_f1"].is_null());
  EXPECT_GE(last["speaking_f1"].get<double>(), 0.90) << last.dump();
  EXPECT_GE(last["dst_update_f1"].get<double>(), 0.90) << last.dump();
  EXPECT_LT(last["ppl_assistant"].get<double>(), 1.5) << last.dump();
}
