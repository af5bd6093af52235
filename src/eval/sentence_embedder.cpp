// Texts -> ids (WordPiece, cut to the encoder's max_seq_length) -> embeddings -> cosines.
#include "prospect/eval/sentence_embedder.h"

#include <cmath>
#include <map>
#include <set>

namespace prospect::eval {

SentenceEmbedder::SentenceEmbedder(const std::string& dir) : tokenizer_(load_wordpiece(dir)), encoder_(dir) {}

at::Tensor SentenceEmbedder::embed(const std::vector<std::string>& texts) const {
  std::vector<std::vector<int32_t>> ids;
  ids.reserve(texts.size());
  for (const auto& t : texts) ids.push_back(tokenizer_.encode_for_model(t, encoder_.config().max_seq_length));
  return encoder_.embed(ids);
}

std::vector<double> SentenceEmbedder::clip_cosines(const std::vector<std::string>& gen,
                                                   const std::vector<std::string>& ref) const {
  std::vector<double> cos(gen.size() * ref.size());
  if (cos.empty()) return cos;
  std::set<std::string> distinct(gen.begin(), gen.end());
  distinct.insert(ref.begin(), ref.end());
  std::vector<std::string> texts(distinct.begin(), distinct.end());
  at::Tensor e = embed(texts).to(at::kDouble);  // [n, dim]
  std::map<std::string, int64_t> row;
  for (size_t k = 0; k < texts.size(); ++k) row[texts[k]] = static_cast<int64_t>(k);
  at::Tensor norms = e.norm(2, {1});
  auto ea = e.accessor<double, 2>();
  auto na = norms.accessor<double, 1>();
  const int64_t dim = e.size(1);
  for (size_t i = 0; i < gen.size(); ++i) {
    const int64_t a = row.at(gen[i]);
    for (size_t j = 0; j < ref.size(); ++j) {
      const int64_t b = row.at(ref[j]);
      double dot = 0;
      for (int64_t d = 0; d < dim; ++d) dot += ea[a][d] * ea[b][d];
      double den = na[a] * na[b];
      cos[i * ref.size() + j] = den > 0 ? dot / den : 0.0;
    }
  }
  return cos;
}

}  // namespace prospect::eval
