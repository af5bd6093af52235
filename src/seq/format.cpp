#include "prospect/seq/format.h"

#include <algorithm>
#include <set>

#include "prospect/core/error.h"

namespace prospect {

SeqOptions seq_options(const DataConfig& d, int32_t image_id, double store_fps) {
  SeqOptions o;
  o.frames = d.frames;
  o.dst_turns = d.dst_turns;
  o.system_prompt = d.system_prompt;
  o.max_seq_len = d.max_seq_len;
  o.image_id = image_id;
  o.fps = store_fps;
  return o;
}

namespace {

// user, then DST_UPDATE, then assistant at a shared frame
int role_rank(Role r) {
  switch (r) {
    case Role::User: return 0;
    case Role::DstUpdate: return 1;
    case Role::Assistant: return 2;
    default: return 3;
  }
}

bool in_stream(const Turn& t, const SeqOptions& opt) {
  if (t.role == Role::System) return false;
  if (t.role == Role::DstUpdate && !opt.dst_turns) return false;
  return true;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

}  // namespace

std::vector<StreamItem> stream_items(const Clip& clip, const SeqOptions& opt) {
  PROSPECT_CHECK(opt.frames == "all" || opt.frames == "turns", "data.frames: expected all | turns, found '{}'",
                 opt.frames);
  std::vector<int> turns;
  for (size_t i = 0; i < clip.conversation.size(); ++i) {
    const Turn& t = clip.conversation[i];
    if (!in_stream(t, opt)) continue;
    if (t.end_frame < clip.start_frame_idx || t.end_frame > clip.end_frame_idx)
      fail("clip {}: turn {} ({}) ends at frame {}, outside the clip's frames {}..{}", clip.id(), i,
           role_name(t.role), t.end_frame, clip.start_frame_idx, clip.end_frame_idx);
    turns.push_back(static_cast<int>(i));
  }
  // stable: file order breaks the remaining ties
  std::stable_sort(turns.begin(), turns.end(), [&](int a, int b) {
    const Turn& x = clip.conversation[a];
    const Turn& y = clip.conversation[b];
    if (x.end_frame != y.end_frame) return x.end_frame < y.end_frame;
    if (role_rank(x.role) != role_rank(y.role)) return role_rank(x.role) < role_rank(y.role);
    return x.time < y.time;
  });

  // frames = turns: only frames inside some turn's range (PROSPECT's sparse data)
  std::vector<std::pair<int64_t, int64_t>> ranges;
  if (opt.frames == "turns")
    for (int i : turns) {
      const Turn& t = clip.conversation[i];
      ranges.emplace_back(std::max(t.start_frame, clip.start_frame_idx), t.end_frame);
    }
  auto shown = [&](int64_t f) {
    if (opt.frames == "all") return true;
    for (auto& r : ranges)
      if (r.first <= f && f <= r.second) return true;
    return false;
  };

  std::vector<StreamItem> items;
  size_t next = 0;
  for (int64_t f = clip.start_frame_idx; f <= clip.end_frame_idx; ++f) {
    if (shown(f)) items.push_back({true, f, -1});
    for (; next < turns.size() && clip.conversation[turns[next]].end_frame == f; ++next)
      items.push_back({false, f, turns[next]});
  }
  return items;
}

std::vector<int32_t> turn_ids(const Turn& turn, const ChatTemplate& tmpl, size_t* header_len) {
  std::vector<int32_t> ids = tmpl.header(turn.role);
  if (header_len) *header_len = ids.size();
  std::vector<int32_t> body =
      tmpl.content(turn.role == Role::DstUpdate ? dst_update_text(turn.updates) : turn.content);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(tmpl.end_of_turn);
  return ids;
}

std::vector<std::string> system_texts(const Clip& clip, const SeqOptions& opt) {
  std::vector<std::string> out;
  for (const Turn& t : clip.conversation)
    if (t.role == Role::System) out.push_back(t.content);
  if (out.empty()) {
    std::string text = opt.system_prompt.empty() ? "Goal: {goal}. Steps: {steps}." : opt.system_prompt;
    std::string steps;
    for (const Step& s : clip.steps) {
      if (!steps.empty()) steps += "; ";
      steps += s.id + " " + s.name;
    }
    replace_all(text, "{goal}", clip.inferred_goal);
    replace_all(text, "{steps}", steps);
    out.push_back(text);
  }
  return out;
}

std::vector<int32_t> prefix_ids(const Clip& clip, const ChatTemplate& tmpl, const SeqOptions& opt) {
  std::vector<int32_t> ids;
  if (tmpl.tok && tmpl.tok->bos_id() >= 0) ids.push_back(tmpl.tok->bos_id());
  for (const std::string& text : system_texts(clip, opt)) {
    Turn sys;
    sys.role = Role::System;
    sys.content = text;
    auto v = turn_ids(sys, tmpl);
    ids.insert(ids.end(), v.begin(), v.end());
  }
  return ids;
}

std::vector<std::pair<std::string, StepState>> reference_state(const Clip& clip, const SeqOptions& opt,
                                                               const std::vector<StreamItem>& items, size_t upto) {
  double fps = clip.fps > 0 ? clip.fps : opt.fps;
  PROSPECT_CHECK(fps > 0, "clip {}: no fps (neither the clip nor the store names one)", clip.id());
  auto state = initial_state(clip, fps);
  for (size_t i = 0; i < upto && i < items.size(); ++i) {
    if (items[i].is_frame) continue;
    const Turn& t = clip.conversation[items[i].turn];
    if (t.role != Role::DstUpdate) continue;
    for (const DstTransition& tr : t.updates) apply_transition(state, tr);
  }
  std::vector<std::pair<std::string, StepState>> out;
  for (const std::string& id : step_ids(clip)) {
    auto it = state.find(id);
    out.emplace_back(id, it == state.end() ? StepState::NotStarted : it->second);
  }
  return out;
}

std::vector<int32_t> summary_turn_ids(const std::string& progress, const ChatTemplate& tmpl,
                                      size_t* answer_header_end) {
  Turn ask, answer;
  ask.role = Role::System;
  ask.content = kSummaryPrompt;
  answer.role = Role::Assistant;
  answer.content = progress;
  std::vector<int32_t> ids = turn_ids(ask, tmpl);
  size_t header_len = 0;
  std::vector<int32_t> a = turn_ids(answer, tmpl, &header_len);
  // the token before the answer's content predicts its first token (a header-less template: the
  // request's end-of-turn)
  *answer_header_end = ids.size() + header_len - 1;
  ids.insert(ids.end(), a.begin(), a.end());
  return ids;
}

std::vector<int32_t> state_turn_ids(const std::vector<std::pair<std::string, StepState>>& state,
                                    const ChatTemplate& tmpl) {
  std::vector<int32_t> ids = tmpl.state_header();
  std::vector<int32_t> body = tmpl.state_turn_content(state);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(tmpl.end_of_turn);
  return ids;
}

}  // namespace prospect
