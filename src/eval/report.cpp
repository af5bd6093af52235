// Rank 0's side of evaluation: gather, sum in clip-id order, score, write. Nothing here depends on
// how clips were split over ranks, which is what makes eval.json identical for any world size.
#include "prospect/eval/report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "prospect/core/error.h"
#include "prospect/distributed/communicator.h"
#include "prospect/eval/proassist_eval.h"

namespace prospect::eval {

using ojson = nlohmann::ordered_json;

Ratio ratio(int64_t num, int64_t den) {
  if (den == 0) return std::nullopt;
  return static_cast<double>(num) / static_cast<double>(den);
}

static DecisionScores frame_scores(int64_t tp, int64_t fp, int64_t fn, int64_t tn) {
  DecisionScores s;
  s.precision = ratio(tp, tp + fp);
  s.recall = ratio(tp, tp + fn);
  s.f1 = ratio(2 * tp, 2 * tp + fp + fn);
  Ratio tpr = ratio(tp, tp + fn), tnr = ratio(tn, tn + fp);
  if (tpr && tnr) s.balanced_accuracy = (*tpr + *tnr) / 2;
  return s;
}

static DecisionScores event_scores(int64_t matched, int64_t pred, int64_t ref) {
  DecisionScores s;
  s.precision = ratio(matched, pred);
  s.recall = ratio(matched, ref);
  s.f1 = ratio(2 * matched, pred + ref);
  return s;
}

Metrics compute_metrics(const ClipCounts& c, const TextScores& text) {
  Metrics m;
  m.counts = c;
  m.text = text;
  m.speaking_frame = frame_scores(c.speak_tp, c.speak_fp, c.speak_fn, c.speak_tn);
  m.speaking_event = event_scores(c.speak_matched, c.speak_pred, c.speak_ref);
  m.dst_update_frame = frame_scores(c.update_tp, c.update_fp, c.update_fn, c.update_tn);
  m.dst_update_event = event_scores(c.update_matched, c.update_pred, c.update_ref);
  m.state_accuracy = ratio(c.state_equal, c.state_pairs);
  m.joint_goal_accuracy = ratio(c.joint_equal, c.joint_frames);
  m.transition_f1 = ratio(2 * c.transition_matched, c.update_pred + c.update_ref);
  m.valid_update_ratio =
      ratio(c.generated_updates - c.malformed_updates - c.invalid_updates, c.generated_updates);
  return m;
}

EvalResult combine_results(std::vector<ClipResult> all, bool proassist, MeteorScorer* meteor) {
  std::sort(all.begin(), all.end(), [](const ClipResult& a, const ClipResult& b) { return a.clip_id < b.clip_id; });
  for (size_t i = 1; i < all.size(); ++i)
    if (all[i].clip_id == all[i - 1].clip_id) fail("evaluation: clip {} was evaluated twice", all[i].clip_id);
  ClipCounts total;
  std::vector<std::string> refs, hyps;
  for (const auto& r : all) {
    total += r.counts;
    for (const auto& p : r.text_pairs) {
      refs.push_back(p.reference);
      hyps.push_back(p.hypothesis);
    }
  }
  EvalResult out;
  out.metrics = compute_metrics(total, text_scores(refs, hyps));
  if (proassist) {
    std::vector<ProAssistClip> pieces;
    for (const auto& r : all) {
      if (!r.proassist) fail("evaluation: clip {} has no eval.match=proassist result", r.clip_id);
      pieces.push_back(*r.proassist);
    }
    Metrics::ProAssist p;
    p.totals = proassist_totals(pieces);
    p.text = proassist_text_scores(p.totals.text_pairs, meteor);
    out.metrics.proassist = std::move(p);
  }
  out.clips = std::move(all);
  return out;
}

std::optional<EvalResult> gather_results(Communicator& comm, const std::vector<ClipResult>& mine, int root,
                                         bool proassist, MeteorScorer* meteor) {
  std::vector<std::string> parts = comm.gather_bytes(serialize_results(mine), root);
  if (comm.rank() != root) return std::nullopt;
  if (static_cast<int>(parts.size()) != comm.size())
    fail("evaluation: gathered {} ranks' results, expected {}", parts.size(), comm.size());
  std::vector<ClipResult> all;
  for (size_t r = 0; r < parts.size(); ++r) {
    auto some = deserialize_results(parts[r], fmt::format("rank {}", r));
    for (auto& c : some) all.push_back(std::move(c));
  }
  return combine_results(std::move(all), proassist, meteor);
}

static ojson num(const Ratio& r) {
  if (!r || !std::isfinite(*r)) return nullptr;
  return *r;
}

static ojson decision_json(const DecisionScores& s, bool frame_view) {
  ojson j;
  j["precision"] = num(s.precision);
  j["recall"] = num(s.recall);
  j["f1"] = num(s.f1);
  if (frame_view) j["balanced_accuracy"] = num(s.balanced_accuracy);
  return j;
}

std::string eval_json_text(const Metrics& m, const nlohmann::json& config) {
  ojson j;
  j["speaking_frame"] = decision_json(m.speaking_frame, true);
  j["speaking_event"] = decision_json(m.speaking_event, false);
  j["dst_update_frame"] = decision_json(m.dst_update_frame, true);
  j["dst_update_event"] = decision_json(m.dst_update_event, false);
  ojson dst;
  dst["state_accuracy"] = num(m.state_accuracy);
  dst["joint_goal_accuracy"] = num(m.joint_goal_accuracy);
  dst["transition_f1"] = num(m.transition_f1);
  dst["valid_update_ratio"] = num(m.valid_update_ratio);
  if (m.state_head) {
    dst["state_head_accuracy"] = num(m.state_head->head_accuracy);
    dst["state_head_tracked_accuracy"] = num(m.state_head->tracked_accuracy);
  }
  j["dst"] = dst;
  ojson text;
  for (int k = 0; k < 4; ++k) text["bleu" + std::to_string(k + 1)] = num(m.text.bleu[k]);
  text["cider"] = num(m.text.cider);
  j["text"] = text;
  if (m.proassist) j["proassist"] = proassist_json(m.proassist->totals, m.proassist->text);
  ojson counts;
  counts["clips"] = m.counts.clips;
  counts["frames"] = m.counts.frames;
  counts["turns"] = m.counts.turns;
  counts["malformed_updates"] = m.counts.malformed_updates;
  counts["invalid_updates"] = m.counts.invalid_updates;
  if (m.state_head) counts["state_head_pairs"] = m.state_head->pairs;
  j["counts"] = counts;
  j["config"] = ojson::parse(config.dump());  // keys sorted (nlohmann::json), so deterministic
  return j.dump(2, ' ', false, ojson::error_handler_t::replace) + "\n";
}

static void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) fail("cannot write {}", path);
  f << text;
  f.close();
  if (!f) fail("writing {} failed", path);
}

