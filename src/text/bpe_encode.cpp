// Encoding and decoding with a BpeTokenizer (bpe.h): the added-token split, the pre-tokenizer steps,
// byte-level BPE by merge rank (with a word cache), and the byte offsets of every id.
#include <algorithm>
#include <cstring>
#include <queue>

#include "bpe.h"
#include "prospect/core/error.h"

namespace prospect::bpe {

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

// The Rust regex crate's Unicode \w (HF's single_word test): Alphabetic, marks, decimal digits,
// connector punctuation and Join_Control, through Oniguruma's property classes.
bool is_word_char(uint32_t c) {
  static const Regex word("\\A[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]", "word-character test");
  std::string s;
  append_utf8(s, c);
  auto* p = reinterpret_cast<const OnigUChar*>(s.data());
  return onig_match(word.re, p, p + s.size(), p, nullptr, ONIG_OPTION_NONE) > 0;
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

}  // namespace prospect::bpe
