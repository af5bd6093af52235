// WordPiece on a hand-made vocabulary: each step of wordpiece.h once (HF tokenizers on real
// vocabularies and a generated corpus: the oracle test oracle_wordpiece.py).
#include <gtest/gtest.h>

#include "prospect/core/error.h"
#include "prospect/text/wordpiece.h"

using prospect::WordPieceTokenizer;

namespace {

// ids: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, then the words in order from 4.
WordPieceTokenizer tiny(const std::string& normalizer = R"({"type":"BertNormalizer","clean_text":true,
    "handle_chinese_chars":true,"strip_accents":null,"lowercase":true})") {
  std::string vocab = R"({"[PAD]":0,"[UNK]":1,"[CLS]":2,"[SEP]":3,"un":4,"##screw":5,"screw":6,"cafe":7,"!":8,
      "中":9,"文":10,",":11,"<mask>":12,"x":13,"café":14,"Cafe":15})";
  std::string j = R"({"added_tokens":[{"id":0,"content":"[PAD]","normalized":false},{"id":2,"content":"[CLS]"},
      {"id":3,"content":"[SEP]"},{"id":12,"content":"<mask>","lstrip":true}],
      "normalizer":)" + normalizer + R"(,"pre_tokenizer":{"type":"BertPreTokenizer"},
      "post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"[CLS]","type_id":0}},
        {"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}}],
        "special_tokens":{"[CLS]":{"id":"[CLS]","ids":[2]},"[SEP]":{"id":"[SEP]","ids":[3]}}},
      "model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##",
        "max_input_chars_per_word":8,"vocab":)" + vocab + "}}";
  return prospect::wordpiece_from_json(j, "test");
}

using Ids = std::vector<int32_t>;

}  // namespace

TEST(WordPiece, GreedyPiecesAndUnknownWords) {
  auto t = tiny();
  EXPECT_EQ(t.encode("unscrew screw"), (Ids{4, 5, 6}));
  EXPECT_EQ(t.encode("unscrewx"), (Ids{1}));          // "##x" is not a piece: the whole word is unknown
  EXPECT_EQ(t.encode("unscrewscrew"), (Ids{1}));      // 12 characters > max_input_chars_per_word 8
  EXPECT_EQ(t.encode("  screw!,un "), (Ids{6, 8, 11, 4}));  // punctuation is its own word
}

TEST(WordPiece, NormalizerSteps) {
  auto t = tiny();
  EXPECT_EQ(t.normalize("CAFÉ\tx\u200b"), "cafe x");  // lowercase, accents stripped, tab -> space, Cf dropped
  EXPECT_EQ(t.encode("Café"), (Ids{7}));
  EXPECT_EQ(t.encode("中文"), (Ids{9, 10}));            // CJK characters split apart
  EXPECT_EQ(t.normalize("\u0130"), "i");               // İ: NFD I + U+0307, the mark dropped, lowercased
  // accents kept, case kept: "Cafe" and "café" are pieces of their own
  auto keep = tiny(R"({"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,
      "strip_accents":false,"lowercase":false})");
  EXPECT_EQ(keep.encode("Cafe café"), (Ids{15, 14}));
  EXPECT_EQ(keep.normalize("\u0130"), "\u0130");
}

TEST(WordPiece, AddedTokensAndSpecials) {
  auto t = tiny();
  EXPECT_EQ(t.encode("x [CLS]x"), (Ids{13, 2, 13}));  // matched in the raw text, before normalization
  EXPECT_EQ(t.encode("x [cls]"), (Ids{13, 1, 1, 1}));  // case-sensitive: "[", "cls", "]", none a piece
  EXPECT_EQ(t.encode("x   <mask>"), (Ids{13, 12}));   // lstrip takes the spaces before it
  EXPECT_EQ(t.encode_for_model("un screw x", 100), (Ids{2, 4, 6, 13, 3}));
  EXPECT_EQ(t.encode_for_model("un screw x", 4), (Ids{2, 4, 6, 3}));  // cut to 4 with the specials
  EXPECT_THROW(t.encode_for_model("x", 1), prospect::Error);
  EXPECT_THROW(t.encode("\xff"), prospect::Error);  // not UTF-8
}

TEST(WordPiece, RejectsOtherTokenizers) {
  EXPECT_THROW(prospect::wordpiece_from_json(R"({"model":{"type":"BPE","vocab":{}},"normalizer":null})", "t"),
               prospect::UsageError);
  EXPECT_THROW(prospect::wordpiece_from_json("not json", "t"), prospect::Error);
}
