// The streaming loop against a scripted model: which turns are generated where, what the context
// holds (user turns before the decision, generated turns kept, reference turns never shown), the
// predicted state with malformed and invalid updates, the per-frame cap, and what each context strategy
// leaves in the context (exact token lists before and after).
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>

#include "prospect/core/error.h"
#include "prospect/eval/stream.h"

using namespace prospect;
using namespace prospect::eval;

namespace {

// A word a token: decode concatenates the words.
const std::vector<std::string> kWords = {"<bos>", "<eot>", "Assistant: ", "Dst: ", "User: ", "S1->start",
                                         "S1->complete", ", ", "S2->start", "hello", "garbage", "S9->start",
                                         "system", "state", "S2->complete"};
enum : int32_t { BOS, EOT, ASST, DST, USER, S1S, S1C, COMMA, S2S, HELLO, GARBAGE, S9S, SYS, STATE, S2C };

StreamTemplate test_template() {
  StreamTemplate t;
  t.assistant_header = {ASST};
  t.dst_header = {DST};
  t.end_of_turn = EOT;
  t.decode = [](const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t i : ids) s += kWords.at(i);
    return s;
  };
  // state turn: STATE, then 100 + 10 * step index + state, EOT
  t.state_turn = [](const std::vector<std::pair<std::string, StepState>>& st) {
    std::vector<int32_t> ids{STATE};
    for (size_t i = 0; i < st.size(); ++i) ids.push_back(100 + 10 * static_cast<int32_t>(i) + static_cast<int32_t>(st[i].second));
    ids.push_back(EOT);
    return ids;
  };
  return t;
}

struct Action {
  bool dst = false;
  std::vector<int32_t> ids;  // content (the end-of-turn is appended unless stop is false)
  bool stop = true;
};

// Fires scripted turns at given frames; the context is a list of items: token ids >= 0, a frame f as -(f+1).
struct FakeModel : ContextModel {
  std::map<int64_t, std::deque<Action>> script;
  std::vector<int64_t> ctx;
  int64_t last_frame = -1;
  int resets = 0;
  size_t max_ctx = 0;
  std::vector<std::vector<int64_t>> reads;  // the context at every read of the DST head
  std::vector<std::vector<int64_t>> done;  // the context of every window before a reset

  void reset() override {
    if (!ctx.empty()) done.push_back(ctx);
    ctx.clear();
    ++resets;
  }
  std::vector<std::vector<int64_t>> windows() const {
    auto w = done;
    w.push_back(ctx);
    return w;
  }
  void feed_tokens(const std::vector<int32_t>& ids) override {
    for (int32_t i : ids) ctx.push_back(i);
    max_ctx = std::max(max_ctx, ctx.size());
  }
  void feed_frame(const float* e) override {
    last_frame = static_cast<int64_t>(e[0]);
    ctx.push_back(-(last_frame + 1));
    max_ctx = std::max(max_ctx, ctx.size());
  }
  bool fires(bool dst) {
    auto it = script.find(last_frame);
    return it != script.end() && !it->second.empty() && it->second.front().dst == dst;
  }
  float dst_logit() override {
    reads.push_back(ctx);
    return fires(true) ? 3.0f : -3.0f;
  }
  float speaking_logit() override { return fires(false) ? 3.0f : -3.0f; }
  std::vector<int32_t> generate(int max_new, int32_t end_id) override {
    Action a = script[last_frame].front();
    script[last_frame].pop_front();
    std::vector<int32_t> out = a.ids;
    if (a.stop) out.push_back(end_id);
    if (static_cast<int>(out.size()) > max_new) out.resize(max_new);
    for (int32_t i : out) ctx.push_back(i);
    max_ctx = std::max(max_ctx, ctx.size());
    return out;
  }
  int64_t context_len() const override { return static_cast<int64_t>(ctx.size()); }
  std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> drops;  // the context before, after
  void drop(int64_t begin, int64_t end) override {
    auto before = ctx;
    ctx.erase(ctx.begin() + begin, ctx.begin() + end);
    drops.emplace_back(before, ctx);
  }
};

