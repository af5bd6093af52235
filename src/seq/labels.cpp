#include "prospect/seq/labels.h"

#include <algorithm>
#include <map>

#include "prospect/core/error.h"
#include "prospect/core/rng.h"

namespace prospect {

bool keep_idle_frame(const Sampling& s, const std::string& clip_id, int64_t frame) {
  if (s.rate >= 1.0) return true;
  if (s.rate <= 0.0) return false;
  uint64_t h = splitmix64(s.seed ^ splitmix64(s.epoch) ^ fnv1a64(clip_id) ^ splitmix64(static_cast<uint64_t>(frame)));
  return static_cast<long double>(h) < static_cast<long double>(s.rate) * 18446744073709551616.0L;
}

namespace {

// The whole body of a clip (no prefix) with its labels, and where each frame's unit (the frame and
// the turns after it) begins: windows are cut only between units.
struct Body {
  std::vector<int32_t> ids;
  std::vector<int64_t> speaking, dst_update, speaking_gen, dst_gen;
  std::vector<std::vector<int64_t>> dst_state;  // per position with state labels, else empty
  std::vector<int64_t> image_frame;  // clip-relative frame index per body position (-1: not an image)
  struct Unit {
    size_t item = 0, pos = 0;  // first item, first body position
    int64_t frame = 0;
  };
  std::vector<Unit> units;
};

// Labels of a decision point whose next item is `next` (null: end of the stream).
void decide(const Clip& clip, const StreamItem* next, int64_t* speaking, int64_t* dst_update) {
  Role r = next && !next->is_frame ? clip.conversation[next->turn].role : Role::System;
  bool turn = next && !next->is_frame;
  *dst_update = turn && r == Role::DstUpdate ? 1 : 0;
  *speaking = !turn ? 0 : r == Role::Assistant ? 1 : r == Role::DstUpdate ? kIgnore : 0;
}

Body render_body(const Clip& clip, const ChatTemplate& tmpl, const SeqOptions& opt, const Sampling& sampling,
                 const std::vector<StreamItem>& items) {
  PROSPECT_CHECK(opt.image_id >= 0, "the <image> token id is not set");
  Body b;
  auto push = [&](int32_t id, int64_t image) {
    b.ids.push_back(id);
    for (auto* v : {&b.speaking, &b.dst_update, &b.speaking_gen, &b.dst_gen}) v->push_back(kIgnore);
    if (opt.state_steps > 0) b.dst_state.emplace_back();
    b.image_frame.push_back(image);
  };
  const std::string cid = clip.id();
  // state labels: the reference state as the stream goes, one label vector per decision point
  const bool with_state = opt.state_steps > 0;
  std::vector<std::string> steps;
  std::map<std::string, StepState> state;
  if (with_state) {
    steps = step_ids(clip);
    if (static_cast<int64_t>(steps.size()) > opt.state_steps)
      fail("clip {}: {} steps, but the state head covers {} (model.dst_state_steps)", cid, steps.size(),
           opt.state_steps);
    double fps = clip.fps > 0 ? clip.fps : opt.fps;
    PROSPECT_CHECK(fps > 0, "clip {}: no fps (neither the clip nor the store names one)", cid);
    state = initial_state(clip, fps);
  }
  auto label_state = [&](size_t p) {
    if (!with_state || (b.speaking[p] == kIgnore && b.dst_update[p] == kIgnore)) return;
    std::vector<int64_t>& v = b.dst_state[p];
    for (const std::string& id : steps) v.push_back(static_cast<int64_t>(state.at(id)));
  };
  for (size_t i = 0; i < items.size(); ++i) {
    const StreamItem& it = items[i];
    const StreamItem* next = i + 1 < items.size() ? &items[i + 1] : nullptr;
    if (it.is_frame) {
      b.units.push_back({i, b.ids.size(), it.frame});
      size_t p = b.ids.size();
      push(opt.image_id, it.frame - clip.start_frame_idx);
      bool next_turn = next && !next->is_frame;
      // (a) the decision is taken after the user has spoken
      if (next_turn && clip.conversation[next->turn].role == Role::User) continue;
      if (!next_turn && !keep_idle_frame(sampling, cid, it.frame)) continue;
      decide(clip, next, &b.speaking[p], &b.dst_update[p]);
      label_state(p);
      continue;
    }
    PROSPECT_CHECK(!b.units.empty(), "clip {}: turn {} comes before any frame", cid, it.turn);
    const Turn& turn = clip.conversation[it.turn];
    size_t header_len = 0;
    std::vector<int32_t> ids = turn_ids(turn, tmpl, &header_len);
    size_t base = b.ids.size();
    for (int32_t id : ids) push(id, -1);
    size_t last = base + ids.size() - 1;  // the end-of-turn token
    if (turn.role == Role::Assistant || turn.role == Role::DstUpdate) {
      auto& gen = turn.role == Role::Assistant ? b.speaking_gen : b.dst_gen;
      // from the last header token (or the token before the turn) through the token before end-of-turn
      size_t from = header_len > 0 ? base + header_len - 1 : base - 1;
      for (size_t t = from; t < last; ++t) gen[t] = b.ids[t + 1];
    }
    if (with_state && turn.role == Role::DstUpdate)
      for (const DstTransition& tr : turn.updates) apply_transition(state, tr);
    decide(clip, next, &b.speaking[last], &b.dst_update[last]);
    label_state(last);
  }
  return b;
}

Sequence make_window(const Clip& clip, const std::vector<int32_t>& prefix, const Body& b, size_t from, size_t to,
                     int window) {
  Sequence s;
  s.clip_id = clip.id();
  s.window = window;
  s.prefix_len = prefix.size();
  s.ids = prefix;
  for (auto* v : {&s.speaking, &s.dst_update, &s.speaking_gen, &s.dst_gen}) v->assign(prefix.size(), kIgnore);
  s.ids.insert(s.ids.end(), b.ids.begin() + from, b.ids.begin() + to);
  s.speaking.insert(s.speaking.end(), b.speaking.begin() + from, b.speaking.begin() + to);
  s.dst_update.insert(s.dst_update.end(), b.dst_update.begin() + from, b.dst_update.begin() + to);
  s.speaking_gen.insert(s.speaking_gen.end(), b.speaking_gen.begin() + from, b.speaking_gen.begin() + to);
  s.dst_gen.insert(s.dst_gen.end(), b.dst_gen.begin() + from, b.dst_gen.begin() + to);
  if (!b.dst_state.empty()) {
    s.dst_state.assign(prefix.size(), {});
    s.dst_state.insert(s.dst_state.end(), b.dst_state.begin() + from, b.dst_state.begin() + to);
  }
  s.first_frame = -1;
  for (size_t p = from; p < to; ++p)
    if (b.image_frame[p] >= 0) {
      if (s.first_frame < 0) s.first_frame = b.image_frame[p] + clip.start_frame_idx;
      s.frame_index.push_back(b.image_frame[p]);
    }
  return s;
}

// The summary request and its answer at the end of a window: the answer's content and end-of-turn
// are speaking_gen targets; no decision point (the request prompts the answer).
void append_summary(Sequence& s, const std::string& progress, const ChatTemplate& tmpl) {
  size_t header_end = 0;
  std::vector<int32_t> ids = summary_turn_ids(progress, tmpl, &header_end);
  const size_t base = s.ids.size();
  s.ids.insert(s.ids.end(), ids.begin(), ids.end());
  for (auto* v : {&s.speaking, &s.dst_update, &s.speaking_gen, &s.dst_gen}) v->resize(s.ids.size(), kIgnore);
  if (!s.dst_state.empty()) s.dst_state.resize(s.ids.size());
  for (size_t t = base + header_end; t + 1 < s.ids.size(); ++t) s.speaking_gen[t] = s.ids[t + 1];
}

}  // namespace

std::vector<Sequence> make_sequences(const Clip& clip, const ChatTemplate& tmpl, const SeqOptions& opt,
                                     const Sampling& sampling) {
  std::vector<StreamItem> items = stream_items(clip, opt);
  std::vector<int32_t> prefix = prefix_ids(clip, tmpl, opt);
  Body b = render_body(clip, tmpl, opt, sampling, items);
  if (b.units.empty()) return {};
  if (prefix.size() + b.ids.size() <= static_cast<size_t>(opt.max_seq_len))
    return {make_window(clip, prefix, b, 0, b.ids.size(), 0)};

  // Progress summaries (SPEC §3): a window cut before the clip's end ends with ProAssist's summary
  // turns when an assistant turn before the cut carries one; room for the longest is kept.
  size_t reserve = 0;
  for (const Turn& t : clip.conversation) {
    if (t.progress.empty()) continue;
    size_t unused = 0;
    reserve = std::max(reserve, summary_turn_ids(t.progress, tmpl, &unused).size());
  }
  auto progress_before = [&](size_t item) -> const std::string* {
    const std::string* last = nullptr;
    for (size_t i = 0; i < item; ++i)
      if (!items[i].is_frame && !clip.conversation[items[i].turn].progress.empty())
        last = &clip.conversation[items[i].turn].progress;
    return last;
  };

  // windows: BOS + system + state turn, then whole units while they fit (at least one)
  std::vector<Sequence> out;
  size_t u = 0;
  while (u < b.units.size()) {
    std::vector<int32_t> wprefix = prefix;
    if (opt.dst_turns) {
      auto st = state_turn_ids(reference_state(clip, opt, items, b.units[u].item), tmpl);
      wprefix.insert(wprefix.end(), st.begin(), st.end());
    }
    size_t from = b.units[u].pos, to = from;
    size_t v = u;
    while (v < b.units.size()) {
      size_t end = v + 1 < b.units.size() ? b.units[v + 1].pos : b.ids.size();
      if (v > u && wprefix.size() + (end - from) + reserve > static_cast<size_t>(opt.max_seq_len)) break;
      to = end;
      ++v;
    }
    out.push_back(make_window(clip, wprefix, b, from, to, static_cast<int>(out.size())));
    const std::string* progress = v < b.units.size() ? progress_before(b.units[v].item) : nullptr;
    if (progress) append_summary(out.back(), *progress, tmpl);
    u = v;
  }
  return out;
}

int64_t clip_token_count(const Clip& clip, const ChatTemplate& tmpl, const SeqOptions& opt) {
  int64_t n = 0;
  for (const Sequence& s : make_sequences(clip, tmpl, opt, Sampling{})) n += static_cast<int64_t>(s.ids.size());
  return n;
}

}  // namespace prospect
