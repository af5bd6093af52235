// Text metrics of matched (reference, hypothesis) pairs as coco-caption computes them (SPEC §8):
// coco-caption's PTB tokenisation (ptb_tokenizer.h: lowercased, punctuation removed), corpus BLEU-1..4 ("closest" reference length, brevity penalty over the
// corpus) and CIDEr-D (n = 1..4, sigma 6, ×10). No tensors here.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <vector>

namespace prospect::eval {

using Tokens = std::vector<std::string>;

// One text's tokens as coco-caption's PTB step gives them for a corpus of that one caption
// (ptb_tokenize_captions, then split on whitespace).
Tokens ptb_tokenize(const std::string& text);

// Corpus BLEU-1..4 of hyps[i] against refs[i] (already tokenised; one reference each).
// Precisions are smoothed as (matches + 1e-15) / (total + 1e-9); requires refs.size() == hyps.size().
std::array<double, 4> corpus_bleu(const std::vector<Tokens>& refs, const std::vector<Tokens>& hyps);

// Corpus CIDEr-D of hyps[i] against refs[i]: document frequencies over the references,
// idf = log(number of pairs) - log(max(1, df)), candidate counts clipped by the reference's,
// gaussian length penalty (sigma 6), mean over the corpus, ×10.
double corpus_cider_d(const std::vector<Tokens>& refs, const std::vector<Tokens>& hyps);

// BLEU-1..4 and CIDEr-D of raw sentences, tokenised here as coco-caption does: the references as one
// corpus, the hypotheses as another (a caption's tokens may look at the next one). Null for an empty
// corpus.
struct TextScores {
  std::array<std::optional<double>, 4> bleu;
  std::optional<double> cider;
};
TextScores text_scores(const std::vector<std::string>& refs, const std::vector<std::string>& hyps);

}  // namespace prospect::eval
