// Golden sequences: a hand-written clip through the plain template and a word tokenizer, so every id
// and label below can be checked by hand (ids: <s>=0 <|eot|>=1 System:=2 User:=3 Assistant:=4 Dst:=5
// S1->start=6 S1->complete=7 S2->start=8 hi=9 go=10 ok=11 State:=12 Current=13 step=14 states:=15 S1=16 S2=17
// not_started=18 in_progress=19 completed=20 make=21 tea=22 ","=23, <image>=24).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <map>
#include <set>

#include "prospect/core/error.h"
#include "prospect/seq/collate.h"
#include "prospect/seq/labels.h"
#include "seq/word_tokenizer.h"

using namespace prospect;

namespace {

constexpr int64_t N = kIgnore;

Turn turn(Role r, const std::string& text, double time, int64_t frame, std::vector<DstTransition> up = {}) {
  Turn t;
  t.role = r;
  t.content = text;
  t.updates = std::move(up);
  t.time = time;
  t.start_frame = frame;
  t.end_frame = frame;
  return t;
}

// Frames 10..17 at 1 fps. File order puts the DST update before the user turn at frame 12; the
// stream must put the user first. Two updates share frame 15.
Clip golden_clip() {
  Clip c;
  c.video_uid = "vid";
  c.inferred_goal = "make tea";
  c.start_frame_idx = 10;
  c.end_frame_idx = 17;
  c.fps = 1;
  c.steps = {{"S1", "boil", 11.5, 15.5}, {"S2", "pour", 16, 17}};
  Turn sys = turn(Role::System, "make tea", 0, 0);
  sys.end_frame = 1;
  c.conversation = {sys,
                    turn(Role::Assistant, "hi", 11, 11),
                    turn(Role::DstUpdate, "", 12, 12, {{"S1", "start"}}),
                    turn(Role::User, "go", 12, 12),
                    turn(Role::Assistant, "ok", 12.5, 12),
                    turn(Role::DstUpdate, "", 15, 15, {{"S1", "complete"}}),
                    turn(Role::DstUpdate, "", 15, 15, {{"S2", "start"}})};
  return c;
}

struct Fixture {
  test::WordTokenizer tok;
  ChatTemplate tmpl = make_chat_template("plain", tok);
  SeqOptions opt;
  Fixture(int max_len) {
    opt.image_id = 24;
    opt.max_seq_len = max_len;
  }
};

std::vector<int64_t> v64(std::vector<int32_t> v) { return {v.begin(), v.end()}; }

}  // namespace

TEST(Seq, ItemsOrderUserDstAssistant) {
  Fixture f(1024);
  auto items = stream_items(golden_clip(), f.opt);
  std::vector<int> got;
  for (auto& it : items) got.push_back(it.is_frame ? -static_cast<int>(it.frame) : it.turn);
  EXPECT_EQ(got, (std::vector<int>{-10, -11, 1, -12, 3, 2, 4, -13, -14, -15, 5, 6, -16, -17}));
}

