// Byte-level BPE from a Hugging Face tokenizer.json, behaving as HF's Rust `tokenizers` does for the
// Llama 3 and GPT-2/SmolLM2 families (see tokenizer.h for the exact scope). The pipeline of one encode:
//   1. added tokens split the text (leftmost-longest, exact bytes), each becoming one id;
//   2. every other segment goes through the pre-tokenizer (regex splits by Oniguruma, as HF);
//   3. each pre-token is mapped byte -> unicode char (GPT-2's table) and merged by BPE rank.
// Pieces are kept as byte spans of the input, so offsets come for free.
#include <oniguruma.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "prospect/core/error.h"
#include "prospect/core/file.h"
#include "prospect/text/tokenizer.h"

namespace prospect {
namespace {

using json = nlohmann::json;

// ---- UTF-8 helpers ----
void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes one code point at s[i] (the input is valid UTF-8: std::string from JSON or the caller);
// returns its length in bytes (1 for a stray byte, which then counts as its own "char").
size_t utf8_next(std::string_view s, size_t i, uint32_t* cp) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (i + n > s.size()) n = 1;
  uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < n; ++k) v = (v << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  *cp = v;
  return n;
}

// Offset of the first byte that is not valid UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF),
// or npos. HF works on Rust strings, which are valid by construction; Oniguruma must not see others.
size_t invalid_utf8_at(std::string_view s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    if (len == 0 || i + len > n) return i;
    unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F))
      return i;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return i;
    i += len;
  }
  return std::string_view::npos;
}

// Rust's char::is_whitespace (Unicode White_Space), used by lstrip/rstrip of added tokens.
bool is_unicode_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// ---- GPT-2's byte <-> unicode table: printable bytes map to themselves, the rest to 256+ ----
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
const ByteTable& byte_table() {
  static const ByteTable t;
  return t;
}

// ---- Oniguruma ----
void onig_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding encs[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encs, 1);
  });
}

