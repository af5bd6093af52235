// One interface for both tokenizers: HF tokenizer.json byte-level BPE (bpe.cpp) and SentencePiece
// .model (sentencepiece.cpp). Special tokens come from the tokenizer files.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace prospect {

struct Encoding {
  std::vector<int32_t> ids;
  std::vector<std::pair<size_t, size_t>> offsets;  // [begin, end) byte offsets into the text, per id
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Encodes text exactly as HF tokenizers / SentencePiece do, without adding BOS/EOS; special and
  // added tokens in the text are matched as tokens.
  virtual Encoding encode(std::string_view text) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  virtual int32_t token_to_id(std::string_view token) const = 0;  // -1 when absent
  virtual std::string id_to_token(int32_t id) const = 0;
  virtual int64_t vocab_size() const = 0;  // including added tokens
  virtual int32_t bos_id() const = 0;      // -1 when the tokenizer has none
  virtual int32_t eos_id() const = 0;      // -1 when none
  virtual std::string kind() const = 0;    // "bpe" | "sentencepiece"
};

// tokenizer.json -> BPE; *.model -> SentencePiece. Errors name the path.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace prospect