// A system turn is SYS, one token standing for its text (1000 + the text's index in `texts`), EOT.
struct SystemTurns {
  std::vector<std::string> texts;
  std::vector<int32_t> operator()(const std::string& t) {
    auto it = std::find(texts.begin(), texts.end(), t);
    if (it == texts.end()) it = texts.insert(texts.end(), t);
    return {SYS, 1000 + static_cast<int32_t>(it - texts.begin()), EOT};
  }
};

// Frames first..last (each row = {frame, 0}), user turns at given frames.
struct TestClip {
  std::vector<float> emb;
  StreamClip clip;
  TestClip(int64_t first, int64_t last, const std::map<int64_t, std::vector<std::vector<int32_t>>>& users) {
    for (int64_t f = first; f <= last; ++f) emb.insert(emb.end(), {static_cast<float>(f), 0.f});
    clip.clip_id = "v:" + std::to_string(first);
    clip.prefix = {BOS, SYS, EOT};
    clip.first_frame = first;
    clip.dim = 2;
    clip.embeddings = emb.data();
    clip.steps = {"S1", "S2"};
    clip.initial_state = {{"S1", StepState::NotStarted}, {"S2", StepState::NotStarted}};
    for (int64_t f = first; f <= last; ++f) {
      clip.items.push_back({true, f, {}});
      auto it = users.find(f);
      if (it != users.end())
        for (const auto& u : it->second) clip.items.push_back({false, f, u});
    }
  }
};

Action say(std::vector<int32_t> ids) { return {false, std::move(ids), true}; }
Action upd(std::vector<int32_t> ids) { return {true, std::move(ids), true}; }

}  // namespace

TEST(Stream, EventsStatesAndCounts) {
  TestClip tc(10, 19, {{12, {{USER, HELLO, EOT}}}});
  FakeModel m;
  m.script[11] = {upd({S1S})};
  m.script[12] = {say({HELLO})};
  m.script[14] = {upd({S1C, COMMA, S2S})};
  m.script[15] = {upd({GARBAGE})};             // malformed
  m.script[16] = {upd({S9S})};                 // unknown step: invalid
  m.script[17] = {upd({S1S}), say({HELLO, HELLO})};  // backward: invalid, then a second turn at the frame
  StreamOptions opt;
  StreamResult r = stream_clip(m, tc.clip, test_template(), opt);

  ASSERT_EQ(r.predicted.size(), 8u);
  auto check_dst = [](const Event& e, int64_t f, std::optional<std::string> id, std::string tr, bool valid) {
    EXPECT_EQ(e.frame, f);
    EXPECT_EQ(e.role, EventRole::DstUpdate);
    EXPECT_EQ(e.id, id);
    EXPECT_EQ(e.transition, tr);
  };
  check_dst(r.predicted[0], 11, "S1", "start", true);
  EXPECT_EQ(r.predicted[1].role, EventRole::Assistant);
  EXPECT_EQ(r.predicted[1].frame, 12);
  EXPECT_EQ(r.predicted[1].text, "hello");
  check_dst(r.predicted[2], 14, "S1", "complete", true);
  check_dst(r.predicted[3], 14, "S2", "start", true);
  check_dst(r.predicted[4], 15, std::nullopt, "", false);
  EXPECT_EQ(r.predicted[4].text, "garbage");
  check_dst(r.predicted[5], 16, "S9", "start", false);
  check_dst(r.predicted[6], 17, "S1", "start", false);
  EXPECT_EQ(r.predicted[7].role, EventRole::Assistant);
  EXPECT_EQ(r.predicted[7].frame, 17);
  EXPECT_EQ(r.predicted[7].text, "hellohello");
  for (size_t i = 0; i < r.predicted.size(); ++i) EXPECT_EQ(r.predicted[i].index, static_cast<int>(i));

  EXPECT_EQ(r.generated_turns, 7);
  EXPECT_EQ(r.generated_updates, 6);
  EXPECT_EQ(r.malformed_updates, 1);
  EXPECT_EQ(r.invalid_updates, 2);
  EXPECT_EQ(r.reencodes, 0);
  EXPECT_EQ(r.final_state.at("S1"), StepState::Completed);
  EXPECT_EQ(r.final_state.at("S2"), StepState::InProgress);
  // decisions: 10 frames, minus frame 12 (its user turn decides), plus the user turn, plus one per turn
  EXPECT_EQ(r.decisions, 10 - 1 + 1 + 7);

  // The context: prefix, frames, the user turn after frame 12, generated turns with header and end.
  std::vector<int64_t> want{BOS, SYS, EOT, -11, -12, DST, S1S, EOT, -13, USER, HELLO, EOT, ASST, HELLO, EOT, -14, -15,
                            DST, S1C, COMMA, S2S, EOT, -16, DST, GARBAGE, EOT, -17, DST, S9S, EOT, -18, DST, S1S, EOT,
                            ASST, HELLO, HELLO, EOT, -19, -20};
  EXPECT_EQ(m.ctx, want);
}

