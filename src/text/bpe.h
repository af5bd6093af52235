// Byte-level BPE from a Hugging Face tokenizer.json (tokenizer.h gives the exact scope), private to
// src/text. The pipeline of one encode (bpe_encode.cpp):
//   1. added tokens split the text (leftmost-longest, exact bytes), each becoming one id;
//   2. every other segment goes through the pre-tokenizer (regex splits by Oniguruma, as HF);
//   3. each pre-token is mapped byte -> unicode char (GPT-2's table) and merged by BPE rank.
// Pieces are kept as byte spans of the input, so offsets come for free. bpe_load.cpp reads a
// tokenizer.json into a BpeTokenizer: vocabulary, merges, added tokens, pre-tokenizer steps, BOS, EOS.
#pragma once
#include <oniguruma.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "prospect/text/tokenizer.h"
#include "utf8.h"

namespace prospect::bpe {

using json = nlohmann::json;

// GPT-2's byte <-> unicode table: printable bytes map to themselves, the rest to 256+.
struct ByteTable {
  std::string byte_to_utf8[256];
  std::unordered_map<uint32_t, uint8_t> cp_to_byte;
  ByteTable() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
      append_utf8(byte_to_utf8[b], cp);
      cp_to_byte[cp] = static_cast<uint8_t>(b);
    }
  }
};
const ByteTable& byte_table();

// One compiled Oniguruma regex (UTF-8, Ruby syntax, as HF); Error naming `where` when it does not compile.
struct Regex {
  regex_t* re = nullptr;
  Regex(const std::string& pattern, const std::string& where);
  ~Regex() {
    if (re) onig_free(re);
  }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
};

struct Region {
  OnigRegion* r = onig_region_new();
  ~Region() { onig_region_free(r, 1); }
};

// ---- pre-tokenization over byte spans of the input ----
struct Piece {
  size_t b, e;          // [b, e) in the input
  bool space = false;   // a virtual " " before it (ByteLevel add_prefix_space)
};

// (span in the piece's visible text, is_match), covering the text in order.
using Matches = std::vector<std::pair<std::pair<size_t, size_t>, bool>>;

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const std::string& s, const std::string& where);
// HF's SplitDelimiterBehavior applied to a list of (span, is_match); returns spans.
std::vector<std::pair<size_t, size_t>> apply_behavior(const Matches& m, Behavior bh);
// Oniguruma find_iter as the Rust `onig` crate does it, as HF's (span, is_match) cover of the text.
Matches regex_matches(const regex_t* re, std::string_view text, OnigRegion* region);
Matches literal_matches(const std::string& lit, std::string_view text);

// One pre-tokenizer step: a splitting step (Split, Digits, ByteLevel's regex) or ByteLevel's prefix.
struct PreStep {
  enum Kind { kSplitRegex, kSplitLiteral, kPrefixSpace } kind;
  std::shared_ptr<Regex> re;
  std::string literal;
  Behavior behavior = Behavior::Isolated;
  bool invert = false;
};

extern const char* const kGpt2Pattern;  // ByteLevel's regex

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false, lstrip = false, rstrip = false, single_word = false, normalized = false;
};

// The Rust regex crate's Unicode \w (HF's single_word test).
bool is_word_char(uint32_t c);

// One unit of the text after the added-token split: an added token's id, or a span to pre-tokenize.
struct Item {
  bool added;
  int32_t id;
  Piece piece;
};

class BpeTokenizer : public Tokenizer {
 public:
  BpeTokenizer(const json& j, const std::string& where, const std::string& config_json);

  Encoding encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int32_t token_to_id(std::string_view token) const override {
    auto a = added_by_content_.find(std::string(token));
    if (a != added_by_content_.end()) return added_[a->second].id;
    auto it = vocab_.find(std::string(token));
    return it == vocab_.end() ? -1 : it->second;
  }
  std::string id_to_token(int32_t id) const override {
    if (id < 0 || id >= static_cast<int32_t>(id_to_token_.size())) return "";
    return id_to_token_[id];
  }
  int64_t vocab_size() const override { return static_cast<int64_t>(id_to_token_.size()); }
  int32_t bos_id() const override { return bos_; }
  int32_t eos_id() const override { return eos_; }
  std::string kind() const override { return "bpe"; }
  bool is_special(int32_t id) const override {
    return id >= 0 && id < static_cast<int32_t>(is_added_.size()) && is_added_[id];
  }

 private:
  void split_added(std::string_view text, size_t base, bool normalized_pass, std::vector<Item>* out) const;
  void pre_tokenize(std::string_view text, std::vector<Piece>* pieces, OnigRegion* region) const;
  void bpe_piece(std::string_view text, const Piece& p, Encoding* enc) const;
  void bpe_word(const std::string& bytes, std::vector<std::pair<int32_t, uint32_t>>* out) const;

  std::string where_;
  std::unordered_map<std::string, int32_t> vocab_;  // byte-level-mapped token -> id
  std::vector<std::string> id_to_token_;            // id -> token as in the file ("" for holes)
  std::vector<std::string> id_bytes_;               // id -> raw bytes it decodes to
  std::vector<char> is_added_;
  int32_t byte_id_[256];
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (a,b) -> (rank, new id)
  bool ignore_merges_ = false;
  std::vector<AddedToken> added_;
  std::unordered_map<std::string, size_t> added_by_content_;
  // Added tokens by first byte, longest first: [0] those matched on the raw text, [1] "normalized".
  std::vector<size_t> added_by_byte_[2][256];
  bool has_added_[2] = {false, false};
  std::vector<PreStep> steps_;
  int32_t bos_ = -1, eos_ = -1;

  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<std::pair<int32_t, uint32_t>>> cache_;
};

}  // namespace prospect::bpe
