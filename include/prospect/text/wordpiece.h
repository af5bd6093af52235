// WordPiece tokenizer of the BERT family (BERT, MiniLM, MPNet), as HF's Rust `tokenizers` runs a
// tokenizer.json with a BertNormalizer, a BertPreTokenizer and a WordPiece model:
//   1. added tokens matched first in the raw text (leftmost-longest; lstrip / rstrip / single_word
//      honoured); "normalized" ones in the normalized text of what is left;
//   2. BertNormalizer, in this order: clean_text (drop U+0000, U+FFFD and control characters -
//      categories Cc Cf Cs Co except \t \n \r - and turn every whitespace into ' '),
//      handle_chinese_chars (spaces around CJK ideographs), strip_accents (NFD, then drop Mn; null in
//      the file means: as lowercase), lowercase (Unicode, İ -> i + U+0307 as Rust's to_lowercase);
//   3. BertPreTokenizer: split on whitespace, every punctuation character its own word (ASCII
//      punctuation and categories Pc Pd Ps Pe Pi Pf Po);
//   4. WordPiece: per word greedy longest match from the left, continuation pieces prefixed "##"; a
//      word longer than max_input_chars_per_word (100) or with a part that matches nothing is the
//      unknown token;
//   5. the post-processor's special tokens around the sequence ([CLS] ... [SEP] for BERT's
//      TemplateProcessing, <s> ... </s> for MPNet's RobertaProcessing).
// Without tokenizer.json, vocab.txt with tokenizer_config.json (do_lower_case, strip_accents,
// tokenize_chinese_chars, the special tokens) gives the same tokenizer as HF's conversion of it.
// Unicode data (NFD, categories, case) from libutf8proc.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace prospect {

class WordPieceTokenizer {
 public:
  struct Normalizer {
    bool clean_text = true;
    bool handle_chinese_chars = true;
    bool strip_accents = true;
    bool lowercase = true;
  };
  struct AddedToken {
    std::string content;
    int32_t id = -1;
    bool lstrip = false, rstrip = false, single_word = false, normalized = false;
  };

  // Pieces of text without special tokens. Error for text that is not valid UTF-8.
  std::vector<int32_t> encode(std::string_view text) const;
  // What the model reads: the post-processor's special tokens around encode(text), the pieces cut so
  // that the whole is at most max_len ids (the "longest_first" truncation of a single sequence).
  std::vector<int32_t> encode_for_model(std::string_view text, int64_t max_len) const;
  // The normalized text (step 2), for tests.
  std::string normalize(std::string_view text) const;

  int32_t token_to_id(const std::string& token) const;  // -1 when absent
  int64_t vocab_size() const;                             // the largest id + 1
  int32_t pad_id() const { return pad_id_; }
  const std::vector<int32_t>& prefix_ids() const { return prefix_; }  // [CLS] / <s>
  const std::vector<int32_t>& suffix_ids() const { return suffix_; }  // [SEP] / </s>

  // Parts of a loaded tokenizer (the loaders below fill them).
  Normalizer norm;
  std::unordered_map<std::string, int32_t> vocab;
  std::vector<AddedToken> added;
  std::string unk_token = "[UNK]";
  std::string prefix = "##";
  int64_t max_chars_per_word = 100;
  int32_t pad_id_ = 0;
  std::vector<int32_t> prefix_, suffix_;

 private:
  void encode_normalized(const std::u32string& text, std::vector<int32_t>& out) const;
  void encode_word(const std::u32string& word, std::vector<int32_t>& out) const;
};

// tokenizer.json text: its normalizer (BertNormalizer), pre_tokenizer (BertPreTokenizer), model
// (WordPiece), added_tokens and post_processor (TemplateProcessing, BertProcessing or
// RobertaProcessing). UsageError naming `where` and the field for anything else.
WordPieceTokenizer wordpiece_from_json(const std::string& json_text, const std::string& where);
// vocab.txt (one token a line, id = line number) and the text of tokenizer_config.json ("" = none).
WordPieceTokenizer wordpiece_from_vocab(const std::string& vocab_text, const std::string& config_json,
                                        const std::string& where);
// A model folder: tokenizer.json if present, else vocab.txt (+ tokenizer_config.json). Errors name the path.
WordPieceTokenizer load_wordpiece(const std::string& dir);

// UTF-8 <-> code points. Error (naming `where`) for bytes that are not valid UTF-8.
std::u32string utf8_to_u32(std::string_view s, const char* where = "text");
std::string u32_to_utf8(const std::u32string& s);

}  // namespace prospect
