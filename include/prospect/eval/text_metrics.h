// Text metrics of matched (reference, hypothesis) pairs as coco-caption computes them (SPEC §8):
// PTB-style tokenisation, corpus BLEU-1..4 ("closest" reference length, brevity penalty over the
// corpus) and CIDEr-D (n = 1..4, sigma 6, ×10). No tensors here.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <vector>

namespace prospect::eval {

using Tokens = std::vector<std::string>;

// Lowercase, split punctuation and the clitics 's n't 're 've 'll 'd 'm off the words, then drop
// punctuation tokens (. , ; : ? ! - -- ... quotes and brackets), as coco-caption's PTB step does.
Tokens ptb_tokenize(const std::string& text);

// Corpus BLEU-1..4 of hyps[i] against refs[i] (already tokenised; one reference each).
// Precisions are smoothed as (matches + 1e-15) / (total + 1e-9); requires refs.size() == hyps.size().
std::array<double, 4> corpus_bleu(const std::vector<Tokens>& refs, const std::vector<Tokens>& hyps);

// Corpus CIDEr-D of hyps[i] against refs[i]: document frequencies over the references,
// idf = log(number of pairs) - log(max(1, df)), candidate counts clipped by the reference's,
// gaussian length penalty (sigma 6), mean over the corpus, ×10.
double corpus_cider_d(const std::vector<Tokens>& refs, const std::vector<Tokens>& hyps);

// BLEU-1..4 and CIDEr-D of raw sentences (tokenised here). Null for an empty corpus.
struct TextScores {
  std::array<std::optional<double>, 4> bleu;
  std::optional<double> cider;
};
TextScores text_scores(const std::vector<std::string>& refs, const std::vector<std::string>& hyps);

}  // namespace prospect::eval
