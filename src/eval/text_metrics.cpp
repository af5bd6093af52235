// BLEU and CIDEr-D as coco-caption computes them (bleu_scorer.py with option "closest",
// ciderD_scorer.py), on PTB-style tokens. Everything iterates ordered maps, so a corpus gives the
// same bits however it was gathered.
#include "prospect/eval/text_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include "prospect/core/error.h"

namespace prospect::eval {

namespace {

bool is_word_byte(unsigned char c) { return std::isalnum(c) || c >= 0x80 || c == '_'; }
// Kept inside a word when a word character follows (3.5, 1,000, well-known, 3:00, and/or, at&t).
bool is_connector(char c) { return c == '.' || c == ',' || c == '-' || c == ':' || c == '/' || c == '&'; }
bool is_letter(unsigned char c) { return std::isalpha(c); }

const char* const kClitics[] = {"'s", "'re", "'ve", "'ll", "'d", "'m"};

bool is_clitic(const std::string& s) {
  if (s == "n't") return true;
  for (const char* c : kClitics)
    if (s == c) return true;
  return false;
}

// Punctuation that coco-caption removes after tokenising (quotes and brackets included).
bool is_removed_punct(const std::string& tok) {
  static const std::string kPunct = ".,;:?!-'\"`()[]{}";
  for (char c : tok)
    if (kPunct.find(c) == std::string::npos) return false;
  return !tok.empty();
}

// Curly quotes become ASCII ones; everything is lowercased (ASCII only: other bytes are kept).
std::string normalise(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = text[i];
    if (c == 0xE2 && i + 2 < text.size() && (unsigned char)text[i + 1] == 0x80) {
      unsigned char d = text[i + 2];
      if (d == 0x98 || d == 0x99) { out += '\''; i += 2; continue; }
      if (d == 0x9C || d == 0x9D) { out += '"'; i += 2; continue; }
    }
    out += static_cast<char>(std::tolower(c));
  }
  return out;
}

void push_word(std::string& word, Tokens& out) {
  if (word.empty()) return;
  // Clitics: don't -> do n't, let's -> let 's (a bare clitic such as "'s" stays as it is).
  if (!is_clitic(word)) {
    if (word.size() > 3 && word.compare(word.size() - 3, 3, "n't") == 0) {
      out.push_back(word.substr(0, word.size() - 3));
      out.push_back("n't");
      word.clear();
      return;
    }
    size_t p = word.rfind('\'');
    if (p != std::string::npos && p > 0 && is_clitic(word.substr(p))) {
      out.push_back(word.substr(0, p));
      out.push_back(word.substr(p));
      word.clear();
      return;
    }
  }
  out.push_back(word);
  word.clear();
}

// Does a clitic (without its apostrophe) start at s[i] and end at a word boundary?
bool clitic_at(const std::string& s, size_t i) {
  for (const char* c : kClitics) {
    std::string tail = c + 1;
    if (s.compare(i, tail.size(), tail) == 0) {
      size_t e = i + tail.size();
      if (e == s.size() || !is_word_byte(s[e])) return true;
    }
  }
  return false;
}

using Counts = std::map<std::string, int>;  // n-gram (tokens joined by ' ') -> count

// Counts of every n-gram, n = 1..4, kept apart by order.
std::array<Counts, 4> ngram_counts(const Tokens& t) {
  std::array<Counts, 4> c;
  for (size_t n = 1; n <= 4; ++n) {
    for (size_t i = 0; i + n <= t.size(); ++i) {
      std::string g = t[i];
      for (size_t k = 1; k < n; ++k) g += ' ' + t[i + k];
      ++c[n - 1][g];
    }
  }
  return c;
}

void check_sizes(const std::vector<Tokens>& refs, const std::vector<Tokens>& hyps) {
  if (refs.size() != hyps.size())
    fail("text metrics: {} references but {} hypotheses (one reference per hypothesis)", refs.size(), hyps.size());
}

}  // namespace

Tokens ptb_tokenize(const std::string& text) {
  std::string s = normalise(text);
  Tokens raw;
  std::string word;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    bool next_word = i + 1 < s.size() && is_word_byte(s[i + 1]);
    if (is_word_byte(c)) {
      word += static_cast<char>(c);
    } else if (c == '\'') {
      bool next_letter = i + 1 < s.size() && is_letter(s[i + 1]);
      // inside a word (don't, o'clock) or a clitic written apart ("let 's")
      if (next_letter && (!word.empty() || clitic_at(s, i + 1))) {
        word += '\'';
      } else {
        push_word(word, raw);
        raw.push_back("'");
      }
    } else if (is_connector(static_cast<char>(c)) && !word.empty() && next_word) {
      word += static_cast<char>(c);
    } else {
      push_word(word, raw);
      if (!std::isspace(c)) raw.push_back(std::string(1, static_cast<char>(c)));
    }
  }
  push_word(word, raw);
  Tokens out;
  for (auto& t : raw)
    if (!is_removed_punct(t)) out.push_back(t);
  return out;
}

