#include "prospect/eval/evaluate.h"

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "prospect/core/error.h"
#include "prospect/data/store.h"
#include "prospect/dist/communicator.h"
#include "prospect/eval/stream.h"
#include "prospect/eval/stream_model.h"
#include "prospect/eval/teacher_forced.h"
#include "prospect/model/dst_model.h"
#include "prospect/seq/collate.h"
#include "prospect/seq/format.h"
#include "prospect/seq/labels.h"
#include "prospect/text/chat_template.h"
#include "prospect/text/tokenizer.h"

namespace fs = std::filesystem;

namespace prospect::eval {

EvalSetup make_eval_setup(const Config& cfg, const std::string& checkpoint_dir, const std::string& split,
                          const std::string& out_dir) {
  EvalSetup s;
  s.cfg = cfg;
  s.split = split;
  s.store_path = split == "train" ? cfg.data.train : split == "val" ? cfg.data.val : cfg.data.test;
  s.out_dir = out_dir;
  s.checkpoint = read_checkpoint(checkpoint_dir);
  check_model_config(cfg, s.checkpoint);
  // A training checkpoint names its template and tokenizer; a bare model folder uses the config's.
  s.layout = s.checkpoint.layout.value_or(sequence_layout(cfg));
  s.tokenizer_path = s.checkpoint.layout ? s.checkpoint.tokenizer_path : cfg.data.tokenizer;
  return s;
}

nlohmann::json eval_config_json(const EvalSetup& s) {
  const Config& c = s.cfg;
  nlohmann::json j;
  j["split"] = s.split;
  j["checkpoint_step"] = s.checkpoint.trainer ? s.checkpoint.trainer->step : int64_t{-1};
  j["template"] = s.layout.template_name;
  j["data"] = {{"frames", c.data.frames},
               {"max_seq_len", c.data.max_seq_len},
               {"dst_turns", c.data.dst_turns},
               {"system_prompt", c.data.system_prompt}};
  j["eval"] = {{"speak_threshold", c.eval.speak_threshold},
               {"dst_threshold", c.eval.dst_threshold},
               {"match_before_s", c.eval.match_before_s},
               {"match_after_s", c.eval.match_after_s},
               {"overflow_keep", c.eval.overflow_keep},
               {"max_turns_per_frame", c.eval.max_turns_per_frame},
               {"max_new_tokens", c.eval.max_new_tokens}};
  return j;
}

namespace {

StreamTemplate stream_template(const ChatTemplate& tmpl) {
  StreamTemplate t;
  t.assistant_header = tmpl.header(Role::Assistant);
  t.dst_header = tmpl.header(Role::DstUpdate);
  t.end_of_turn = tmpl.end_of_turn;
  const Tokenizer* tok = tmpl.tok;
  t.decode = [tok](const std::vector<int32_t>& ids) { return tok->decode(ids); };
  t.state_turn = [&tmpl](const std::vector<std::pair<std::string, StepState>>& st) { return state_turn_ids(st, tmpl); };
  return t;
}

StreamOptions stream_options(const Config& c) {
  StreamOptions o;
  o.speak_threshold = c.eval.speak_threshold;
  o.dst_threshold = c.eval.dst_threshold;
  o.use_dst = c.data.dst_turns;
  o.max_turns_per_frame = c.eval.max_turns_per_frame;
  o.max_new_tokens = c.eval.max_new_tokens;
  o.max_seq_len = c.data.max_seq_len;
  o.overflow_keep = c.eval.overflow_keep;
  return o;
}

// The clip as the loop streams it: frames and reference user turns (assistant and DST turns of the
// reference are never shown).
StreamClip stream_input(const Clip& clip, const std::vector<float>& rows, int64_t dim, double fps,
                        const ChatTemplate& tmpl, const SeqOptions& opt) {
  StreamClip sc;
  sc.clip_id = clip.id();
  sc.prefix = prefix_ids(clip, tmpl, opt);
  for (const StreamItem& it : stream_items(clip, opt)) {
    if (it.is_frame) {
      sc.items.push_back({true, it.frame, {}});
    } else if (clip.conversation[it.turn].role == Role::User) {
      sc.items.push_back({false, it.frame, turn_ids(clip.conversation[it.turn], tmpl)});
    }
  }
  sc.steps = step_ids(clip);
  sc.initial_state = initial_state(clip, fps);
  sc.embeddings = rows.data();
  sc.first_frame = clip.start_frame_idx;
  sc.dim = dim;
  return sc;
}

}  // namespace

// What both modes open: the store, the model (checked against the store, the config and the
// tokenizer), the template and the sequence options.
struct Opened {
  std::unique_ptr<Store> store;
  DSTProActLlama model{nullptr};
  std::unique_ptr<Tokenizer> tok;
  ChatTemplate tmpl;
  SeqOptions opt;
};

static std::unique_ptr<Opened> open_all(const EvalSetup& s) {
  const Config& cfg = s.cfg;
  if (cfg.train.threads > 0) at::set_num_threads(cfg.train.threads);
  auto o = std::make_unique<Opened>();
  o->store = std::make_unique<Store>(s.store_path);
  o->model = load_checkpoint_model(s.checkpoint);
  o->model->eval();
  if (o->model->feature_dim != o->store->embedding_dim())
    fail("split '{}' ({}): frame embeddings have dimension {}, but the model of {} takes {} (model.feature_dim)",
         s.split, s.store_path, o->store->embedding_dim(), s.checkpoint.dir, o->model->feature_dim);
  o->tok = load_tokenizer(s.tokenizer_path);
  if (o->tok->vocab_size() > o->model->image_token_id)
    fail("tokenizer {} has {} tokens, but the model of {} has {} text tokens (its <image> id)", s.tokenizer_path,
         o->tok->vocab_size(), s.checkpoint.dir, o->model->image_token_id);
  o->tmpl = make_chat_template(s.layout.template_name, *o->tok);
  o->opt = seq_options(cfg.data, static_cast<int32_t>(o->model->image_token_id), o->store->fps());
  return o;
}

// Runs body on this rank's clips (round-robin by clip index). An error on one rank ends the job at
// once: the others would otherwise wait for it in the gather until the timeout.
template <typename F>
static void for_my_clips(Communicator& comm, int64_t n, F body) {
  try {
    for (int64_t c = comm.rank(); c < n; c += comm.size()) body(c);
  } catch (const Error& e) {
    if (comm.size() > 1) {
      spdlog::error("{}", e.what());
      comm.abort(e.code);
    }
    throw;
  }
}

std::optional<EvalResult> evaluate_stream(const EvalSetup& s, Communicator& comm) {
  const Config& cfg = s.cfg;
  auto opened = open_all(s);
  Store& store = *opened->store;
  DSTProActLlama& model = opened->model;
  const ChatTemplate& tmpl = opened->tmpl;
  const SeqOptions& opt = opened->opt;
  StreamTemplate st = stream_template(tmpl);
  StreamOptions so = stream_options(cfg);
  auto sm = make_stream_model(model, cfg.data.max_seq_len);

  const int64_t n = store.num_clips();
  std::vector<ClipResult> mine;
  int64_t done = 0, reencodes = 0;
  auto t0 = std::chrono::steady_clock::now();
  for_my_clips(comm, n, [&](int64_t c) {
    Clip clip = store.clip(c);
    double fps = clip.fps > 0 ? clip.fps : store.fps();
    PROSPECT_CHECK(fps > 0, "{}: clip {}: no fps (neither the clip nor the store names one)", s.store_path, clip.id());
    std::vector<float> rows = store.read_clip(c);
    PROSPECT_CHECK(static_cast<int64_t>(rows.size()) == clip.num_frames() * store.embedding_dim(),
                   "{}: clip {} stores {} rows for frames {}..{} ({} frames)", s.store_path, clip.id(),
                   store.clip_rows(c), clip.start_frame_idx, clip.end_frame_idx, clip.num_frames());
    StreamClip sc = stream_input(clip, rows, store.embedding_dim(), fps, tmpl, opt);
    StreamResult r = stream_clip(*sm, sc, st, so);
    reencodes += r.reencodes;
    mine.push_back(evaluate_clip(clip_record(clip, store.fps(), std::move(r.predicted)), cfg.eval.match_before_s,
                                 cfg.eval.match_after_s));
    ++done;
    double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("clip {} ({}/{} on this rank): {} frames, {} turns generated, {} re-encodes, {:.1f} s", clip.id(),
                 done, (n - comm.rank() + comm.size() - 1) / comm.size(), clip.num_frames(), r.generated_turns,
                 r.reencodes, el);
  });
  spdlog::info("{} clips streamed on this rank, {} context re-encodes", done, reencodes);
  std::optional<EvalResult> res = gather_results(comm, mine, 0);
  if (res && !s.out_dir.empty()) {
    fs::create_directories(s.out_dir);
    write_eval_json(s.out_dir + "/eval.json", res->metrics, eval_config_json(s));
    write_predictions_jsonl(s.out_dir + "/predictions.jsonl", res->clips);
  }
  return res;
}

// ---- teacher-forced ----

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
struct TfClip {
  std::string clip_id;
  TeacherForcedCounts counts;
  std::vector<float> speak_logits, dst_logits;
  std::vector<uint8_t> speak_labels, dst_labels;
};

void labelled(const at::Tensor& logits, const at::Tensor& labels, const at::Tensor& index, std::vector<float>& lo,
              std::vector<uint8_t>& la) {
  at::Tensor y = labels.reshape(-1).index_select(0, index);
  at::Tensor keep = y != kIgnore;
  at::Tensor l = logits.reshape(-1).to(at::kFloat).masked_select(keep).contiguous();
  at::Tensor t = y.masked_select(keep).contiguous();
  const float* lp = l.data_ptr<float>();
  const int64_t* tp = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < l.numel(); ++i) {
    lo.push_back(lp[i]);
    la.push_back(tp[i] == 1 ? 1 : 0);
  }
}

