#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "prospect/core/error.h"
#include "prospect/distributed/communicator.h"
#include "prospect/eval/metrics.h"
#include "prospect/eval/report.h"

using namespace prospect;
using namespace prospect::eval;

namespace {

// fps 1, frames 0..9, windows 2 s before and 4 s after = 2 and 4 frames.
// Initial state: S1 in_progress, S2 and S3 not_started.
//   reference: say "a" @2, say "b" @6; S1 complete @3, S2 start @3, S2 complete @8
//   predicted: say @3, @4, @9; S1 complete @4, S2 complete @4 (may skip start), malformed @5,
//              S2 start @7 (backward: invalid), S9 start @8 (unknown step: invalid)
ClipRecord hand_clip() {
  ClipRecord r;
  r.clip_id = "vid:0";
  r.fps = 1.0;
  r.first_frame = 0;
  r.last_frame = 9;
  r.initial_state = {{"S1", StepState::InProgress}, {"S2", StepState::NotStarted}, {"S3", StepState::NotStarted}};
  r.reference = {assistant_event(2, "now grind the beans"), dst_event(3, "S1", "complete"), dst_event(3, "S2", "start"),
                 assistant_event(6, "pour the water slowly"), dst_event(8, "S2", "complete")};
  r.predicted = {assistant_event(3, "grind the beans now"), dst_event(4, "S1", "complete"),
                 dst_event(4, "S2", "complete"), assistant_event(4, "pour the water"), malformed_event(5, "S2->finish"),
                 dst_event(7, "S2", "start"), dst_event(8, "S9", "start"), assistant_event(9, "well done")};
  for (size_t i = 0; i < r.reference.size(); ++i) r.reference[i].index = static_cast<int>(i);
  for (size_t i = 0; i < r.predicted.size(); ++i) r.predicted[i].index = static_cast<int>(i);
  return r;
}

}  // namespace