TEST(Stream, UserTurnsComeBeforeTheDecisionAtTheirFrame) {
  TestClip tc(0, 5, {{2, {{USER, HELLO, EOT}, {USER, GARBAGE, EOT}}}});
  FakeModel m;
  m.script[2] = {say({HELLO})};
  StreamResult r = stream_clip(m, tc.clip, test_template(), StreamOptions{});
  // no read at the frame-2 token itself; reads after each user turn's end token
  for (const auto& ctx : m.reads) EXPECT_NE(ctx.back(), -3) << "decision read at a frame followed by a user turn";
  ASSERT_EQ(r.predicted.size(), 1u);
  EXPECT_EQ(r.predicted[0].frame, 2);
  // the scripted model fires at the first read of frame 2: right after the first user turn
  std::vector<int64_t> want{BOS, SYS, EOT, -1, -2, -3, USER, HELLO, EOT, ASST, HELLO, EOT, USER, GARBAGE, EOT, -4, -5, -6};
  EXPECT_EQ(m.ctx, want);
}

TEST(Stream, AtMostMaxTurnsPerFrame) {
  TestClip tc(0, 3, {});
  FakeModel m;
  for (int i = 0; i < 6; ++i) m.script[1].push_back(say({HELLO}));
  m.script[2] = {upd({S1S})};
  StreamOptions opt;
  opt.max_turns_per_frame = 4;
  StreamResult r = stream_clip(m, tc.clip, test_template(), opt);
  ASSERT_EQ(r.predicted.size(), 5u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r.predicted[i].frame, 1);
  EXPECT_EQ(r.predicted[4].frame, 2);  // the cap is per frame
  EXPECT_EQ(r.frames_capped, 1);
  EXPECT_EQ(m.script[1].size(), 2u);
}

TEST(Stream, UnfinishedTurnGetsItsEndToken) {
  TestClip tc(0, 1, {});
  FakeModel m;
  m.script[0] = {Action{false, {HELLO, HELLO, HELLO, HELLO}, false}};
  StreamOptions opt;
  opt.max_new_tokens = 3;
  StreamResult r = stream_clip(m, tc.clip, test_template(), opt);
  ASSERT_EQ(r.predicted.size(), 1u);
  EXPECT_EQ(r.predicted[0].text, "hellohellohello");
  std::vector<int64_t> want{BOS, SYS, EOT, -1, ASST, HELLO, HELLO, HELLO, EOT, -2};
  EXPECT_EQ(m.ctx, want);
}

TEST(Stream, NoDstBaselineNeverAsksTheDstHead) {
  TestClip tc(0, 3, {});
  FakeModel m;
  m.script[1] = {upd({S1S})};
  StreamOptions opt;
  opt.use_dst = false;
  StreamResult r = stream_clip(m, tc.clip, test_template(), opt);
  EXPECT_TRUE(r.predicted.empty());
  EXPECT_TRUE(m.reads.empty());
}

