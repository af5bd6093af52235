// Helpers shared by the model tests: temp folders, the numpy reference, comparisons.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace prospect::test {

inline std::filesystem::path temp_dir(const std::string& name) {
  auto d = std::filesystem::path(PROSPECT_BINARY_DIR) / "test_tmp" / "model" / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// Runs tests/reference/llama_ref.py (float64 numpy, no transformers) with the given arguments.
inline int run_reference(const std::string& args) {
  std::string cmd = "/usr/bin/python3 " + std::string(PROSPECT_SOURCE_DIR) + "/tests/reference/llama_ref.py " + args;
  return std::system(cmd.c_str());
}

inline nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

inline at::Tensor json_matrix(const nlohmann::json& j) {
  int64_t T = j.size(), V = j[0].size();
  at::Tensor t = at::empty({T, V}, at::kDouble);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t v = 0; v < V; ++v) t[i][v] = j[i][v].get<double>();
  return t;
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// SPEC §9: max|a - b| / max(max|b|, 1e-8).
inline double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  double den = std::max(b.to(at::kDouble).abs().max().item<double>(), 1e-8);
  return max_abs_diff(a, b) / den;
}

}  // namespace prospect::test
