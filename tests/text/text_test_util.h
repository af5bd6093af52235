// Helpers shared by the text tests: fixture paths and JSON Lines.
#pragma once
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace prospect::test {

inline std::string src_path(const std::string& rel) { return std::string(PROSPECT_SOURCE_DIR) + "/" + rel; }
inline std::string llama3_path() { return src_path("tests/text/data/llama3/tokenizer.json"); }
inline std::string tiny_path() { return src_path("tests/text/data/tiny/tokenizer.json"); }

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

}  // namespace prospect::test
