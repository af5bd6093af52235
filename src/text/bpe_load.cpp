// Reading a tokenizer.json into a BpeTokenizer (bpe.h): the model, added tokens, pre-tokenizer steps,
// BOS and EOS; load_bpe_tokenizer and bpe_tokenizer_from_json of tokenizer.h.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "bpe.h"
#include "prospect/core/error.h"
#include "prospect/core/file.h"

namespace prospect {
namespace bpe {

const ByteTable& byte_table() {
  static const ByteTable t;
  return t;
}

namespace {

void onig_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding encs[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encs, 1);
  });
}

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where) {
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

Behavior parse_behavior(const std::string& s, const std::string& where) {
  if (s == "Removed") return Behavior::Removed;
  if (s == "Isolated") return Behavior::Isolated;
  if (s == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (s == "MergedWithNext") return Behavior::MergedWithNext;
  if (s == "Contiguous") return Behavior::Contiguous;
  fail("{}: unsupported Split behavior '{}'", where, s);
}

const char* const kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

namespace {

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

}  // namespace

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

}  // namespace bpe

using bpe::json;

std::unique_ptr<Tokenizer> bpe_tokenizer_from_json(const std::string& json_text, const std::string& where,
                                                   const std::string& config_json) {
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded()) fail("{}: not valid JSON", where);
  try {
    return std::make_unique<bpe::BpeTokenizer>(j, where, config_json);
  } catch (const json::exception& e) {
    fail("{}: malformed tokenizer.json: {}", where, e.what());
  }
}

std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& path) {
  std::string text = bpe::slurp(path);
  std::string config;
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  read_file(dir + "tokenizer_config.json", &config);  // optional: its eos_token, when present
  return bpe_tokenizer_from_json(text, path, config);
}

}  // namespace prospect
