// eval.json and predictions.jsonl are byte-identical for 1, 2 and 3 ranks (SPEC §8), with every context
// strategy, on a context short enough that each of them acts.
#include <gtest/gtest.h>

#include <regex>

#include "tiny_eval.h"

using namespace prospect;

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
                                 " --data.max_seq_len=160 --eval.reserved_tokens=16 --eval.keep_last_tokens=32"
                                 " --eval.summary_max_tokens=8");
      ASSERT_EQ(r.code, 0) << "-n " << n << "\n" << r.output;
      std::string ev = test::read_text(out + "/eval.json"), pr = test::read_text(out + "/predictions.jsonl");
      ASSERT_FALSE(ev.empty());
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
