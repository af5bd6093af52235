// The min-cost full matching and ProAssist's rules on hand-made clips (every expected number worked
// out by hand from the rules in proassist_match.h). The random-clip comparison with scipy is the
// oracle test tests/eval/oracle_proassist_match.py.
#include <gtest/gtest.h>

#include <cmath>

#include "prospect/core/error.h"
#include "prospect/eval/assignment.h"
#include "prospect/eval/proassist_match.h"

using namespace prospect::eval;

namespace {

AssignmentEdge edge(int r, int c, int64_t cost, int64_t second = 0) { return {r, c, {cost, second}}; }

ProAssistParams params(int64_t left, int64_t right) {
  ProAssistParams p;
  p.window = {left, right};
  return p;
}

std::vector<double> cosines(size_t n, size_t m, double v) { return std::vector<double>(n * m, v); }

}  // namespace

TEST(Assignment, LeastTotalNotGreedy) {
  // Greedy would give row 0 its cheapest column 0 (1) and row 1 column 1 (10): 11. Optimum: 2 + 2.
  auto col = min_cost_full_matching(2, 2, {edge(0, 0, 1), edge(0, 1, 2), edge(1, 0, 2), edge(1, 1, 10)});
  EXPECT_EQ(col, (std::vector<int>{1, 0}));
}

TEST(Assignment, ZeroAndNegativeCostsAreEdges) {
  auto col = min_cost_full_matching(2, 3, {edge(0, 0, 0), edge(0, 1, 5), edge(1, 0, -3), edge(1, 2, 1)});
  EXPECT_EQ(col, (std::vector<int>{0, 2}));  // 0 + 1 = 1 beats 5 - 3 = 2
  col = min_cost_full_matching(2, 3, {edge(0, 0, 0), edge(0, 1, 3), edge(1, 0, -3), edge(1, 2, 1)});
  EXPECT_EQ(col, (std::vector<int>{1, 0}));  // 3 - 3 = 0 beats 0 + 1
}

TEST(Assignment, SecondaryBreaksTiesOnly) {
  // Both full matchings cost 4; the secondary picks the second. A cheaper primary always wins.
  auto col = min_cost_full_matching(2, 2, {edge(0, 0, 2, 0), edge(0, 1, 2, -5), edge(1, 0, 2, -5), edge(1, 1, 2, 0)});
  EXPECT_EQ(col, (std::vector<int>{1, 0}));
  col = min_cost_full_matching(2, 2, {edge(0, 0, 2, 0), edge(0, 1, 2, -5), edge(1, 0, 3, -5), edge(1, 1, 2, 0)});
  EXPECT_EQ(col, (std::vector<int>{0, 1}));
}

TEST(Assignment, NoFullMatchingIsAnError) {
  EXPECT_THROW(min_cost_full_matching(2, 2, {edge(0, 0, 1), edge(1, 0, 1)}), prospect::Error);
  EXPECT_THROW(min_cost_full_matching(2, 2, {edge(0, 0, 1)}), prospect::Error);
  EXPECT_THROW(min_cost_full_matching(1, 1, {edge(0, 1, 1)}), prospect::Error);
  EXPECT_TRUE(min_cost_full_matching(0, 3, {}).empty());
}

TEST(Assignment, Components) {
  // Two independent groups; the second needs an augmenting path through the first row it meets.
  auto col = min_cost_full_matching(4, 5, {edge(0, 0, 1), edge(1, 1, 1), edge(2, 3, 1), edge(2, 4, 3), edge(3, 3, 1)});
  EXPECT_EQ(col, (std::vector<int>{0, 1, 4, 3}));
}

TEST(ProAssistWindows, DatasetTable) {
  auto w = proassist_dataset_window("ego4d/dialog_val");
  EXPECT_EQ(w.left_s, -4.0);
  EXPECT_EQ(w.right_s, 8.5);
  EXPECT_EQ(proassist_dataset_window("assembly101").right_s, 4.0);
  EXPECT_EQ(proassist_dataset_window("wtag/dialog").left_s, -3.0);
  EXPECT_EQ(proassist_dataset_window("ego4d/narration_val").right_s, 2.5);  // narration comes first
  EXPECT_EQ(proassist_dataset_window("synthetic").left_s, -2.5);
}

TEST(ProAssistWindows, TruncatesTowardZero) {
  auto w = offset_window({-1.5, 2.5}, 2.0);
  EXPECT_EQ(w.left, -3);
  EXPECT_EQ(w.right, 5);
  w = offset_window({-1.5, 2.9}, 0.5);  // int(-0.75) = 0, int(1.45) = 1
  EXPECT_EQ(w.left, 0);
  EXPECT_EQ(w.right, 1);
  w = offset_window({0.0, 0.29}, 100);  // 28.999999999999996: Python's int() gives 28
  EXPECT_EQ(w.right, 28);
}

