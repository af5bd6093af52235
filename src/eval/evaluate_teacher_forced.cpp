// prospect_eval --mode teacher-forced (evaluate.h): every clip's reference stream in the windows of
// SPEC §3, one forward each; the counts of teacher_forced.h summed on rank 0 in clip-id order, and for
// the threshold sweep the labelled head outputs of every clip.
#include <ATen/ATen.h>
#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "eval_inputs.h"
#include "prospect/core/file.h"
#include "prospect/data/validate.h"
#include "prospect/eval/evaluate.h"
#include "prospect/eval/teacher_forced.h"
#include "prospect/seq/collate.h"
#include "prospect/seq/labels.h"

namespace prospect::eval {

std::optional<ThresholdChoice> best_f1_threshold(const std::vector<float>& logits, const std::vector<uint8_t>& labels) {
  PROSPECT_CHECK(logits.size() == labels.size(), "best_f1_threshold: {} logits, {} labels", logits.size(), labels.size());
  std::vector<std::pair<double, int>> v;
  int64_t pos = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    v.emplace_back(1.0 / (1.0 + std::exp(-static_cast<double>(logits[i]))), labels[i] ? 1 : 0);
    pos += labels[i] ? 1 : 0;
  }
  if (pos == 0) return std::nullopt;
  // Descending scores: a threshold just below the k-th score predicts the first k positive.
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::optional<ThresholdChoice> best;
  int64_t tp = 0, fp = 0;
  for (size_t k = 0; k < v.size(); ++k) {
    (v[k].second ? tp : fp)++;
    if (k + 1 < v.size() && v[k + 1].first == v[k].first) continue;  // equal scores cannot be split
    double f1 = 2.0 * static_cast<double>(tp) / static_cast<double>(2 * tp + fp + (pos - tp));
    double thr = k + 1 < v.size() ? (v[k].first + v[k + 1].first) / 2 : v[k].first / 2;
    if (!best || f1 > best->f1)
      best = ThresholdChoice{thr, f1, static_cast<double>(tp) / static_cast<double>(tp + fp),
                             static_cast<double>(tp) / static_cast<double>(pos)};
  }
  return best;
}

namespace {

// One clip's teacher-forced sums and, for the sweep, its labelled head outputs.
struct TeacherForcedClip {
  std::string clip_id;
  TeacherForcedCounts counts;
  std::vector<float> speak_logits, dst_logits;
  std::vector<uint8_t> speak_labels, dst_labels;
};

void labelled(const at::Tensor& logits, const at::Tensor& labels, const at::Tensor& index, std::vector<float>& lo,
              std::vector<uint8_t>& la) {
  at::Tensor y = labels.reshape(-1).index_select(0, index);
  at::Tensor keep = y != kIgnore;
  at::Tensor l = logits.reshape(-1).to(at::kFloat).masked_select(keep).to(at::kCPU).contiguous();
  at::Tensor t = y.masked_select(keep).to(at::kCPU).contiguous();
  const float* lp = l.data_ptr<float>();
  const int64_t* tp = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < l.numel(); ++i) {
    lo.push_back(lp[i]);
    la.push_back(tp[i] == 1 ? 1 : 0);
  }
}

nlohmann::json counts_json(const TeacherForcedCounts& c) {
  auto decision = [](const DecisionCounts& d) { return nlohmann::json{{"tp", d.tp}, {"fp", d.fp}, {"fn", d.fn}}; };
  auto nll = [](const TokenNll& n) { return nlohmann::json{{"nll", n.nll}, {"tokens", n.tokens}}; };
  return {{"speaking", decision(c.speaking)}, {"dst_update", decision(c.dst_update)},
          {"assistant", nll(c.assistant)}, {"dst", nll(c.dst)},
          {"state", {{"correct", c.state.correct}, {"total", c.state.total}}}};
}

TeacherForcedCounts counts_from_json(const nlohmann::json& j) {
  auto decision = [](const nlohmann::json& d) {
    return DecisionCounts{d.at("tp").get<double>(), d.at("fp").get<double>(), d.at("fn").get<double>()};
  };
  auto nll = [](const nlohmann::json& n) { return TokenNll{n.at("nll").get<double>(), n.at("tokens").get<double>()}; };
  TeacherForcedCounts c;
  c.speaking = decision(j.at("speaking"));
  c.dst_update = decision(j.at("dst_update"));
  c.assistant = nll(j.at("assistant"));
  c.dst = nll(j.at("dst"));
  c.state = StateCounts{j.at("state").at("correct").get<double>(), j.at("state").at("total").get<double>()};
  return c;
}

// What a rank sends rank 0: its clips as JSON (doubles written to round-trip exactly).
std::string clips_to_bytes(const std::vector<TeacherForcedClip>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& c : v)
    a.push_back({{"clip_id", c.clip_id}, {"counts", counts_json(c.counts)}, {"speak_logits", c.speak_logits},
                 {"speak_labels", c.speak_labels}, {"dst_logits", c.dst_logits}, {"dst_labels", c.dst_labels}});
  return a.dump();
}

std::vector<TeacherForcedClip> clips_from_bytes(const std::string& bytes) {
  std::vector<TeacherForcedClip> out;
  try {
    for (const auto& j : nlohmann::json::parse(bytes)) {
      TeacherForcedClip c;
      c.clip_id = j.at("clip_id").get<std::string>();
      c.counts = counts_from_json(j.at("counts"));
      c.speak_logits = j.at("speak_logits").get<std::vector<float>>();
      c.speak_labels = j.at("speak_labels").get<std::vector<uint8_t>>();
      c.dst_logits = j.at("dst_logits").get<std::vector<float>>();
      c.dst_labels = j.at("dst_labels").get<std::vector<uint8_t>>();
      out.push_back(std::move(c));
    }
  } catch (const nlohmann::json::exception& e) {
    fail("teacher-forced results of a rank do not parse: {}", e.what());
  }
  return out;
}

