// What the step benches share: the wall and CPU clocks, the process's resident memory, and one step under LibTorch's profiler
// summarised by kind of work. The kinds are the same as tools/reference/hf_step.py's (by op name, on the
// outermost events of each thread, so that nested calls are not counted twice): attention, matmul,
// loss, optimizer (everything inside the "optimizer.step" scope), norm (RMSNorm's pow/mean/rsqrt),
// elementwise (RoPE, SiLU*mul, masks, residual adds, the copies), other.
#pragma once
#include <ATen/record_function.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace bench_profile {

// Seconds: the steady wall clock, and this process's CPU time (user + system, every thread).
inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
inline double cpu_now() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_stime.tv_sec + 1e-6 * (r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

// A field of /proc/self/status in MiB (VmRSS, VmHWM); -1 where unreadable.
inline double rss_mib(const std::string& field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  return -1;
}

// Resets VmHWM to the current size (Linux clear_refs 5); false where the kernel refuses.
inline bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

inline std::string kind_of(std::string n) {
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  const std::string engine = "autograd::engine::evaluate_function: ";  // a backward node: its forward op's name
  if (n.rfind(engine, 0) == 0) n = n.substr(engine.size());
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kinds = {
      {"optimizer", {"optimizer.step"}},
      {"loss", {"cross_entropy", "nll_loss", "nllloss", "log_softmax", "logsoftmax", "binary_cross_entropy", "binarycrossentropy"}},
      {"attention", {"scaled_dot_product", "scaleddotproduct", "attention", "softmax", "bmm"}},
      {"matmul", {"mm", "matmul", "linear", "dot"}},
      {"norm", {"rsqrt", "pow", "mean", "rms_norm"}},
      {"elementwise", {"mul", "add", "silu", "neg", "cat", "sub", "div", "where", "masked_fill", "gelu", "sigmoid",
                       "cos", "sin", "copy", "fill", "clone", "aten::to", "triu", "tril", "ge", "le", "eq", "ne", "exp",
                       "index", "narrow", "slice", "expand", "view", "reshape", "transpose", "embedding"}},
  };
  for (const auto& [kind, keys] : kinds)
    for (const auto& k : keys)
      if (n.find(k) != std::string::npos) return kind;
  return "other";
}

// Runs step() once under the profiler: {"traced_ms", "kinds": {kind: {ms, pct}}, "top_ops": [...]}.
// The caller wraps its optimizer step in RECORD_FUNCTION("optimizer.step", ...) or uses optimizer_scope.
template <typename F>
nlohmann::json profile_kinds(F&& step) {
  using nlohmann::json;
  std::stringstream trace;
  {
    torch::autograd::profiler::RecordProfile guard(trace);
    step();
  }
  json events = json::parse(trace.str(), nullptr, false);
  if (!events.is_array()) return {{"error", "unreadable profiler trace"}};
  std::vector<json> evs;
  for (auto& e : events)
    if (e.value("ph", "") == "X") evs.push_back(e);
  std::sort(evs.begin(), evs.end(), [](const json& a, const json& b) { return a["ts"].get<double>() < b["ts"].get<double>(); });
  std::map<std::string, double> open_until, by_op, by_kind;
  double sum = 0;
  for (auto& e : evs) {
    std::string tid = e.contains("tid") ? e["tid"].dump() : "0";
    double ts = e["ts"].get<double>(), dur = e.value("dur", 0.0);
    if (ts < open_until[tid]) continue;  // inside an outer event of the same thread
    open_until[tid] = ts + dur;
    std::string name = e.value("name", "?");
    by_op[name] += dur;
    by_kind[kind_of(name)] += dur;
    sum += dur;
  }
  std::vector<std::pair<double, std::string>> v;
  for (auto& [n, d] : by_op) v.emplace_back(d, n);
  std::sort(v.rbegin(), v.rend());
  json top = json::array(), kinds = json::object();
  for (size_t i = 0; i < v.size() && i < 15; ++i)
    top.push_back({{"op", v[i].second}, {"ms", v[i].first / 1e3}, {"pct", 100.0 * v[i].first / sum}});
  for (auto& [k, d] : by_kind) kinds[k] = {{"ms", d / 1e3}, {"pct", 100.0 * d / sum}};
  return {{"traced_ms", sum / 1e3}, {"kinds", kinds}, {"top_ops", top}};
}

}  // namespace bench_profile