TEST(Stream, OverflowReencodesWithThePredictedState) {
  // 40 frames, a user turn, updates and a turn: the same events with a short context as with a long one.
  std::map<int64_t, std::vector<std::vector<int32_t>>> users{{20, {{USER, HELLO, EOT}}}};
  auto script = [](FakeModel& m) {
    m.script[3] = {upd({S1S})};
    m.script[5] = {say({HELLO})};
    m.script[21] = {upd({S1C, COMMA, S2S})};
    m.script[30] = {say({HELLO, HELLO})};
  };
  TestClip tc(0, 39, users);
  FakeModel full;
  script(full);
  StreamOptions big;
  big.max_seq_len = 1000;
  StreamResult rf = stream_clip(full, tc.clip, test_template(), big);
  EXPECT_EQ(rf.reencodes, 0);

  FakeModel m;
  script(m);
  StreamOptions opt;
  opt.max_seq_len = 16;
  opt.max_new_tokens = 3;
  StreamResult r = stream_clip(m, tc.clip, test_template(), opt);
  EXPECT_GT(r.reencodes, 3);
  EXPECT_EQ(m.resets, 1 + r.reencodes);
  EXPECT_LE(m.max_ctx, 16u);
  ASSERT_EQ(r.predicted.size(), rf.predicted.size());
  for (size_t i = 0; i < r.predicted.size(); ++i) {
    EXPECT_EQ(r.predicted[i].frame, rf.predicted[i].frame);
    EXPECT_EQ(r.predicted[i].text, rf.predicted[i].text);
  }
  EXPECT_EQ(r.final_state, rf.final_state);

  // Each window: BOS, system, the state turn with the predicted state, then a tail of the full
  // stream made of whole frames and turns (frames re-fed with their own embeddings).
  auto windows = m.windows();
  ASSERT_EQ(windows.size(), static_cast<size_t>(1 + r.reencodes));
  std::vector<int64_t> body(full.ctx.begin() + 3, full.ctx.end());
  bool saw_started = false, saw_completed = false;
  for (size_t w = 1; w < windows.size(); ++w) {
    const auto& h = windows[w];
    ASSERT_GE(h.size(), 3u + 4u);
    // what follows the head is a run of the full stream
    std::vector<int64_t> rest(h.begin() + 7, h.end());
    EXPECT_NE(std::search(body.begin(), body.end(), rest.begin(), rest.end()), body.end()) << "window " << w;
    EXPECT_EQ(std::vector<int64_t>(h.begin(), h.begin() + 3), (std::vector<int64_t>{BOS, SYS, EOT}));
    EXPECT_EQ(h[3], STATE);
    EXPECT_EQ(h[6], EOT);
    saw_started |= h[4] == 101 && h[5] == 110;    // S1 in_progress, S2 not_started
    saw_completed |= h[4] == 102 && h[5] == 111;  // S1 completed, S2 in_progress
  }
  EXPECT_TRUE(saw_started);
  EXPECT_TRUE(saw_completed);
  // the final context after its window head is the end of the full stream
  std::vector<int64_t> tail(m.ctx.begin() + 7, m.ctx.end());
  ASSERT_LE(tail.size(), body.size());
  EXPECT_EQ(tail, std::vector<int64_t>(body.end() - static_cast<std::ptrdiff_t>(tail.size()), body.end()));
  EXPECT_GE(tail.size(), 2u);
}

TEST(Stream, KeptTokensFollowOverflowKeep) {
  TestClip tc(0, 29, {});
  FakeModel m;
  StreamOptions opt;
  opt.max_seq_len = 20;
  opt.overflow_keep = 5;
  StreamResult r = stream_clip(m, tc.clip, test_template(), opt);
  // 3 + 17 frames fill 20; each re-encode leaves 7 (head) + 5 (kept frames), room for 8 more frames
  EXPECT_EQ(r.reencodes, 2);
  auto windows = m.windows();
  ASSERT_EQ(windows.size(), 3u);
  EXPECT_EQ(windows[0].size(), 20u);
  EXPECT_EQ(windows[1].size(), 20u);  // frames 12..16 kept, then 17..24
  EXPECT_EQ(windows[1][7], -13);
  EXPECT_EQ(windows[1][19], -25);
  EXPECT_EQ(windows[2].size(), 17u);  // frames 20..24 kept, then 25..29
  EXPECT_EQ(windows[2][7], -21);
}

