// Peak memory and time of one training step (forward + backward + AdamW) at T = 4,096 with the two
// attention paths of LlamaAttentionImpl: materialised scores (LibTorch 1.13's only path) and
// at::scaled_dot_product_attention (fused; LibTorch 2.x). CPU, fp32, a small model shape (H 256,
// I 768, 4/2 heads of 64, 2 layers, vocab 2048), batch 1.
//
// Each measurement runs in a fresh child process (this program re-run with --child), so that the peak
// resident set size (getrusage's ru_maxrss, a high-water mark that never goes down) belongs to one path
// alone. The child records its resident size after building the model and the optimizer and before the
// first step; the step's peak = ru_maxrss after the steps - that baseline. Rounds alternate the two
// paths (the machine is shared) and record the load average before each child.
//
// The materialised path holds per layer the fp32 scores [B, heads, T, T] and their probabilities (saved
// for backward), 4 * 4,096^2 * 4 B = 256 MiB each here; the fused kernel keeps O(T) per head.
//
//   bench_attention [--seq 4096] [--layers 2] [--steps 2] [--rounds 2] [--threads 2]
//                   [--out bench/results/attention.json]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "prospect/model/llama.h"
#include "prospect/train/optim.h"

using nlohmann::json;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double rss_mib() {  // current resident set size
  long pages = 0, resident = 0;
  std::ifstream("/proc/self/statm") >> pages >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

double max_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

std::string loadavg() {
  std::string a, b, c;
  std::ifstream("/proc/loadavg") >> a >> b >> c;
  return a + " " + b + " " + c;
}

struct Args {
  int64_t seq = 4096, layers = 2;
  int steps = 2, rounds = 2, threads = 2;
  std::string out = "bench/results/attention.json", child;
};

prospect::LlamaConfig shape(const Args& a) {
  prospect::LlamaConfig c;
  c.vocab_size = 2048, c.hidden_size = 256, c.intermediate_size = 768, c.num_hidden_layers = a.layers;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.tie_word_embeddings = true;
  c.max_position_embeddings = std::max<int64_t>(c.max_position_embeddings, a.seq);
  return c;
}

// One path in this process: `steps` training steps, JSON on stdout.
int child(const Args& a) {
  at::set_num_threads(a.threads);
  at::set_num_interop_threads(1);
  at::manual_seed(0);
  prospect::LlamaForCausalLM m(shape(a));
  m->fused_attention = a.child == "fused";
  prospect::NamedParams named;
  for (auto& p : m->named_parameters()) named.emplace_back(p.key(), p.value());
  prospect::OptimConfig oc;
  oc.lr = 1e-4, oc.weight_decay = 0.01;
  prospect::AdamW opt(named, oc);
  at::Tensor ids = at::randint(0, m->config.vocab_size, {1, a.seq + 1}, at::kLong);
  at::Tensor inp = ids.narrow(1, 0, a.seq), tgt = ids.narrow(1, 1, a.seq).reshape({-1});
  double base = rss_mib();
  std::vector<double> times;
  double loss0 = 0;
  for (int i = 0; i < a.steps; ++i) {
    double t0 = now();
    for (auto& [name, p] : named) p.mutable_grad() = at::Tensor();
    at::Tensor loss = at::cross_entropy_loss(m->forward(inp).reshape({-1, m->config.vocab_size}), tgt);
    loss.backward();
    opt.step(1e-4);
    times.push_back(now() - t0);
    if (i == 0) loss0 = loss.item<double>();
  }
  json r = {{"path", a.child},         {"step_s", times},
            {"best_s", *std::min_element(times.begin(), times.end())},
            {"rss_before_mib", base}, {"max_rss_mib", max_rss_mib()},
            {"step_peak_mib", max_rss_mib() - base}, {"loss", loss0}};
  std::cout << r.dump() << std::endl;
  return 0;
}

json run_child(const Args& a, const std::string& path) {
  // This program's own path (popen's shell would be /proc/self/exe).
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string cmd = self + " --child " + path + " --seq " + std::to_string(a.seq) + " --layers " +
                    std::to_string(a.layers) + " --steps " + std::to_string(a.steps) + " --threads " +
                    std::to_string(a.threads);
  std::string load = loadavg();
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return {{"error", "cannot start " + cmd}};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int rc = pclose(f);
  json r = json::parse(out, nullptr, false);
  if (rc != 0 || r.is_discarded()) return {{"error", "exit status " + std::to_string(rc) + ": " + out}};
  r["loadavg_before"] = load;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(s + " needs a value");
      return argv[++i];
    };
    if (s == "--seq") a.seq = std::stoll(next());
    else if (s == "--layers") a.layers = std::stoll(next());
    else if (s == "--steps") a.steps = std::stoi(next());
    else if (s == "--rounds") a.rounds = std::stoi(next());
    else if (s == "--threads") a.threads = std::stoi(next());
    else if (s == "--out") a.out = next();
    else if (s == "--child") a.child = next();
    else {
      std::cerr << "usage: bench_attention [--seq N] [--layers N] [--steps N] [--rounds N] [--threads N] [--out FILE]\n";
      return 2;
    }
  }
  if (!prospect::kFusedAttentionAvailable) {
    std::cerr << "bench_attention compares the fused attention of LibTorch 2.x with the materialised one; this "
                 "build has LibTorch " TORCH_VERSION ". Build it in the 2.x configuration (build-torch2, "
                 "docs/cluster.md).\n";
    return 2;
  }
  if (!a.child.empty()) return child(a);

  json rounds = json::array();
  std::map<std::string, std::vector<double>> best, peak;
  for (int r = 0; r < a.rounds; ++r) {
    json round = json::object();
    for (const char* path : {"materialised", "fused"}) {
      std::fprintf(stderr, "round %d: %s (load %s)\n", r, path, loadavg().c_str());
      json c = run_child(a, path);
      std::fprintf(stderr, "  %s\n", c.dump().c_str());
      if (c.contains("error")) {
        std::cerr << "bench_attention: " << c["error"].get<std::string>() << "\n";
        return 1;
      }
      best[path].push_back(c["best_s"].get<double>());
      peak[path].push_back(c["step_peak_mib"].get<double>());
      round[path] = c;
    }
    rounds.push_back(round);
  }
  auto min_of = [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); };
  const auto c = shape(a);
  json result = {
      {"benchmark", "attention"},
      {"device", "cpu, fp32"},
      {"torch", TORCH_VERSION},
      {"threads", a.threads},
      {"shape", {{"hidden_size", c.hidden_size}, {"intermediate_size", c.intermediate_size},
                 {"num_hidden_layers", c.num_hidden_layers}, {"num_attention_heads", c.num_attention_heads},
                 {"num_key_value_heads", c.num_key_value_heads}, {"vocab_size", c.vocab_size},
                 {"batch", 1}, {"seq_len", a.seq}}},
      {"rounds", rounds},
      {"materialised", {{"best_s", min_of(best["materialised"])}, {"step_peak_mib", min_of(peak["materialised"])}}},
      {"fused", {{"best_s", min_of(best["fused"])}, {"step_peak_mib", min_of(peak["fused"])}}},
      {"note", "one training step (forward + backward + AdamW, LM head on every position), each path in its own "
               "process; step_peak_mib = peak resident size minus the size before the first step (smallest over "
               "the rounds); best_s = best step over the rounds; rounds alternate the paths"}};
  result["fused_vs_materialised_time"] = result["fused"]["best_s"].get<double>() / result["materialised"]["best_s"].get<double>();
  result["fused_vs_materialised_peak"] =
      result["fused"]["step_peak_mib"].get<double>() / result["materialised"]["step_peak_mib"].get<double>();
  std::ofstream(a.out) << result.dump(2) << "\n";
  std::fprintf(stderr, "%s\nwrote %s\n", result.dump(2).c_str(), a.out.c_str());
  return 0;
}
