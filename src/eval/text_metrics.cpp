// BLEU and CIDEr-D as coco-caption computes them (bleu_scorer.py with option "closest",
// ciderD_scorer.py), on coco-caption's PTB tokens (ptb_tokenizer.h). Everything iterates ordered
// maps, so a corpus gives the same bits however it was gathered.
#include "prospect/eval/text_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include "prospect/core/error.h"
#include "prospect/eval/ptb_tokenizer.h"

namespace prospect::eval {

namespace {

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

Tokens ptb_tokenize(const std::string& text) { return split_whitespace(ptb_tokenize_captions({text}).front()); }

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
  // coco-caption tokenises the references and the hypotheses as two corpora, one caption a line
  std::vector<Tokens> rt, ht;
  for (const auto& r : ptb_tokenize_captions(refs)) rt.push_back(split_whitespace(r));
  for (const auto& h : ptb_tokenize_captions(hyps)) ht.push_back(split_whitespace(h));
  auto b = corpus_bleu(rt, ht);
  for (int k = 0; k < 4; ++k) s.bleu[k] = b[k];
  s.cider = corpus_cider_d(rt, ht);
  return s;
}

}  // namespace prospect::eval
