// Speed of one training step (forward + backward + AdamW) of the Llama decoder in C++, against the same
// step of the PyTorch eager reference (tools/reference/bench_step.py, run by this program in the same run
// with the same thread count), and a large at::mm as the machine's matmul peak. Two shapes: the demo
// model (H 256, 4 layers, T 1024) and Llama-3.2-1B-shaped layers (H 2048, I 8192, 32/8 heads, vocab
// 32000, T 512). Step: random ids [B, T], LM head on every position, mean next-token cross-entropy.
//
// FLOPs per step = 6 * N * tokens + 12 * L * H * T * tokens, N = every parameter except the embedding
// lookup (the LM head counts, tied or not). The machine is shared, so each step also records the
// process CPU time; the JSON keeps best (min) and median wall times of both sides and their ratio.
//
//   bench_train_step [--threads 2] [--steps 3] [--rounds 3] [--layers1b 2] [--batch1b 1] [--quick] [--no-python]
//                    [--only demo|llama1b_layers] [--device cpu|cuda] [--dtype fp32|bf16]
//                    [--out bench/results/train_step.json]
// --profile: one more C++ step per shape under the LibTorch profiler; its top ops go into the JSON.
// --rounds: alternating C++/Python rounds on the demo shape (the 1B shape runs one round).
// --device cuda: model, batch and optimizer state on the GPU (no Python side, no profile); the matmul
// peak is then an 8192^2 at::mm on the GPU in the step's dtype, so pct_of_matmul_peak is the model FLOP
// utilisation against the measured dense peak. --dtype bf16: autocast around forward and loss, fp32
// master weights and AdamW state (as training does); on the CPU it needs LibTorch 2.x. A request that
// cannot be met (no GPU, CPU bf16 on 1.13) exits 2.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/cuda.h>
#include <torch/nn/functional/loss.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "profile_kinds.h"
#include "prospect/model/grad_checkpoint.h"
#include "prospect/model/llama.h"
#include "prospect/train/optim.h"

using nlohmann::json;
using prospect::AutocastState;
using prospect::AutocastStateGuard;

