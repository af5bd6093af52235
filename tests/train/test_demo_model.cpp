// The demo model (fixture demo_model: configs/demo.ini trained with 2 ranks) has learned: its last
// teacher-forced validation in metrics.jsonl.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

TEST(DemoModel, LearnedTheSyntheticTask) {
  std::ifstream in(std::string(PROSPECT_BINARY_DIR) + "/fixtures/run/metrics.jsonl");
  ASSERT_TRUE(in.good());
  nlohmann::json last;
  std::string line;
  while (std::getline(in, line))
    if (auto j = nlohmann::json::parse(line); j.value("split", "") == "val") last = j;
  ASSERT_FALSE(last.is_null()) << "no validation record";
  ASSERT_FALSE(last["speaking_f1"].is_null());
  EXPECT_GE(last["speaking_f1"].get<double>(), 0.90) << last.dump();
  EXPECT_GE(last["dst_update_f1"].get<double>(), 0.90) << last.dump();
  EXPECT_LT(last["ppl_assistant"].get<double>(), 1.5) << last.dump();
}