std::string tf_bytes(const std::vector<TfClip>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& c : v)
    a.push_back({{"clip_id", c.clip_id}, {"counts", c.counts.v}, {"speak_logits", c.speak_logits},
                 {"speak_labels", c.speak_labels}, {"dst_logits", c.dst_logits}, {"dst_labels", c.dst_labels}});
  return a.dump();
}

std::vector<TfClip> tf_from_bytes(const std::string& bytes) {
  std::vector<TfClip> out;
  try {
    for (const auto& j : nlohmann::json::parse(bytes)) {
      TfClip c;
      c.clip_id = j.at("clip_id").get<std::string>();
      c.counts.v = j.at("counts").get<std::array<double, 10>>();
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
  auto opened = open_all(s);
  Store& store = *opened->store;
  DSTProActLlama& model = opened->model;
  torch::NoGradGuard ng;
  const at::Device device = model->lm_head_weight().device();
  std::vector<TfClip> mine;
  for_my_clips(comm, store.num_clips(), [&](int64_t c) {
    Clip clip = store.clip(c);
    std::vector<float> rows = store.read_clip(c);
    at::Tensor cf = at::from_blob(rows.data(), {store.clip_rows(c), store.embedding_dim()}, at::kFloat);
    TfClip r;
    r.clip_id = clip.id();
    Sampling all;  // rate 1.0: every idle frame is a negative, as deployed
    for (const Sequence& seq : make_sequences(clip, opened->tmpl, opened->opt, all)) {
      Batch b = to_device(collate({&seq}, {cf}), device);
      DSTOutput o = model->forward(b.input_ids, b.attention_mask, b.frames, b.decision_index, b.lm_index);
      r.counts += teacher_forced_counts(o.speaking_logits, o.dst_logits, o.lm_logits, b, cfg.eval.speak_threshold,
                                        cfg.eval.dst_threshold);
      if (sweep) {
        labelled(o.speaking_logits, b.speaking_labels, b.decision_index, r.speak_logits, r.speak_labels);
        labelled(o.dst_logits, b.dst_update_labels, b.decision_index, r.dst_logits, r.dst_labels);
      }
    }
    mine.push_back(std::move(r));
  });
  std::vector<std::string> parts = comm.gather_bytes(tf_bytes(mine), 0);
  if (comm.rank() != 0) return nullptr;
  std::vector<TfClip> all;
  for (const auto& p : parts)
    for (auto& c : tf_from_bytes(p)) all.push_back(std::move(c));
  std::sort(all.begin(), all.end(), [](const TfClip& a, const TfClip& b) { return a.clip_id < b.clip_id; });
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
  j["counts"] = {{"clips", static_cast<int64_t>(all.size())},
                 {"assistant_tokens", static_cast<int64_t>(total.v[7])},
                 {"dst_tokens", static_cast<int64_t>(total.v[9])}};
  if (sweep) {
    j["best_thresholds"] = {{"speak_threshold", choice_json(best_f1_threshold(sl, sy))},
                            {"dst_threshold", choice_json(best_f1_threshold(dl, dy))},
                            {"speak_points", static_cast<int64_t>(sl.size())},
                            {"dst_points", static_cast<int64_t>(dl.size())}};
  }
  j["config"] = nlohmann::ordered_json::parse(eval_config_json(s).dump());
  if (!s.out_dir.empty()) {
    fs::create_directories(s.out_dir);
    std::ofstream(s.out_dir + "/teacher_forced.json") << j.dump(2) << "\n";
  }
  return j;
}

}  // namespace prospect::eval