namespace {

using bench_profile::cpu_now;
using bench_profile::now;
double min_of(std::vector<double> v) { return *std::min_element(v.begin(), v.end()); }
double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Where and in which precision the C++ step runs.
struct Run {
  at::Device device = at::kCPU;
  bool bf16 = false;
};

// Waits for the device's queued work (a scalar read back synchronises the current stream).
void sync(const at::Device& d) {
  if (!d.is_cpu()) at::zeros({1}, at::TensorOptions().device(d)).item<float>();
}

// bf16 autocast for the device's type (fp32 master weights stay as they are).
AutocastState autocast_for(const Run& run) {
  AutocastState s = AutocastState::current();
  if (!run.bf16) return s;
  if (run.device.is_cuda()) s.cuda = true, s.cuda_dtype = at::kBFloat16;
  else s.cpu = true, s.cpu_dtype = at::kBFloat16;
  return s;
}

struct Shape {
  std::string name;
  prospect::LlamaConfig cfg;
  int64_t batch, seq;
};

// 6 N tokens + 12 L H T tokens (attention scores and values, forward and backward).
double step_flops(const Shape& s) {
  const auto& c = s.cfg;
  int64_t H = c.hidden_size, I = c.intermediate_size, hd = c.head_size();
  int64_t attn = H * c.num_attention_heads * hd * 2 + H * c.num_key_value_heads * hd * 2;
  int64_t n = c.num_hidden_layers * (attn + 3 * H * I + 2 * H) + H + c.vocab_size * H;
  double tokens = static_cast<double>(s.batch * s.seq);
  return 6.0 * n * tokens + 12.0 * c.num_hidden_layers * H * s.seq * tokens;
}

json profile_step(prospect::LlamaForCausalLM& m, prospect::AdamW& opt, const prospect::NamedParams& named,
                  const at::Tensor& inp, const at::Tensor& tgt, int64_t vocab);

json time_cpp(const Shape& s, int warmup, int steps, bool profile, const Run& run) {
  bool peak_ok = bench_profile::reset_peak_rss();
  double rss0 = bench_profile::rss_mib("VmRSS");
  at::manual_seed(0);
  prospect::LlamaForCausalLM m(s.cfg);
  m->to(run.device);
  m->inv_freq = m->inv_freq.to(run.device);
  // The project's AdamW (lr 1e-4, betas 0.9/0.999, eps 1e-8, weight decay 0.01 on matrices, as the Python
  // side). Gradients are reset to none between steps (as set_to_none in Python), so backward assigns
  // them rather than accumulating into zeroed buffers.
  prospect::NamedParams named;
  for (auto& p : m->named_parameters()) named.emplace_back(p.key(), p.value());
  prospect::OptimConfig oc;
  oc.lr = 1e-4, oc.beta1 = 0.9, oc.beta2 = 0.999, oc.eps = 1e-8, oc.weight_decay = 0.01;
  prospect::AdamW opt(named, oc);
  at::Tensor ids = at::randint(0, s.cfg.vocab_size, {s.batch, s.seq + 1}, at::kLong).to(run.device);
  at::Tensor inp = ids.narrow(1, 0, s.seq), tgt = ids.narrow(1, 1, s.seq).reshape({-1});
  std::vector<double> wall, cpu;
  double first = 0;
  for (int i = 0; i < warmup + steps; ++i) {
    sync(run.device);
    double t0 = now(), c0 = cpu_now();
    at::Tensor loss;
    {
      AutocastStateGuard ac(autocast_for(run), /*clear_cache_on_exit=*/true);
      at::Tensor logits = m->forward(inp);
      loss = at::cross_entropy_loss(logits.reshape({-1, s.cfg.vocab_size}), tgt);
    }
    for (auto& [name, p] : named) p.mutable_grad() = at::Tensor();
    loss.backward();
    opt.step(1e-4);
    sync(run.device);
    double dt = now() - t0, dc = cpu_now() - c0;
    if (i == 0) first = loss.item<double>();
    if (i >= warmup) {
      wall.push_back(dt);
      cpu.push_back(dc);
    }
    std::fprintf(stderr, "  c++ %s step %d: %.3f s (cpu %.3f s)\n", s.name.c_str(), i, dt, dc);
  }
  // peak resident size during set-up and steps above the size before the model (as hf_step.py)
  double hwm = bench_profile::rss_mib("VmHWM");
  json out = {{"step_s", wall}, {"cpu_s", cpu}, {"loss", first},
              {"rss_peak_mib", peak_ok && run.device.is_cpu() ? json(hwm - rss0) : json(nullptr)}};
  if (profile) out["profile"] = profile_step(m, opt, named, inp, tgt, s.cfg.vocab_size);
  return out;
}

// One more step under LibTorch's profiler, summarised by kind of work (profile_kinds.h).
json profile_step(prospect::LlamaForCausalLM& m, prospect::AdamW& opt, const prospect::NamedParams& named,
                  const at::Tensor& inp, const at::Tensor& tgt, int64_t vocab) {
  return bench_profile::profile_kinds([&] {
    for (auto& [name, p] : named) p.mutable_grad() = at::Tensor();
    at::Tensor loss = at::cross_entropy_loss(m->forward(inp).reshape({-1, vocab}), tgt);
    loss.backward();
    RECORD_FUNCTION("optimizer.step", std::vector<c10::IValue>());
    opt.step(1e-4);
  });
}

json time_python(const std::string& python, const Shape& s, int warmup, int steps, int threads) {
  const auto& c = s.cfg;
  std::string cmd = python + " " + std::string(PROSPECT_SOURCE_DIR) + "/tools/reference/bench_step.py" +
                    " --hidden " + std::to_string(c.hidden_size) + " --inter " + std::to_string(c.intermediate_size) +
                    " --layers " + std::to_string(c.num_hidden_layers) + " --heads " +
                    std::to_string(c.num_attention_heads) + " --kv " + std::to_string(c.num_key_value_heads) +
                    " --vocab " + std::to_string(c.vocab_size) + " --tied " + std::to_string(c.tie_word_embeddings) +
                    " --batch " + std::to_string(s.batch) + " --seq " + std::to_string(s.seq) + " --steps " +
                    std::to_string(steps) + " --warmup " + std::to_string(warmup) + " --threads " +
                    std::to_string(threads);
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return {{"error", "cannot start " + cmd}};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int rc = pclose(f);
  if (rc != 0) return {{"error", "exit status " + std::to_string(rc) + " of " + cmd}};
  try {
    return json::parse(out);
  } catch (const json::exception&) {
    return {{"error", "not JSON: " + out}};
  }
}

double matmul_peak(int64_t n, json* rec, const Run& run) {
  auto opts = at::TensorOptions().device(run.device).dtype(run.bf16 ? at::kBFloat16 : at::kFloat);
  at::Tensor a = at::randn({n, n}, opts), b = at::randn({n, n}, opts);
  at::mm(a, b);
  sync(run.device);
  std::vector<double> t, c;
  for (int i = 0; i < 5; ++i) {
    double t0 = now(), c0 = cpu_now();
    at::mm(a, b);
    sync(run.device);
    t.push_back(now() - t0);
    c.push_back(cpu_now() - c0);
  }
  double gf = 2.0 * n * n * n / min_of(t) / 1e9;
  *rec = {{"n", n}, {"dtype", run.bf16 ? "bf16" : "fp32"}, {"s", t}, {"cpu_s", c}, {"gflop_per_s", gf},
          {"gflop_per_cpu_s", 2.0 * n * n * n / min_of(c) / 1e9}};
  return gf;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, steps = 3, warmup = 1, layers1b = 2, batch1b = 1, rounds = 3;
  bool quick = false, skip_python = false, profile = false;
  std::string out = "bench/results/train_step.json", python = "/usr/bin/python3", only, device = "cpu", dtype = "fp32";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--threads") threads = std::stoi(next());
    else if (a == "--steps") steps = std::stoi(next());
    else if (a == "--warmup") warmup = std::stoi(next());
    else if (a == "--layers1b") layers1b = std::stoi(next());
    else if (a == "--rounds") rounds = std::stoi(next());
    else if (a == "--out") out = next();
    else if (a == "--python") python = next();
    else if (a == "--quick") quick = true;
    else if (a == "--no-python") skip_python = true;
    else if (a == "--profile") profile = true;
    else if (a == "--batch1b") batch1b = std::stoi(next());
    else if (a == "--only") only = next();
    else if (a == "--device") device = next();
    else if (a == "--dtype") dtype = next();
    else {
      std::cerr << "usage: bench_train_step [--threads N] [--steps N] [--warmup N] [--layers1b N] [--batch1b N] [--rounds N] "
                   "[--quick] [--profile] [--no-python] [--only demo|llama1b_layers] [--device cpu|cuda] [--dtype fp32|bf16] "
                   "[--out FILE] [--python EXE]\n";
      return 2;
    }
  }
  Run run;
  if (device == "cuda") {
    if (!torch::cuda::is_available()) {
      std::cerr << "bench_train_step: --device cuda, but this process sees no CUDA device\n";
      return 2;
    }
    run.device = at::Device(at::kCUDA, 0);
  } else if (device != "cpu") {
    std::cerr << "bench_train_step: --device is cpu or cuda, not '" << device << "'\n";
    return 2;
  }
  if (dtype != "fp32" && dtype != "bf16") {
    std::cerr << "bench_train_step: --dtype is fp32 or bf16, not '" << dtype << "'\n";
    return 2;
  }
  run.bf16 = dtype == "bf16";
  if (run.bf16 && run.device.is_cpu() && TORCH_VERSION_MAJOR < 2) {
    std::cerr << "bench_train_step: --dtype bf16 on the CPU needs LibTorch 2.x (this is " TORCH_VERSION ")\n";
    return 2;
  }
  if (!only.empty() && only != "demo" && only != "llama1b_layers") {
    std::cerr << "bench_train_step: --only is demo or llama1b_layers, not '" << only << "'\n";
    return 2;
  }
  if (!run.device.is_cpu() || run.bf16) {
    // The Python reference and the profile are CPU fp32 comparisons.
    skip_python = true;
    profile = false;
  }
  at::set_num_threads(threads);
  at::set_num_interop_threads(1);

