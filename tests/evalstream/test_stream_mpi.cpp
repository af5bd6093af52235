// eval.json and predictions.jsonl are byte-identical for 1, 2 and 3 ranks (SPEC §8), with every context
// strategy, on a context short enough that each of them acts, and on predictions that are not trivial:
// at thresholds where the random tiny model speaks and updates the state, every run has assistant
// turns and DST updates (equal empty outputs would prove nothing).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <regex>
#include <sstream>

#include "tiny_eval.h"

using namespace prospect;

namespace {

// Predicted events per role over every clip of predictions.jsonl.
std::map<std::string, int> predicted_roles(const std::string& text) {
  std::map<std::string, int> n;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json clip = nlohmann::json::parse(line);
    for (const auto& e : clip.at("predicted")) ++n[e.at("role").get<std::string>()];
  }
  return n;
}

}  // namespace

TEST(StreamMPI, IdenticalForOneTwoThreeRanks) {
  const auto& s = test::tiny_eval("evalstream_mpi");
  for (const char* strategy : {"dst_refresh", "drop_all", "drop_middle", "summarize_and_drop"}) {
    SCOPED_TRACE(strategy);
    std::string first_eval, first_pred;
    for (int n : {1, 2, 3}) {
      std::string out = s.dir + "/out-" + strategy + "-" + std::to_string(n);
      auto r = test::run_program(std::string(PROSPECT_MPIRUN_CMD) + " -n " + std::to_string(n) + " " +
                                 test::binary_path("prospect_eval") + " --config " + s.ini + " --checkpoint " + s.model +
                                 " --split test --out " + out + " --eval.context_strategy=" + strategy +
                                 " --eval.speak_threshold=0.5 --eval.dst_threshold=0.5"
                                 " --data.max_seq_len=160 --eval.reserved_tokens=16 --eval.keep_last_tokens=32"
                                 " --eval.summary_max_tokens=8");
      ASSERT_EQ(r.code, 0) << "-n " << n << "\n" << r.output;
      std::string ev = test::read_text(out + "/eval.json"), pr = test::read_text(out + "/predictions.jsonl");
      ASSERT_FALSE(ev.empty());
      auto roles = predicted_roles(pr);
      EXPECT_GT(roles["assistant"], 0) << "-n " << n << ": no assistant turn predicted";
      EXPECT_GT(roles["DST_UPDATE"], 0) << "-n " << n << ": no DST update predicted";
      auto j = nlohmann::json::parse(ev);
      EXPECT_GE(j["counts"]["clips"].get<int64_t>(), n) << "every rank has clips";
      if (n == 1) {
        // the strategy acted (one rank: one summary line)
        std::smatch m;
        ASSERT_TRUE(std::regex_search(r.output, m, std::regex(R"((\d+) context re-encodes \()" + std::string(strategy) + R"(\))")))
            << r.output;
        EXPECT_GT(std::stoll(m[1]), 0) << "the strategy never acted";
        first_eval = ev;
        first_pred = pr;
      } else {
        EXPECT_EQ(ev, first_eval) << "eval.json differs for -n " << n;
        EXPECT_EQ(pr, first_pred) << "predictions.jsonl differs for -n " << n;
      }
    }
  }
}
