// The model tests' reference: tests/reference/llama_ref.py (float64 numpy, no transformers) makes HF
// folders and their logits; its JSON comes back as tensors. Scratch folders and comparisons come from
// test_util.h and tiny_model.h.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "test_util.h"
#include "tiny_model.h"

namespace prospect::test {

// build/test_tmp/model_<name>, empty.
inline std::filesystem::path model_dir(const std::string& name) { return fresh_dir("model_" + name); }

// Runs tests/reference/llama_ref.py with the given arguments.
inline int run_reference(const std::string& args) {
  std::string cmd = "/usr/bin/python3 " + source_path("tests/reference/llama_ref.py") + " " + args;
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

}  // namespace prospect::test