TEST(Seq, SingleWindowRate1) {
  Fixture f(1024);
  auto seqs = make_sequences(golden_clip(), f.tmpl, f.opt, Sampling{7, 0, 1.0});
  ASSERT_EQ(seqs.size(), 1u);
  const Sequence& s = seqs[0];
  EXPECT_EQ(s.ids, (std::vector<int32_t>{0, 2, 21, 22, 1,                 // BOS, system turn
                                         24, 24, 4, 9, 1,                 // f10 f11 assistant "hi"
                                         24, 3, 10, 1, 5, 6, 1, 4, 11, 1, // f12 user, dst S1->start, assistant
                                         24, 24, 24, 5, 7, 1, 5, 8, 1,    // f13 f14 f15 two updates
                                         24, 24}));                       // f16 f17
  EXPECT_EQ(s.frame_index, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  //                                  BOS..system   f10 f11 A  hi eot f12 U  go eot D  S1 eot A  ok eot f13 f14 f15 D S1 eot D S2 eot f16 f17
  EXPECT_EQ(s.speaking, (std::vector<int64_t>{N, N, N, N, N, 0, 1, N, N, 0, N, N, N, N, N, N, 1, N, N, 0, 0, 0, N, N, N, N, N, N, 0, 0, 0}));
  EXPECT_EQ(s.dst_update, (std::vector<int64_t>{N, N, N, N, N, 0, 0, N, N, 0, N, N, N, 1, N, N, 0, N, N, 0, 0, 0, 1, N, N, 1, N, N, 0, 0, 0}));
  EXPECT_EQ(s.speaking_gen, (std::vector<int64_t>{N, N, N, N, N, N, N, 9, 1, N, N, N, N, N, N, N, N, 11, 1, N, N, N, N, N, N, N, N, N, N, N, N}));
  EXPECT_EQ(s.dst_gen, (std::vector<int64_t>{N, N, N, N, N, N, N, N, N, N, N, N, N, N, 6, 1, N, N, N, N, N, N, N, 7, 1, N, 8, 1, N, N, N}));
  LabelCounts c = count_labels(s);
  EXPECT_EQ(c.speaking_gen, 4);
  EXPECT_EQ(c.dst_gen, 6);
  EXPECT_EQ(c.speaking, 10);
  EXPECT_EQ(c.dst_update, 13);
}

namespace {
// The windowed golden (max_seq_len 30) at a sampling rate; K = the label of each idle frame 10, 13, 14, 16, 17.
void check_windows(double rate, std::array<int64_t, 5> K) {
  Fixture f(30);
  auto seqs = make_sequences(golden_clip(), f.tmpl, f.opt, Sampling{7, 0, rate});
  ASSERT_EQ(seqs.size(), 2u);
  const Sequence& a = seqs[0];
  const Sequence& b = seqs[1];
  // window 1: BOS, system, state (all not started), then frames 10..12 and their turns
  EXPECT_EQ(a.ids, (std::vector<int32_t>{0, 2, 21, 22, 1, 12, 13, 14, 15, 16, 18, 23, 17, 18, 1,
                                         24, 24, 4, 9, 1, 24, 3, 10, 1, 5, 6, 1, 4, 11, 1}));
  EXPECT_EQ(a.prefix_len, 15u);
  EXPECT_EQ(a.first_frame, 10);
  EXPECT_EQ(a.frame_index, (std::vector<int64_t>{0, 1, 2}));
  std::vector<int64_t> P(15, N);  // the unsupervised prefix
  auto cat = [&](std::vector<int64_t> body) {
    std::vector<int64_t> v = P;
    v.insert(v.end(), body.begin(), body.end());
    return v;
  };
  EXPECT_EQ(a.speaking, cat({K[0], 1, N, N, 0, N, N, N, N, N, N, 1, N, N, 0}));
  EXPECT_EQ(a.dst_update, cat({K[0], 0, N, N, 0, N, N, N, 1, N, N, 0, N, N, 0}));
  EXPECT_EQ(a.speaking_gen, cat({N, N, 9, 1, N, N, N, N, N, N, N, N, 11, 1, N}));
  EXPECT_EQ(a.dst_gen, cat({N, N, N, N, N, N, N, N, N, 6, 1, N, N, N, N}));
  // window 2: the state after S1->start, then frames 13..17
  EXPECT_EQ(b.ids, (std::vector<int32_t>{0, 2, 21, 22, 1, 12, 13, 14, 15, 16, 19, 23, 17, 18, 1,
                                         24, 24, 24, 5, 7, 1, 5, 8, 1, 24, 24}));
  EXPECT_EQ(b.first_frame, 13);
  EXPECT_EQ(b.frame_index, (std::vector<int64_t>{3, 4, 5, 6, 7}));
  EXPECT_EQ(b.speaking, cat({K[1], K[2], N, N, N, N, N, N, 0, K[3], K[4]}));
  EXPECT_EQ(b.dst_update, cat({K[1], K[2], 1, N, N, 1, N, N, 0, K[3], K[4]}));
  EXPECT_EQ(b.speaking_gen, cat({N, N, N, N, N, N, N, N, N, N, N}));
  EXPECT_EQ(b.dst_gen, cat({N, N, N, 7, 1, N, 8, 1, N, N, N}));
}
}  // namespace

TEST(Seq, WindowsRate1) { check_windows(1.0, {0, 0, 0, 0, 0}); }
TEST(Seq, WindowsRate0) { check_windows(0.0, {N, N, N, N, N}); }
// seed 7, epoch 0, clip "vid:10": the hash keeps idle frames 10, 13, 16 at rate 0.5 (checked by hand in Python)
TEST(Seq, WindowsRateHalf) { check_windows(0.5, {0, 0, N, 0, N}); }

TEST(Seq, SamplingIsOrderFree) {
  Sampling s{7, 0, 0.5};
  EXPECT_TRUE(keep_idle_frame(s, "vid:10", 10));
  EXPECT_FALSE(keep_idle_frame(s, "vid:10", 14));
  int kept = 0;
  for (int f = 0; f < 10000; ++f) kept += keep_idle_frame(s, "vid:10", f);
  EXPECT_NEAR(kept, 5000, 200);
}

TEST(Seq, NoDstTurnsAndSparseFrames) {
  Fixture f(1024);
  f.opt.dst_turns = false;
  f.opt.frames = "turns";
  auto s = make_sequences(golden_clip(), f.tmpl, f.opt, Sampling{})[0];
  // frames inside some turn's range only: 11, 12 (turns are single-frame here); no Dst: tokens
  EXPECT_EQ(s.ids, (std::vector<int32_t>{0, 2, 21, 22, 1, 24, 4, 9, 1, 24, 3, 10, 1, 4, 11, 1}));
  EXPECT_EQ(s.frame_index, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(count_labels(s).dst_gen, 0);
}

TEST(Seq, TurnOutsideClipNamesIt) {
  Fixture f(1024);
  Clip c = golden_clip();
  c.conversation[3].end_frame = 40;
  try {
    stream_items(c, f.opt);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vid:10"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("40"), std::string::npos);
  }
}

TEST(Seq, CollatePadsAndConcatenatesFrames) {
  Fixture f(30);
  auto seqs = make_sequences(golden_clip(), f.tmpl, f.opt, Sampling{7, 0, 1.0});
  at::Tensor rows = at::arange(8 * 3, at::kFloat).reshape({8, 3});  // row r = frame 10 + r
  Batch b = collate({&seqs[1], &seqs[0]}, {rows, rows}, 0);
  EXPECT_EQ(b.input_ids.sizes(), (at::IntArrayRef{2, 30}));
  EXPECT_EQ(b.attention_mask.sum().item<int64_t>(), 26 + 30);
  EXPECT_EQ(b.attention_mask[0][25].item<int64_t>(), 1);
  EXPECT_EQ(b.attention_mask[0][26].item<int64_t>(), 0);
  EXPECT_EQ(b.speaking_gen_labels[0][29].item<int64_t>(), N);
  EXPECT_EQ(b.input_ids[0][29].item<int64_t>(), 0);
  // frames in <image> order: window 2 (rows 3..7), then window 1 (rows 0..2)
  ASSERT_EQ(b.frames.size(0), 8);
  std::vector<int64_t> order = {3, 4, 5, 6, 7, 0, 1, 2};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(b.frames[i][0].item<float>(), order[i] * 3.0f);
  EXPECT_EQ((b.input_ids == 24).sum().item<int64_t>(), 8);
  LabelCounts c = count_labels(seqs[0]);
  c += count_labels(seqs[1]);
  EXPECT_EQ(b.counts.speaking, c.speaking);
  EXPECT_EQ(b.counts.dst_gen, 6);
  EXPECT_EQ(b.tokens, 56);
  EXPECT_EQ(b.sequences, 2);
}

// Packing (train.pack): both windows of the golden clip (26 and 30 tokens) in one row of at most 60,
// window numbers in the mask, labels, frames and state labels exactly those of the unpacked batch in
// the same row-major order, and the padding count of each.
TEST(Seq, CollatePacksWindowsIntoRows) {
  Fixture f(30);
  f.opt.state_steps = 2;
  auto seqs = make_sequences(golden_clip(), f.tmpl, f.opt, Sampling{7, 0, 1.0});
  ASSERT_EQ(seqs.size(), 2u);
  ASSERT_EQ(seqs[0].ids.size(), 30u);
  ASSERT_EQ(seqs[1].ids.size(), 26u);
  at::Tensor rows = at::arange(8 * 3, at::kFloat).reshape({8, 3});
  Batch u = collate({&seqs[1], &seqs[0]}, {rows, rows}, 0);
  Batch p = collate({&seqs[1], &seqs[0]}, {rows, rows}, 0, 60);
  EXPECT_EQ(p.input_ids.sizes(), (at::IntArrayRef{1, 56}));
  at::Tensor want_mask = at::cat({at::full({26}, 1, at::kLong), at::full({30}, 2, at::kLong)});
  EXPECT_TRUE(at::equal(p.attention_mask[0], want_mask));
  at::Tensor kept = u.attention_mask.reshape(-1) != 0;  // the unpacked batch without its padding
  for (auto [x, y] : {std::pair{&u.input_ids, &p.input_ids}, {&u.speaking_labels, &p.speaking_labels},
                      {&u.dst_update_labels, &p.dst_update_labels}, {&u.speaking_gen_labels, &p.speaking_gen_labels},
                      {&u.dst_gen_labels, &p.dst_gen_labels}})
    EXPECT_TRUE(at::equal(x->reshape(-1).masked_select(kept), y->reshape(-1)));
  EXPECT_TRUE(at::equal(p.frames, u.frames));
  EXPECT_TRUE(at::equal(p.dst_state_labels, u.dst_state_labels));
  EXPECT_TRUE(at::equal(p.speaking_labels.reshape(-1).index_select(0, p.decision_index),
                        u.speaking_labels.reshape(-1).index_select(0, u.decision_index)));
  EXPECT_EQ(p.decision_index.size(0), u.decision_index.size(0));
  EXPECT_EQ(p.lm_index.size(0), u.lm_index.size(0));
  EXPECT_EQ(p.counts.speaking, u.counts.speaking);
  EXPECT_EQ(p.counts.dst_gen, u.counts.dst_gen);
  EXPECT_EQ(p.counts.dst_state, u.counts.dst_state);
  EXPECT_EQ(p.tokens, 56);
  EXPECT_EQ(p.sequences, 2);
  EXPECT_EQ(padding_count(u).tokens, 56);
  EXPECT_EQ(padding_count(u).tokens_padded, 60);
  EXPECT_EQ(padding_count(p).tokens_padded, 56);
  EXPECT_DOUBLE_EQ(padding_count(u).padding_share(), 4.0 / 60.0);
  EXPECT_EQ(padding_count(p).padding_share(), 0.0);
  // rows too short for two windows: the unpacked batch, tensor for tensor
  Batch q = collate({&seqs[1], &seqs[0]}, {rows, rows}, 0, 40);
  for (auto [x, y] : {std::pair{&u.input_ids, &q.input_ids}, {&u.attention_mask, &q.attention_mask},
                      {&u.frames, &q.frames}, {&u.dst_gen_labels, &q.dst_gen_labels},
                      {&u.decision_index, &q.decision_index}, {&u.dst_state_labels, &q.dst_state_labels}})
    EXPECT_TRUE(at::equal(*x, *y));
}

// Windows of 3, 5, 1, 4 and 2 tokens into rows of at most 6: one per row computes 5 x 5 positions,
// first fit longest first {5, 1}, {4, 2}, {3}: 3 x 6; three balanced rows {5}, {4, 1}, {3, 2}: 3 x 5,
// no padding at all, which is taken. Each row's windows in the order given, the rows in the order of
// their first windows.
TEST(Seq, PackingTakesTheFewestPositions) {
  std::vector<Sequence> seqs;
  for (int n : {3, 5, 1, 4, 2}) {
    Sequence s;
    s.clip_id = "c" + std::to_string(n);
    s.ids.assign(static_cast<size_t>(n), n);
    for (auto* v : {&s.speaking, &s.dst_update, &s.speaking_gen, &s.dst_gen}) v->assign(static_cast<size_t>(n), kIgnore);
    seqs.push_back(s);
  }
  std::vector<const Sequence*> ptrs;
  for (auto& s : seqs) ptrs.push_back(&s);
  Batch b = collate(ptrs, std::vector<at::Tensor>(5), 0, 6);
  at::Tensor want = at::tensor({3, 3, 3, 2, 2, 5, 5, 5, 5, 5, 1, 4, 4, 4, 4}, at::kLong).view({3, 5});
  EXPECT_TRUE(at::equal(b.input_ids, want)) << b.input_ids;
  at::Tensor mask = at::tensor({1, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2}, at::kLong).view({3, 5});
  EXPECT_TRUE(at::equal(b.attention_mask, mask)) << b.attention_mask;
  EXPECT_EQ(b.clip_ids, (std::vector<std::string>{"c3", "c2", "c5", "c1", "c4"}));
  EXPECT_EQ(padding_count(b).tokens, 15);
  EXPECT_EQ(padding_count(b).tokens_padded, 15);
  // rows of at most 7: first fit {5, 2}, {4, 3}, {1} (3 x 7) against balanced {5}, {4, 1}, {3, 2}
  // (3 x 5): balanced again; rows of 9: first fit {5, 4}, {3, 2, 1} (2 x 9) against balanced {5, 2, 1},
  // {4, 3} (2 x 8)
  EXPECT_EQ(collate(ptrs, std::vector<at::Tensor>(5), 0, 7).input_ids.sizes(), (at::IntArrayRef{3, 5}));
  Batch nine = collate(ptrs, std::vector<at::Tensor>(5), 0, 9);
  EXPECT_TRUE(at::equal(nine.input_ids, at::tensor({3, 3, 3, 4, 4, 4, 4, 0, 5, 5, 5, 5, 5, 1, 2, 2}, at::kLong).view({2, 8})))
      << nine.input_ids;
  // a window longer than the row has a row of its own
  Batch w = collate(ptrs, std::vector<at::Tensor>(5), 0, 4);
  EXPECT_EQ(w.input_ids.sizes(), (at::IntArrayRef{4, 5}));
}

// to_device must move every tensor of a batch (a label left on the CPU breaks the loss on a GPU). The
// visitor names every field of Batch (a new field does not compile until it is named there); this test
// pins the tensors it visits, and the size of Batch catches a field added without updating it.
TEST(Seq, ToDeviceVisitsEveryTensorField) {
  static_assert(sizeof(Batch) == 10 * sizeof(at::Tensor) + sizeof(LabelCounts) + 2 * sizeof(int64_t) +
                                     sizeof(std::vector<std::string>),
                "a field was added to Batch: visit it in for_each_tensor (seq/collate.h), then update this test");
  Fixture f(30);
  f.opt.state_steps = 2;  // so that every tensor field is defined
  auto seqs = make_sequences(golden_clip(), f.tmpl, f.opt, Sampling{7, 0, 1.0});
  at::Tensor rows = at::arange(8 * 3, at::kFloat).reshape({8, 3});
  Batch b = collate({&seqs[1], &seqs[0]}, {rows, rows}, 0);
  std::set<const at::Tensor*> visited;
  for_each_tensor(b, [&](at::Tensor& t) { EXPECT_TRUE(visited.insert(&t).second); });
  std::set<const at::Tensor*> fields = {&b.input_ids,         &b.attention_mask,      &b.frames,
                                        &b.speaking_labels,   &b.dst_update_labels,   &b.speaking_gen_labels,
                                        &b.dst_gen_labels,    &b.decision_index,      &b.lm_index,
                                        &b.dst_state_labels};
  EXPECT_EQ(visited, fields);
  // on the CPU a move changes nothing: the same values, the same storage
  Batch moved = to_device(b, at::Device(at::kCPU));
  for_each_tensor(b, [&](at::Tensor& t) { ASSERT_TRUE(t.defined()); });
  EXPECT_TRUE(at::equal(moved.dst_gen_labels, b.dst_gen_labels));
  EXPECT_EQ(moved.speaking_labels.data_ptr(), b.speaking_labels.data_ptr());
  EXPECT_EQ(moved.frames.data_ptr(), b.frames.data_ptr());
  EXPECT_EQ(moved.tokens, b.tokens);
  EXPECT_EQ(moved.clip_ids, b.clip_ids);
  EXPECT_FALSE(to_device(Batch{}, at::Device(at::kCPU)).input_ids.defined());  // undefined tensors stay so
}

// State labels (model.dst_state_head) of the golden clip, by hand. Steps S1 (11.5..15.5 s) and S2
// (16..17 s) at 1 fps from frame 10: both not started at the first frame. At each decision point the
// state has every DST update before it in the stream applied (0 not_started, 1 in_progress, 2 completed).
TEST(Seq, StateLabelsAtDecisionPoints) {
  Fixture f(1024);
  f.opt.state_steps = 3;  // the head covers more steps than the clip has
  auto seqs = make_sequences(golden_clip(), f.tmpl, f.opt, Sampling{7, 0, 1.0});
  ASSERT_EQ(seqs.size(), 1u);
  const Sequence& s = seqs[0];
  ASSERT_EQ(s.dst_state.size(), s.ids.size());
  using V = std::vector<int64_t>;
  const V ns = {0, 0}, s1 = {1, 0}, s1c = {2, 0}, s2 = {2, 1};
  //                 pos: label (decision points of SingleWindowRate1)
  std::map<size_t, V> want = {{5, ns},   {6, ns},   {9, ns},   {13, ns},  {16, s1}, {19, s1}, {20, s1},
                              {21, s1},  {22, s1},  {25, s1c}, {28, s2},  {29, s2}, {30, s2}};
  for (size_t t = 0; t < s.ids.size(); ++t) {
    auto it = want.find(t);
    EXPECT_EQ(s.dst_state[t], it == want.end() ? V{} : it->second) << "position " << t;
  }
  EXPECT_EQ(count_labels(s).dst_state, 26);
  // the other labels are those of the run without state labels
  Fixture g(1024);
  const Sequence plain = make_sequences(golden_clip(), g.tmpl, g.opt, Sampling{7, 0, 1.0})[0];
  EXPECT_EQ(s.speaking, plain.speaking);
  EXPECT_EQ(s.dst_update, plain.dst_update);
  EXPECT_TRUE(plain.dst_state.empty());
  EXPECT_EQ(count_labels(plain).dst_state, 0);

  // collated: one row per decision position, -100 beyond the clip's two steps (batch width 2)
  Batch b = collate({&s}, {at::zeros({8, 3})}, 0);
  ASSERT_TRUE(b.dst_state_labels.defined());
  ASSERT_EQ(b.dst_state_labels.sizes(), (at::IntArrayRef{13, 2}));
  for (int64_t i = 0; i < 13; ++i) {
    size_t pos = static_cast<size_t>(b.decision_index[i].item<int64_t>());
    EXPECT_EQ(b.dst_state_labels[i][0].item<int64_t>(), want.at(pos)[0]);
    EXPECT_EQ(b.dst_state_labels[i][1].item<int64_t>(), want.at(pos)[1]);
  }
  EXPECT_EQ(b.counts.dst_state, 26);
  EXPECT_FALSE(collate({&plain}, {at::zeros({8, 3})}, 0).dst_state_labels.defined());
}

TEST(Seq, StateLabelsInWindowsAndTooManySteps) {
  Fixture f(30);
  f.opt.state_steps = 2;
  auto seqs = make_sequences(golden_clip(), f.tmpl, f.opt, Sampling{7, 0, 1.0});
  ASSERT_EQ(seqs.size(), 2u);
  // window 2 (prefix 15 tokens): frames 13, 14 carry S1 in progress; after "S1->complete" S1 is done
  const Sequence& b = seqs[1];
  EXPECT_TRUE(b.dst_state[14].empty());
  EXPECT_EQ(b.dst_state[15], (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(b.dst_state[20], (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(b.dst_state[25], (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(count_labels(seqs[0]).dst_state + count_labels(b).dst_state, 26);

  f.opt.state_steps = 1;
  try {
    make_sequences(golden_clip(), f.tmpl, f.opt, Sampling{});
    FAIL() << "a clip with more steps than the head covers must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vid:10"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("model.dst_state_steps"), std::string::npos) << e.what();
  }
}

// Progress summaries (ProAssist's summary turns): an assistant turn of the golden clip (20 idle
// frames longer) carries one; every window cut after it ends with "Please summarize the progress."
// (a system turn) and the summary as the assistant's answer, whose content and end-of-turn are
// learned. The cuts are those of the clip without summaries at max_seq_len - 11 (room for the
// summary turns); a window cut before the summary's turn, and the last window, have none.
TEST(Seq, ProgressSummaryEndsACutWindow) {
  Clip plain_clip = golden_clip();
  plain_clip.end_frame_idx = 37;
  Clip c = plain_clip;
  c.conversation[4].progress = "go make tea";  // the assistant's "ok" at frame 12
  Fixture f(30 + 11), g(30);
  auto seqs = make_sequences(c, f.tmpl, f.opt, Sampling{7, 0, 1.0});
  auto plain = make_sequences(plain_clip, g.tmpl, g.opt, Sampling{7, 0, 1.0});
  ASSERT_GE(plain.size(), 3u);
  ASSERT_EQ(seqs.size(), plain.size());
  // System: Please summarize the progress. <|eot|> Assistant: go make tea <|eot|>
  const std::vector<int32_t> summary = {2, 99, 99, 99, 99, 1, 4, 10, 21, 22, 1};
  const std::vector<int64_t> summary_gen = {N, N, N, N, N, N, 10, 21, 22, 1, N};
  for (size_t w = 0; w < seqs.size(); ++w) {
    SCOPED_TRACE("window " + std::to_string(w));
    const bool with = w + 1 < seqs.size();  // the first window already holds frame 12's turns
    auto ext = [&](std::vector<int64_t> v, const std::vector<int64_t>& tail) {
      if (with) v.insert(v.end(), tail.begin(), tail.end());
      return v;
    };
    const std::vector<int64_t> none(11, N);
    std::vector<int32_t> ids = plain[w].ids;
    if (with) ids.insert(ids.end(), summary.begin(), summary.end());
    EXPECT_EQ(seqs[w].ids, ids);
    EXPECT_EQ(seqs[w].speaking_gen, ext(plain[w].speaking_gen, summary_gen));
    EXPECT_EQ(seqs[w].speaking, ext(plain[w].speaking, none));
    EXPECT_EQ(seqs[w].dst_update, ext(plain[w].dst_update, none));
    EXPECT_EQ(seqs[w].dst_gen, ext(plain[w].dst_gen, none));
    EXPECT_EQ(seqs[w].frame_index, plain[w].frame_index);
    EXPECT_LE(seqs[w].ids.size(), 41u);
  }
  // one window: nothing overflows, no summary
  Fixture big(1024);
  auto one = make_sequences(c, big.tmpl, big.opt, Sampling{7, 0, 1.0});
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].ids, make_sequences(plain_clip, big.tmpl, big.opt, Sampling{7, 0, 1.0})[0].ids);
}
