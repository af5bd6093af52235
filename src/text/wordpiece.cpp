// WordPiece as HF tokenizers runs it (steps in wordpiece.h). Works on code points; the vocabulary is
// looked up with UTF-8 strings.
#include "prospect/text/wordpiece.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "prospect/core/error.h"
#include "prospect/core/file.h"

namespace prospect {

namespace {

// ---- Unicode classes (the definitions HF's Rust code uses) ----

// Rust's char::is_whitespace: the White_Space property.
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

utf8proc_category_t category(char32_t c) {
  return static_cast<utf8proc_category_t>(utf8proc_category(static_cast<utf8proc_int32_t>(c)));
}

// BertNormalizer's is_control: Cc, Cf, Cs, Co, except \t \n \r which count as whitespace. (Its
// comment names Cn too, but the Rust crate's test is false for unassigned code points: HF keeps them.)
bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  auto k = category(c);
  return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CS ||
         k == UTF8PROC_CATEGORY_CO;
}

bool is_chinese(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// BertPreTokenizer's is_bert_punc: ASCII punctuation or a P* category.
bool is_punctuation(char32_t c) {
  if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  auto k = category(c);
  return k == UTF8PROC_CATEGORY_PC || k == UTF8PROC_CATEGORY_PD || k == UTF8PROC_CATEGORY_PS ||
         k == UTF8PROC_CATEGORY_PE || k == UTF8PROC_CATEGORY_PI || k == UTF8PROC_CATEGORY_PF ||
         k == UTF8PROC_CATEGORY_PO;
}

bool is_word_char(char32_t c) {  // for single_word added tokens: alphanumeric or '_'
  if (c == '_') return true;
  auto k = category(c);
  return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) || (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

std::u32string nfd(const std::u32string& s) {
  std::string u8 = u32_to_utf8(s);
  utf8proc_uint8_t* out = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(u8.data()),
                                    static_cast<utf8proc_ssize_t>(u8.size()), &out,
                                    static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
  if (n < 0) fail("wordpiece: NFD failed: {}", utf8proc_errmsg(n));
  std::string r(reinterpret_cast<char*>(out), static_cast<size_t>(n));
  std::free(out);
  return utf8_to_u32(r, "NFD output");
}

// One match of an added token: [begin, end) in the text (lstrip / rstrip whitespace included).
struct Span {
  size_t begin, end;
  int32_t id;
};

// Leftmost-longest matches of the given tokens (contents as code points) in text.
std::vector<Span> find_added(const std::u32string& text, const std::vector<const WordPieceTokenizer::AddedToken*>& toks,
                             const std::vector<std::u32string>& contents) {
  std::vector<Span> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best = std::u32string::npos, best_len = 0;
    int best_k = -1;
    for (size_t k = 0; k < toks.size(); ++k) {
      const auto& c = contents[k];
      if (c.empty()) continue;
      for (size_t at = text.find(c, pos); at != std::u32string::npos; at = text.find(c, at + 1)) {
        if (toks[k]->single_word) {
          bool before = at > 0 && is_word_char(text[at - 1]);
          bool after = at + c.size() < text.size() && is_word_char(text[at + c.size()]);
          if (before || after) continue;
        }
        if (at < best || (at == best && c.size() > best_len)) best = at, best_len = c.size(), best_k = static_cast<int>(k);
        break;
      }
    }
    if (best_k < 0) break;
    size_t b = best, e = best + best_len;
    if (toks[best_k]->lstrip)
      while (b > pos && is_white_space(text[b - 1])) --b;
    if (toks[best_k]->rstrip)
      while (e < text.size() && is_white_space(text[e])) ++e;
    out.push_back({b, e, toks[best_k]->id});
    pos = e;
  }
  return out;
}

}  // namespace

std::u32string utf8_to_u32(std::string_view s, const char* where) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                          static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n <= 0) fail("{}: not valid UTF-8 at byte {}", where, i);
    out.push_back(static_cast<char32_t>(cp));
    i += static_cast<size_t>(n);
  }
  return out;
}

