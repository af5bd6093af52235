// eval.sentence_encoder: a sentence-transformers folder (WordPiece tokenizer + SentenceEncoder) that
// gives the cosines ProAssist's matching needs (proassist_match.h). One clip's texts are embedded in
// one batch, its distinct texts in sorted order, so a clip's cosines are the same bits on any rank
// and for any number of ranks (at the same LibTorch threads per rank).
#pragma once
#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "prospect/model/sentence_encoder.h"
#include "prospect/text/wordpiece.h"

namespace prospect::eval {

class SentenceEmbedder {
 public:
  explicit SentenceEmbedder(const std::string& dir);  // errors name the folder's file

  // [n, dim] float32 embeddings of the texts, in one batch, in the order given.
  at::Tensor embed(const std::vector<std::string>& texts) const;

  // cos[i * ref.size() + j] of gen[i] and ref[j] (double, from the float32 embeddings), with every
  // distinct text of the two lists embedded once, in one batch, in sorted order.
  std::vector<double> clip_cosines(const std::vector<std::string>& gen, const std::vector<std::string>& ref) const;

  const SentenceEncoder& encoder() const { return encoder_; }
  const WordPieceTokenizer& tokenizer() const { return tokenizer_; }

 private:
  WordPieceTokenizer tokenizer_;
  SentenceEncoder encoder_;
};

}  // namespace prospect::eval
