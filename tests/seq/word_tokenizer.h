// A tiny deterministic tokenizer for hand-checkable sequences: words split on spaces (a trailing comma
// is its own token), each word one id from a fixed table, unknown words -> 99.
#pragma once
#include <map>
#include <sstream>
#include <string>

#include "prospect/text/tokenizer.h"

namespace prospect::test {

class WordTokenizer : public Tokenizer {
 public:
  WordTokenizer() {
    const char* words[] = {"<s>",   "<|eot|>", "System:", "User:", "Assistant:", "Dst:",      "S1->start",
                           "S1->complete", "S2->start", "hi", "go",  "ok",     "State:",       "Current",
                           "step",  "states:", "S1",      "S2",    "not_started", "in_progress", "completed",
                           "make",  "tea",     ","};
    for (int i = 0; i < 24; ++i) ids_[words[i]] = i;
    ids_["DST:"] = 5;
    ids_["dst:"] = 5;
  }
  Encoding encode(std::string_view text) const override {
    Encoding e;
    std::istringstream in{std::string(text)};
    std::string w;
    while (in >> w) {
      bool comma = w.size() > 1 && w.back() == ',';
      if (comma) w.pop_back();
      auto it = ids_.find(w);
      e.ids.push_back(it == ids_.end() ? 99 : it->second);
      if (comma) e.ids.push_back(23);
    }
    e.offsets.assign(e.ids.size(), {0, 0});
    return e;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t id : ids) s += (s.empty() ? "" : " ") + id_to_token(id);
    return s;
  }
  int32_t token_to_id(std::string_view token) const override {
    auto it = ids_.find(std::string(token));
    return it == ids_.end() ? -1 : it->second;
  }
  std::string id_to_token(int32_t id) const override {
    for (auto& [w, i] : ids_)
      if (i == id) return w;
    return "<unk>";
  }
  int64_t vocab_size() const override { return 24; }
  int32_t bos_id() const override { return 0; }
  int32_t eos_id() const override { return 1; }
  std::string kind() const override { return "sentencepiece"; }
  bool is_special(int32_t id) const override { return id <= 1; }

 private:
  std::map<std::string, int32_t> ids_;
};

}  // namespace prospect::test