TEST(ClipMetrics, HandMadeClip) {
  ClipResult res = evaluate_clip(hand_clip(), 2.0, 4.0);
  const ClipCounts& c = res.counts;
  EXPECT_EQ(c.clips, 1);
  EXPECT_EQ(c.frames, 10);
  EXPECT_EQ(c.turns, 8);  // 3 assistant + 5 DST events predicted

  // Speaking per frame: reference {2, 6}, predicted {3, 4, 9}: tp 0, fp 3, fn 2, tn 10 - 5 = 5.
  EXPECT_EQ(c.speak_tp, 0);
  EXPECT_EQ(c.speak_fp, 3);
  EXPECT_EQ(c.speak_fn, 2);
  EXPECT_EQ(c.speak_tn, 5);
  // Speaking per event: 3 and 4 may both take 2 (late 1, 2) and 4 and 9 may take 6 (early 2, late 3).
  // Two pairs either way; the least total distance is 3-2 (1) + 4-6 (2) = 3.
  EXPECT_EQ(c.speak_pred, 3);
  EXPECT_EQ(c.speak_ref, 2);
  EXPECT_EQ(c.speak_matched, 2);
  ASSERT_EQ(res.text_pairs.size(), 2u);
  EXPECT_EQ(res.text_pairs[0].reference, "now grind the beans");
  EXPECT_EQ(res.text_pairs[0].hypothesis, "grind the beans now");
  EXPECT_EQ(res.text_pairs[1].reference, "pour the water slowly");
  EXPECT_EQ(res.text_pairs[1].hypothesis, "pour the water");

  // DST update per frame: reference {3, 8}, predicted {4, 5, 7, 8} (the malformed update is a
  // decision too): tp 1 (8), fp 3, fn 1 (3), tn 10 - 5 = 5.
  EXPECT_EQ(c.update_tp, 1);
  EXPECT_EQ(c.update_fp, 3);
  EXPECT_EQ(c.update_fn, 1);
  EXPECT_EQ(c.update_tn, 5);
  // Per event (malformed matches nothing): @4, @4 take the two @3; @7 or @8 takes @8: 3 pairs.
  EXPECT_EQ(c.update_pred, 5);
  EXPECT_EQ(c.update_ref, 3);
  EXPECT_EQ(c.update_matched, 3);
  // Same step and transition: S1 complete @4 - @3; S2 start @7 - @3 (late 4, at the edge);
  // S2 complete @4 - @8 is 4 early (> 2). 2 pairs.
  EXPECT_EQ(c.transition_matched, 2);

  // State per frame (S1 S2 S3), reference vs predicted:
  //   f0-2: ip ns ns | ip ns ns  3 equal      x3 frames ->  9, joint 3
  //   f3:   c  ip ns | ip ns ns  1 equal                ->  1
  //   f4-7: c  ip ns | c  c  ns  2 equal      x4 frames ->  8
  //   f8-9: c  c  ns | c  c  ns  3 equal      x2 frames ->  6, joint 2
  EXPECT_EQ(c.state_equal, 24);
  EXPECT_EQ(c.state_pairs, 30);
  EXPECT_EQ(c.joint_equal, 5);
  EXPECT_EQ(c.joint_frames, 10);
  EXPECT_EQ(c.generated_updates, 5);
  EXPECT_EQ(c.malformed_updates, 1);
  EXPECT_EQ(c.invalid_updates, 2);

  Metrics m = compute_metrics(c, TextScores{});
  EXPECT_DOUBLE_EQ(*m.speaking_frame.precision, 0.0);
  EXPECT_DOUBLE_EQ(*m.speaking_frame.recall, 0.0);
  EXPECT_DOUBLE_EQ(*m.speaking_frame.f1, 0.0);
  EXPECT_DOUBLE_EQ(*m.speaking_frame.balanced_accuracy, (0.0 + 5.0 / 8) / 2);
  EXPECT_DOUBLE_EQ(*m.speaking_event.precision, 2.0 / 3);
  EXPECT_DOUBLE_EQ(*m.speaking_event.recall, 1.0);
  EXPECT_DOUBLE_EQ(*m.speaking_event.f1, 0.8);
  EXPECT_FALSE(m.speaking_event.balanced_accuracy.has_value());
  EXPECT_DOUBLE_EQ(*m.dst_update_frame.precision, 0.25);
  EXPECT_DOUBLE_EQ(*m.dst_update_frame.recall, 0.5);
  EXPECT_DOUBLE_EQ(*m.dst_update_frame.f1, 1.0 / 3);
  EXPECT_DOUBLE_EQ(*m.dst_update_frame.balanced_accuracy, (0.5 + 5.0 / 8) / 2);
  EXPECT_DOUBLE_EQ(*m.dst_update_event.precision, 0.6);
  EXPECT_DOUBLE_EQ(*m.dst_update_event.recall, 1.0);
  EXPECT_DOUBLE_EQ(*m.dst_update_event.f1, 0.75);
  EXPECT_DOUBLE_EQ(*m.state_accuracy, 0.8);
  EXPECT_DOUBLE_EQ(*m.joint_goal_accuracy, 0.5);
  EXPECT_DOUBLE_EQ(*m.transition_f1, 0.5);        // 2 * 2 / (5 + 3)
  EXPECT_DOUBLE_EQ(*m.valid_update_ratio, 0.4);   // (5 - 1 - 2) / 5
}

