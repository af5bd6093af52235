// Streaming evaluation speed (fp32, CPU): (1) frames per second of the real streaming loop
// (stream_clip over make_kv_cache_model) on the demo-sized random model over a few fabricated clips,
// once with the heads read but never firing (the cost of feeding frames and reading the heads) and
// once (on the first clip) at threshold 0.5, where the random heads fire and turns of at most 16
// tokens are generated, one per frame at most; (2) the per-frame cost
// of appending one frame and reading both heads with the KV cache at contexts 256 and 4096.
//   bench_stream [--threads 2] [--out bench/results/stream.json]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/types.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "prospect/core/rng.h"
#include "prospect/eval/stream.h"
#include "prospect/eval/kv_cache_model.h"
#include "prospect/model/dst_model.h"
#include "prospect/model/generate.h"

using namespace prospect;
using namespace prospect::eval;
using nlohmann::json;
using clk = std::chrono::steady_clock;

namespace {

double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

ModelConfig bench_config() {
  ModelConfig c;  // the defaults of model.*: H 256, I 768, 4 layers, 4 heads, 2 kv heads
  c.tie_word_embeddings = true;
  return c;
}
constexpr int64_t kVocab = 2000, kFeat = 1152;
constexpr int32_t kBos = 1, kEot = 2;

// A template over made-up ids: the loop only needs headers, an end-of-turn id and the two callbacks.
// Random text never parses as a DST update, so every DST turn counts as malformed (and the state,
// hence the state turn of a re-encode, stays put).
StreamTemplate bench_template() {
  StreamTemplate t;
  t.assistant_header = {3, 4, 5};
  t.dst_header = {3, 6, 5};
  t.end_of_turn = kEot;
  t.decode = [](const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t i : ids) s += std::to_string(i) + " ";
    return s;
  };
  t.state_turn = [](const std::vector<std::pair<std::string, StepState>>& st) {
    std::vector<int32_t> ids = {3, 7, 5};
    for (const auto& s : st) ids.push_back(10 + static_cast<int32_t>(s.second));
    ids.push_back(kEot);
    return ids;
  };
  return t;
}

// A clip of `frames` frames with a user turn of 12 tokens after every 40th frame, after a BOS + 40-token
// system turn; embeddings uniform in [-0.5, 0.5).
struct BenchClip {
  StreamClip clip;
  std::vector<float> rows;
};

BenchClip make_clip(int index, int64_t frames, Rng& rng) {
  BenchClip b;
  StreamClip& c = b.clip;
  c.clip_id = "bench" + std::to_string(index);
  c.prefix.push_back(kBos);
  for (int i = 0; i < 40; ++i) c.prefix.push_back(20 + static_cast<int32_t>(rng.below(kVocab - 20)));
  c.prefix.push_back(kEot);
  c.steps = {"S1", "S2", "S3", "S4"};
  c.first_frame = 1000 * index;
  c.dim = kFeat;
  b.rows.resize(frames * kFeat);
  for (auto& x : b.rows) x = static_cast<float>(rng.uniform() - 0.5);
  for (int64_t f = 0; f < frames; ++f) {
    StreamInput fr;
    fr.frame = c.first_frame + f;
    c.items.push_back(fr);
    if (f % 40 == 39) {
      StreamInput u;
      u.is_frame = false;
      u.frame = fr.frame;
      u.ids = {3, 8, 5};
      for (int i = 0; i < 12; ++i) u.ids.push_back(20 + static_cast<int32_t>(rng.below(kVocab - 20)));
      u.ids.push_back(kEot);
      c.items.push_back(u);
    }
  }
  c.embeddings = b.rows.data();
  return b;
}

// Streams the first n_clips clips.
json stream_run(ContextModel& sm, const std::vector<BenchClip>& all, size_t n_clips, const StreamTemplate& t,
                const StreamOptions& o, const char* name) {
  std::vector<const BenchClip*> clips;
  for (size_t i = 0; i < n_clips && i < all.size(); ++i) clips.push_back(&all[i]);
  StreamResult total;
  int64_t frames = 0;
  auto t0 = clk::now();
  for (const BenchClip* b : clips) {
    StreamResult r = stream_clip(sm, b->clip, t, o);
    for (const StreamInput& it : b->clip.items) frames += it.is_frame ? 1 : 0;
    total.decisions += r.decisions;
    total.generated_turns += r.generated_turns;
    total.reencodes += r.reencodes;
    total.frames_capped += r.frames_capped;
  }
  double s = seconds_since(t0);
  json j = {{"name", name},
            {"clips", clips.size()},
            {"frames", frames},
            {"speak_threshold", o.speak_threshold},
            {"dst_threshold", o.dst_threshold},
            {"max_new_tokens", o.max_new_tokens},
            {"max_turns_per_frame", o.max_turns_per_frame},
            {"max_seq_len", o.max_seq_len},
            {"seconds", s},
            {"frames_per_s", frames / s},
            {"decisions", total.decisions},
            {"generated_turns", total.generated_turns},
            {"reencodes", total.reencodes},
            {"frames_capped", total.frames_capped}};
  std::printf("stream %-10s %4lld frames in %6.2f s: %6.1f frames/s, %lld turns generated, %lld re-encodes\n", name,
              static_cast<long long>(frames), s, frames / s, static_cast<long long>(total.generated_turns),
              static_cast<long long>(total.reencodes));
  return j;
}

