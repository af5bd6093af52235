// eval.json and predictions.jsonl are byte-identical for 1, 2 and 3 ranks (SPEC §8).
#include <gtest/gtest.h>

#include "tiny_eval.h"

using namespace prospect;

TEST(StreamMPI, IdenticalForOneTwoThreeRanks) {
  const auto& s = test::tiny_eval("evalstream_mpi");
  std::string first_eval, first_pred;
  for (int n : {1, 2, 3}) {
    std::string out = s.dir + "/out" + std::to_string(n);
    auto r = test::run_program(std::string(PROSPECT_MPIRUN_CMD) + " -n " + std::to_string(n) + " " + test::binary_path("prospect_eval") +
                      " --config " + s.ini + " --checkpoint " + s.model + " --split test --out " + out);
    ASSERT_EQ(r.code, 0) << "-n " << n << "\n" << r.output;
    std::string ev = test::read_text(out + "/eval.json"), pr = test::read_text(out + "/predictions.jsonl");
    ASSERT_FALSE(ev.empty());
    if (n == 1) {
      first_eval = ev;
      first_pred = pr;
    } else {
      EXPECT_EQ(ev, first_eval) << "eval.json differs for -n " << n;
      EXPECT_EQ(pr, first_pred) << "predictions.jsonl differs for -n " << n;
    }
  }
}
