#include <gtest/gtest.h>

#include "prospect/core/error.h"
#include "prospect/eval/text_metrics.h"

using namespace prospect::eval;

namespace {
const std::vector<std::string> kRefs = {"now let 's move on to grinding the coffee beans", "yes that 's the one",
                                        "put the folded filter into the cone"};
const std::vector<std::string> kHyps = {"now let 's grind the coffee beans", "yes that 's right",
                                        "now you 'll need to put the folded filter in the cone"};
}  // namespace

// Golden values of coco-caption (Bleu with option "closest", CIDEr-D) on the same three pairs.
TEST(TextMetrics, CocoCaptionGoldens) {
  TextScores s = text_scores(kRefs, kHyps);
  ASSERT_TRUE(s.bleu[0] && s.bleu[3] && s.cider);
  EXPECT_NEAR(*s.bleu[0], 0.652174, 1e-6);
  EXPECT_NEAR(*s.bleu[1], 0.571040, 1e-6);
  EXPECT_NEAR(*s.bleu[2], 0.457739, 1e-6);
  EXPECT_NEAR(*s.bleu[3], 0.287695, 1e-6);
  EXPECT_NEAR(*s.cider, 3.360970, 1e-6);
}

// "a b" vs "a b c d e": brevity penalty exp(1 - 5/2) = 0.22313016; p3 = p4 = 1e-15 / 1e-9 = 1e-6,
// so BLEU-3 = (1 * 1 * 1e-6)^(1/3) * BP = 0.01 * BP and BLEU-4 = (1e-12)^(1/4) * BP = 1e-3 * BP.
TEST(TextMetrics, BrevityPenaltyAndSmoothing) {
  auto b = corpus_bleu({{"a", "b", "c", "d", "e"}}, {{"a", "b"}});
  EXPECT_NEAR(b[0], 0.22313016, 1e-8);
  EXPECT_NEAR(b[1], 0.22313016, 1e-8);
  EXPECT_NEAR(b[2], 0.0022313016, 1e-10);
  EXPECT_NEAR(b[3], 0.00022313016, 1e-11);
  // A corpus of one pair: idf = log(1) - log(1) = 0 for every n-gram, so CIDEr-D is 0 (coco-caption's quirk).
  EXPECT_EQ(corpus_cider_d({{"a", "b", "c", "d", "e"}}, {{"a", "b"}}), 0.0);
}

TEST(TextMetrics, IdenticalCorpusScoresOne) {
  TextScores s = text_scores(kRefs, kRefs);
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(*s.bleu[k], 1.0, 1e-6);
  EXPECT_GT(*s.cider, 3.360970);
}

TEST(TextMetrics, PtbTokenisation) {
  EXPECT_EQ(ptb_tokenize("Let's go."), ptb_tokenize("let 's go"));
  EXPECT_EQ(ptb_tokenize("Let's go."), (Tokens{"let", "'s", "go"}));
  EXPECT_EQ(ptb_tokenize("I don't know, it's 3.5 o'clock... \"really\" (yes)!"),
            (Tokens{"i", "do", "n't", "know", "it", "'s", "3.5", "o'clock", "really", "yes"}));
  EXPECT_EQ(ptb_tokenize("We're here; you've, they'll, I'd, I'm -- can't"),
            (Tokens{"we", "'re", "here", "you", "'ve", "they", "'ll", "i", "'d", "i", "'m", "ca", "n't"}));
  EXPECT_EQ(ptb_tokenize("Grind the beans\xE2\x80\x99s top"), ptb_tokenize("grind the beans's top"));
  EXPECT_EQ(ptb_tokenize("'hello' dogs' well-known"), (Tokens{"hello", "dogs", "well-known"}));
  EXPECT_TRUE(ptb_tokenize(" ... !? ").empty());
}

TEST(TextMetrics, EmptyCorpusIsNullAndSizesMustAgree) {
  TextScores s = text_scores({}, {});
  for (int k = 0; k < 4; ++k) EXPECT_FALSE(s.bleu[k].has_value());
  EXPECT_FALSE(s.cider.has_value());
  EXPECT_THROW(text_scores({"a"}, {}), prospect::Error);
  // An empty hypothesis is scored (0), not an error.
  TextScores e = text_scores({"a b", "c d"}, {"", "c d"});
  EXPECT_TRUE(e.bleu[0].has_value());
  EXPECT_TRUE(std::isfinite(*e.cider));
}