// Event scores with the window edges: fps 2, 2 s before / 4 s after = 4 / 8 frames.
TEST(ClipMetrics, EventScoresAtWindowEdges) {
  ClipRecord r;
  r.clip_id = "edges:0";
  r.fps = 2.0;
  r.first_frame = 0;
  r.last_frame = 500;
  for (int64_t f : {100, 200, 300, 400}) r.reference.push_back(assistant_event(f, "ref"));
  // 96: 4 early (in), 195: 5 early (out), 308: 8 late (in), 409: 9 late (out)
  for (int64_t f : {96, 195, 308, 409}) r.predicted.push_back(assistant_event(f, "hyp"));
  Metrics m = evaluate_records({r}, 2.0, 4.0).metrics;
  EXPECT_EQ(m.counts.turns, 4);
  EXPECT_DOUBLE_EQ(*m.speaking_event.precision, 0.5);
  EXPECT_DOUBLE_EQ(*m.speaking_event.recall, 0.5);
  EXPECT_DOUBLE_EQ(*m.speaking_event.f1, 0.5);
  EXPECT_DOUBLE_EQ(*m.speaking_frame.precision, 0.0);  // no prediction on the reference frame itself
  ASSERT_TRUE(m.text.bleu[0].has_value());               // two matched pairs ("ref", "hyp"): no word in common
  EXPECT_NEAR(*m.text.bleu[0], 0.0, 1e-9);
}

// Misses and duplicates: refs 10, 50; preds 10, 11 (a repeat), 90: one pair.
// P = 1/3, R = 1/2, F1 = 2 * 1 / (3 + 2) = 0.4; per frame: tp 1 (10), fp 2 (11, 90), fn 1 (50).
TEST(ClipMetrics, MissesAndDuplicates) {
  ClipRecord r;
  r.clip_id = "dup:0";
  r.fps = 2.0;
  r.first_frame = 0;
  r.last_frame = 99;
  r.reference = {assistant_event(10, "grind the beans"), assistant_event(50, "pour the water")};
  r.predicted = {assistant_event(10, "grind the beans"), assistant_event(11, "grind them"), assistant_event(90, "done")};
  Metrics m = evaluate_records({r}, 2.0, 4.0).metrics;
  EXPECT_DOUBLE_EQ(*m.speaking_event.precision, 1.0 / 3);
  EXPECT_DOUBLE_EQ(*m.speaking_event.recall, 0.5);
  EXPECT_DOUBLE_EQ(*m.speaking_event.f1, 0.4);
  EXPECT_DOUBLE_EQ(*m.speaking_frame.precision, 1.0 / 3);
  EXPECT_DOUBLE_EQ(*m.speaking_frame.recall, 0.5);
  EXPECT_DOUBLE_EQ(*m.speaking_frame.f1, 0.4);
  // balanced accuracy: TPR 1/2, TNR = 96 / 98 (100 frames, 2 negatives predicted positive)
  EXPECT_DOUBLE_EQ(*m.speaking_frame.balanced_accuracy, (0.5 + 96.0 / 98) / 2);
}

TEST(ClipMetrics, StepNamedOnlyByAnUpdate) {
  ClipRecord r;
  r.clip_id = "v:10";
  r.fps = 2.0;
  r.first_frame = 10;
  r.last_frame = 13;
  // S4 is named only by the reference update; it starts not_started.
  r.reference = {dst_event(11, "S4", "start")};
  r.predicted = {dst_event(12, "S4", "start")};
  ClipCounts c = evaluate_clip(r, 2.0, 4.0).counts;
  // frames 10..13; ref S4: ns ip ip ip; pred: ns ns ip ip -> 3 of 4 equal
  EXPECT_EQ(c.state_pairs, 4);
  EXPECT_EQ(c.state_equal, 3);
  EXPECT_EQ(c.joint_equal, 3);
  EXPECT_EQ(c.invalid_updates, 0);
  EXPECT_EQ(c.transition_matched, 1);
}

