// The streaming loop on a real (small, random) DSTProActLlama with its KV cache: every head read
// equals the teacher-forced forward over the same context (SPEC §9 relative difference <= 1e-5), every
// generated token is the greedy continuation of that forward, and re-encoded windows hold what the
// loop says they hold, for every context strategy; drop_middle's sliced cache against a cache sliced by
// hand.
#include <gtest/gtest.h>
#include <torch/types.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>

#include "prospect/eval/stream.h"
#include "prospect/eval/context_recorder.h"
#include "prospect/eval/kv_cache_model.h"
#include "prospect/model/dst_model.h"
#include "prospect/model/generate.h"
#include "prospect/model/kv_cache.h"
#include "prospect/text/chat_template.h"
#include "tiny_model.h"

using namespace prospect;
using namespace prospect::eval;

namespace {

constexpr int64_t kVocab = 40;  // base vocabulary; <image> = 40
constexpr int64_t kD = 6;
constexpr int32_t kEot = 2;

ModelConfig tiny_config() {
  ModelConfig c = test::tiny_model_config();
  c.tie_word_embeddings = false;
  return c;
}

StreamTemplate ids_template() {
  StreamTemplate t;
  t.assistant_header = {5, 6};
  t.dst_header = {7, 6};
  t.end_of_turn = kEot;
  t.decode = [](const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t i : ids) s += (s.empty() ? "" : " ") + std::to_string(i);
    return s;
  };
  t.state_turn = [](const std::vector<std::pair<std::string, StepState>>& st) {
    std::vector<int32_t> ids{8, 6};
    for (auto& s : st) ids.push_back(10 + static_cast<int32_t>(s.second));
    ids.push_back(kEot);
    return ids;
  };
  return t;
}

struct Fixture {
  DSTProActLlama model{nullptr};
  std::vector<float> rows;
  StreamClip clip;
  Fixture(int64_t frames, uint64_t seed) {
    at::set_num_threads(1);
    model = make_dst_model_scratch(tiny_config(), kVocab, kD, seed);
    model->eval();
    at::manual_seed(static_cast<int64_t>(seed));
    at::Tensor f = at::randn({frames, kD});
    rows.assign(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
    clip.clip_id = "v:0";
    clip.prefix = {1, 3, 4, 9, kEot};
    clip.first_frame = 100;
    clip.dim = kD;
    clip.embeddings = rows.data();
    clip.steps = {"S1", "S2"};
    clip.initial_state = {{"S1", StepState::NotStarted}, {"S2", StepState::NotStarted}};
    for (int64_t i = 0; i < frames; ++i) {
      clip.items.push_back({true, 100 + i, {}});
      if (i % 7 == 3) clip.items.push_back({false, 100 + i, {11, 6, 20 + static_cast<int32_t>(i % 5), 21, kEot}});
    }
  }
};

// Checks every window the recorder saw against a full forward over that window's context.
void check_windows(DSTProActLlama& model, const ContextRecorder& rec, int64_t* reads, int64_t* tokens) {
  torch::NoGradGuard ng;
  for (const auto& w : rec.windows) {
    if (w.context.empty()) continue;
    std::vector<int64_t> ids;
    std::vector<float> frames;
    for (const auto& it : w.context) {
      ids.push_back(it.id);
      frames.insert(frames.end(), it.frame.begin(), it.frame.end());
    }
    int64_t n_frames = static_cast<int64_t>(frames.size()) / kD;
    at::Tensor fr = n_frames ? at::from_blob(frames.data(), {n_frames, kD}, at::kFloat).clone() : at::zeros({0, kD});
    at::Tensor h = model->hidden_states(at::tensor(ids, at::kLong).unsqueeze(0), {}, fr)[0];  // [T, H]
    if (!w.reads.empty()) {
      std::vector<float> streamed;
      std::vector<at::Tensor> full;
      for (const auto& r : w.reads) {
        streamed.push_back(r.logit);
        at::Tensor hp = h[r.pos - 1];
        full.push_back((r.dst ? model->dst_logit(hp) : model->speaking_logit(hp)).reshape({}));
      }
      at::Tensor a = at::tensor(streamed);
      at::Tensor b = at::stack(full);
      EXPECT_LE(test::rel_diff(a, b), 1e-5) << "heads streamed vs teacher-forced";
      *reads += static_cast<int64_t>(streamed.size());
    }
    at::Tensor logits = model->logits(h);  // [T, vocab]
    logits.select(1, model->image_token_id).fill_(-std::numeric_limits<float>::infinity());
    for (const auto& g : w.gens)
      for (size_t k = 0; k < g.ids.size(); ++k) {
        int64_t pos = g.start + static_cast<int64_t>(k) - 1;
        EXPECT_EQ(logits[pos].argmax().item<int64_t>(), g.ids[k]) << "not the greedy continuation at " << pos;
        ++*tokens;
      }
  }
}

}  // namespace