nlohmann::ordered_json opt_json(const std::optional<double>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json();
}

nlohmann::ordered_json choice_json(const std::optional<ThresholdChoice>& c) {
  if (!c) return nlohmann::ordered_json();
  return {{"threshold", c->threshold}, {"f1", c->f1}, {"precision", c->precision}, {"recall", c->recall}};
}

}  // namespace

nlohmann::ordered_json evaluate_teacher_forced(const EvalSetup& s, Communicator& comm, bool sweep) {
  const Config& cfg = s.cfg;
  auto in = open_eval_inputs(s, comm);
  Store& store = *in->store;
  DSTProActLlama& model = in->model;
  torch::NoGradGuard ng;
  AutocastGuard autocast(in->dev);
  const at::Device device = in->dev.device;
  std::vector<TeacherForcedClip> mine;
  for_my_clips(comm, store.num_clips(), [&](int64_t c) {
    Clip clip = store.clip(c);
    std::vector<float> rows = store.read_clip(c);
    const int64_t bad = first_non_finite_row(rows.data(), store.clip_rows(c), store.embedding_dim());
    PROSPECT_CHECK(bad < 0, "{}: clip {} ({}, video {}): non-finite frame embeddings: frame {} holds NaN/Inf",
                   s.store_path, c, clip.id(), store.clip_video_uid(c), clip.start_frame_idx + bad);
    at::Tensor cf = at::from_blob(rows.data(), {store.clip_rows(c), store.embedding_dim()}, at::kFloat);
    TeacherForcedClip r;
    r.clip_id = clip.id();
    Sampling all;  // rate 1.0: every idle frame is a negative, as deployed
    for (const Sequence& seq : make_sequences(clip, in->tmpl, in->opt, all)) {
      Batch b = to_device(collate({&seq}, {cf}), device);
      DSTOutput o = model->forward(b.input_ids, b.attention_mask, b.frames, b.decision_index, b.lm_index);
      r.counts += teacher_forced_counts(o.speaking_logits, o.dst_logits, o.lm_logits, b, cfg.eval.speak_threshold,
                                        cfg.eval.dst_threshold, o.state_logits);
      if (sweep) {
        labelled(o.speaking_logits, b.speaking_labels, b.decision_index, r.speak_logits, r.speak_labels);
        labelled(o.dst_logits, b.dst_update_labels, b.decision_index, r.dst_logits, r.dst_labels);
      }
    }
    mine.push_back(std::move(r));
  });
  std::vector<std::string> parts = comm.gather_bytes(clips_to_bytes(mine), 0);
  if (comm.rank() != 0) return nullptr;
  std::vector<TeacherForcedClip> all;
  for (const auto& p : parts)
    for (auto& c : clips_from_bytes(p)) all.push_back(std::move(c));
  std::sort(all.begin(), all.end(), [](const TeacherForcedClip& a, const TeacherForcedClip& b) { return a.clip_id < b.clip_id; });
  TeacherForcedCounts total;
  std::vector<float> sl, dl;
  std::vector<uint8_t> sy, dy;
  for (const auto& c : all) {
    total += c.counts;
    sl.insert(sl.end(), c.speak_logits.begin(), c.speak_logits.end());
    sy.insert(sy.end(), c.speak_labels.begin(), c.speak_labels.end());
    dl.insert(dl.end(), c.dst_logits.begin(), c.dst_logits.end());
    dy.insert(dy.end(), c.dst_labels.begin(), c.dst_labels.end());
  }
  TeacherForcedMetrics m = teacher_forced_metrics(total);
  nlohmann::ordered_json j;
  j["speaking"] = {{"precision", opt_json(m.speaking_precision)}, {"recall", opt_json(m.speaking_recall)},
                   {"f1", opt_json(m.speaking_f1)}};
  j["dst_update"] = {{"precision", opt_json(m.dst_update_precision)}, {"recall", opt_json(m.dst_update_recall)},
                     {"f1", opt_json(m.dst_update_f1)}};
  j["ppl_assistant"] = opt_json(m.ppl_assistant);
  j["ppl_dst"] = opt_json(m.ppl_dst);
  if (model->has_state_head()) {
    j["state_accuracy"] = opt_json(m.state_accuracy);
    j["state_labels"] = static_cast<int64_t>(total.state.total);
  }
  j["counts"] = {{"clips", static_cast<int64_t>(all.size())},
                 {"assistant_tokens", static_cast<int64_t>(total.assistant.tokens)},
                 {"dst_tokens", static_cast<int64_t>(total.dst.tokens)}};
  if (sweep) {
    j["best_thresholds"] = {{"speak_threshold", choice_json(best_f1_threshold(sl, sy))},
                            {"dst_threshold", choice_json(best_f1_threshold(dl, dy))},
                            {"speak_points", static_cast<int64_t>(sl.size())},
                            {"dst_points", static_cast<int64_t>(dl.size())}};
  }
  j["config"] = nlohmann::ordered_json::parse(eval_config_json(s).dump());
  if (!s.out_dir.empty()) {
    make_dirs(s.out_dir);
    write_file_atomic(s.out_dir + "/teacher_forced.json", j.dump(2) + "\n");
  }
  return j;
}

}  // namespace prospect::eval
