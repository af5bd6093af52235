#include "prospect/eval/stream.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>

#include "prospect/core/error.h"

namespace prospect::eval {

std::vector<std::pair<std::string, StepState>> ordered_state(const std::vector<std::string>& steps,
                                                             const std::map<std::string, StepState>& state) {
  std::vector<std::pair<std::string, StepState>> out;
  for (const auto& s : steps) {
    auto it = state.find(s);
    out.emplace_back(s, it == state.end() ? StepState::NotStarted : it->second);
  }
  return out;
}

void ContextModel::feed_mixed(const std::vector<int32_t>& ids, const std::vector<const float*>& frames) {
  std::vector<int32_t> run;
  size_t f = 0;
  for (int32_t id : ids) {
    if (id >= 0) {
      run.push_back(id);
      continue;
    }
    if (!run.empty()) feed_tokens(run), run.clear();
    PROSPECT_CHECK(f < frames.size(), "feed_mixed: more frame markers than the {} frames given", frames.size());
    feed_frame(frames[f++]);
  }
  if (!run.empty()) feed_tokens(run);
}

namespace {

// What the context holds after the window prefix, one piece per frame or turn, so that the most
// recent ones can be fed again after an overflow (frames need their embeddings, not a token id).
struct Segment {
  int64_t row = -1;           // a frame: its row in the clip's embeddings
  std::vector<int32_t> ids;   // a turn: its ids
  int64_t len() const { return row >= 0 ? 1 : static_cast<int64_t>(ids.size()); }
};

// One clip streamed through the model: the loop of SPEC §8 and the context it keeps (history_).
class ClipStream {
 public:
  ClipStream(ContextModel& m, const StreamClip& c, const StreamTemplate& t, const StreamOptions& o)
      : model_(m), clip_(c), tmpl_(t), opt_(o), state_(c.initial_state), ref_state_(c.initial_state) {
  }

  StreamResult run() {
    model_.reset();
    PROSPECT_CHECK(static_cast<int64_t>(clip_.prefix.size()) <= opt_.max_seq_len,
                   "clip {}: BOS + system turn take {} tokens, more than data.max_seq_len = {}", clip_.clip_id,
                   clip_.prefix.size(), opt_.max_seq_len);
    model_.feed_tokens(clip_.prefix);
    const auto& items = clip_.items;
    for (size_t i = 0; i < items.size(); ++i) {
      const StreamInput& it = items[i];
      if (it.frame != frame_) {
        frame_ = it.frame;
        turns_this_frame_ = 0;
        scored_this_frame_ = false;
      }
      if (it.is_frame) {
        Segment s;
        s.row = it.frame - clip_.first_frame;
        feed(std::move(s));
      } else {
        feed(Segment{-1, it.ids});
        // drop_middle keeps the context up to here, unless that would leave it no room for its last
        // keep_last_tokens: then this turn does not count, as if it came after the next drop
        if (first_user_end_ < 0 && model_.context_len() + opt_.keep_last_tokens + opt_.reserved_tokens <= opt_.max_seq_len)
          first_user_end_ = model_.context_len();
      }
      // SPEC §3: no decision at a frame whose user turn follows (the user speaks first).
      bool user_follows = it.is_frame && i + 1 < items.size() && !items[i + 1].is_frame && items[i + 1].frame == it.frame;
      if (!user_follows) decide();
      // a frame's step is over when the next frame comes: the ProAssist strategies look here
      bool step_done = i + 1 < items.size() && items[i + 1].is_frame;
      if (step_done && opt_.strategy != ContextStrategy::DstRefresh &&
          model_.context_len() >= opt_.max_seq_len - opt_.reserved_tokens)
        reduce();
    }
    res_.final_state = state_;
    return res_;
  }

 private:
  // Feeds a frame or turn, making room first when it would not fit.
  void feed(Segment s) {
    make_room(s.len(), s.row >= 0 ? "a frame" : "a user turn");
    push(s);
    remember(std::move(s));
  }

  void push(const Segment& s) {
    if (s.row >= 0)
      model_.feed_frame(row(s.row));
    else
      model_.feed_tokens(s.ids);
  }

  const float* row(int64_t r) const { return clip_.embeddings + r * clip_.dim; }

  // Only dst_refresh re-feeds what it kept; the other strategies never look back.
  void remember(Segment s) {
    if (opt_.strategy == ContextStrategy::DstRefresh) history_.push_back(std::move(s));
  }