// One frame appended and both heads read, with `context` positions already in the cache.
json append_cost(DSTProActLlama m, int64_t context, int appends) {
  torch::NoGradGuard ng;
  int64_t img = m->image_token_id;
  std::vector<int64_t> prefix(context, img);
  for (int64_t i = 0; i < context; i += 3) prefix[i] = 20 + i % 100;
  int64_t n = std::count(prefix.begin(), prefix.end(), img);
  at::Tensor frames = at::randn({n, kFeat}), one = at::randn({kFeat});
  IncrementalDecoder s(m, context + appends + 1);
  auto t0 = clk::now();
  s.append(prefix, frames);
  double prefill = seconds_since(t0);
  s.append_frame(one);  // warm-up
  std::vector<double> t;
  for (int i = 0; i < appends; ++i) {
    t0 = clk::now();
    s.append_frame(one);
    s.speaking_logit();
    s.dst_logit();
    t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  double mean = 0;
  for (double x : t) mean += x;
  mean /= t.size();
  json j = {{"context", context},
            {"prefill_s", prefill},
            {"appends", appends},
            {"per_frame_ms_median", t[t.size() / 2] * 1e3},
            {"per_frame_ms_mean", mean * 1e3}};
  std::printf("append at context %5lld: %.2f ms/frame (median of %d), prefill %.2f s\n",
              static_cast<long long>(context), t[t.size() / 2] * 1e3, appends, prefill);
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  std::string out = std::string(PROSPECT_SOURCE_DIR) + "/bench/results/stream.json";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--threads") threads = std::stoi(argv[i + 1]);
    else if (k == "--out") out = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--out F.json]\n", argv[0]);
      return 2;
    }
  }
  if (argc % 2 == 0) {
    std::fprintf(stderr, "usage: %s [--threads N] [--out F.json]\n", argv[0]);
    return 2;
  }
  at::set_num_threads(threads);
  auto start = clk::now();

  DSTProActLlama m = make_dst_model_scratch(bench_config(), kVocab, kFeat, 1);
  m->eval();
  json r;
  r["device"] = "cpu, fp32, " + std::to_string(threads) + " thread(s)";
  r["threads"] = threads;
  r["model"] = {{"hidden_size", 256}, {"intermediate_size", 768}, {"num_hidden_layers", 4},
                {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"vocab_size", kVocab + 1},
                {"feature_dim", kFeat}, {"weights", "random (HF initialisation, seed 1)"}};

  Rng rng(7);
  std::vector<BenchClip> clips;
  for (int i = 0; i < 3; ++i) clips.push_back(make_clip(i, 120, rng));
  StreamTemplate t = bench_template();
  StreamOptions o;
  o.max_seq_len = 1024;
  auto sm = make_kv_cache_model(m, o.max_seq_len);
  // Heads read at every decision point but never firing (sigmoid never exceeds 1): feeding and reading.
  StreamOptions quiet = o;
  quiet.speak_threshold = quiet.dst_threshold = 1.0;
  // The random heads sit near logit 0, so at 0.5 they fire often; short turns and one turn per frame
  // keep the run bounded.
  StreamOptions firing = o;
  firing.max_new_tokens = 16;
  firing.max_turns_per_frame = 1;
  r["append"] = json::array();
  for (int64_t c : {int64_t{256}, int64_t{4096}}) r["append"].push_back(append_cost(m, c, 20));

  // Generation is most of the time: the generating run streams the first clip only.
  r["stream"] = json::array();
  r["stream"].push_back(stream_run(*sm, clips, clips.size(), t, quiet, "heads_only"));
  r["stream"].push_back(stream_run(*sm, clips, 1, t, firing, "generating"));
  r["total_s"] = seconds_since(start);

  std::filesystem::path p(out);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  std::ofstream(out) << r.dump(2) << "\n";
  std::printf("total %.1f s; wrote %s\n", r["total_s"].get<double>(), out.c_str());
  return 0;
}
