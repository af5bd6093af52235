// Model benchmarks (fp32, CPU): what gradient checkpointing saves in memory and costs in time, and the
// per-frame cost of streaming with the KV cache at contexts 256 and 4096 against re-running the prefix.
// Writes bench/results/model.json (or the path given as the first argument).
//   model_bench [OUT.json] [--quick]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/wait.h>
#include <torch/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "prospect/model/dst_model.h"
#include "prospect/model/generate.h"

using namespace prospect;
using nlohmann::json;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

long status_kb(const char* field) {  // VmRSS / VmHWM of this process in KiB
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field) + 1));
  return -1;
}

ModelConfig bench_config() {
  ModelConfig c;  // the defaults of model.*: H 256, I 768, 4 layers, 4 heads, 2 kv heads
  c.tie_word_embeddings = true;
  return c;
}
constexpr int64_t kVocab = 2000, kFeat = 1152;

// One training step (forward + backward) in a child process, so its peak RSS is its own.
json train_step_child(bool ckpt, int64_t B, int64_t T, int reps) {
  int fd[2];
  if (pipe(fd) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    DSTProActLlama m = make_dst_model_scratch(bench_config(), kVocab, kFeat, 1);
    m->train();
    m->gradient_checkpointing = ckpt;
    int64_t img = m->image_token_id;
    at::Tensor ids = at::randint(0, kVocab, {B, T}, at::kLong);
    ids.index_put_({at::indexing::Slice(), at::indexing::Slice(0, T, 2)}, img);  // half the positions are frames
    int64_t n = (ids == img).sum().item<int64_t>();
    at::Tensor frames = at::randn({n, kFeat});
    at::Tensor dec = flat_index(ids == img), lm = flat_index(ids != img);
    at::Tensor target = at::randint(0, kVocab, {lm.size(0)}, at::kLong);
    std::vector<double> times;
    long base = 0, peak_fwd = 0;
    for (int r = 0; r < reps + 1; ++r) {  // the first run warms up
      m->zero_grad();
      long before = status_kb("VmRSS:");
      double t0 = now_s();
      DSTOutput o = m->forward(ids, {}, frames, dec, lm);
      long after_fwd = status_kb("VmRSS:");
      at::Tensor loss = at::cross_entropy_loss(o.lm_logits, target) + o.speaking_logits.sigmoid().mean() +
                        o.dst_logits.sigmoid().mean();
      loss.backward();
      double t1 = now_s();
      if (r > 0) times.push_back(t1 - t0);
      if (r == reps) base = before, peak_fwd = after_fwd;
    }
    std::sort(times.begin(), times.end());
    json j = {{"gradient_checkpointing", ckpt},
              {"batch", B},
              {"seq_len", T},
              {"step_s_median", times[times.size() / 2]},
              {"rss_growth_after_forward_mb", (peak_fwd - base) / 1024.0},
              {"peak_rss_mb", status_kb("VmHWM:") / 1024.0}};
    std::string s = j.dump();
    if (write(fd[1], s.data(), s.size()) < 0) _exit(1);
    close(fd[1]);
    _exit(0);
  }
  close(fd[1]);
  std::string out;
  char buf[4096];
  ssize_t k;
  while ((k = read(fd[0], buf, sizeof buf)) > 0) out.append(buf, k);
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return out.empty() ? json() : json::parse(out);
}

json streaming(int64_t context, int appends, int full_reps) {
  torch::NoGradGuard ng;
  DSTProActLlama m = make_dst_model_scratch(bench_config(), kVocab, kFeat, 2);
  m->eval();
  int64_t img = m->image_token_id;
  std::vector<int64_t> prefix(context, img);
  for (int64_t i = 0; i < context; i += 3) prefix[i] = 1 + i % 100;
  int64_t n = std::count(prefix.begin(), prefix.end(), img);
  at::Tensor frames = at::randn({n, kFeat}), one = at::randn({kFeat});
  IncrementalDecoder s(m, context + appends + 1);
  double t0 = now_s();
  s.append(prefix, frames);
  double prefill = now_s() - t0;
  t0 = now_s();
  for (int i = 0; i < appends; ++i) {
    s.append_frame(one);
    s.speaking_logit();
    s.dst_logit();
  }
  double per_frame = (now_s() - t0) / appends;
  // Without a cache: every new frame re-runs the whole prefix.
  std::vector<int64_t> ids = prefix;
  ids.push_back(img);
  at::Tensor x = at::tensor(ids, at::kLong).unsqueeze(0);
  at::Tensor fr = at::cat({frames, one.unsqueeze(0)});
  std::vector<double> t;
  for (int r = 0; r < full_reps; ++r) {
    t0 = now_s();
    at::Tensor h = m->hidden_states(x, {}, fr);
    m->speaking_logit(h[0][context]);
    t.push_back(now_s() - t0);
  }
  std::sort(t.begin(), t.end());
  return {{"context", context},
          {"prefill_s", prefill},
          {"per_frame_cached_ms", per_frame * 1e3},
          {"per_frame_rerun_prefix_ms", t[t.size() / 2] * 1e3},
          {"speedup", t[t.size() / 2] / per_frame}};
}

}  // namespace

int main(int argc, char** argv) {
  std::string out = "bench/results/model.json";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--quick") quick = true;
    else out = argv[i];
  }
  at::set_num_threads(1);
  json r;
  r["device"] = "cpu, fp32, 1 thread";
  r["model"] = {{"hidden_size", 256}, {"intermediate_size", 768}, {"num_hidden_layers", 4},
                {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"vocab_size", kVocab + 1},
                {"feature_dim", kFeat}};
  int64_t T = quick ? 256 : 1024;
  json plain = train_step_child(false, 2, T, quick ? 1 : 3);
  json ckpt = train_step_child(true, 2, T, quick ? 1 : 3);
  r["gradient_checkpointing"] = {
      {"plain", plain},
      {"checkpointed", ckpt},
      // Same weights, data and optimizer-free step in both children: the peak RSS difference is the
      // activation memory the checkpointed run did not keep.
      {"peak_memory_saved_mb", plain["peak_rss_mb"].get<double>() - ckpt["peak_rss_mb"].get<double>()},
      {"time_added_pct",
       100.0 * (ckpt["step_s_median"].get<double>() / plain["step_s_median"].get<double>() - 1.0)}};
  std::printf("checkpointing: %s\n", r["gradient_checkpointing"].dump().c_str());
  r["streaming"] = json::array();
  for (int64_t c : {int64_t{256}, int64_t{quick ? 1024 : 4096}}) {
    json s = streaming(c, quick ? 5 : 20, quick ? 1 : 3);
    std::printf("streaming: %s\n", s.dump().c_str());
    r["streaming"].push_back(s);
  }
  std::ofstream(out) << r.dump(2) << "\n";
  std::printf("wrote %s\n", out.c_str());
  return 0;
}