TEST(ProAssistWindows, Overrides) {
  auto o = parse_match_windows("ego4d=-1:2, *=-0.5:0.5");
  ASSERT_EQ(o.size(), 2u);
  EXPECT_EQ(match_window_for("ego4d/x", o).right_s, 2.0);
  EXPECT_EQ(match_window_for("wtag", o).left_s, -0.5);
  EXPECT_EQ(match_window_for("wtag", {}).left_s, -3.0);
  EXPECT_TRUE(parse_match_windows("").empty());
  EXPECT_THROW(parse_match_windows("ego4d=1:2"), prospect::UsageError);    // left above 0
  EXPECT_THROW(parse_match_windows("ego4d=-1:-2"), prospect::UsageError);  // right below 0
  EXPECT_THROW(parse_match_windows("ego4d=-1"), prospect::UsageError);
  EXPECT_THROW(parse_match_windows("=-1:2"), prospect::UsageError);
  EXPECT_THROW(parse_match_windows("a=x:2"), prospect::UsageError);
  EXPECT_THROW(parse_match_windows("a=-1:2,,b=-1:2"), prospect::UsageError);
}

TEST(ProAssistSlots, JoinedByFrame) {
  std::vector<Event> ev = {assistant_event(5, "b"), assistant_event(3, "a"), assistant_event(5, "c"),
                           assistant_event(7, ""), dst_event(3, "S1", "start")};
  for (size_t k = 0; k < ev.size(); ++k) ev[k].index = static_cast<int>(k);
  auto s = talking_slots(ev);
  ASSERT_EQ(s.size(), 2u);  // frame 7 says "" (silence); the DST event is not a turn
  EXPECT_EQ(s[0].frame, 3);
  EXPECT_EQ(s[0].text, "a");
  EXPECT_EQ(s[1].frame, 5);
  EXPECT_EQ(s[1].text, "b c");
}

TEST(ProAssistMatch, IdenticalTurnAtItsFrameIsMatched) {
  // The defect fixed: cost 0 exactly (|cos| = 1, no distance). ProAssist's sparse matrix drops it and
  // the turn ends redundant (its silent neighbour) and the reference missed.
  std::vector<FrameText> gen = {{10, "open the lid"}}, ref = {{10, "open the lid"}};
  auto m = match_proassist(0, 20, gen, ref, {1.0}, params(-4, 8));
  ASSERT_EQ(m.pairs.size(), 1u);
  EXPECT_EQ(m.pairs[0].ref, 0);
  EXPECT_EQ(m.pairs[0].cost, 0.0);
  EXPECT_TRUE(m.missed.empty());
  auto c = proassist_clip(m, gen, ref, 2.0, 0.5);
  EXPECT_EQ(c.matched, 1);
  EXPECT_EQ(c.redundant, 0);
  EXPECT_EQ(c.missed, 0);
}

TEST(ProAssistMatch, CostsAsTheRulesSay) {
  // Window (-4, 8): R = 8. A generated turn at 10, references at 14 (cos 0.9) and 19 (outside: 9 > 8).
  std::vector<FrameText> gen = {{10, "g"}}, ref = {{14, "r1"}, {19, "r2"}};
  auto p = params(-4, 8);
  auto m = match_proassist(0, 30, gen, ref, {0.9, -0.99}, p);
  ASSERT_EQ(m.pairs.size(), 1u);
  // To 14: 0.1 + 0.3 * (4/8)^1.5 = 0.206; to its own silent frame: 1 + 0 = 1.
  EXPECT_EQ(m.pairs[0].ref, 0);
  EXPECT_NEAR(m.pairs[0].cost, 0.1 + 0.3 * std::pow(0.5, 1.5), 1e-15);
  EXPECT_NEAR(m.pairs[0].score, 0.9, 1e-15);
  EXPECT_EQ(m.missed, (std::vector<int>{1}));
  // |cos| counts: -0.99 at 18 would score 0.99.
  EXPECT_DOUBLE_EQ(proassist_pair_cost(1.0 - 0.99, 8, p), 0.01 + 0.3);
}

TEST(ProAssistMatch, LowScoreIsMismatchedAndSilentIsRedundant) {
  // gen at 2 against ref at 2 with cos 0.3: cost 0.7 < 1 (silent), so paired but mismatched (0.3 <= 0.5).
  // gen at 20 has no reference in reach: redundant.
  std::vector<FrameText> gen = {{2, "a"}, {20, "b"}}, ref = {{2, "x"}};
  auto m = match_proassist(0, 30, gen, ref, {0.3, 0.0}, params(-2, 2));
  auto c = proassist_clip(m, gen, ref, 1.0, 0.5);
  EXPECT_EQ(c.matched, 0);
  EXPECT_EQ(c.mismatched, 1);
  EXPECT_EQ(c.redundant, 1);
  EXPECT_EQ(c.missed, 0);
  ASSERT_EQ(c.scores.size(), 1u);
  EXPECT_NEAR(c.scores[0], 0.3, 1e-15);
}

