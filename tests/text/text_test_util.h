// The text tests' fixtures: the tokenizer files under tests/text/data and JSON Lines goldens.
#pragma once
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.h"

namespace prospect::test {

inline std::string llama3_path() { return source_path("tests/text/data/llama3/tokenizer.json"); }
inline std::string tiny_path() { return source_path("tests/text/data/tiny/tokenizer.json"); }

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace prospect::test