TEST(Metrics, EmptyDenominatorsAreNull) {
  ClipRecord r;
  r.clip_id = "quiet:0";
  r.fps = 2.0;
  r.first_frame = 0;
  r.last_frame = 4;
  EvalResult e = evaluate_records({r}, 2.0, 4.0);
  const Metrics& m = e.metrics;
  EXPECT_FALSE(m.speaking_frame.precision || m.speaking_frame.recall || m.speaking_frame.f1 ||
               m.speaking_frame.balanced_accuracy);
  EXPECT_FALSE(m.speaking_event.precision || m.speaking_event.recall || m.speaking_event.f1);
  EXPECT_FALSE(m.state_accuracy || m.joint_goal_accuracy || m.transition_f1 || m.valid_update_ratio);
  EXPECT_FALSE(m.text.cider.has_value());
  std::string text = eval_json_text(m, nlohmann::json::object());
  EXPECT_EQ(text.find("nan"), std::string::npos);
  EXPECT_EQ(text.find("NaN"), std::string::npos);
  auto j = nlohmann::json::parse(text);
  EXPECT_TRUE(j["speaking_frame"]["precision"].is_null());
  EXPECT_TRUE(j["dst"]["valid_update_ratio"].is_null());
  EXPECT_TRUE(j["text"]["bleu4"].is_null());
  EXPECT_EQ(j["speaking_frame"]["recall"].is_null(), true);
  EXPECT_EQ(j["speaking_frame"].size(), 4u);
  EXPECT_EQ(j["counts"]["frames"], 5);
  // A predicted event with no reference: precision 0, recall null, f1 0 (2*0 / (1 + 0)).
  r.predicted = {assistant_event(2, "hello")};
  Metrics m2 = evaluate_records({r}, 2.0, 4.0).metrics;
  EXPECT_DOUBLE_EQ(*m2.speaking_event.precision, 0.0);
  EXPECT_FALSE(m2.speaking_event.recall.has_value());
  EXPECT_DOUBLE_EQ(*m2.speaking_event.f1, 0.0);
}

TEST(Report, EvalJsonKeysInSpecOrder) {
  EvalResult e = evaluate_records({hand_clip()}, 2.0, 4.0);
  nlohmann::json cfg = {{"eval", {{"match_before_s", 2.0}, {"match_after_s", 4.0}}}};
  auto j = nlohmann::ordered_json::parse(eval_json_text(e.metrics, cfg));
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"speaking_frame", "speaking_event", "dst_update_frame", "dst_update_event",
                                            "dst", "text", "counts", "config"}));
  auto sub = [&](const char* k) {
    std::vector<std::string> out;
    for (auto it = j[k].begin(); it != j[k].end(); ++it) out.push_back(it.key());
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(sub("speaking_frame"), (V{"precision", "recall", "f1", "balanced_accuracy"}));
  EXPECT_EQ(sub("dst_update_event"), (V{"precision", "recall", "f1"}));
  EXPECT_EQ(sub("dst"), (V{"state_accuracy", "joint_goal_accuracy", "transition_f1", "valid_update_ratio"}));
  EXPECT_EQ(sub("text"), (V{"bleu1", "bleu2", "bleu3", "bleu4", "cider"}));
  EXPECT_EQ(sub("counts"), (V{"clips", "frames", "turns", "malformed_updates", "invalid_updates"}));
  EXPECT_EQ(j["config"]["eval"]["match_after_s"], 4.0);
  EXPECT_EQ(j["counts"]["invalid_updates"], 2);
  std::string table = metrics_table(e.metrics);
  EXPECT_NE(table.find("speaking_event"), std::string::npos);
  EXPECT_NE(table.find("0.8000"), std::string::npos);
}