  void make_room(int64_t n, const char* what) {
    if (model_.context_len() + n <= opt_.max_seq_len) return;
    if (opt_.strategy == ContextStrategy::DstRefresh)
      reencode(n);
    else
      reduce();
    if (model_.context_len() + n > opt_.max_seq_len)
      fail("clip {} frame {}: {} of {} tokens does not fit data.max_seq_len = {} after eval.context_strategy = {} "
           "left {} tokens; raise data.max_seq_len or lower eval.max_new_tokens (drop_middle: eval.keep_last_tokens)",
           clip_.clip_id, frame_, what, n, opt_.max_seq_len, context_strategy_name(opt_.strategy),
           model_.context_len());
  }

  // The ProAssist strategies (stream.h).
  void reduce() {
    const int64_t len = model_.context_len();
    if (opt_.strategy == ContextStrategy::DropMiddle && first_user_end_ >= 0 && len < opt_.keep_last_tokens)
      return;  // nothing in the middle (ProAssist's rule)
    ++res_.reencodes;
    switch (opt_.strategy) {
      case ContextStrategy::DropMiddle:
        if (first_user_end_ >= 0) {
          const int64_t start = std::max<int64_t>(len - opt_.keep_last_tokens, first_user_end_);
          model_.drop(first_user_end_, start);
          spdlog::debug("clip {} frame {}: context {} -> {} tokens (drop_middle: positions {}..{})", clip_.clip_id,
                        frame_, len, model_.context_len(), first_user_end_, start - 1);
          return;
        }
        [[fallthrough]];  // no user turn yet: drop all
      case ContextStrategy::DropAll:
        model_.reset();
        spdlog::debug("clip {} frame {}: context {} -> 0 tokens (drop all)", clip_.clip_id, frame_, len);
        return;
      case ContextStrategy::SummarizeAndDrop: summarize(); return;
      case ContextStrategy::DstRefresh: break;
    }
  }

  void summarize() {
    const int64_t before = model_.context_len();
    model_.feed_tokens(tmpl_.system_turn(kSummaryRequest));
    if (frame_ != INT64_MIN) model_.feed_frame(row(frame_ - clip_.first_frame));
    model_.feed_tokens(tmpl_.assistant_header);
    std::vector<int32_t> out = model_.generate(opt_.summary_max_tokens, tmpl_.end_of_turn);
    res_.reencoded_tokens += model_.context_len() - before;
    if (!out.empty() && out.back() == tmpl_.end_of_turn) out.pop_back();
    // as ProAssist joins them: the initial prompt, the summary, the knowledge
    std::string text = tmpl_.decode(out);
    if (!clip_.system_text.empty()) text = clip_.system_text + " " + text;
    if (!clip_.knowledge.empty()) text += " " + clip_.knowledge;
    std::vector<int32_t> ids = clip_.bos;
    std::vector<int32_t> sys = tmpl_.system_turn(text);
    ids.insert(ids.end(), sys.begin(), sys.end());
    model_.reset();
    if (static_cast<int64_t>(ids.size()) > opt_.max_seq_len)
      fail("clip {} frame {}: the system turn rebuilt from a summary takes {} tokens, more than data.max_seq_len = {}; "
           "lower eval.summary_max_tokens or raise data.max_seq_len",
           clip_.clip_id, frame_, ids.size(), opt_.max_seq_len);
    model_.feed_tokens(ids);
    res_.reencoded_tokens += static_cast<int64_t>(ids.size());
    spdlog::debug("clip {} frame {}: summary of {} tokens, context {} -> {} tokens", clip_.clip_id, frame_, out.size(),
                  before, model_.context_len());
  }

  // SPEC §8 overflow (dst_refresh): BOS, system, a state turn with the predicted state (not for a model
  // trained without DST turns: it never saw one), then the most recent whole frames and turns that fit
  // in overflow_keep tokens (a turn is never cut), fewer when the `need` tokens that come next would not
  // fit otherwise.
  void reencode(int64_t need) {
    ++res_.reencodes;
    model_.reset();
    std::vector<int32_t> head = clip_.prefix;
    if (opt_.use_dst) {
      std::vector<int32_t> st = tmpl_.state_turn(ordered_state(clip_.steps, state_));
      head.insert(head.end(), st.begin(), st.end());
    }
    const int64_t room = opt_.max_seq_len - static_cast<int64_t>(head.size());
    // default: half of what the window leaves after its head, so a full context costs one re-encode
    // per (room / 2) tokens even when the system turn is long
    int64_t keep = std::min<int64_t>(opt_.overflow_keep > 0 ? opt_.overflow_keep : room / 2, room - need);
    size_t first = history_.size();
    int64_t total = 0;
    while (first > 0 && total + history_[first - 1].len() <= keep) total += history_[--first].len();
    history_.erase(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(first));
    // the window in one call: one forward instead of one per frame
    std::vector<int32_t> ids = head;
    std::vector<const float*> frames;
    for (const Segment& s : history_) {
      if (s.row >= 0) {
        ids.push_back(-1);
        frames.push_back(row(s.row));
      } else {
        ids.insert(ids.end(), s.ids.begin(), s.ids.end());
      }
    }
    model_.feed_mixed(ids, frames);
    res_.reencoded_tokens += static_cast<int64_t>(ids.size());
    spdlog::debug("clip {} frame {}: context re-encoded to {} tokens ({} kept)", clip_.clip_id, frame_,
                  model_.context_len(), total);
  }