std::array<double, 4> corpus_bleu(const std::vector<Tokens>& refs, const std::vector<Tokens>& hyps) {
  check_sizes(refs, hyps);
  const double tiny = 1e-15, small = 1e-9;
  double testlen = 0, reflen = 0;
  std::array<double, 4> guess{}, correct{};
  for (size_t i = 0; i < hyps.size(); ++i) {
    auto hc = ngram_counts(hyps[i]);
    auto rc = ngram_counts(refs[i]);
    testlen += hyps[i].size();
    reflen += refs[i].size();  // the closest reference length: the only one
    for (int k = 0; k < 4; ++k) {
      guess[k] += std::max<double>(static_cast<double>(hyps[i].size()) - k, 0.0);
      for (const auto& [g, n] : hc[k]) {
        auto it = rc[k].find(g);
        if (it != rc[k].end()) correct[k] += std::min(n, it->second);
      }
    }
  }
  std::array<double, 4> bleu{};
  double prod = 1.0;
  for (int k = 0; k < 4; ++k) {
    prod *= (correct[k] + tiny) / (guess[k] + small);
    bleu[k] = std::pow(prod, 1.0 / (k + 1));
  }
  double ratio = (testlen + tiny) / (reflen + small);
  if (ratio < 1)
    for (auto& b : bleu) b *= std::exp(1 - 1 / ratio);
  return bleu;
}

double corpus_cider_d(const std::vector<Tokens>& refs, const std::vector<Tokens>& hyps) {
  check_sizes(refs, hyps);
  if (hyps.empty()) return 0.0;
  const double sigma = 6.0;
  std::vector<std::array<Counts, 4>> rc, hc;
  for (size_t i = 0; i < hyps.size(); ++i) {
    rc.push_back(ngram_counts(refs[i]));
    hc.push_back(ngram_counts(hyps[i]));
  }
  // Document frequency: in how many pairs' references an n-gram occurs.
  std::map<std::string, int> df;
  for (const auto& r : rc)
    for (const auto& m : r)
      for (const auto& [g, n] : m) ++df[g];
  const double ref_len = std::log(static_cast<double>(hyps.size()));

  struct Vec {
    std::array<std::map<std::string, double>, 4> v;
    std::array<double, 4> norm{};
    double length = 0;
  };
  auto to_vec = [&](const std::array<Counts, 4>& c) {
    Vec out;
    for (int n = 0; n < 4; ++n) {
      for (const auto& [g, tf] : c[n]) {
        auto it = df.find(g);
        double d = std::log(std::max(1.0, it == df.end() ? 0.0 : static_cast<double>(it->second)));
        double w = tf * (ref_len - d);
        out.v[n][g] = w;
        out.norm[n] += w * w;
        if (n == 1) out.length += tf;  // as ciderD_scorer.py: the length it compares counts bigrams
      }
      out.norm[n] = std::sqrt(out.norm[n]);
    }
    return out;
  };

  double total = 0;
  for (size_t i = 0; i < hyps.size(); ++i) {
    Vec h = to_vec(hc[i]), r = to_vec(rc[i]);
    double delta = h.length - r.length;
    double score = 0;
    for (int n = 0; n < 4; ++n) {
      double val = 0;
      for (const auto& [g, wh] : h.v[n]) {
        auto it = r.v[n].find(g);
        if (it != r.v[n].end()) val += std::min(wh, it->second) * it->second;  // clipped (CIDEr-D)
      }
      if (h.norm[n] != 0 && r.norm[n] != 0) val /= h.norm[n] * r.norm[n];
      val *= std::exp(-(delta * delta) / (2 * sigma * sigma));
      score += val;
    }
    total += score / 4.0 * 10.0;  // mean over n, one reference, ×10
  }
  return total / static_cast<double>(hyps.size());
}

TextScores text_scores(const std::vector<std::string>& refs, const std::vector<std::string>& hyps) {
  if (refs.size() != hyps.size())
    fail("text metrics: {} references but {} hypotheses (one reference per hypothesis)", refs.size(), hyps.size());
  TextScores s;
  if (hyps.empty()) return s;
  std::vector<Tokens> rt, ht;
  for (const auto& r : refs) rt.push_back(ptb_tokenize(r));
  for (const auto& h : hyps) ht.push_back(ptb_tokenize(h));
  auto b = corpus_bleu(rt, ht);
  for (int k = 0; k < 4; ++k) s.bleu[k] = b[k];
  s.cider = corpus_cider_d(rt, ht);
  return s;
}

}  // namespace prospect::eval