TEST(Stream, WindowTooSmallIsAClearError) {
  TestClip tc(0, 10, {});
  FakeModel m;
  m.script[4] = {say({HELLO})};
  StreamOptions opt;
  opt.max_seq_len = 10;
  opt.max_new_tokens = 8;
  try {
    stream_clip(m, tc.clip, test_template(), opt);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code, kExitError);
    EXPECT_NE(std::string(e.what()).find("data.max_seq_len"), std::string::npos) << e.what();
  }
}

// The stream's counts agree with the metrics library's recount from the record (predictions.jsonl).
TEST(Stream, RecordCountsAgreeWithTheMetrics) {
  Clip c;
  c.video_uid = "v";
  c.start_frame_idx = 10;
  c.end_frame_idx = 19;
  c.fps = 2;
  c.steps = {{"S1", "cut", 0, 100}, {"S2", "mix", 200, 300}};  // S1 in progress at t0 = 5 s
  auto turn = [](Role r, int64_t f, std::string text, std::vector<DstTransition> u = {}) {
    Turn t;
    t.role = r;
    t.start_frame = t.end_frame = f;
    t.time = f / 2.0;
    t.content = std::move(text);
    t.updates = std::move(u);
    return t;
  };
  c.conversation = {turn(Role::System, 0, "sys"), turn(Role::Assistant, 12, "hi there"),
                    turn(Role::DstUpdate, 12, "", {{"S1", "complete"}}), turn(Role::User, 14, "ok"),
                    turn(Role::DstUpdate, 16, "", {{"S2", "start"}})};
  auto ref = reference_events(c);
  ASSERT_EQ(ref.size(), 3u);
  EXPECT_EQ(ref[0].role, EventRole::DstUpdate);  // DST before assistant at a shared frame
  EXPECT_EQ(ref[1].role, EventRole::Assistant);
  EXPECT_EQ(ref[1].text, "hi there");
  EXPECT_EQ(ref[2].frame, 16);

  TestClip tc(10, 19, {});
  FakeModel m;
  m.script[12] = {upd({S1C})};
  m.script[13] = {say({HELLO})};
  m.script[15] = {upd({GARBAGE}), upd({S9S})};
  m.script[17] = {upd({S2S}), upd({S1S})};
  tc.clip.initial_state = initial_state(c, 0);
  EXPECT_EQ(tc.clip.initial_state.at("S1"), StepState::InProgress);
  StreamResult r = stream_clip(m, tc.clip, test_template(), StreamOptions{});
  ClipRecord rec = clip_record(c, 0, r.predicted);
  EXPECT_EQ(rec.clip_id, "v:10");
  EXPECT_EQ(rec.first_frame, 10);
  EXPECT_EQ(rec.last_frame, 19);
  ClipResult res = evaluate_clip(rec, 2.0, 4.0);
  EXPECT_EQ(res.counts.generated_updates, r.generated_updates);
  EXPECT_EQ(res.counts.malformed_updates, r.malformed_updates);
  EXPECT_EQ(res.counts.invalid_updates, r.invalid_updates);
  EXPECT_EQ(r.malformed_updates, 1);
  EXPECT_EQ(r.invalid_updates, 2);  // S9 unknown, S1 backward
  EXPECT_EQ(res.counts.update_matched, 2);
  EXPECT_EQ(res.counts.transition_matched, 2);
  EXPECT_EQ(res.counts.speak_matched, 1);
  EXPECT_EQ(res.counts.turns, 6);
  // the record survives predictions.jsonl
  ClipRecord back = record_from_json(nlohmann::json::parse(record_to_json(rec).dump()), "test");
  EXPECT_TRUE(evaluate_clip(back, 2.0, 4.0).counts == res.counts);
}

// The frames of a clip as the fake model's context writes them: frame f is -(f + 1).
std::vector<int64_t> frames(int64_t a, int64_t b) {
  std::vector<int64_t> v;
  for (int64_t f = a; f <= b; ++f) v.push_back(-(f + 1));
  return v;
}
std::vector<int64_t> cat(std::vector<int64_t> a, const std::vector<int64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(Stream, DropAllEmptiesTheContextAfterTheFrameThatFillsIt) {
  TestClip tc(0, 14, {});
  FakeModel m;
  StreamOptions opt;
  opt.strategy = ContextStrategy::DropAll;
  opt.max_seq_len = 10;
  opt.reserved_tokens = 2;  // acts once the context holds 8
  StreamResult r = stream_clip(m, tc.clip, test_template(), opt);
  EXPECT_EQ(r.reencodes, 2);
  EXPECT_EQ(r.reencoded_tokens, 0);
  auto w = m.windows();
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0], cat({BOS, SYS, EOT}, frames(0, 4)));  // system prompt dropped too
  EXPECT_EQ(w[1], frames(5, 12));
  EXPECT_EQ(w[2], frames(13, 14));
}

