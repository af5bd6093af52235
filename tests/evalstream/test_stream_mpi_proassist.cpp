// eval.match = proassist (SPEC §8): eval.json, its `proassist` section included, and predictions.jsonl are
// byte-identical for 1, 2 and 3 ranks. The sentence encoder is the tiny random MPNet of the oracle
// fixture (tests/model), METEOR the jar pycocoevalcap ships in the oracle environment: no network.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "prospect/eval/meteor.h"
#include "prospect/eval/proassist_eval.h"
#include "prospect/eval/report.h"
#include "prospect/eval/sentence_embedder.h"
#include "tiny_eval.h"

using namespace prospect;

namespace {

std::string tiny_mpnet() { return test::binary_path("fixtures/tiny_mpnet"); }

// pycocoevalcap's meteor-1.5.jar, found through the oracle environment's Python.
std::string meteor_jar() {
  auto r = test::run_command(std::string(PROSPECT_PYTHON) +
                             " -c 'import os, pycocoevalcap.meteor.meteor as m; "
                             "print(os.path.join(os.path.dirname(m.__file__), \"meteor-1.5.jar\"))'");
  std::string path = r.output.substr(0, r.output.find('\n'));
  return r.code == 0 ? path : "";
}

std::string eval_cmd(const test::TinyEval& s, int ranks, const std::string& out, const std::string& extra) {
  return std::string(PROSPECT_MPIRUN_CMD) + " -n " + std::to_string(ranks) + " " + test::binary_path("prospect_eval") +
         " --config " + s.ini + " --checkpoint " + s.model + " --split test --out " + out +
         " --eval.match=proassist --eval.sentence_encoder=" + tiny_mpnet() + " " + extra;
}

}  // namespace

TEST(StreamMPIProAssist, IdenticalForOneTwoThreeRanks) {
  const auto& s = test::tiny_eval("evalstream_mpi_proassist");
  const std::string jar = meteor_jar();
  ASSERT_FALSE(jar.empty()) << "pycocoevalcap's meteor-1.5.jar not found through " << PROSPECT_PYTHON;
  std::string first_eval, first_pred;
  for (int n : {1, 2, 3}) {
    std::string out = s.dir + "/out" + std::to_string(n);
    auto r = test::run_program(eval_cmd(s, n, out, "--eval.meteor_jar=" + jar));
    ASSERT_EQ(r.code, 0) << "-n " << n << "\n" << r.output;
    std::string ev = test::read_text(out + "/eval.json"), pr = test::read_text(out + "/predictions.jsonl");
    ASSERT_FALSE(ev.empty());
    if (n == 1) {
      first_eval = ev;
      first_pred = pr;
      auto j = nlohmann::json::parse(ev);
      ASSERT_TRUE(j.contains("proassist")) << ev;
      const auto& p = j["proassist"];
      for (const char* k : {"precision", "recall", "F1", "jaccard_index", "missing_rate", "redundant_rate",
                            "semantic_score", "time_diff", "Bleu_1", "Bleu_4", "CIDEr", "METEOR", "Bleu_4_w",
                            "CIDEr_w", "METEOR_w", "num_matched", "num_mismatched", "num_missed", "num_redundant"})
        EXPECT_TRUE(p.contains(k)) << k << " in " << p.dump();
      // The run compares something: the model spoke, and some of it was matched and scored.
      EXPECT_GT(p["num_matched"].get<int64_t>(), 0) << p.dump();
      EXPECT_GT(p["num_matched"].get<int64_t>() + p["num_mismatched"].get<int64_t>() + p["num_redundant"].get<int64_t>(),
                p["num_matched"].get<int64_t>()) << p.dump();
      EXPECT_TRUE(p["METEOR"].is_number()) << p.dump();
      EXPECT_EQ(j["config"]["eval"]["match"], "proassist");
      // Every number again from predictions.jsonl: the window counts from the records, the proassist
      // pieces from the records and the same encoder (at the run's one thread), METEOR from the jar.
      at::set_num_threads(1);
      eval::SentenceEmbedder emb(tiny_mpnet());
      eval::MeteorScorer meteor(jar);
      std::vector<eval::ClipResult> again;
      for (const auto& rec : eval::read_predictions_jsonl(out + "/predictions.jsonl")) {
        again.push_back(eval::evaluate_clip(rec, s.cfg.eval.match_before_s, s.cfg.eval.match_after_s));
        again.back().proassist = std::make_shared<const eval::ProAssistClip>(
            eval::proassist_evaluate_clip(rec, rec.dataset, emb, {}));
      }
      EXPECT_EQ(eval::eval_json_text(eval::combine_results(again, true, &meteor).metrics, j["config"]), ev);
    } else {
      EXPECT_EQ(ev, first_eval) << "eval.json differs for -n " << n;
      EXPECT_EQ(pr, first_pred) << "predictions.jsonl differs for -n " << n;
    }
  }
}

// A jar that is not METEOR: exit 2 naming the key, from rank 0, without leaving the other ranks waiting.
TEST(StreamMPIProAssist, JarThatIsNotMeteorIsAUsageError) {
  const auto& s = test::tiny_eval("evalstream_mpi_proassist");
  auto r = test::run_program(eval_cmd(s, 2, s.dir + "/out_badjar", "--eval.meteor_jar=" + s.ini));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("eval.meteor_jar"), std::string::npos) << r.output;
}