std::string u32_to_utf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  utf8proc_uint8_t buf[4];
  for (char32_t c : s) {
    utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buf);
    out.append(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
  }
  return out;
}

static std::u32string normalize_u32(const WordPieceTokenizer::Normalizer& n, const std::u32string& in) {
  std::u32string s;
  s.reserve(in.size());
  for (char32_t c : in) {
    if (n.clean_text) {
      if (c == 0 || c == 0xFFFD || is_control(c)) continue;
      if (c == '\t' || c == '\n' || c == '\r' || is_white_space(c)) c = ' ';
    }
    if (n.handle_chinese_chars && is_chinese(c)) {
      s += U' ';
      s += c;
      s += U' ';
    } else {
      s += c;
    }
  }
  if (n.strip_accents) {
    std::u32string d = nfd(s);
    s.clear();
    for (char32_t c : d)
      if (category(c) != UTF8PROC_CATEGORY_MN) s += c;
  }
  if (n.lowercase) {
    std::u32string l;
    l.reserve(s.size());
    for (char32_t c : s) {
      if (c == 0x130) {  // the one unconditional multi-character lowercase mapping
        l += U'i';
        l += char32_t(0x307);
      } else {
        l += static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
      }
    }
    s.swap(l);
  }
  return s;
}

std::string WordPieceTokenizer::normalize(std::string_view text) const {
  return u32_to_utf8(normalize_u32(norm, utf8_to_u32(text)));
}

int32_t WordPieceTokenizer::token_to_id(const std::string& token) const {
  auto it = vocab.find(token);
  if (it != vocab.end()) return it->second;
  for (const auto& a : added)
    if (a.content == token) return a.id;
  return -1;
}

int64_t WordPieceTokenizer::vocab_size() const {
  int64_t n = 0;
  for (const auto& [t, id] : vocab) n = std::max<int64_t>(n, id + 1);
  for (const auto& a : added) n = std::max<int64_t>(n, a.id + 1);
  return n;
}

void WordPieceTokenizer::encode_word(const std::u32string& word, std::vector<int32_t>& out) const {
  const int32_t unk = token_to_id(unk_token);
  if (static_cast<int64_t>(word.size()) > max_chars_per_word) {
    out.push_back(unk);
    return;
  }
  std::vector<int32_t> pieces;
  size_t start = 0;
  while (start < word.size()) {
    size_t end = word.size();
    int32_t found = -1;
    while (start < end) {
      std::string piece = u32_to_utf8(word.substr(start, end - start));
      if (start > 0) piece = prefix + piece;
      auto it = vocab.find(piece);
      if (it != vocab.end()) {
        found = it->second;
        break;
      }
      --end;
    }
    if (found < 0) {  // a part matches nothing: the whole word is unknown
      out.push_back(unk);
      return;
    }
    pieces.push_back(found);
    start = end;
  }
  out.insert(out.end(), pieces.begin(), pieces.end());
}

void WordPieceTokenizer::encode_normalized(const std::u32string& text, std::vector<int32_t>& out) const {
  std::u32string word;
  auto flush = [&] {
    if (!word.empty()) encode_word(word, out);
    word.clear();
  };
  for (char32_t c : text) {
    if (is_white_space(c)) {
      flush();
    } else if (is_punctuation(c)) {
      flush();
      word = c;
      flush();
    } else {
      word += c;
    }
  }
  flush();
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text) const {
  const std::u32string raw = utf8_to_u32(text);
  std::vector<const AddedToken*> plain, normalized;
  std::vector<std::u32string> plain_c, normalized_c;
  for (const auto& a : added) {
    if (a.normalized) {
      normalized.push_back(&a);
      normalized_c.push_back(normalize_u32(norm, utf8_to_u32(a.content)));
    } else {
      plain.push_back(&a);
      plain_c.push_back(utf8_to_u32(a.content));
    }
  }
  std::vector<int32_t> out;
  // Normalizes a piece between raw added-token matches, then splits it on the normalized ones.
  auto piece = [&](const std::u32string& p) {
    std::u32string n = normalize_u32(norm, p);
    size_t pos = 0;
    for (const Span& s : find_added(n, normalized, normalized_c)) {
      encode_normalized(n.substr(pos, s.begin - pos), out);
      out.push_back(s.id);
      pos = s.end;
    }
    encode_normalized(n.substr(pos), out);
  };
  size_t pos = 0;
  for (const Span& s : find_added(raw, plain, plain_c)) {
    piece(raw.substr(pos, s.begin - pos));
    out.push_back(s.id);
    pos = s.end;
  }
  piece(raw.substr(pos));
  return out;
}