TEST(ProAssistMatch, TieRuleEarlierTurnTakesTheReference) {
  // Two identical turns 2 frames before and after the reference: equal costs either way. The tie
  // rule keeps time order: the earlier turn takes the reference, the later one its own frame.
  std::vector<FrameText> gen = {{8, "same"}, {12, "same"}}, ref = {{10, "same text"}};
  auto m = match_proassist(0, 30, gen, ref, {0.8, 0.8}, params(-4, 4));
  ASSERT_EQ(m.pairs.size(), 2u);
  EXPECT_EQ(m.pairs[0].ref, 0);
  EXPECT_EQ(m.pairs[0].slot, 10);
  EXPECT_EQ(m.pairs[1].ref, -1);
  EXPECT_EQ(m.pairs[1].slot, 12);
  // Mirrored in time (the later turn closer by a hair): cost decides, not the tie rule.
  m = match_proassist(0, 30, {{8, "same"}, {11, "same"}}, ref, {0.8, 0.8}, params(-4, 4));
  EXPECT_EQ(m.pairs[0].ref, -1);
  EXPECT_EQ(m.pairs[1].ref, 0);
}

TEST(ProAssistMatch, RejectsBadInput) {
  EXPECT_THROW(match_proassist(0, 5, {{6, "a"}}, {}, {}, params(-1, 1)), prospect::Error);  // outside the clip
  EXPECT_THROW(match_proassist(0, 5, {{1, "a"}}, {{1, "b"}}, {}, params(-1, 1)), prospect::Error);  // no cosine
  EXPECT_THROW(match_proassist(0, 5, {{1, "a"}}, {}, {}, params(1, 2)), prospect::Error);  // window misses 0
  EXPECT_THROW(match_proassist(0, 5, {{3, "a"}, {2, "b"}}, {}, {}, params(-1, 1)), prospect::Error);  // order
}

TEST(ProAssistTotals, NumbersAsDefined) {
  ProAssistClip a, b;
  a.matched = 3, a.mismatched = 1, a.missed = 2, a.redundant = 1;
  a.scores = {0.9, 0.7, 0.6, 0.5};  // 0.5 is a mismatch (not > 0.5) but enters the mean (>= 0.5)
  a.time_diffs = {0.5, 1.0, 0.0};
  a.text_pairs = {{"r1", "h1"}, {"r2", "h2"}, {"r3", "h3"}};
  b.matched = 1, b.missed = 1, b.redundant = 3;
  b.scores = {0.8};
  b.time_diffs = {2.5};
  b.text_pairs = {{"r4", "h4"}};
  auto t = proassist_totals({a, b});
  // matched 4, mismatched 1, missed 3, redundant 4
  EXPECT_DOUBLE_EQ(*t.precision, 4.0 / 9.0);
  EXPECT_DOUBLE_EQ(*t.recall, 4.0 / 8.0);
  EXPECT_DOUBLE_EQ(*t.f1, 2 * (4.0 / 9) * 0.5 / (4.0 / 9 + 0.5));
  EXPECT_DOUBLE_EQ(*t.jaccard_index, 4.0 / 12.0);
  EXPECT_DOUBLE_EQ(*t.missing_rate, 3.0 / 8.0);
  EXPECT_DOUBLE_EQ(*t.redundant_rate, 4.0 / 9.0);
  EXPECT_DOUBLE_EQ(*t.semantic_score, (0.9 + 0.7 + 0.6 + 0.5 + 0.8) / 5);
  EXPECT_DOUBLE_EQ(*t.time_diff, 4.0 / 4);
  EXPECT_EQ(t.text_pairs.size(), 4u);

  ProAssistText text;
  text.bleu = {0.5, 0.4, 0.3, 0.2};
  text.cider = 1.5;
  auto j = proassist_json(t, text);
  EXPECT_EQ(j["num_matched"], 4);
  EXPECT_EQ(j["num_mismatched"], 1);
  EXPECT_DOUBLE_EQ(j["Bleu_4_w"].get<double>(), 0.2 / 3);
  EXPECT_DOUBLE_EQ(j["CIDEr_w"].get<double>(), 0.5);
  EXPECT_TRUE(j["METEOR"].is_null());
  EXPECT_TRUE(j["METEOR_w"].is_null());
  EXPECT_EQ(j.begin().key(), "jaccard_index");

  auto none = proassist_totals({});
  EXPECT_FALSE(none.precision || none.recall || none.f1 || none.semantic_score || none.time_diff);
}

TEST(ProAssistTotals, ClipJsonRoundTrip) {
  ProAssistClip a;
  a.matched = 2, a.mismatched = 1, a.missed = 4, a.redundant = 3;
  a.scores = {0.1, 0.75};
  a.time_diffs = {1.5};
  a.text_pairs = {{"r", "h"}};
  auto b = proassist_clip_from_json(nlohmann::json::parse(proassist_clip_to_json(a).dump()), "x");
  EXPECT_EQ(proassist_clip_to_json(b).dump(), proassist_clip_to_json(a).dump());
  EXPECT_THROW(proassist_clip_from_json(nlohmann::json::parse("{}"), "x"), prospect::Error);
}
