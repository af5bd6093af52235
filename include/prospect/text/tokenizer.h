// One interface for both tokenizers: HF tokenizer.json byte-level BPE (bpe.cpp) and SentencePiece
// .model (sentencepiece.cpp). Special tokens come from the tokenizer files.
//
// BPE (tokenizer.json) behaves as HF's Rust `tokenizers` with add_special_tokens=false:
//   added tokens matched first (leftmost-longest, case-sensitive, lstrip/rstrip/single_word honoured;
//   "normalized" ones after the normalizer, which must be null), then the pre-tokenizer (Sequence, Split
//   with a String or Regex pattern and any behavior, ByteLevel, Digits; regexes compiled by Oniguruma
//   with Ruby syntax and UTF-8, as HF does), then byte-level BPE by merge rank with ignore_merges.
//   Offsets are byte offsets into the input (a prefix space added by ByteLevel has zero width).
//   encode() throws Error for text that is not valid UTF-8 (HF only ever sees valid strings).
//   bos_id(): the special token the TemplateProcessing post-processor puts first (encode never adds
//   it); else a special token named <|begin_of_text|> or <s>; else -1.
//   eos_id(): eos_token of a tokenizer_config.json next to the file; else the first special token of
//   <|end_of_text|>, <|endoftext|>, </s>, <|eot|>; else -1.
// SentencePiece (.model) through libsentencepiece: ids and byte offsets from its own encoder
// (user-defined symbols such as <|eot|> are matched by SentencePiece itself); bos/eos from the model.
// libsentencepiece is only ever loaded inside the module libprospect_spm.so (dlopen with RTLD_DEEPBIND,
// found via $PROSPECT_SPM_MODULE, next to the program, or in the build tree): linked into a program
// that also loads LibTorch's libprotobuf, its embedded protobuf-lite fails ("compiled against 3.14.0").
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
  // True for added/special tokens (BPE added_tokens; SentencePiece control and user-defined pieces).
  virtual bool is_special(int32_t id) const = 0;
};

// tokenizer.json -> BPE; *.model -> SentencePiece. Errors name the path.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// The two loaders behind load_tokenizer. `where` names the source in errors; `config_json` is the
// text of a tokenizer_config.json ("" when none) used only for eos_id().
std::unique_ptr<Tokenizer> load_bpe_tokenizer(const std::string& path);
std::unique_ptr<Tokenizer> bpe_tokenizer_from_json(const std::string& json_text, const std::string& where,
                                                   const std::string& config_json = "");
std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& path);

// Trains a SentencePiece model: `args` as for spm_train ("--input=F --model_prefix=P --vocab_size=N
// --user_defined_symbols=<|eot|> ..."). Throws Error with SentencePiece's message on failure.
// Use this, never libsentencepiece directly: it is only safe inside the libprospect_spm module
// (its protobuf-lite clashes with LibTorch's libprotobuf; see src/text/spm/spm_module.cpp).
void sentencepiece_train(const std::string& args);

}  // namespace prospect