std::vector<int32_t> WordPieceTokenizer::encode_for_model(std::string_view text, int64_t max_len) const {
  std::vector<int32_t> ids = encode(text);
  const int64_t specials = static_cast<int64_t>(prefix_.size() + suffix_.size());
  if (max_len < specials) fail("wordpiece: max_len {} leaves no room for {} special tokens", max_len, specials);
  if (static_cast<int64_t>(ids.size()) > max_len - specials) ids.resize(static_cast<size_t>(max_len - specials));
  std::vector<int32_t> out(prefix_);
  out.insert(out.end(), ids.begin(), ids.end());
  out.insert(out.end(), suffix_.begin(), suffix_.end());
  return out;
}

// ---- loaders ----

namespace {

using json = nlohmann::json;

int32_t id_of(const WordPieceTokenizer& t, const std::string& token, const std::string& where, const char* what) {
  int32_t id = t.token_to_id(token);
  if (id < 0) usage_fail("{}: {} token '{}' is not in the vocabulary", where, what, token);
  return id;
}

}  // namespace

WordPieceTokenizer wordpiece_from_json(const std::string& json_text, const std::string& where) {
  WordPieceTokenizer t;
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    fail("{}: not JSON: {}", where, e.what());
  }
  try {
    const json& model = j.at("model");
    if (model.value("type", "") != "WordPiece")
      usage_fail("{}: model.type is '{}', expected WordPiece", where, model.value("type", ""));
    for (const auto& [tok, id] : model.at("vocab").items()) t.vocab[tok] = id.get<int32_t>();
    t.unk_token = model.value("unk_token", "[UNK]");
    t.prefix = model.value("continuing_subword_prefix", "##");
    t.max_chars_per_word = model.value("max_input_chars_per_word", int64_t{100});

    const json& n = j.at("normalizer");
    if (n.is_null() || n.value("type", "") != "BertNormalizer")
      usage_fail("{}: normalizer must be a BertNormalizer, found {}", where, n.dump());
    t.norm.clean_text = n.value("clean_text", true);
    t.norm.handle_chinese_chars = n.value("handle_chinese_chars", true);
    t.norm.lowercase = n.value("lowercase", true);
    const json& sa = n.contains("strip_accents") ? n.at("strip_accents") : json();
    t.norm.strip_accents = sa.is_null() ? t.norm.lowercase : sa.get<bool>();

    const json& pre = j.at("pre_tokenizer");
    if (pre.is_null() || pre.value("type", "") != "BertPreTokenizer")
      usage_fail("{}: pre_tokenizer must be a BertPreTokenizer, found {}", where, pre.dump());

    for (const auto& a : j.value("added_tokens", json::array())) {
      WordPieceTokenizer::AddedToken at;
      at.content = a.at("content").get<std::string>();
      at.id = a.at("id").get<int32_t>();
      at.lstrip = a.value("lstrip", false);
      at.rstrip = a.value("rstrip", false);
      at.single_word = a.value("single_word", false);
      at.normalized = a.value("normalized", false);
      t.added.push_back(at);
    }

    const json& post = j.contains("post_processor") ? j.at("post_processor") : json();
    std::string type = post.is_null() ? "" : post.value("type", "");
    if (type == "TemplateProcessing") {
      // single: special tokens, the sequence $A, special tokens
      bool seen_a = false;
      for (const auto& item : post.at("single")) {
        if (item.contains("Sequence")) {
          seen_a = true;
          continue;
        }
        std::string name = item.at("SpecialToken").at("id").get<std::string>();
        for (const auto& id : post.at("special_tokens").at(name).at("ids"))
          (seen_a ? t.suffix_ : t.prefix_).push_back(id.get<int32_t>());
      }
    } else if (type == "BertProcessing" || type == "RobertaProcessing") {
      t.prefix_ = {post.at("cls").at(1).get<int32_t>()};
      t.suffix_ = {post.at("sep").at(1).get<int32_t>()};
    } else if (!type.empty()) {
      usage_fail("{}: post_processor type '{}' is not supported (TemplateProcessing, BertProcessing, RobertaProcessing)",
                 where, type);
    }
    // Padding id: the file's padding token, else [PAD] or <pad>.
    if (j.contains("padding") && j.at("padding").is_object()) {
      t.pad_id_ = j.at("padding").value("pad_id", 0);
    } else {
      int32_t p = t.token_to_id("[PAD]");
      if (p < 0) p = t.token_to_id("<pad>");
      t.pad_id_ = p < 0 ? 0 : p;
    }
  } catch (const json::exception& e) {
    fail("{}: {}", where, e.what());
  }
  id_of(t, t.unk_token, where, "unknown");
  return t;
}