struct Regex {
  regex_t* re = nullptr;
  Regex(const std::string& pattern, const std::string& where) {
    onig_init_once();
    OnigErrorInfo einfo;
    auto* p = reinterpret_cast<const OnigUChar*>(pattern.data());
    int r = onig_new(&re, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_RUBY, &einfo);
    if (r != ONIG_NORMAL) {
      OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
      onig_error_code_to_str(msg, r, &einfo);
      fail("{}: pre-tokenizer regex /{}/ does not compile: {}", where, pattern, reinterpret_cast<char*>(msg));
    }
  }
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

Behavior parse_behavior(const std::string& s, const std::string& where) {
  if (s == "Removed") return Behavior::Removed;
  if (s == "Isolated") return Behavior::Isolated;
  if (s == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (s == "MergedWithNext") return Behavior::MergedWithNext;
  if (s == "Contiguous") return Behavior::Contiguous;
  fail("{}: unsupported Split behavior '{}'", where, s);
}

// HF's SplitDelimiterBehavior applied to a list of (span, is_match); returns spans.
std::vector<std::pair<size_t, size_t>> apply_behavior(const Matches& m, Behavior bh) {
  std::vector<std::pair<size_t, size_t>> out;
  bool prev_match = false;
  switch (bh) {
    case Behavior::Isolated:
      for (auto& x : m) out.push_back(x.first);
      break;
    case Behavior::Removed:
      for (auto& x : m)
        if (!x.second) out.push_back(x.first);
      break;
    case Behavior::MergedWithPrevious:
      for (auto& x : m) {
        if (x.second && !prev_match && !out.empty()) out.back().second = x.first.second;
        else out.push_back(x.first);
        prev_match = x.second;
      }
      break;
    case Behavior::MergedWithNext:
      for (auto it = m.rbegin(); it != m.rend(); ++it) {
        if (it->second && !prev_match && !out.empty()) out.back().first = it->first.first;
        else out.push_back(it->first);
        prev_match = it->second;
      }
      std::reverse(out.begin(), out.end());
      break;
    case Behavior::Contiguous:
      for (auto& x : m) {
        if (x.second == prev_match && !out.empty()) out.back().second = x.first.second;
        else out.push_back(x.first);
        prev_match = x.second;
      }
      break;
  }
  return out;
}

// Oniguruma find_iter as the Rust `onig` crate does it (an empty match right after the previous
// match is skipped by advancing one char), turned into HF's (span, is_match) cover of the text.
Matches regex_matches(const regex_t* re, std::string_view text, OnigRegion* region) {
  Matches out;
  if (text.empty()) return out;
  auto* s = reinterpret_cast<const OnigUChar*>(text.data());
  auto* end = s + text.size();
  size_t pos = 0, prev = 0;
  long last_match_end = -1;
  while (pos <= text.size()) {
    int r = onig_search(const_cast<regex_t*>(re), s, end, s + pos, end, region, ONIG_OPTION_NONE);
    if (r == ONIG_MISMATCH) break;
    if (r < 0) fail("Oniguruma search failed (code {})", r);
    size_t mb = static_cast<size_t>(region->beg[0]), me = static_cast<size_t>(region->end[0]);
    if (mb == me && last_match_end == static_cast<long>(me)) {
      if (pos >= text.size()) break;
      uint32_t cp;
      pos += utf8_next(text, pos, &cp);
      continue;
    }
    pos = me;
    last_match_end = static_cast<long>(me);
    if (prev != mb) out.push_back({{prev, mb}, false});
    out.push_back({{mb, me}, true});
    prev = me;
    if (mb == me) {  // an empty match: step on so the loop ends
      if (pos >= text.size()) break;
    }
  }
  if (prev != text.size()) out.push_back({{prev, text.size()}, false});
  return out;
}

Matches literal_matches(const std::string& lit, std::string_view text) {
  Matches out;
  if (text.empty()) return out;
  size_t prev = 0;
  if (!lit.empty()) {
    for (size_t p = text.find(lit); p != std::string_view::npos; p = text.find(lit, p + lit.size())) {
      if (prev != p) out.push_back({{prev, p}, false});
      out.push_back({{p, p + lit.size()}, true});
      prev = p + lit.size();
    }
  }
  if (prev != text.size()) out.push_back({{prev, text.size()}, false});
  return out;
}

// One pre-tokenizer step: a splitting step (Split, Digits, ByteLevel's regex) or ByteLevel's prefix.
struct PreStep {
  enum Kind { kSplitRegex, kSplitLiteral, kPrefixSpace } kind;
  std::shared_ptr<Regex> re;
  std::string literal;
  Behavior behavior = Behavior::Isolated;
  bool invert = false;
};

const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false, lstrip = false, rstrip = false, single_word = false, normalized = false;
};

// The Rust regex crate's Unicode \w (HF's single_word test): Alphabetic, marks, decimal digits,
// connector punctuation and Join_Control, through Oniguruma's property classes.
bool is_word_char(uint32_t c) {
  static const Regex word("\\A[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]", "word-character test");
  std::string s;
  append_utf8(s, c);
  auto* p = reinterpret_cast<const OnigUChar*>(s.data());
  return onig_match(word.re, p, p + s.size(), p, nullptr, ONIG_OPTION_NONE) > 0;
}

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

std::string slurp(const std::string& path) {
  std::string text;
  if (!read_file(path, &text)) fail("cannot open tokenizer file {}", path);
  return text;
}

void add_pre_steps(const json& pt, const std::string& where, std::vector<PreStep>* steps, bool* byte_level) {
  if (pt.is_null()) return;
  std::string type = pt.value("type", "");
  if (type == "Sequence") {
    for (auto& sub : pt.at("pretokenizers")) add_pre_steps(sub, where, steps, byte_level);
  } else if (type == "Split") {
    PreStep s;
    const json& pat = pt.at("pattern");
    if (pat.contains("Regex")) {
      s.kind = PreStep::kSplitRegex;
      s.re = std::make_shared<Regex>(pat.at("Regex").get<std::string>(), where);
    } else if (pat.contains("String")) {
      s.kind = PreStep::kSplitLiteral;
      s.literal = pat.at("String").get<std::string>();
    } else {
      fail("{}: Split pre-tokenizer pattern must be Regex or String, found {}", where, pat.dump());
    }
    s.behavior = parse_behavior(pt.value("behavior", "Isolated"), where);
    s.invert = pt.value("invert", false);
    steps->push_back(std::move(s));
  } else if (type == "ByteLevel") {
    *byte_level = true;
    if (pt.value("add_prefix_space", true)) steps->push_back(PreStep{PreStep::kPrefixSpace, nullptr, "", {}, false});
    if (pt.value("use_regex", true)) {
      PreStep s;
      s.kind = PreStep::kSplitRegex;
      s.re = std::make_shared<Regex>(kGpt2Pattern, where);
      steps->push_back(std::move(s));
    }
  } else if (type == "Digits") {
    PreStep s;
    s.kind = PreStep::kSplitRegex;
    s.re = std::make_shared<Regex>(pt.value("individual_digits", false) ? "\\p{N}" : "\\p{N}+", where);
    steps->push_back(std::move(s));
  } else {
    fail("{}: unsupported pre_tokenizer type '{}' (supported: Sequence, Split, ByteLevel, Digits)", where, type);
  }
}

// The first SpecialToken of a TemplateProcessing "single" template, searched through Sequences.
std::string template_bos(const json& pp) {
  if (!pp.is_object()) return "";
  std::string type = pp.value("type", "");
  if (type == "Sequence" && pp.contains("processors")) {
    for (auto& p : pp.at("processors")) {
      std::string s = template_bos(p);
      if (!s.empty()) return s;
    }
  }
  if (type == "TemplateProcessing" && pp.contains("single")) {
    for (auto& piece : pp.at("single")) {
      if (piece.contains("Sequence")) return "";
      if (piece.contains("SpecialToken")) return piece.at("SpecialToken").value("id", "");
    }
  }
  return "";
}

std::string config_token(const json& cfg, const char* key) {
  if (!cfg.is_object() || !cfg.contains(key)) return "";
  const json& v = cfg.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v.at("content").is_string()) return v.at("content").get<std::string>();
  return "";
}