TEST(Stream, DropMiddleKeepsTheFirstUserTurnAndTheLastTokens) {
  TestClip tc(0, 12, {{1, {{USER, HELLO, EOT}}}});
  FakeModel m;
  StreamOptions opt;
  opt.strategy = ContextStrategy::DropMiddle;
  opt.max_seq_len = 16;
  opt.reserved_tokens = 2;  // acts at 14
  opt.keep_last_tokens = 3;
  StreamResult r = stream_clip(m, tc.clip, test_template(), opt);
  EXPECT_EQ(r.reencodes, 2);
  EXPECT_EQ(r.reencoded_tokens, 0);
  EXPECT_EQ(m.resets, 1);  // sliced, never re-encoded
  const std::vector<int64_t> head = cat(cat({BOS, SYS, EOT}, frames(0, 1)), {USER, HELLO, EOT});
  ASSERT_EQ(m.drops.size(), 2u);
  EXPECT_EQ(m.drops[0].first, cat(head, frames(2, 7)));
  EXPECT_EQ(m.drops[0].second, cat(head, frames(5, 7)));
  EXPECT_EQ(m.drops[1].first, cat(head, frames(5, 10)));
  EXPECT_EQ(m.drops[1].second, cat(head, frames(8, 10)));
  EXPECT_EQ(m.ctx, cat(head, frames(8, 12)));
}

TEST(Stream, DropMiddleBeforeAnyUserTurnDropsAll) {
  TestClip tc(0, 14, {});
  FakeModel m;
  StreamOptions opt;
  opt.strategy = ContextStrategy::DropMiddle;
  opt.max_seq_len = 10;
  opt.reserved_tokens = 2;
  opt.keep_last_tokens = 3;
  StreamResult r = stream_clip(m, tc.clip, test_template(), opt);
  EXPECT_EQ(r.reencodes, 2);
  EXPECT_TRUE(m.drops.empty());
  auto w = m.windows();
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0], cat({BOS, SYS, EOT}, frames(0, 4)));
  EXPECT_EQ(w[1], frames(5, 12));
}

TEST(Stream, SummarizeAndDropRestartsFromTheSummary) {
  for (bool knowledge : {false, true}) {
    SCOPED_TRACE(knowledge ? "with task knowledge" : "without");
    TestClip tc(0, 8, {});
    tc.clip.bos = {BOS};
    tc.clip.system_text = "system";
    if (knowledge) tc.clip.knowledge = "Task knowledge: cut, mix";
    FakeModel m;
    // the summary: generated at the current frame (4), re-fed after the request
    m.script[4] = {Action{true, {HELLO, COMMA, HELLO}, true}};
    StreamTemplate t = test_template();
    SystemTurns sys;
    t.system_turn = std::ref(sys);
    StreamOptions opt;
    opt.strategy = ContextStrategy::SummarizeAndDrop;
    opt.use_dst = false;  // the scripted summary must not fire the DST head
    opt.max_seq_len = 10;
    opt.reserved_tokens = 2;
    EXPECT_EQ(context_capacity(opt, t), 10 + 3 + 1 + 1 + 512);
    StreamResult r = stream_clip(m, tc.clip, t, opt);
    EXPECT_EQ(r.reencodes, 1);
    EXPECT_TRUE(r.predicted.empty());  // a summary is not an assistant event
    ASSERT_EQ(sys.texts.size(), 2u);
    EXPECT_EQ(sys.texts[0], "Please summarize the progress.");
    EXPECT_EQ(sys.texts[1], knowledge ? "system hello, hello Task knowledge: cut, mix" : "system hello, hello");
    auto w = m.windows();
    ASSERT_EQ(w.size(), 2u);
    EXPECT_EQ(w[0], cat(cat({BOS, SYS, EOT}, frames(0, 4)), {SYS, 1000, EOT, -5, ASST, HELLO, COMMA, HELLO, EOT}));
    EXPECT_EQ(w[1], cat({BOS, SYS, 1001, EOT}, frames(5, 8)));
    EXPECT_EQ(r.reencoded_tokens, 9 + 4);  // request, frame, header, summary; then the new prefix
  }
}

