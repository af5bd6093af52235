// The streaming loop on a real (small, random) DSTProActLlama with its KV cache: every head read
// equals the teacher-forced forward over the same context (SPEC §9 relative difference <= 1e-5), every
// generated token is the greedy continuation of that forward, and re-encoded windows hold what the
// loop says they hold.
#include <gtest/gtest.h>
#include <torch/types.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>

#include "prospect/eval/stream.h"
#include "prospect/eval/context_recorder.h"
#include "prospect/eval/kv_cache_model.h"
#include "prospect/model/dst_model.h"
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
