// ProAssist's matching and metrics (rules, fix and tie rule: proassist_match.h).
#include "prospect/eval/proassist_match.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "prospect/core/error.h"
#include "prospect/eval/assignment.h"

namespace prospect::eval {

using ojson = nlohmann::ordered_json;

WindowSeconds proassist_dataset_window(const std::string& dataset) {
  // get_match_time_window in ProAssist's eval_utils.py: the first name the dataset's contains
  static const std::pair<const char*, WindowSeconds> kTable[] = {
      {"narration", {-2.5, 2.5}},   {"ego4d", {-4.0, 8.5}},      {"epickitchens", {-1.5, 3.0}},
      {"holoassist", {-1.5, 2.5}},  {"egoexolearn", {-2.0, 3.5}}, {"assembly101", {-2.0, 4.0}},
      {"wtag", {-3.0, 6.0}},
  };
  for (const auto& [name, w] : kTable)
    if (dataset.find(name) != std::string::npos) return w;
  return {-2.5, 2.5};
}

static double parse_seconds(const std::string& s, const std::string& entry) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != s.size() || !std::isfinite(v))
    usage_fail("eval.match_windows: '{}' in '{}' is not a number of seconds", s, entry);
  return v;
}

std::vector<std::pair<std::string, WindowSeconds>> parse_match_windows(const std::string& spec) {
  std::vector<std::pair<std::string, WindowSeconds>> out;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string entry = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? spec.size() + 1 : comma + 1;
    if (entry.find_first_not_of(' ') == std::string::npos) {
      if (spec.find_first_not_of(' ') == std::string::npos) break;  // "" = no overrides
      usage_fail("eval.match_windows: an empty entry in '{}' (expected name=left:right,...)", spec);
    }
    size_t eq = entry.find('='), colon = entry.find(':', eq == std::string::npos ? 0 : eq);
    if (eq == std::string::npos || colon == std::string::npos)
      usage_fail("eval.match_windows: '{}' is not name=left:right (seconds, e.g. ego4d=-4:8.5)", entry);
    WindowSeconds w{parse_seconds(entry.substr(eq + 1, colon - eq - 1), entry), parse_seconds(entry.substr(colon + 1), entry)};
    if (w.left_s > 0 || w.right_s < 0)
      usage_fail("eval.match_windows: '{}' needs left <= 0 <= right (a turn may always match at its own frame)", entry);
    std::string name = entry.substr(0, eq);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (name.empty()) usage_fail("eval.match_windows: '{}' has no dataset name before '='", entry);
    out.emplace_back(name, w);
  }
  return out;
}

WindowSeconds match_window_for(const std::string& dataset,
                               const std::vector<std::pair<std::string, WindowSeconds>>& overrides) {
  for (const auto& [name, w] : overrides)
    if (name == "*" || dataset.find(name) != std::string::npos) return w;
  return proassist_dataset_window(dataset);
}

OffsetWindow offset_window(const WindowSeconds& w, double fps) {
  if (!(fps > 0) || !std::isfinite(fps)) fail("match window: fps must be > 0, found {}", fps);
  if (w.left_s > 0 || w.right_s < 0)
    usage_fail("match window ({}, {}) s: needs left <= 0 <= right", w.left_s, w.right_s);
  return {static_cast<int64_t>(std::trunc(w.left_s * fps)), static_cast<int64_t>(std::trunc(w.right_s * fps))};
}

std::vector<FrameText> talking_slots(const std::vector<Event>& events) {
  std::vector<const Event*> say;
  for (const Event& e : events)
    if (e.role == EventRole::Assistant) say.push_back(&e);
  std::stable_sort(say.begin(), say.end(), [](const Event* a, const Event* b) {
    return a->frame != b->frame ? a->frame < b->frame : a->index < b->index;
  });
  std::vector<FrameText> out;
  for (size_t k = 0; k < say.size();) {
    FrameText slot{say[k]->frame, ""};
    for (; k < say.size() && say[k]->frame == slot.frame; ++k) {
      if (say[k]->text.empty()) continue;
      if (!slot.text.empty()) slot.text += ' ';
      slot.text += say[k]->text;
    }
    if (!slot.text.empty()) out.push_back(std::move(slot));
  }
  return out;
}

static int64_t window_reach(const OffsetWindow& w) { return std::max(-w.left, w.right); }