// predictions.jsonl holds enough to recompute every number; the order and split of the clips do not matter.
TEST(Report, PredictionsRoundTripAndOrderFree) {
  ClipRecord a = hand_clip();
  ClipRecord b = hand_clip();
  b.clip_id = "another:40";
  b.predicted.pop_back();
  ClipRecord q;
  q.clip_id = "quiet:0";
  q.fps = 2;
  q.last_frame = 3;
  std::vector<ClipResult> results = {evaluate_clip(a, 2, 4), evaluate_clip(b, 2, 4), evaluate_clip(q, 2, 4)};
  nlohmann::json cfg = {{"eval", {{"match_before_s", 2.0}}}};
  EvalResult direct = combine_results(results);
  ASSERT_EQ(direct.clips.front().clip_id, "another:40");
  std::string want = eval_json_text(direct.metrics, cfg);

  std::reverse(results.begin(), results.end());
  EXPECT_EQ(eval_json_text(combine_results(results).metrics, cfg), want);

  // through bytes (what ranks send)
  auto back = deserialize_results(serialize_results(results), "test");
  ASSERT_EQ(back.size(), 3u);
  EXPECT_TRUE(back[0].counts == results[0].counts);
  auto one = make_single_communicator();
  auto gathered = gather_results(*one, back);
  ASSERT_TRUE(gathered.has_value());
  EXPECT_EQ(eval_json_text(gathered->metrics, cfg), want);

  // through predictions.jsonl
  std::string path = std::string(PROSPECT_BINARY_DIR) + "/test_eval_predictions.jsonl";
  write_predictions_jsonl(path, direct.clips);
  auto records = read_predictions_jsonl(path);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].clip_id, "another:40");
  EXPECT_EQ(records[0].predicted[4].id.has_value(), false);  // the malformed update, id null
  EXPECT_EQ(eval_json_text(evaluate_records(records, 2, 4).metrics, cfg), want);
  std::remove(path.c_str());

  // duplicate clip ids are an error
  results.push_back(results.front());
  EXPECT_THROW(combine_results(results), Error);
}

TEST(Report, RecordErrorsNameTheField) {
  auto j = nlohmann::json::parse(record_to_json(hand_clip()).dump());
  auto expect_error = [](const nlohmann::json& bad, const std::string& needle) {
    try {
      record_from_json(bad, "p.jsonl:3");
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto bad = j;
  bad.erase("initial_state");
  expect_error(bad, "initial_state");
  bad = j;
  bad["predicted"][1]["transition"] = "finish";
  expect_error(bad, "finish");
  bad = j;
  bad["reference"][0]["role"] = "user";
  expect_error(bad, "reference[0]");
  bad = j;
  bad["initial_state"]["S1"] = "done";
  expect_error(bad, "done");
  EXPECT_THROW(deserialize_results("not json", "rank 1"), Error);
}

// eval.match = proassist: every clip's piece travels with it (through bytes) and the section sums them;
// a clip without one is an error; without proassist there is no section.
TEST(Report, ProAssistSectionFromEveryClipsPiece) {
  std::vector<ClipResult> results = {evaluate_clip(hand_clip(), 2, 4)};
  EXPECT_THROW(combine_results(results, true), Error);
  auto piece = std::make_shared<ProAssistClip>();
  piece->matched = 3, piece->missed = 1, piece->redundant = 1;
  piece->scores = {0.9, 0.8, 0.7};
  piece->time_diffs = {0, 0.5, 1};
  piece->text_pairs = {{"open the lid", "open the lid"}, {"pour the water", "pour water"}, {"wait", "wait now"}};
  results[0].proassist = piece;
  auto back = deserialize_results(serialize_results(results), "test");
  ASSERT_TRUE(back[0].proassist);
  auto j = nlohmann::json::parse(eval_json_text(combine_results(back, true).metrics, nlohmann::json::object()));
  ASSERT_TRUE(j.contains("proassist"));
  const auto& p = j["proassist"];
  EXPECT_DOUBLE_EQ(p["precision"].get<double>(), 0.75);  // 3 / (3 + 0 + 1)
  EXPECT_DOUBLE_EQ(p["recall"].get<double>(), 0.75);     // 3 / (3 + 0 + 1)
  EXPECT_DOUBLE_EQ(p["jaccard_index"].get<double>(), 0.6);
  EXPECT_DOUBLE_EQ(p["time_diff"].get<double>(), 0.5);
  EXPECT_EQ(p["num_redundant"].get<int64_t>(), 1);
  EXPECT_TRUE(p["Bleu_1"].is_number());
  EXPECT_TRUE(p["METEOR"].is_null());  // no jar given
  EXPECT_FALSE(nlohmann::json::parse(eval_json_text(combine_results(results).metrics, nlohmann::json::object()))
                   .contains("proassist"));
}
