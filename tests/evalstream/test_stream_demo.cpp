// The trained demo model (fixture demo_model) streamed over the demo test split with 1, 2 and 3
// ranks: eval.json and predictions.jsonl byte-identical, every number recomputed from
// predictions.jsonl, and a model that learned the task speaks and updates the state when it should.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "prospect/eval/report.h"

using namespace prospect;

TEST(StreamDemo, IdenticalForOneTwoThreeRanksAndRecomputable) {
  std::string b = PROSPECT_BINARY_DIR, demo = b + "/fixtures/demo", dir = b + "/evalstream_demo";
  std::string ckpt = b + "/fixtures/run/checkpoints/latest";
  ASSERT_TRUE(std::filesystem::exists(ckpt)) << ckpt;
  std::filesystem::remove_all(dir);
  std::string first_eval, first_pred;
  for (int n : {1, 2, 3}) {
    std::string out = dir + "/out" + std::to_string(n);
    auto r = test::run_program(std::string(PROSPECT_MPIRUN_CMD) + " -n " + std::to_string(n) + " " + test::binary_path("prospect_eval") +
                      " --config " + PROSPECT_SOURCE_DIR + "/configs/demo.ini --checkpoint " + ckpt +
                      " --split test --out " + out + " --data.test=" + demo + "/test.h5 --data.tokenizer=" + demo +
                      "/tokenizer.model --train.threads=1");
    ASSERT_EQ(r.code, 0) << "-n " << n << "\n" << r.output;
    std::string ev = test::read_text(out + "/eval.json"), pr = test::read_text(out + "/predictions.jsonl");
    if (n == 1) {
      first_eval = ev;
      first_pred = pr;
      std::cout << r.output.substr(r.output.find("decision")) << "\n";
    } else {
      EXPECT_EQ(ev, first_eval) << "eval.json differs for -n " << n;
      EXPECT_EQ(pr, first_pred) << "predictions.jsonl differs for -n " << n;
    }
  }
  auto j = nlohmann::json::parse(first_eval);
  auto recs = prospect::eval::read_predictions_jsonl(dir + "/out1/predictions.jsonl");
  auto again = prospect::eval::evaluate_records(recs, 2.0, 4.0);
  EXPECT_EQ(prospect::eval::eval_json_text(again.metrics, j["config"]), first_eval);
  ASSERT_TRUE(j["speaking_event"]["f1"].is_number()) << first_eval;
  ASSERT_TRUE(j["dst_update_event"]["f1"].is_number()) << first_eval;
  EXPECT_GT(j["speaking_event"]["f1"].get<double>(), 0.5) << first_eval;
  EXPECT_GT(j["dst_update_event"]["f1"].get<double>(), 0.5) << first_eval;
  EXPECT_GT(j["dst"]["valid_update_ratio"].get<double>(), 0.8) << first_eval;
}