double proassist_pair_cost(double text_cost, int64_t offset, const ProAssistParams& p) {
  int64_t reach = window_reach(p.window);
  double dist = reach == 0 ? 0.0 : p.dist_factor * std::pow(static_cast<double>(std::llabs(offset)) / reach, p.dist_power);
  return text_cost + dist;
}

ProAssistMatch match_proassist(int64_t first_frame, int64_t last_frame, const std::vector<FrameText>& gen,
                               const std::vector<FrameText>& ref, const std::vector<double>& cos,
                               const ProAssistParams& p) {
  if (p.window.left > 0 || p.window.right < 0)
    fail("proassist matching: window [{}, {}] frames must hold 0", p.window.left, p.window.right);
  if (last_frame < first_frame) fail("proassist matching: last frame {} < first frame {}", last_frame, first_frame);
  if (cos.size() != gen.size() * ref.size())
    fail("proassist matching: {} cosines for {} x {} slots", cos.size(), gen.size(), ref.size());
  auto check = [&](const std::vector<FrameText>& v, const char* what) {
    for (size_t k = 0; k < v.size(); ++k) {
      if (v[k].frame < first_frame || v[k].frame > last_frame)
        fail("proassist matching: {} slot at frame {} outside the clip [{}, {}]", what, v[k].frame, first_frame, last_frame);
      if (k > 0 && v[k].frame <= v[k - 1].frame)
        fail("proassist matching: {} slots not in increasing frame order at frame {}", what, v[k].frame);
    }
  };
  check(gen, "generated");
  check(ref, "reference");

  // Columns: the clip's frames. Rows: generated slots. Exact units of 2^-40 for the costs; the
  // secondary cost -(i * s) is the tie rule.
  const double kUnit = std::ldexp(1.0, 40);
  std::map<int64_t, int> ref_at;
  for (size_t j = 0; j < ref.size(); ++j) ref_at[ref[j].frame] = static_cast<int>(j);
  struct Cand {
    int ref;
    double text_cost, cost;
  };
  std::vector<AssignmentEdge> edges;
  std::map<std::pair<int, int64_t>, Cand> cand;  // (row, slot frame) -> the pair's costs
  for (size_t i = 0; i < gen.size(); ++i) {
    int64_t lo = std::max(first_frame, gen[i].frame + p.window.left);
    int64_t hi = std::min(last_frame, gen[i].frame + p.window.right);
    for (int64_t s = lo; s <= hi; ++s) {
      auto it = ref_at.find(s);
      int j = it == ref_at.end() ? -1 : it->second;
      double text_cost = j < 0 ? 1.0 : 1.0 - std::fabs(cos[i * ref.size() + j]);
      double cost = proassist_pair_cost(text_cost, s - gen[i].frame, p);
      int64_t rank = static_cast<int64_t>(i) + 1, index = s - first_frame + 1;
      edges.push_back({static_cast<int>(i), static_cast<int>(s - first_frame),
                       {static_cast<int64_t>(std::llround(cost * kUnit)), -rank * index}});
      cand[{static_cast<int>(i), s}] = {j, text_cost, cost};
    }
  }
  std::vector<int> col = min_cost_full_matching(static_cast<int>(gen.size()),
                                                static_cast<int>(last_frame - first_frame + 1), edges);
  ProAssistMatch m;
  std::vector<char> taken(ref.size(), 0);
  for (size_t i = 0; i < gen.size(); ++i) {
    int64_t s = first_frame + col[i];
    const Cand& c = cand.at({static_cast<int>(i), s});
    m.pairs.push_back({static_cast<int>(i), c.ref, s, c.cost, c.ref < 0 ? 0.0 : 1.0 - c.text_cost});
    m.total_cost += c.cost;
    if (c.ref >= 0) taken[c.ref] = 1;
  }
  for (size_t j = 0; j < ref.size(); ++j)
    if (!taken[j]) m.missed.push_back(static_cast<int>(j));
  return m;
}

ProAssistClip proassist_clip(const ProAssistMatch& m, const std::vector<FrameText>& gen,
                             const std::vector<FrameText>& ref, double fps, double threshold) {
  ProAssistClip c;
  for (const auto& pr : m.pairs) {
    if (pr.ref < 0) {
      ++c.redundant;
      continue;
    }
    c.scores.push_back(pr.score);
    if (pr.score > threshold) {
      ++c.matched;
      c.time_diffs.push_back(static_cast<double>(std::llabs(pr.slot - gen[pr.gen].frame)) / fps);
      c.text_pairs.push_back({ref[pr.ref].text, gen[pr.gen].text});
    } else {
      ++c.mismatched;
    }
  }
  c.missed = static_cast<int64_t>(m.missed.size());
  return c;
}