BpeTokenizer::BpeTokenizer(const json& j, const std::string& where, const std::string& config_json) : where_(where) {
  const auto& bt = byte_table();
  if (!j.is_object() || !j.contains("model")) fail("{}: not a tokenizer.json (no \"model\")", where);
  const json& model = j.at("model");
  std::string mtype = model.value("type", "BPE");
  if (mtype != "BPE") fail("{}: model type '{}' is not supported (only BPE)", where, mtype);
  if (model.contains("dropout") && !model.at("dropout").is_null() && model.at("dropout").get<double>() > 0)
    fail("{}: BPE dropout is not supported", where);
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(k) && !model.at(k).is_null() && !model.at(k).get<std::string>().empty())
      fail("{}: BPE {} is not supported", where, k);
  }
  ignore_merges_ = model.value("ignore_merges", false);

  if (j.contains("normalizer") && !j.at("normalizer").is_null())
    fail("{}: normalizer type '{}' is not supported (only null)", where, j.at("normalizer").value("type", "?"));

  // vocab + added tokens
  int32_t max_id = -1;
  for (auto it = model.at("vocab").begin(); it != model.at("vocab").end(); ++it) {
    int32_t id = it.value().get<int32_t>();
    if (id < 0) fail("{}: negative id {} for token '{}'", where, id, it.key());
    vocab_[it.key()] = id;
    max_id = std::max(max_id, id);
  }
  if (j.contains("added_tokens")) {
    for (auto& a : j.at("added_tokens")) {
      AddedToken t;
      t.content = a.at("content").get<std::string>();
      t.id = a.at("id").get<int32_t>();
      t.special = a.value("special", false);
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      t.single_word = a.value("single_word", false);
      t.normalized = a.value("normalized", !t.special);
      if (t.content.empty()) continue;
      max_id = std::max(max_id, t.id);
      added_by_content_[t.content] = added_.size();
      added_.push_back(t);
    }
  }
  id_to_token_.assign(max_id + 1, "");
  id_bytes_.assign(max_id + 1, "");
  is_added_.assign(max_id + 1, 0);
  for (auto& [tok, id] : vocab_) {
    id_to_token_[id] = tok;
    std::string bytes;
    for (size_t i = 0; i < tok.size();) {
      uint32_t cp;
      size_t n = utf8_next(tok, i, &cp);
      auto b = bt.cp_to_byte.find(cp);
      if (b != bt.cp_to_byte.end()) bytes += static_cast<char>(b->second);
      else bytes.append(tok, i, n);  // not a byte-level char: kept as is (as HF's decoder does)
      i += n;
    }
    id_bytes_[id] = bytes;
  }
  for (auto& t : added_) {
    id_to_token_[t.id] = t.content;
    id_bytes_[t.id] = t.content;
    is_added_[t.id] = 1;
  }
  // Matching order: longest first within a first byte (leftmost-longest).
  for (size_t i = 0; i < added_.size(); ++i) {
    int pass = added_[i].normalized ? 1 : 0;
    added_by_byte_[pass][static_cast<unsigned char>(added_[i].content[0])].push_back(i);
    has_added_[pass] = true;
  }
  for (auto& pass : added_by_byte_)
    for (auto& v : pass)
      std::stable_sort(v.begin(), v.end(),
                       [&](size_t a, size_t b) { return added_[a].content.size() > added_[b].content.size(); });

  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.find(bt.byte_to_utf8[b]);
    byte_id_[b] = it == vocab_.end() ? -1 : it->second;
  }

  // merges: "a b" strings or ["a", "b"] pairs
  int32_t rank = 0;
  for (auto& m : model.at("merges")) {
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      size_t sp = s.find(' ', 1);
      if (sp == std::string::npos) fail("{}: merge {} is not 'a b'", where, rank);
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      fail("{}: merge {} is neither 'a b' nor [a, b]", where, rank);
    }
    auto ia = vocab_.find(a), ib = vocab_.find(b), iab = vocab_.find(a + b);
    if (ia == vocab_.end() || ib == vocab_.end() || iab == vocab_.end())
      fail("{}: merge {} '{} {}' names a token that is not in the vocab", where, rank, a, b);
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(ia->second)) << 32) | static_cast<uint32_t>(ib->second);
    merges_.emplace(key, std::make_pair(rank, iab->second));
    ++rank;
  }

  bool byte_level = false;
  if (j.contains("pre_tokenizer")) add_pre_steps(j.at("pre_tokenizer"), where, &steps_, &byte_level);
  if (!byte_level) fail("{}: only byte-level BPE is supported (no ByteLevel pre-tokenizer found)", where);
  if (j.contains("decoder") && !j.at("decoder").is_null() && j.at("decoder").value("type", "") != "ByteLevel")
    fail("{}: decoder type '{}' is not supported (only ByteLevel)", where, j.at("decoder").value("type", "?"));

  // BOS / EOS (tokenizer.h)
  auto special_id = [&](const std::string& s) -> int32_t {
    auto a = added_by_content_.find(s);
    return a == added_by_content_.end() ? -1 : added_[a->second].id;
  };
  std::string bos = j.contains("post_processor") ? template_bos(j.at("post_processor")) : "";
  if (!bos.empty()) bos_ = token_to_id(bos);
  for (const char* s : {"<|begin_of_text|>", "<s>"})
    if (bos_ < 0) bos_ = special_id(s);
  if (!config_json.empty()) {
    json cfg = json::parse(config_json, nullptr, false);
    std::string eos = config_token(cfg, "eos_token");
    if (!eos.empty()) eos_ = token_to_id(eos);
  }
  for (const char* s : {"<|end_of_text|>", "<|endoftext|>", "</s>", "<|eot|>"})
    if (eos_ < 0) eos_ = special_id(s);
}