  // Header fed, content generated through the end-of-turn token (forced when max_new_tokens ran out).
  std::vector<int32_t> generate_turn(const std::vector<int32_t>& header) {
    make_room(static_cast<int64_t>(header.size()) + opt_.max_new_tokens + 1, "a generated turn");
    model_.feed_tokens(header);
    std::vector<int32_t> out = model_.generate(opt_.max_new_tokens, tmpl_.end_of_turn);
    Segment s{-1, header};
    s.ids.insert(s.ids.end(), out.begin(), out.end());
    if (out.empty() || out.back() != tmpl_.end_of_turn) {
      model_.feed_tokens({tmpl_.end_of_turn});
      s.ids.push_back(tmpl_.end_of_turn);
    } else {
      out.pop_back();
    }
    remember(std::move(s));
    ++res_.generated_turns;
    return out;  // content only
  }

  void decide() {
    if (opt_.score_state && !scored_this_frame_) score_state();
    while (true) {
      if (turns_this_frame_ >= opt_.max_turns_per_frame) {
        ++res_.frames_capped;
        return;
      }
      ++res_.decisions;
      if (opt_.use_dst && sigmoid(model_.dst_logit()) > opt_.dst_threshold) {
        dst_turn();
      } else if (sigmoid(model_.speaking_logit()) > opt_.speak_threshold) {
        add(assistant_event(frame_, tmpl_.decode(generate_turn(tmpl_.assistant_header))));
      } else {
        return;
      }
      ++turns_this_frame_;
    }
  }

  // StreamResult's state pairs at this decision point (before any turn generated at this frame).
  void score_state() {
    scored_this_frame_ = true;
    const auto& ups = clip_.reference_updates;
    for (; next_ref_ < ups.size() && ups[next_ref_].first < frame_; ++next_ref_)
      apply_transition(ref_state_, ups[next_ref_].second);
    std::vector<int> head = model_.state_prediction(clip_.steps.size());
    PROSPECT_CHECK(head.size() == clip_.steps.size(), "clip {}: the state head gave {} states for {} steps",
                   clip_.clip_id, head.size(), clip_.steps.size());
    auto ref = ordered_state(clip_.steps, ref_state_);
    auto tracked = ordered_state(clip_.steps, state_);
    for (size_t k = 0; k < ref.size(); ++k) {
      ++res_.state_pairs;
      res_.state_head_correct += head[k] == static_cast<int>(ref[k].second);
      res_.state_tracked_correct += tracked[k].second == ref[k].second;
    }
  }

  void dst_turn() {
    std::string text = tmpl_.decode(generate_turn(tmpl_.dst_header));
    std::optional<std::vector<DstTransition>> ups = parse_dst_update(text);
    if (!ups) {
      add(malformed_event(frame_, text));
      ++res_.generated_updates;
      ++res_.malformed_updates;
      return;
    }
    for (const auto& u : *ups) {
      if (!apply_transition(state_, u)) ++res_.invalid_updates;
      ++res_.generated_updates;
      add(dst_event(frame_, u.id, u.transition));
    }
  }

  void add(Event e) {
    e.index = static_cast<int>(res_.predicted.size());
    res_.predicted.push_back(std::move(e));
  }

