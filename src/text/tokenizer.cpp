// load_tokenizer: picks the implementation by file name.
#include "prospect/text/tokenizer.h"

#include <fstream>

#include "prospect/core/error.h"

namespace prospect {

static bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  if (!std::ifstream(path)) fail("tokenizer file not found or unreadable: {}", path);
  if (ends_with(path, ".json")) return load_bpe_tokenizer(path);
  if (ends_with(path, ".model")) return load_sentencepiece_tokenizer(path);
  fail("tokenizer file {}: expected a tokenizer.json (*.json) or a SentencePiece model (*.model)", path);
}

}  // namespace prospect