WordPieceTokenizer wordpiece_from_vocab(const std::string& vocab_text, const std::string& config_json,
                                        const std::string& where) {
  WordPieceTokenizer t;
  int32_t id = 0;
  size_t start = 0;
  while (start < vocab_text.size()) {
    size_t nl = vocab_text.find('\n', start);
    std::string line = vocab_text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    t.vocab.emplace(line, id++);
    start = nl == std::string::npos ? vocab_text.size() : nl + 1;
  }
  json cfg = json::object();
  if (!config_json.empty()) {
    try {
      cfg = json::parse(config_json);
    } catch (const json::exception& e) {
      fail("{}: tokenizer_config.json is not JSON: {}", where, e.what());
    }
  }
  auto str = [&](const char* key, const char* def) {
    return cfg.contains(key) && cfg[key].is_string() ? cfg[key].get<std::string>() : std::string(def);
  };
  t.norm.lowercase = cfg.value("do_lower_case", true);
  t.norm.handle_chinese_chars = cfg.value("tokenize_chinese_chars", true);
  t.norm.strip_accents = cfg.contains("strip_accents") && !cfg["strip_accents"].is_null() ? cfg["strip_accents"].get<bool>()
                                                                                          : t.norm.lowercase;
  t.unk_token = str("unk_token", "[UNK]");
  std::string cls = str("cls_token", "[CLS]"), sep = str("sep_token", "[SEP]"), pad = str("pad_token", "[PAD]"),
              mask = str("mask_token", "[MASK]");
  for (const std::string& s : {pad, t.unk_token, cls, sep, mask}) {
    int32_t sid = t.token_to_id(s);
    if (sid >= 0) t.added.push_back({s, sid, false, false, false, false});
  }
  t.prefix_ = {id_of(t, cls, where, "cls")};
  t.suffix_ = {id_of(t, sep, where, "sep")};
  t.pad_id_ = std::max(0, t.token_to_id(pad));
  id_of(t, t.unk_token, where, "unknown");
  return t;
}

WordPieceTokenizer load_wordpiece(const std::string& dir) {
  std::string text, cfg;
  if (read_file(dir + "/tokenizer.json", &text)) return wordpiece_from_json(text, dir + "/tokenizer.json");
  if (!read_file(dir + "/vocab.txt", &text)) fail("{}: neither tokenizer.json nor vocab.txt found", dir);
  read_file(dir + "/tokenizer_config.json", &cfg);
  return wordpiece_from_vocab(text, cfg, dir + "/vocab.txt");
}

}  // namespace prospect
