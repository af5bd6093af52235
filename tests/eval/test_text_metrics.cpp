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

// Golden values of pycocoevalcap 1.2 (PTBTokenizer, Bleu(4) with option "closest", Cider, which is
// CIDEr-D) on the same three pairs.
TEST(TextMetrics, CocoCaptionGoldens) {
  TextScores s = text_scores(kRefs, kHyps);
  ASSERT_TRUE(s.bleu[0] && s.bleu[3] && s.cider);
  EXPECT_NEAR(*s.bleu[0], 0.652174, 1e-6);
  EXPECT_NEAR(*s.bleu[1], 0.571040, 1e-6);
  EXPECT_NEAR(*s.bleu[2], 0.457739, 1e-6);
  EXPECT_NEAR(*s.bleu[3], 0.287695, 1e-6);
  EXPECT_NEAR(*s.cider, 3.360970, 1e-6);
}

// Raw text (capitals, punctuation, clitics, brackets): coco-caption's PTB tokens first. Goldens of
// pycocoevalcap 1.2 as above; its tokens are "yes that 's the one -lrb- the blue one -rrb-" and
// "put the folded filter into the cone do n't tear it".
TEST(TextMetrics, CocoCaptionGoldensOnRawText) {
  TextScores s = text_scores({"Now, let's move on to grinding the coffee beans.", "Yes -- that's the one (the blue one)!",
                              "Put the folded filter into the cone; don't tear it."},
                             {"Now let's grind the coffee beans...", "Yes, that's right.",
                              "Now you'll need to put the folded filter in the cone."});
  ASSERT_TRUE(s.bleu[0] && s.bleu[3] && s.cider);
  EXPECT_NEAR(*s.bleu[0], 0.460579361, 1e-8);
  EXPECT_NEAR(*s.bleu[1], 0.403281002, 1e-8);
  EXPECT_NEAR(*s.bleu[2], 0.323265397, 1e-8);
  EXPECT_NEAR(*s.bleu[3], 0.203176123, 1e-8);
  EXPECT_NEAR(*s.cider, 2.556098461, 1e-8);
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

// Tokens of pycocoevalcap 1.2's PTBTokenizer for each text alone (brackets stay as -lrb- -rrb-, "?!"
// is not in its punctuation list).
TEST(TextMetrics, PtbTokenisation) {
  EXPECT_EQ(ptb_tokenize("Let's go."), (Tokens{"let", "'s", "go"}));
  EXPECT_EQ(ptb_tokenize("I don't know, it's 3.5 o'clock... \"really\" (yes)!"),
            (Tokens{"i", "do", "n't", "know", "it", "'s", "3.5", "o'clock", "really", "-lrb-", "yes", "-rrb-"}));
  EXPECT_EQ(ptb_tokenize("We're here; you've, they'll, I'd, I'm -- can't"),
            (Tokens{"we", "'re", "here", "you", "'ve", "they", "'ll", "i", "'d", "i", "'m", "ca", "n't"}));
  EXPECT_EQ(ptb_tokenize("Grind the beans\xE2\x80\x99s top"), (Tokens{"grind", "the", "beans", "'s", "top"}));
  EXPECT_EQ(ptb_tokenize("'hello' dogs' well-known"), (Tokens{"hello", "dogs", "well-known"}));
  EXPECT_EQ(ptb_tokenize(" ... !? "), (Tokens{"!?"}));
  EXPECT_TRUE(ptb_tokenize(" ... ! ? ").empty());
}

TEST(TextMetrics, EmptyCorpusIsNullAndSizesMustAgree) {
  TextScores s = text_scores({}, {});
  for (int k = 0; k < 4; ++k) EXPECT_FALSE(s.bleu[k].has_value());
  EXPECT_FALSE(s.cider.has_value());
  EXPECT_THROW(text_scores({"a"}, {}), prospect::Error);
  // An empty hypothesis is scored (0), not an error; pycocoevalcap 1.2 gives these numbers.
  TextScores e = text_scores({"a b", "c d"}, {"", "c d"});
  ASSERT_TRUE(e.bleu[0] && e.bleu[3] && e.cider);
  EXPECT_NEAR(*e.bleu[0], 0.367879441, 1e-8);
  EXPECT_NEAR(*e.bleu[1], 0.367879441, 1e-8);
  EXPECT_NEAR(*e.bleu[2], 0.003678794, 1e-8);
  EXPECT_NEAR(*e.bleu[3], 0.000367879, 1e-8);
  EXPECT_NEAR(*e.cider, 2.5, 1e-9);
}
