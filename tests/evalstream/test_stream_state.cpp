// The state head in the streaming loop (model.dst_state_head): read once per frame at its first
// decision point, before any turn generated at that frame, and scored against the reference state
// (initial state + reference updates of earlier frames) beside the state tracked from the generated
// updates. Counts worked out by hand below.
#include <gtest/gtest.h>

#include <deque>

#include "prospect/core/error.h"
#include "prospect/eval/stream.h"

using namespace prospect;
using namespace prospect::eval;

namespace {

enum : int32_t { BOS, EOT, ASST, DST, USER, S1S };

// The DST head fires once at frame 2 ("S1->start"); the state head answers from a script per frame.
struct StateModel : ContextModel {
  std::map<int64_t, std::vector<int>> head;  // frame -> the head's states
  int64_t frame = -1;
  bool fired = false;
  std::vector<int64_t> read_at;              // frames at which the state head was read
  std::vector<size_t> read_len;              // the context length then
  size_t len = 0;
  bool has_head = true;

  void reset() override { len = 0; }
  void feed_tokens(const std::vector<int32_t>& ids) override { len += ids.size(); }
  void feed_frame(const float* e) override {
    frame = static_cast<int64_t>(e[0]);
    ++len;
  }
  float speaking_logit() override { return -5.0f; }
  float dst_logit() override { return frame == 2 && !fired ? 5.0f : -5.0f; }
  std::vector<int32_t> generate(int, int32_t end_id) override {
    fired = true;
    len += 2;
    return {S1S, end_id};
  }
  int64_t context_len() const override { return static_cast<int64_t>(len); }
  void drop(int64_t begin, int64_t end) override { len -= end - begin; }
  std::vector<int> state_prediction(size_t n) override {
    if (!has_head) return {};
    read_at.push_back(frame);
    read_len.push_back(len);
    std::vector<int> v = head.at(frame);
    v.resize(n);
    return v;
  }
};

StreamTemplate state_template() {
  StreamTemplate t;
  t.assistant_header = {ASST};
  t.dst_header = {DST};
  t.end_of_turn = EOT;
  t.decode = [](const std::vector<int32_t>& ids) { return ids == std::vector<int32_t>{S1S} ? "S1->start" : "?"; };
  t.state_turn = [](const std::vector<std::pair<std::string, StepState>>&) { return std::vector<int32_t>{}; };
  return t;
}

// Frames 0..4, a user turn at frame 2; steps S1, S2 not started; reference updates S1->start at 1,
// S1->complete and S2->start at 3.
struct Fixture {
  std::vector<float> emb;
  StreamClip clip;
  Fixture() {
    for (int f = 0; f <= 4; ++f) emb.insert(emb.end(), {static_cast<float>(f), 0.f});
    clip.clip_id = "v:0";
    clip.prefix = {BOS, EOT};
    for (int64_t f = 0; f <= 4; ++f) {
      clip.items.push_back({true, f, {}});
      if (f == 2) clip.items.push_back({false, 2, {USER, EOT}});
    }
    clip.steps = {"S1", "S2"};
    clip.initial_state = {{"S1", StepState::NotStarted}, {"S2", StepState::NotStarted}};
    clip.reference_updates = {{1, {"S1", "start"}}, {3, {"S1", "complete"}}, {3, {"S2", "start"}}};
    clip.embeddings = emb.data();
    clip.dim = 2;
  }
};

}  // namespace

TEST(StreamState, HeadAndTrackedStateScoredAtTheFirstDecisionOfEachFrame) {
  Fixture fx;
  StateModel m;
  //            reference (ref. updates of earlier frames)    tracked (generated S1->start at frame 2)
  // frame 0:   S1 not_started, S2 not_started               same                     head 0 0 (2 right)
  // frame 1:   same (the update at 1 is not earlier)        same                     head 1 0 (1 right)
  // frame 2:   S1 in_progress, S2 not_started               0 0: scored before the update (1 right)
  //                                                                                  head 1 0 (2 right)
  // frame 3:   S1 in_progress, S2 not_started               1 0 (2 right)            head 2 0 (1 right)
  // frame 4:   S1 completed,   S2 in_progress               1 0 (0 right)            head 2 1 (2 right)
  m.head = {{0, {0, 0}}, {1, {1, 0}}, {2, {1, 0}}, {3, {2, 0}}, {4, {2, 1}}};
  StreamOptions opt;
  opt.score_state = true;
  StreamResult r = stream_clip(m, fx.clip, state_template(), opt);
  EXPECT_EQ(m.read_at, (std::vector<int64_t>{0, 1, 2, 3, 4}));  // once per frame, though frame 2 decides twice
  // at frame 2 after the user turn (2 + frames 0..2 + user turn 2 = 7 tokens), before the DST turn
  EXPECT_EQ(m.read_len[2], 7u);
  EXPECT_EQ(r.generated_updates, 1);
  EXPECT_EQ(r.state_pairs, 10);
  EXPECT_EQ(r.state_head_correct, 8);
  EXPECT_EQ(r.state_tracked_correct, 7);
}

TEST(StreamState, OffReadsNothingAndAMissingHeadIsAnError) {
  Fixture fx;
  StateModel m;
  StreamResult r = stream_clip(m, fx.clip, state_template(), StreamOptions{});
  EXPECT_TRUE(m.read_at.empty());
  EXPECT_EQ(r.state_pairs, 0);
  StateModel none;
  none.has_head = false;
  StreamOptions opt;
  opt.score_state = true;
  EXPECT_THROW(stream_clip(none, fx.clip, state_template(), opt), Error);
}