TEST(ContextModel, HeadsAndGenerationEqualTheFullForward) {
  Fixture fx(30, 7);
  auto sm = make_kv_cache_model(fx.model, 512);
  ContextRecorder rec(*sm, fx.model->image_token_id, kD);
  StreamOptions opt;
  opt.max_seq_len = 512;
  opt.max_new_tokens = 4;
  opt.max_turns_per_frame = 1;
  opt.speak_threshold = 0.0;
  opt.dst_threshold = 1.0;
  StreamResult r = stream_clip(rec, fx.clip, ids_template(), opt);
  EXPECT_EQ(r.reencodes, 0);
  EXPECT_EQ(r.generated_turns, 30);  // one per frame: speaking always fires, at most one turn a frame
  int64_t reads = 0, tokens = 0;
  check_windows(fx.model, rec, &reads, &tokens);
  EXPECT_EQ(reads, r.decisions * 2);  // every decision reads the DST head, then the speaking head
  EXPECT_GT(tokens, 30);
}

TEST(ContextModel, ReencodedWindowsEqualTheFullForward) {
  Fixture fx(60, 11);
  const int max_len = 48;
  auto sm = make_kv_cache_model(fx.model, max_len);
  ContextRecorder rec(*sm, fx.model->image_token_id, kD);
  StreamOptions opt;
  opt.max_seq_len = max_len;
  opt.max_new_tokens = 3;
  opt.max_turns_per_frame = 2;
  // thresholds at the heads' medians over a run that never fires: some decisions fire, others not
  {
    auto probe_model = make_kv_cache_model(fx.model, 1024);
    ContextRecorder probe(*probe_model, fx.model->image_token_id, kD);
    StreamOptions never = opt;
    never.max_seq_len = 1024;
    never.speak_threshold = never.dst_threshold = 1.0;
    stream_clip(probe, fx.clip, ids_template(), never);
    std::vector<float> sp, ds;
    for (const auto& rd : probe.windows.back().reads) (rd.dst ? ds : sp).push_back(sigmoid(rd.logit));
    std::sort(sp.begin(), sp.end());
    std::sort(ds.begin(), ds.end());
    opt.speak_threshold = sp[sp.size() / 2];
    opt.dst_threshold = ds[ds.size() * 3 / 4];
  }
  StreamResult r = stream_clip(rec, fx.clip, ids_template(), opt);
  EXPECT_GT(r.reencodes, 2);
  EXPECT_GT(r.generated_turns, 5);
  EXPECT_LT(r.generated_turns, 2 * 60);
  EXPECT_GT(r.generated_updates, 0);
  int64_t reads = 0, tokens = 0;
  check_windows(fx.model, rec, &reads, &tokens);
  EXPECT_EQ(static_cast<int64_t>(rec.windows.size()), 1 + r.reencodes);
  for (size_t w = 1; w < rec.windows.size(); ++w) {
    const auto& c = rec.windows[w].context;
    ASSERT_GE(c.size(), 9u);
    EXPECT_EQ(c[0].id, 1);  // BOS + system + state turn first
    EXPECT_EQ(c[5].id, 8);
    EXPECT_LE(static_cast<int64_t>(c.size()), max_len);
  }
}

