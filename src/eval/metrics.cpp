// Per-clip counts (SPEC §8). Integers only: dividing happens once, after every clip is summed.
#include "prospect/eval/metrics.h"

#include <algorithm>
#include <set>

#include "prospect/core/error.h"
#include "prospect/eval/matching.h"
#include "prospect/eval/proassist_match.h"

namespace prospect::eval {

using ojson = nlohmann::ordered_json;

Event assistant_event(int64_t frame, std::string text) {
  Event e;
  e.frame = frame;
  e.role = EventRole::Assistant;
  e.text = std::move(text);
  return e;
}

Event dst_event(int64_t frame, std::string id, std::string transition) {
  Event e;
  e.frame = frame;
  e.role = EventRole::DstUpdate;
  e.id = std::move(id);
  e.transition = std::move(transition);
  return e;
}

Event malformed_event(int64_t frame, std::string text) {
  Event e;
  e.frame = frame;
  e.role = EventRole::DstUpdate;
  e.text = std::move(text);
  return e;
}

// ---- predictions.jsonl records ----

static ojson event_to_json(const Event& e) {
  ojson j;
  j["role"] = e.role == EventRole::Assistant ? "assistant" : "DST_UPDATE";
  j["frame"] = e.frame;
  if (e.role == EventRole::Assistant) {
    j["text"] = e.text;
  } else if (e.id) {
    j["id"] = *e.id;
    j["transition"] = e.transition;
  } else {
    j["id"] = nullptr;
    j["text"] = e.text;
  }
  return j;
}

static Event event_from_json(const nlohmann::json& j, const std::string& where, int index) {
  if (!j.is_object()) fail("{}: an event must be an object, found {}", where, j.type_name());
  auto role = j.find("role");
  auto frame = j.find("frame");
  if (role == j.end() || !role->is_string()) fail("{}: field 'role' missing or not a string", where);
  if (frame == j.end() || !frame->is_number_integer()) fail("{}: field 'frame' missing or not an integer", where);
  Event e;
  e.frame = frame->get<int64_t>();
  e.index = index;
  std::string r = role->get<std::string>();
  auto text = j.find("text");
  if (text != j.end() && !text->is_null() && !text->is_string()) fail("{}: field 'text' must be a string", where);
  if (text != j.end() && text->is_string()) e.text = text->get<std::string>();
  if (r == "assistant") {
    e.role = EventRole::Assistant;
    if (text == j.end() || !text->is_string()) fail("{}: assistant event without a 'text' string", where);
  } else if (r == "DST_UPDATE") {
    e.role = EventRole::DstUpdate;
    auto id = j.find("id");
    if (id == j.end()) fail("{}: DST_UPDATE event without field 'id' (null for a malformed update)", where);
    if (id->is_string()) {
      e.id = id->get<std::string>();
      auto tr = j.find("transition");
      if (tr == j.end() || !tr->is_string()) fail("{}: DST_UPDATE event without a 'transition' string", where);
      e.transition = tr->get<std::string>();
      if (e.transition != "start" && e.transition != "complete")
        fail("{}: transition '{}' is not 'start' or 'complete'", where, e.transition);
    } else if (!id->is_null()) {
      fail("{}: field 'id' must be a string or null, found {}", where, id->type_name());
    }
  } else {
    fail("{}: role '{}' is not 'assistant' or 'DST_UPDATE'", where, r);
  }
  return e;
}

ojson record_to_json(const ClipRecord& r) {
  ojson j;
  j["clip_id"] = r.clip_id;
  if (!r.dataset.empty()) j["dataset"] = r.dataset;
  j["fps"] = r.fps;
  j["first_frame"] = r.first_frame;
  j["last_frame"] = r.last_frame;
  ojson init = ojson::object();
  for (const auto& [step, s] : r.initial_state) init[step] = state_name(s);
  j["initial_state"] = init;
  j["reference"] = ojson::array();
  for (const auto& e : r.reference) j["reference"].push_back(event_to_json(e));
  j["predicted"] = ojson::array();
  for (const auto& e : r.predicted) j["predicted"].push_back(event_to_json(e));
  return j;
}

ClipRecord record_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) fail("{}: a clip record must be an object, found {}", where, j.type_name());
  auto need = [&](const char* key) -> const nlohmann::json& {
    auto it = j.find(key);
    if (it == j.end()) fail("{}: field '{}' missing", where, key);
    return *it;
  };
  ClipRecord r;
  const auto& id = need("clip_id");
  if (!id.is_string()) fail("{}: field 'clip_id' must be a string", where);
  r.clip_id = id.get<std::string>();
  std::string at = where + " (clip " + r.clip_id + ")";
  if (auto ds = j.find("dataset"); ds != j.end()) {
    if (!ds->is_string()) fail("{}: field 'dataset' must be a string", at);
    r.dataset = ds->get<std::string>();
  }
  const auto& fps = need("fps");
  if (!fps.is_number() || !(fps.get<double>() > 0)) fail("{}: field 'fps' must be a number > 0", at);
  r.fps = fps.get<double>();
  const auto& ff = need("first_frame");
  const auto& lf = need("last_frame");
  if (!ff.is_number_integer() || !lf.is_number_integer()) fail("{}: 'first_frame' and 'last_frame' must be integers", at);
  r.first_frame = ff.get<int64_t>();
  r.last_frame = lf.get<int64_t>();
  if (r.last_frame < r.first_frame) fail("{}: last_frame {} < first_frame {}", at, r.last_frame, r.first_frame);
  const auto& init = need("initial_state");
  if (!init.is_object()) fail("{}: field 'initial_state' must be an object {{step: state}}", at);
  for (auto it = init.begin(); it != init.end(); ++it) {
    if (!it.value().is_string()) fail("{}: initial_state.{} must be a string", at, it.key());
    r.initial_state[it.key()] = parse_step_state(it.value().get<std::string>(), at + " initial_state." + it.key());
  }
  for (const char* key : {"reference", "predicted"}) {
    const auto& list = need(key);
    if (!list.is_array()) fail("{}: field '{}' must be an array", at, key);
    auto& out = std::string(key) == "reference" ? r.reference : r.predicted;
    for (size_t i = 0; i < list.size(); ++i)
      out.push_back(event_from_json(list[i], fmt::format("{} {}[{}]", at, key, i), static_cast<int>(i)));
  }
  return r;
}