  std::vector<Shape> shapes;
  {
    prospect::LlamaConfig c;
    c.vocab_size = 2048, c.hidden_size = 256, c.intermediate_size = 768, c.num_hidden_layers = 4;
    c.num_attention_heads = 4, c.num_key_value_heads = 2, c.tie_word_embeddings = true;
    if (only.empty() || only == "demo") shapes.push_back({"demo", c, 1, 1024});
  }
  if (!quick || only == "llama1b_layers") {
    prospect::LlamaConfig c;
    c.vocab_size = 32000, c.hidden_size = 2048, c.intermediate_size = 8192, c.num_hidden_layers = layers1b;
    c.num_attention_heads = 32, c.num_key_value_heads = 8, c.tie_word_embeddings = false, c.rope_theta = 500000.0;
    if (only.empty() || only == "llama1b_layers") shapes.push_back({"llama1b_layers", c, batch1b, 512});
  }

  std::string where = run.device.is_cpu() ? "cpu" : "cuda (" + run.device.str() + ")";
  json result = {{"benchmark", "train_step"}, {"threads", threads},
                 {"device", where + (run.bf16 ? ", bf16 autocast (fp32 master weights)" : ", fp32")},
                 {"torch", TORCH_VERSION},
                 {"note", "one step = forward + backward + AdamW; LM head on every position; C++ and the "
                          "PyTorch eager reference (tools/reference/bench_step.py) timed in the same run; "
                          "best of the timed steps; matmul peak = best at::mm of n x n"}};
  json mm;
  double peak = matmul_peak(run.device.is_cpu() ? 2048 : 8192, &mm, run);
  result["matmul_peak"] = mm;
  for (const Shape& s : shapes) {
    // Rounds alternate C++ and Python so that both sides see the same spells of other load; the best
    // step over all rounds counts, and each round's ratio is kept.
    int nr = s.name == "demo" ? rounds : 1;
    json cpp = {{"step_s", json::array()}, {"cpu_s", json::array()}}, py, round_ratio = json::array();
    for (int r = 0; r < nr; ++r) {
      std::fprintf(stderr, "%s round %d: C++\n", s.name.c_str(), r);
      json c = time_cpp(s, warmup, steps, profile && r == nr - 1, run);
      for (auto& x : c["step_s"]) cpp["step_s"].push_back(x);
      for (auto& x : c["cpu_s"]) cpp["cpu_s"].push_back(x);
      cpp["loss"] = c["loss"];
      cpp["rss_peak_mib"] = c["rss_peak_mib"];
      if (c.contains("profile")) cpp["profile"] = c["profile"];
      if (skip_python) continue;
      std::fprintf(stderr, "%s round %d: Python\n", s.name.c_str(), r);
      json p = time_python(python, s, warmup, steps, threads);
      if (!p.contains("step_s")) {
        py = p;
        break;
      }
      if (py.is_null()) py = p;
      else
        for (const char* k : {"step_s", "cpu_s"})
          for (auto& x : p[k]) py[k].push_back(x);
      round_ratio.push_back(min_of(p["step_s"].get<std::vector<double>>()) /
                            min_of(c["step_s"].get<std::vector<double>>()));
    }
    double flops = step_flops(s), tokens = static_cast<double>(s.batch * s.seq);
    double cb = min_of(cpp["step_s"].get<std::vector<double>>());
    json r = {{"hidden_size", s.cfg.hidden_size}, {"intermediate_size", s.cfg.intermediate_size},
              {"num_hidden_layers", s.cfg.num_hidden_layers}, {"num_attention_heads", s.cfg.num_attention_heads},
              {"num_key_value_heads", s.cfg.num_key_value_heads}, {"vocab_size", s.cfg.vocab_size},
              {"batch", s.batch}, {"seq_len", s.seq}, {"gflop_per_step", flops / 1e9}, {"cpp", cpp}};
    r["cpp"]["best_s"] = cb;
    r["cpp"]["median_s"] = median_of(cpp["step_s"].get<std::vector<double>>());
    r["cpp"]["tokens_per_s"] = tokens / cb;
    r["cpp"]["gflop_per_s"] = flops / cb / 1e9;
    r["cpp"]["pct_of_matmul_peak"] = 100.0 * flops / cb / 1e9 / peak;
    // The same share measured in CPU time (both sides' busy time), less sensitive to other load.
    double cc = min_of(cpp["cpu_s"].get<std::vector<double>>());
    r["cpp"]["pct_of_matmul_peak_cpu_time"] = 100.0 * flops / cc / 1e9 / mm["gflop_per_cpu_s"].get<double>();
    if (py.contains("step_s")) {
      double pb = min_of(py["step_s"].get<std::vector<double>>());
      py["best_s"] = pb;
      py["median_s"] = median_of(py["step_s"].get<std::vector<double>>());
      py["tokens_per_s"] = tokens / pb;
      py["gflop_per_s"] = flops / pb / 1e9;
      py["pct_of_matmul_peak"] = 100.0 * flops / pb / 1e9 / peak;
      if (py.contains("cpu_s"))
        py["pct_of_matmul_peak_cpu_time"] =
            100.0 * flops / min_of(py["cpu_s"].get<std::vector<double>>()) / 1e9 / mm["gflop_per_cpu_s"].get<double>();
      r["cpp_speedup_vs_python"] = pb / cb;
      r["cpp_speedup_vs_python_per_round"] = round_ratio;
      if (py.contains("cpu_s")) {
        double pc = min_of(py["cpu_s"].get<std::vector<double>>()), cc = min_of(cpp["cpu_s"].get<std::vector<double>>());
        r["cpp_speedup_vs_python_cpu_time"] = pc / cc;
      }
    }
    r["python"] = py;
    result[s.name] = r;
    std::fprintf(stderr, "%s\n", r.dump(2).c_str());
  }
  std::ofstream(out) << result.dump(2) << "\n";
  std::fprintf(stderr, "wrote %s\n", out.c_str());
  return 0;
}