void write_eval_json(const std::string& path, const Metrics& m, const nlohmann::json& config) {
  write_text(path, eval_json_text(m, config));
}

void write_predictions_jsonl(const std::string& path, const std::vector<ClipResult>& clips) {
  std::string text;
  for (const auto& c : clips)
    text += record_to_json(c.record).dump(-1, ' ', false, ojson::error_handler_t::replace) + "\n";
  write_text(path, text);
}

std::vector<ClipRecord> read_predictions_jsonl(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("cannot read {}", path);
  std::vector<ClipRecord> out;
  std::string line;
  for (int n = 1; std::getline(f, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string where = fmt::format("{}:{}", path, n);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail("{}: not JSON: {}", where, e.what());
    }
    out.push_back(record_from_json(j, where));
  }
  return out;
}

EvalResult evaluate_records(const std::vector<ClipRecord>& records, double match_before_s, double match_after_s) {
  std::vector<ClipResult> all;
  for (const auto& r : records) all.push_back(evaluate_clip(r, match_before_s, match_after_s));
  return combine_results(std::move(all));
}

std::string metrics_table(const Metrics& m) {
  auto v = [](const Ratio& r) { return r && std::isfinite(*r) ? fmt::format("{:.4f}", *r) : std::string("-"); };
  std::ostringstream o;
  o << fmt::format("{:<18} {:>9} {:>9} {:>9} {:>9}\n", "decision", "precision", "recall", "f1", "bal.acc");
  auto row = [&](const char* name, const DecisionScores& s, bool frame_view) {
    o << fmt::format("{:<18} {:>9} {:>9} {:>9} {:>9}\n", name, v(s.precision), v(s.recall), v(s.f1),
                     frame_view ? v(s.balanced_accuracy) : std::string(""));
  };
  row("speaking_frame", m.speaking_frame, true);
  row("speaking_event", m.speaking_event, false);
  row("dst_update_frame", m.dst_update_frame, true);
  row("dst_update_event", m.dst_update_event, false);
  o << fmt::format("{:<18} state_acc {}  joint_goal {}  transition_f1 {}  valid_updates {}\n", "dst",
                   v(m.state_accuracy), v(m.joint_goal_accuracy), v(m.transition_f1), v(m.valid_update_ratio));
  o << fmt::format("{:<18} bleu1 {}  bleu2 {}  bleu3 {}  bleu4 {}  cider {}\n", "text", v(m.text.bleu[0]),
                   v(m.text.bleu[1]), v(m.text.bleu[2]), v(m.text.bleu[3]), v(m.text.cider));
  if (m.proassist) {
    const ProAssistTotals& t = m.proassist->totals;
    const ProAssistText& x = m.proassist->text;
    o << fmt::format("{:<18} precision {}  recall {}  F1 {}  jaccard {}  missing {}  redundant {}\n", "proassist",
                     v(t.precision), v(t.recall), v(t.f1), v(t.jaccard_index), v(t.missing_rate), v(t.redundant_rate));
    o << fmt::format("{:<18} semantic {}  time_diff {}  bleu4 {}  cider {}  meteor {}\n", "", v(t.semantic_score),
                     v(t.time_diff), v(x.bleu[3]), v(x.cider), v(x.meteor));
  }
  const ClipCounts& c = m.counts;
  o << fmt::format("{:<18} clips {}  frames {}  turns {}  malformed_updates {}  invalid_updates {}\n", "counts",
                   c.clips, c.frames, c.turns, c.malformed_updates, c.invalid_updates);
  return o.str();
}

}  // namespace prospect::eval