TEST(Stream, SummaryTooLongForTheWindowIsAClearError) {
  TestClip tc(0, 8, {});
  tc.clip.bos = {BOS};
  tc.clip.system_text = "system";
  FakeModel m;
  m.script[4] = {Action{true, {HELLO}, true}};
  StreamTemplate t = test_template();
  t.system_turn = [](const std::string& text) {
    return text == kSummaryRequest ? std::vector<int32_t>{SYS, EOT} : std::vector<int32_t>(12, HELLO);
  };
  StreamOptions opt;
  opt.strategy = ContextStrategy::SummarizeAndDrop;
  opt.use_dst = false;
  opt.max_seq_len = 10;
  opt.reserved_tokens = 2;
  try {
    stream_clip(m, tc.clip, t, opt);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("eval.summary_max_tokens"), std::string::npos) << e.what();
  }
}

// A model trained without DST turns never saw a state turn: its re-encoded windows have none.
TEST(Stream, DstRefreshWithoutDstTurnsAddsNoStateTurn) {
  TestClip tc(0, 29, {});
  FakeModel m;
  StreamOptions opt;
  opt.use_dst = false;
  opt.max_seq_len = 20;
  opt.overflow_keep = 5;
  StreamResult r = stream_clip(m, tc.clip, test_template(), opt);
  auto w = m.windows();
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(r.reencodes, 2);
  EXPECT_EQ(w[0], cat({BOS, SYS, EOT}, frames(0, 16)));
  EXPECT_EQ(w[1], cat({BOS, SYS, EOT}, frames(12, 28)));  // 5 kept, then 12 more
  EXPECT_EQ(w[2], cat({BOS, SYS, EOT}, frames(24, 29)));
  EXPECT_EQ(r.reencoded_tokens, 8 + 8);
}

// SPEC §8: eval.overflow_keep = 0 keeps half of what the window leaves after its head (BOS, system,
// state turn: 7 tokens here), not half of max_seq_len.
TEST(Stream, DefaultOverflowKeepIsHalfTheRoomAfterTheHead) {
  TestClip tc(0, 29, {});
  FakeModel m;
  StreamOptions opt;
  opt.max_seq_len = 20;  // room 13 after the head: 6 kept (half of max_seq_len would be 10)
  StreamResult r = stream_clip(m, tc.clip, test_template(), opt);
  auto w = m.windows();
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(r.reencodes, 2);
  const std::vector<int64_t> head{BOS, SYS, EOT, STATE, 100, 110, EOT};
  EXPECT_EQ(w[1], cat(head, frames(11, 23)));
  EXPECT_EQ(w[2], cat(head, frames(18, 29)));
}

// SPEC §8: a transition already in effect is valid and changes nothing.
TEST(Stream, RepeatedTransitionIsValid) {
  TestClip tc(0, 5, {});
  FakeModel m;
  m.script[1] = {upd({S1S})};
  m.script[3] = {upd({S1S})};
  StreamResult r = stream_clip(m, tc.clip, test_template(), StreamOptions{});
  EXPECT_EQ(r.generated_updates, 2);
  EXPECT_EQ(r.invalid_updates, 0);
  EXPECT_EQ(r.final_state.at("S1"), StepState::InProgress);
  ClipRecord rec;
  rec.clip_id = "v:0";
  rec.fps = 2;
  rec.first_frame = 0;
  rec.last_frame = 5;
  rec.initial_state = tc.clip.initial_state;
  rec.predicted = r.predicted;
  EXPECT_EQ(evaluate_clip(rec, 2.0, 4.0).counts.invalid_updates, 0);
}