ojson proassist_clip_to_json(const ProAssistClip& c) {
  ojson pairs = ojson::array();
  for (const auto& tp : c.text_pairs) pairs.push_back({tp.reference, tp.hypothesis});
  return ojson{{"matched", c.matched}, {"mismatched", c.mismatched}, {"missed", c.missed},
               {"redundant", c.redundant}, {"scores", c.scores}, {"time_diffs", c.time_diffs},
               {"text_pairs", pairs}};
}

ProAssistClip proassist_clip_from_json(const nlohmann::json& j, const std::string& where) {
  try {
    ProAssistClip c;
    c.matched = j.at("matched").get<int64_t>();
    c.mismatched = j.at("mismatched").get<int64_t>();
    c.missed = j.at("missed").get<int64_t>();
    c.redundant = j.at("redundant").get<int64_t>();
    c.scores = j.at("scores").get<std::vector<double>>();
    c.time_diffs = j.at("time_diffs").get<std::vector<double>>();
    for (const auto& pr : j.at("text_pairs")) c.text_pairs.push_back({pr.at(0).get<std::string>(), pr.at(1).get<std::string>()});
    return c;
  } catch (const nlohmann::json::exception& e) {
    fail("{}: proassist clip result: {}", where, e.what());
  }
}

static std::optional<double> divide(double num, double den) {
  if (den == 0) return std::nullopt;
  return num / den;
}

ProAssistTotals proassist_totals(const std::vector<ProAssistClip>& clips, double threshold) {
  ProAssistTotals t;
  double score_sum = 0, diff_sum = 0;
  int64_t score_n = 0, diff_n = 0;
  for (const auto& c : clips) {
    t.matched += c.matched;
    t.mismatched += c.mismatched;
    t.missed += c.missed;
    t.redundant += c.redundant;
    for (double s : c.scores)
      if (s >= threshold) score_sum += s, ++score_n;
    for (double d : c.time_diffs) diff_sum += d, ++diff_n;
    t.text_pairs.insert(t.text_pairs.end(), c.text_pairs.begin(), c.text_pairs.end());
  }
  const double m = static_cast<double>(t.matched), paired = static_cast<double>(t.matched + t.mismatched);
  t.precision = divide(m, paired + t.redundant);
  t.recall = divide(m, paired + t.missed);
  if (t.precision && t.recall)
    t.f1 = *t.precision + *t.recall > 0 ? 2 * *t.precision * *t.recall / (*t.precision + *t.recall) : 0.0;
  t.jaccard_index = divide(m, paired + t.missed + t.redundant);
  t.missing_rate = divide(static_cast<double>(t.missed), paired + t.missed);
  t.redundant_rate = divide(static_cast<double>(t.redundant), paired + t.redundant);
  t.semantic_score = divide(score_sum, static_cast<double>(score_n));
  t.time_diff = divide(diff_sum, static_cast<double>(diff_n));
  return t;
}

ojson proassist_json(const ProAssistTotals& t, const ProAssistText& text) {
  auto num = [](const std::optional<double>& v) { return v ? ojson(*v) : ojson(nullptr); };
  ojson j;
  j["jaccard_index"] = num(t.jaccard_index);
  j["missing_rate"] = num(t.missing_rate);
  j["redundant_rate"] = num(t.redundant_rate);
  j["semantic_score"] = num(t.semantic_score);
  j["time_diff"] = num(t.time_diff);
  j["precision"] = num(t.precision);
  j["recall"] = num(t.recall);
  j["F1"] = num(t.f1);
  j["num_matched"] = t.matched;
  j["num_mismatched"] = t.mismatched;
  j["num_missed"] = t.missed;
  j["num_redundant"] = t.redundant;
  auto scored = [&](const std::string& name, const std::optional<double>& v) {
    j[name] = num(v);
    j[name + "_w"] = v && t.jaccard_index ? ojson(*t.jaccard_index * *v) : ojson(nullptr);
  };
  for (int k = 0; k < 4; ++k) scored("Bleu_" + std::to_string(k + 1), text.bleu[k]);
  scored("CIDEr", text.cider);
  scored("METEOR", text.meteor);
  return j;
}

}  // namespace prospect::eval