// ---- counts ----

#define PROSPECT_COUNT_FIELDS(X)                                                                       \
  X(clips) X(frames) X(turns) X(speak_tp) X(speak_fp) X(speak_fn) X(speak_tn) X(speak_pred)             \
  X(speak_ref) X(speak_matched) X(update_tp) X(update_fp) X(update_fn) X(update_tn) X(update_pred)      \
  X(update_ref) X(update_matched) X(transition_matched) X(state_equal) X(state_pairs) X(joint_equal)    \
  X(joint_frames) X(generated_updates) X(malformed_updates) X(invalid_updates)

ClipCounts& ClipCounts::operator+=(const ClipCounts& o) {
#define X(f) f += o.f;
  PROSPECT_COUNT_FIELDS(X)
#undef X
  return *this;
}

bool ClipCounts::operator==(const ClipCounts& o) const {
#define X(f) if (f != o.f) return false;
  PROSPECT_COUNT_FIELDS(X)
#undef X
  return true;
}

ojson counts_to_json(const ClipCounts& c) {
  ojson j;
#define X(f) j[#f] = c.f;
  PROSPECT_COUNT_FIELDS(X)
#undef X
  return j;
}

ClipCounts counts_from_json(const nlohmann::json& j) {
  ClipCounts c;
#define X(f)                                                                          \
  if (!j.contains(#f) || !j[#f].is_number_integer()) fail("clip counts: field '{}' missing", #f); \
  c.f = j[#f].get<int64_t>();
  PROSPECT_COUNT_FIELDS(X)
#undef X
  return c;
}

// ---- one clip ----

namespace {

// Frame view: positive frames (inside first..last) of each side -> tp, fp, fn, tn.
void frame_counts(const std::vector<const Event*>& ref, const std::vector<const Event*>& pred, const ClipRecord& r,
                  int64_t& tp, int64_t& fp, int64_t& fn, int64_t& tn) {
  auto positives = [&](const std::vector<const Event*>& ev) {
    std::set<int64_t> s;
    for (const Event* e : ev)
      if (e->frame >= r.first_frame && e->frame <= r.last_frame) s.insert(e->frame);
    return s;
  };
  std::set<int64_t> R = positives(ref), P = positives(pred);
  int64_t both = 0;
  for (int64_t f : P) both += R.count(f);
  tp = both;
  fp = static_cast<int64_t>(P.size()) - both;
  fn = static_cast<int64_t>(R.size()) - both;
  tn = (r.last_frame - r.first_frame + 1) - tp - fp - fn;
}

std::vector<int64_t> frames_of(const std::vector<const Event*>& ev) {
  std::vector<int64_t> f;
  for (const Event* e : ev) f.push_back(e->frame);
  return f;
}

// Events in time order (frame, then index), split by role.
std::vector<const Event*> in_order(const std::vector<Event>& ev, EventRole role) {
  std::vector<const Event*> out;
  for (const Event& e : ev)
    if (e.role == role) out.push_back(&e);
  std::stable_sort(out.begin(), out.end(), [](const Event* a, const Event* b) {
    return a->frame != b->frame ? a->frame < b->frame : a->index < b->index;
  });
  return out;
}

}  // namespace

ClipResult evaluate_clip(const ClipRecord& rec, double match_before_s, double match_after_s) {
  if (rec.last_frame < rec.first_frame)
    fail("clip {}: last_frame {} < first_frame {}", rec.clip_id, rec.last_frame, rec.first_frame);
  if (!(rec.fps > 0)) fail("clip {}: fps must be > 0, found {}", rec.clip_id, rec.fps);
  MatchWindow w = match_window(rec.fps, match_before_s, match_after_s);
  ClipResult out;
  out.clip_id = rec.clip_id;
  out.record = rec;
  ClipCounts& c = out.counts;
  c.clips = 1;
  c.frames = rec.last_frame - rec.first_frame + 1;
  c.turns = static_cast<int64_t>(rec.predicted.size());

  // Speaking: frames, then events; the matched pairs give the text pairs.
  auto ref_say = in_order(rec.reference, EventRole::Assistant);
  auto pred_say = in_order(rec.predicted, EventRole::Assistant);
  frame_counts(ref_say, pred_say, rec, c.speak_tp, c.speak_fp, c.speak_fn, c.speak_tn);
  c.speak_ref = static_cast<int64_t>(ref_say.size());
  c.speak_pred = static_cast<int64_t>(pred_say.size());
  auto say_pairs = match_events(frames_of(ref_say), frames_of(pred_say), w);
  c.speak_matched = static_cast<int64_t>(say_pairs.size());
  for (const auto& p : say_pairs) out.text_pairs.push_back({ref_say[p.ref]->text, pred_say[p.pred]->text});

  // DST update decision: any step; a malformed update matches nothing.
  auto ref_upd = in_order(rec.reference, EventRole::DstUpdate);
  auto pred_upd = in_order(rec.predicted, EventRole::DstUpdate);
  frame_counts(ref_upd, pred_upd, rec, c.update_tp, c.update_fp, c.update_fn, c.update_tn);
  c.update_ref = static_cast<int64_t>(ref_upd.size());
  c.update_pred = static_cast<int64_t>(pred_upd.size());
  auto well_formed = [&](int i, int j) { return ref_upd[i]->id.has_value() && pred_upd[j]->id.has_value(); };
  c.update_matched = static_cast<int64_t>(match_events(frames_of(ref_upd), frames_of(pred_upd), w, well_formed).size());
  auto same_transition = [&](int i, int j) {
    return well_formed(i, j) && *ref_upd[i]->id == *pred_upd[j]->id && ref_upd[i]->transition == pred_upd[j]->transition;
  };
  c.transition_matched =
      static_cast<int64_t>(match_events(frames_of(ref_upd), frames_of(pred_upd), w, same_transition).size());

  // DST state. Steps: the initial state's, plus any step only a reference update names (not started).
  std::map<std::string, StepState> ref_state = rec.initial_state;
  for (const Event* e : ref_upd)
    if (e->id) ref_state.emplace(*e->id, StepState::NotStarted);
  std::map<std::string, StepState> pred_state = ref_state;
  c.generated_updates = static_cast<int64_t>(pred_upd.size());
  size_t a = 0, b = 0;
  auto apply_pred = [&](const Event* e) {
    if (!e->id)
      ++c.malformed_updates;
    else if (!apply_transition(pred_state, {*e->id, e->transition}))
      ++c.invalid_updates;
  };
  for (int64_t f = rec.first_frame; f <= rec.last_frame; ++f) {
    for (; a < ref_upd.size() && ref_upd[a]->frame <= f; ++a)
      if (ref_upd[a]->id) apply_transition(ref_state, {*ref_upd[a]->id, ref_upd[a]->transition});
    for (; b < pred_upd.size() && pred_upd[b]->frame <= f; ++b) apply_pred(pred_upd[b]);
    if (ref_state.empty()) continue;  // no steps: no DST pairs, no joint-goal frames
    int64_t equal = 0;
    for (auto ri = ref_state.begin(), pi = pred_state.begin(); ri != ref_state.end(); ++ri, ++pi)
      equal += ri->second == pi->second;
    c.state_equal += equal;
    c.state_pairs += static_cast<int64_t>(ref_state.size());
    c.joint_equal += equal == static_cast<int64_t>(ref_state.size());
    c.joint_frames += 1;
  }
  for (; b < pred_upd.size(); ++b) apply_pred(pred_upd[b]);  // after the last frame: counted, no state
  return out;
}

// ---- bytes between ranks ----

std::string serialize_results(const std::vector<ClipResult>& results) {
  ojson arr = ojson::array();
  for (const auto& r : results) {
    ojson j;
    j["clip_id"] = r.clip_id;
    j["counts"] = counts_to_json(r.counts);
    ojson pairs = ojson::array();
    for (const auto& p : r.text_pairs) pairs.push_back({p.reference, p.hypothesis});
    j["text_pairs"] = pairs;
    j["record"] = record_to_json(r.record);
    if (r.proassist) j["proassist"] = proassist_clip_to_json(*r.proassist);
    arr.push_back(std::move(j));
  }
  // Invalid UTF-8 (a generated byte-level token cut in half) is replaced, the same on every rank.
  return arr.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

std::vector<ClipResult> deserialize_results(const std::string& bytes, const std::string& where) {
  nlohmann::json arr;
  try {
    arr = nlohmann::json::parse(bytes);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: clip results do not parse as JSON: {}", where, e.what());
  }
  if (!arr.is_array()) fail("{}: clip results must be a JSON array", where);
  std::vector<ClipResult> out;
  for (size_t i = 0; i < arr.size(); ++i) {
    const auto& j = arr[i];
    std::string at = fmt::format("{} result {}", where, i);
    if (!j.is_object() || !j.contains("clip_id") || !j.contains("counts") || !j.contains("text_pairs") ||
        !j.contains("record"))
      fail("{}: needs clip_id, counts, text_pairs, record", at);
    ClipResult r;
    r.clip_id = j["clip_id"].get<std::string>();
    r.counts = counts_from_json(j["counts"]);
    for (const auto& p : j["text_pairs"]) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_string() || !p[1].is_string())
        fail("{}: a text pair must be [reference, hypothesis]", at);
      r.text_pairs.push_back({p[0].get<std::string>(), p[1].get<std::string>()});
    }
    r.record = record_from_json(j["record"], at);
    if (j.contains("proassist"))
      r.proassist = std::make_shared<const ProAssistClip>(proassist_clip_from_json(j["proassist"], at + " proassist"));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace prospect::eval