// drop_middle slices the cache: the kept positions keep their keys and values as computed (rotary
// positions included) and the next tokens take positions from the new length on, as Hugging Face
// numbers them. The oracle slices a full forward's cache by hand (index_select) and runs the next
// tokens at explicit positions.
TEST(ContextModel, DropKeepsTheSlicedCacheAndNumbersNewTokensFromItsLength) {
  Fixture fx(1, 3);
  torch::NoGradGuard ng;
  const int64_t n = 20, a = 6, b = 13;  // drop positions [6, 13)
  std::vector<int64_t> ids, next{9, 14, 23};
  for (int64_t i = 0; i < n; ++i) ids.push_back(3 + (i * 7) % 30);
  IncrementalDecoder dec(fx.model, 64);
  dec.append(ids);
  dec.drop(a, b);
  EXPECT_EQ(dec.length(), n - (b - a));
  at::Tensor streamed = dec.append(next);  // [3, H]

  KVCache full(fx.model->config, 1, 64);
  auto embed = [&](const std::vector<int64_t>& v) { return fx.model->inputs_embeds(at::tensor(v, at::kLong).unsqueeze(0), {}); };
  fx.model->hidden(embed(ids), {}, {}, &full);
  ASSERT_EQ(full.length, n);
  KVCache cut(fx.model->config, 1, 64);
  at::Tensor keep = at::cat({at::arange(0, a, at::kLong), at::arange(b, n, at::kLong)});
  for (size_t l = 0; l < full.k.size(); ++l) {
    cut.k[l].narrow(2, 0, keep.size(0)).copy_(full.k[l].index_select(2, keep));
    cut.v[l].narrow(2, 0, keep.size(0)).copy_(full.v[l].index_select(2, keep));
  }
  cut.length = keep.size(0);
  auto run_at = [&](int64_t first_pos) {
    KVCache c = cut;
    for (size_t l = 0; l < c.k.size(); ++l) c.k[l] = cut.k[l].clone(), c.v[l] = cut.v[l].clone();
    at::Tensor pos = at::arange(first_pos, first_pos + 3, at::kLong).unsqueeze(0);
    return fx.model->hidden(embed(next), {}, pos, &c)[0];
  };
  at::Tensor oracle = run_at(keep.size(0));
  EXPECT_LE(test::rel_diff(streamed, oracle), 1e-6);
  // the positions matter: continuing from the uncut length gives other states
  EXPECT_GT(test::rel_diff(run_at(n), oracle), 1e-5);
}

// Every strategy on the real model: each window that starts fresh (dst_refresh, drop_all,
// summarize_and_drop restart by a reset) has heads and generations equal to a full forward over its
// context; drop_middle's windows start with a slice, checked above.
TEST(ContextModel, EveryStrategyRunsAndFreshWindowsEqualTheFullForward) {
  for (ContextStrategy strat : {ContextStrategy::DstRefresh, ContextStrategy::DropAll, ContextStrategy::DropMiddle,
                                ContextStrategy::SummarizeAndDrop}) {
    SCOPED_TRACE(context_strategy_name(strat));
    Fixture fx(60, 13);
    fx.clip.bos = {1};
    fx.clip.system_text = "3 4 9";
    StreamTemplate t = ids_template();
    t.system_turn = [](const std::string& text) {
      std::vector<int32_t> v{12, 6};
      for (char ch : text) v.push_back(20 + static_cast<int32_t>(static_cast<unsigned char>(ch) % 16));
      v.push_back(kEot);
      return v;
    };
    StreamOptions opt;
    opt.strategy = strat;
    opt.max_seq_len = 48;
    opt.reserved_tokens = 8;
    opt.keep_last_tokens = 16;
    opt.summary_max_tokens = 4;
    opt.max_new_tokens = 3;
    opt.max_turns_per_frame = 1;
    opt.speak_threshold = 0.5;
    opt.dst_threshold = 1.0;
    auto sm = make_kv_cache_model(fx.model, context_capacity(opt, t));
    ContextRecorder rec(*sm, fx.model->image_token_id, kD);
    StreamResult r = stream_clip(rec, fx.clip, t, opt);
    EXPECT_GT(r.reencodes, 1);
    int64_t windows = 0;
    for (const auto& w : rec.windows) {
      EXPECT_LE(static_cast<int64_t>(w.context.size()), context_capacity(opt, t));
      windows += !w.dropped;
    }
    ContextRecorder fresh = rec;
    fresh.windows.erase(std::remove_if(fresh.windows.begin(), fresh.windows.end(), [](const auto& w) { return w.dropped; }),
                        fresh.windows.end());
    int64_t reads = 0, tokens = 0;
    check_windows(fx.model, fresh, &reads, &tokens);
    EXPECT_GT(reads, 0);
    if (strat == ContextStrategy::DropMiddle) {
      EXPECT_EQ(windows, 1);  // sliced, never reset
    } else {
      EXPECT_EQ(windows, 1 + r.reencodes);
    }
  }
}