// Splits `text` (at offset `base` of the input) on the added tokens of one pass. Matched tokens go
// to `order` directly as ids; the rest as pieces for the next stage. HF's AddedVocabulary::find_matches.
void BpeTokenizer::split_added(std::string_view text, size_t base, bool normalized_pass,
                               std::vector<Item>* out) const {
  int pass = normalized_pass ? 1 : 0;
  size_t start_offset = 0;
  auto emit_plain = [&](size_t b, size_t e) { out->push_back({false, -1, Piece{base + b, base + e, false}}); };
  if (has_added_[pass]) {
    size_t i = 0;
    while (i < text.size()) {
      const auto& cands = added_by_byte_[pass][static_cast<unsigned char>(text[i])];
      const AddedToken* hit = nullptr;
      for (size_t c : cands) {
        const auto& t = added_[c];
        if (t.content.size() <= text.size() - i && std::memcmp(text.data() + i, t.content.data(), t.content.size()) == 0) {
          hit = &t;
          break;
        }
      }
      if (!hit) {
        ++i;
        continue;
      }
      size_t start = i, stop = i + hit->content.size();
      i = stop;  // the matcher never revisits these bytes, even when the match is discarded
      if (hit->single_word) {
        auto last_char = [&](size_t end) -> uint32_t {  // the char that ends at `end`
          size_t k = end - 1;
          while (k > 0 && (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80) --k;
          uint32_t cp;
          utf8_next(text, k, &cp);
          return cp;
        };
        bool start_space = start == 0 || !is_word_char(last_char(start));
        uint32_t next_cp = 0;
        if (stop < text.size()) utf8_next(text, stop, &next_cp);
        bool stop_space = stop == text.size() || !is_word_char(next_cp);
        if (!start_space || !stop_space) continue;
      }
      if (hit->lstrip) {
        size_t s = start;
        while (s > start_offset) {
          size_t k = s - 1;
          while (k > 0 && (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80) --k;
          uint32_t cp;
          utf8_next(text, k, &cp);
          if (!is_unicode_space(cp)) break;
          s = k;
        }
        start = std::max(s, start_offset);
      }
      if (hit->rstrip) {
        while (stop < text.size()) {
          uint32_t cp;
          size_t n = utf8_next(text, stop, &cp);
          if (!is_unicode_space(cp)) break;
          stop += n;
        }
      }
      if (start_offset < start) emit_plain(start_offset, start);
      out->push_back({true, hit->id, Piece{base + start, base + stop, false}});
      start_offset = stop;
    }
  }
  if (start_offset < text.size()) emit_plain(start_offset, text.size());
}

void BpeTokenizer::pre_tokenize(std::string_view text, std::vector<Piece>* pieces, OnigRegion* region) const {
  std::string tmp;
  for (const auto& step : steps_) {
    std::vector<Piece> next;
    next.reserve(pieces->size() * 2);
    for (const Piece& p : *pieces) {
      if (step.kind == PreStep::kPrefixSpace) {
        Piece q = p;
        if (!p.space && (p.e == p.b || text[p.b] != ' ')) q.space = true;
        next.push_back(q);
        continue;
      }
      std::string_view visible = text.substr(p.b, p.e - p.b);
      if (p.space) {
        tmp = " ";
        tmp.append(visible);
        visible = tmp;
      }
      Matches m = step.kind == PreStep::kSplitRegex ? regex_matches(step.re->re, visible, region)
                                                    : literal_matches(step.literal, visible);
      if (step.invert)
        for (auto& x : m) x.second = !x.second;
      for (auto [s, e] : apply_behavior(m, step.behavior)) {
        if (s == e) continue;
        if (!p.space) {
          next.push_back({p.b + s, p.b + e, false});
        } else if (s == 0) {
          next.push_back({p.b, p.b + e - 1, true});
        } else {
          next.push_back({p.b + s - 1, p.b + e - 1, false});
        }
      }
    }
    pieces->swap(next);
  }
}

// BPE of one pre-token given as raw bytes: (id, byte length) per token. HF's Word::merge_all.
void BpeTokenizer::bpe_word(const std::string& bytes, std::vector<std::pair<int32_t, uint32_t>>* out) const {
  if (ignore_merges_) {
    std::string mapped;
    for (unsigned char c : bytes) mapped += byte_table().byte_to_utf8[c];
    auto it = vocab_.find(mapped);
    if (it != vocab_.end()) {
      out->push_back({it->second, static_cast<uint32_t>(bytes.size())});
      return;
    }
  }
  struct Sym {
    int32_t id;
    int prev, next;
    uint32_t len;
  };
  std::vector<Sym> sym;
  sym.reserve(bytes.size());
  for (unsigned char c : bytes) {
    if (byte_id_[c] < 0) {  // no unk token in these files: HF drops the byte; keep its length on the previous
      if (!sym.empty()) sym.back().len += 1;
      continue;
    }
    int n = static_cast<int>(sym.size());
    sym.push_back({byte_id_[c], n - 1, n + 1, 1});
  }
  if (sym.empty()) return;
  sym.back().next = -1;
  struct Merge {
    int32_t rank;
    int pos;
    int32_t new_id;
    bool operator>(const Merge& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Merge, std::vector<Merge>, std::greater<Merge>> q;
  auto find = [&](int32_t a, int32_t b) -> const std::pair<int32_t, int32_t>* {
    auto it = merges_.find((static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  for (size_t i = 0; i + 1 < sym.size(); ++i)
    if (auto m = find(sym[i].id, sym[i + 1].id)) q.push({m->first, static_cast<int>(i), m->second});
  while (!q.empty()) {
    Merge top = q.top();
    q.pop();
    Sym& cur = sym[top.pos];
    if (cur.len == 0 || cur.next == -1) continue;
    Sym right = sym[cur.next];
    auto m = find(cur.id, right.id);
    if (!m || m->second != top.new_id) continue;
    int right_pos = cur.next;
    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    sym[right_pos].len = 0;
    if (right.next >= 0) sym[right.next].prev = top.pos;
    if (cur.prev >= 0)
      if (auto pm = find(sym[cur.prev].id, cur.id)) q.push({pm->first, cur.prev, pm->second});
    if (cur.next >= 0)
      if (auto nm = find(cur.id, sym[cur.next].id)) q.push({nm->first, top.pos, nm->second});
  }
  for (int i = 0; i >= 0; i = sym[i].next) out->push_back({sym[i].id, sym[i].len});
}

void BpeTokenizer::bpe_piece(std::string_view text, const Piece& p, Encoding* enc) const {
  std::string bytes;
  if (p.space) bytes = " ";
  bytes.append(text.substr(p.b, p.e - p.b));
  thread_local std::vector<std::pair<int32_t, uint32_t>> toks;
  toks.clear();
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(bytes);
    if (it != cache_.end()) {
      toks = it->second;
      cached = true;
    }
  }
  if (!cached) {
    bpe_word(bytes, &toks);
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() >= 200000) cache_.clear();
    cache_.emplace(bytes, toks);
  }
  // byte k of `bytes` is input byte p.b + k - (space ? 1 : 0); the virtual space has zero width.
  size_t k = 0;
  for (auto [id, len] : toks) {
    size_t b = k, e = k + len;
    size_t ob = p.space ? (b == 0 ? p.b : p.b + b - 1) : p.b + b;
    size_t oe = p.space ? (e == 0 ? p.b : p.b + e - 1) : p.b + e;
    enc->ids.push_back(id);
    enc->offsets.push_back({ob, oe});
    k = e;
  }
}

Encoding BpeTokenizer::encode(std::string_view text) const {
  size_t bad = invalid_utf8_at(text);
  if (bad != std::string_view::npos) fail("{}: cannot encode text that is not valid UTF-8 (byte {})", where_, bad);
  Encoding enc;
  std::vector<Item> items;
  split_added(text, 0, false, &items);  // added tokens matched on the raw text
  if (has_added_[1]) {  // then "normalized" ones inside what is left (the normalizer is null)
    std::vector<Item> second;
    for (const Item& it : items) {
      if (it.added) second.push_back(it);
      else split_added(text.substr(it.piece.b, it.piece.e - it.piece.b), it.piece.b, true, &second);
    }
    items.swap(second);
  }
  Region region;
  std::vector<Piece> pieces;
  for (const Item& it : items) {
    if (it.added) {
      enc.ids.push_back(it.id);
      enc.offsets.push_back({it.piece.b, it.piece.e});
      continue;
    }
    pieces.assign(1, it.piece);
    pre_tokenize(text, &pieces, region.r);
    for (const Piece& p : pieces) bpe_piece(text, p, &enc);
  }
  return enc;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= static_cast<int32_t>(id_bytes_.size()) || (id_to_token_[id].empty() && !is_added_[id]))
      fail("{}: cannot decode id {} (vocabulary size {})", where_, id, id_bytes_.size());
    out += id_bytes_[id];
  }
  return out;
}

}  // namespace

std::unique_ptr<Tokenizer> bpe_tokenizer_from_json(const std::string& json_text, const std::string& where,
                                                   const std::string& config_json) {
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded()) fail("{}: not valid JSON", where);
  try {
    return std::make_unique<BpeTokenizer>(j, where, config_json);
  } catch (const json::exception& e) {
    fail("{}: malformed tokenizer.json: {}", where, e.what());
  }
}

std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& path) {
  std::string text = slurp(path);
  std::string config;
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  read_file(dir + "tokenizer_config.json", &config);  // optional: its eos_token, when present
  return bpe_tokenizer_from_json(text, path, config);
}

}  // namespace prospect
