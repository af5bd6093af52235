// ProAssist's evaluation of one record end to end (slots, cosines from a sentence-transformers folder
// in one batch, matching, counts) on a tiny random BERT folder, and the text scores' filter.
#include <gtest/gtest.h>

#include <filesystem>

#include "model/tiny_sentence_encoder.h"
#include "prospect/eval/proassist_eval.h"
#include "prospect/eval/sentence_embedder.h"

using namespace prospect::eval;

namespace {

std::filesystem::path tiny_folder() {
  auto d = std::filesystem::path(PROSPECT_BINARY_DIR) / "test_tmp" / "eval" / "proassist_tiny_bert";
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  prospect::test::write_tiny_bert(d);
  return d;
}

}  // namespace

TEST(ProAssistEval, OneRecordEndToEnd) {
  SentenceEmbedder emb(tiny_folder().string());
  ClipRecord rec;
  rec.clip_id = "c1";
  rec.fps = 2;
  rec.first_frame = 100, rec.last_frame = 160;
  // the same text at the reference's frame: cosine 1, cost 0 (the edge ProAssist's code drops)
  rec.reference = {assistant_event(110, "open the lid"), assistant_event(140, "tighten the screw")};
  rec.predicted = {assistant_event(110, "open the lid"), assistant_event(150, "tighten the screw")};
  for (size_t k = 0; k < rec.predicted.size(); ++k) rec.predicted[k].index = static_cast<int>(k);
  // "other" dataset: (-2.5, 2.5) s = (-5, 5) frames: 150 cannot reach 140 (offset -10)
  ProAssistClip c = proassist_evaluate_clip(rec, "synthetic", emb, {});
  EXPECT_EQ(c.matched, 1);
  EXPECT_EQ(c.redundant, 1);
  EXPECT_EQ(c.missed, 1);
  ASSERT_EQ(c.scores.size(), 1u);
  EXPECT_NEAR(c.scores[0], 1.0, 1e-6);
  EXPECT_EQ(c.time_diffs, (std::vector<double>{0.0}));
  // a window override that reaches back 10 frames: the second turn (5 s late) now takes the second
  // reference at cost 0.3 * (10 / 10)^1.5 = 0.3 < 1 (its own silent frame)
  ProAssistClip wide = proassist_evaluate_clip(rec, "synthetic", emb, parse_match_windows("*=-5:5"));
  EXPECT_EQ(wide.matched, 2);
  EXPECT_EQ(wide.redundant, 0);
  EXPECT_EQ(wide.missed, 0);
  EXPECT_EQ(wide.time_diffs, (std::vector<double>{0.0, 5.0}));

  // cosines: symmetric, 1 on equal texts, the same whatever else the clip holds
  auto cos = emb.clip_cosines({"open the lid", "red box"}, {"open the lid", "red box", "close now"});
  EXPECT_NEAR(cos[0], 1.0, 1e-6);
  EXPECT_NEAR(cos[4], 1.0, 1e-6);
  EXPECT_NEAR(cos[1], cos[3], 1e-6);
}

TEST(ProAssistEval, TextScoresLeaveOutEmptyReferences) {
  // "..." tokenises to nothing: the pair is left out, the other scores as a perfect match.
  ProAssistText t = proassist_text_scores({{"...", "anything at all"}, {"open the lid now", "open the lid now"}}, nullptr);
  ASSERT_TRUE(t.bleu[3].has_value());
  EXPECT_NEAR(*t.bleu[0], 1.0, 1e-6);
  EXPECT_NEAR(*t.bleu[3], 1.0, 1e-6);
  EXPECT_FALSE(t.meteor.has_value());
  ProAssistText none = proassist_text_scores({{"-- ;", "x"}}, nullptr);  // brackets would stay: -lrb-
  EXPECT_FALSE(none.bleu[0].has_value() || none.cider.has_value());
}