  ContextModel& model_;
  const StreamClip& clip_;
  const StreamTemplate& tmpl_;
  const StreamOptions& opt_;
  std::map<std::string, StepState> state_;
  std::map<std::string, StepState> ref_state_;  // score_state only
  size_t next_ref_ = 0;                         // reference_updates applied to ref_state_
  bool scored_this_frame_ = false;
  std::vector<Segment> history_;  // dst_refresh: what follows the window prefix in the context
  int64_t first_user_end_ = -1;   // drop_middle: context length after the first user turn (-1: none yet)
  int64_t frame_ = INT64_MIN;  // the frame of the last item fed
  int turns_this_frame_ = 0;
  StreamResult res_;
};

}  // namespace

ContextStrategy parse_context_strategy(const std::string& name) {
  if (name == "dst_refresh") return ContextStrategy::DstRefresh;
  if (name == "drop_all") return ContextStrategy::DropAll;
  if (name == "drop_middle") return ContextStrategy::DropMiddle;
  if (name == "summarize_and_drop") return ContextStrategy::SummarizeAndDrop;
  usage_fail("eval.context_strategy: expected dst_refresh, drop_all, drop_middle or summarize_and_drop, found '{}'",
             name);
}

const char* context_strategy_name(ContextStrategy s) {
  switch (s) {
    case ContextStrategy::DstRefresh: return "dst_refresh";
    case ContextStrategy::DropAll: return "drop_all";
    case ContextStrategy::DropMiddle: return "drop_middle";
    case ContextStrategy::SummarizeAndDrop: return "summarize_and_drop";
  }
  return "?";
}

int64_t context_capacity(const StreamOptions& opt, const StreamTemplate& tmpl) {
  int64_t n = opt.max_seq_len;
  if (opt.strategy == ContextStrategy::SummarizeAndDrop)
    n += static_cast<int64_t>(tmpl.system_turn(kSummaryRequest).size()) + 1 +
         static_cast<int64_t>(tmpl.assistant_header.size()) + opt.summary_max_tokens;
  return n;
}

StreamResult stream_clip(ContextModel& model, const StreamClip& clip, const StreamTemplate& tmpl,
                         const StreamOptions& opt) {
  PROSPECT_CHECK(tmpl.decode && tmpl.state_turn, "stream template incomplete (decode, state_turn)");
  PROSPECT_CHECK(opt.strategy != ContextStrategy::SummarizeAndDrop || tmpl.system_turn,
                 "stream template incomplete: summarize_and_drop needs system_turn");
  PROSPECT_CHECK(opt.max_turns_per_frame >= 0 && opt.max_new_tokens > 0 && opt.max_seq_len > 0 &&
                     opt.summary_max_tokens > 0,
                 "eval.max_turns_per_frame, eval.max_new_tokens and data.max_seq_len must be positive");
  return ClipStream(model, clip, tmpl, opt).run();
}

}  // namespace prospect::eval

namespace prospect::eval {

std::vector<Event> reference_events(const Clip& clip) {
  // Stream order (SPEC §3): by end_frame; at a shared frame DST_UPDATE before assistant; then time,
  // then file order.
  std::vector<size_t> order;
  for (size_t i = 0; i < clip.conversation.size(); ++i) {
    const Turn& t = clip.conversation[i];
    if (t.role != Role::Assistant && t.role != Role::DstUpdate) continue;
    if (t.end_frame < clip.start_frame_idx || t.end_frame > clip.end_frame_idx)
      fail("clip {}: turn {} ({}) ends at frame {}, outside the clip's frames {}..{}", clip.id(), i, role_name(t.role),
           t.end_frame, clip.start_frame_idx, clip.end_frame_idx);
    order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Turn& x = clip.conversation[a];
    const Turn& y = clip.conversation[b];
    if (x.end_frame != y.end_frame) return x.end_frame < y.end_frame;
    if (x.role != y.role) return x.role == Role::DstUpdate;
    return x.time < y.time;
  });
  std::vector<Event> out;
  for (size_t i : order) {
    const Turn& t = clip.conversation[i];
    if (t.role == Role::Assistant) {
      out.push_back(assistant_event(t.end_frame, t.content));
      out.back().index = static_cast<int>(out.size()) - 1;
    } else {
      for (const auto& u : t.updates) {
        out.push_back(dst_event(t.end_frame, u.id, u.transition));
        out.back().index = static_cast<int>(out.size()) - 1;
      }
    }
  }
  return out;
}

ClipRecord clip_record(const Clip& clip, double store_fps, std::vector<Event> predicted) {
  ClipRecord r;
  r.clip_id = clip.id();
  r.dataset = clip.dataset;
  r.fps = clip.fps > 0 ? clip.fps : store_fps;
  if (!(r.fps > 0)) fail("clip {}: no fps (neither the clip's nor the store's)", r.clip_id);
  r.first_frame = clip.start_frame_idx;
  r.last_frame = clip.end_frame_idx;
  r.initial_state = initial_state(clip, r.fps);
  r.reference = reference_events(clip);
  r.predicted = std::move(predicted);
  return r;
}

}  // namespace prospect::eval
