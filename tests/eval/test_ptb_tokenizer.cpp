// coco-caption's tokenisation on sentences whose tokens the Stanford CoreNLP 3.4.1 jar gave: every
// expected string below is that jar's output (java -cp stanford-corenlp-3.4.1.jar
// edu.stanford.nlp.process.PTBTokenizer -preserveLines -lowerCase for the raw tokens, pycocoevalcap's
// PTBTokenizer.tokenize for the captions). The generated-corpus comparison: oracle_ptb_tokenizer.py.
#include <gtest/gtest.h>

#include "prospect/eval/ptb_tokenizer.h"

using namespace prospect::eval;

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

}  // namespace

TEST(PtbTokenizer, TheJarsTokens) {
  const std::string text =
      "Let's go. Don't stop! I can't, won't, shouldn't. It's John's; they're here, we've, you'll, I'd, I'm.\n"
      "The colour of the \"box\" (big) is {red} [maybe]. Cannot gonna wanna gotta lemme 'tis 'twas\n"
      "Costs $5.50, 1,000 items, 3.5% off; and/or x*y at 3:00 p.m. e.g. U.S. Mr. Smith ... -- - well-known\n"
      "Wait... what?! Really?? Yes!! 'quoted' `back` ``latex'' 2-3 5/8 1/2 Hello\u2014world \u2013 en\n"
      "Caf\u00e9 na\u00efve \u201ccurly\u201d \u2018single\u2019 it\u2019s don\u2019t AT&T &amp; http://x.com a@b.com\n"
      "The U.S. Go to the U.S.";
  auto lines = ptb_lex_lines(text);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(join(lines[0]),
            "let 's go . do n't stop ! i ca n't , wo n't , should n't . it 's john 's ; they 're here , we 've , "
            "you 'll , i 'd , i 'm .");
  EXPECT_EQ(join(lines[1]),
            "the colour of the `` box '' -lrb- big -rrb- is -lcb- red -rcb- -lsb- maybe -rsb- . can not gon na wan "
            "na got ta lem me 't is 't was");
  EXPECT_EQ(join(lines[2]),
            "costs $ 5.50 , 1,000 items , 3.5 % off ; and/or x * y at 3:00 p.m. e.g. u.s. . mr. smith ... -- - "
            "well-known");
  EXPECT_EQ(join(lines[3]),
            "wait ... what ?! really ?? yes !! ` quoted ' ` back ` `` latex '' 2-3 5/8 1/2 hello -- world -- en");
  EXPECT_EQ(join(lines[4]), "caf\u00e9 na\u00efve `` curly '' ` single ' it 's do n't at&t & http://x.com a@b.com");
  EXPECT_EQ(join(lines[5]), "the u.s. go to the u.s.");
}

TEST(PtbTokenizer, CocoRemovesOnlyItsPunctuationList) {
  auto out = ptb_tokenize_captions({"The \"box\" (big) is {red}.", "Wait... what?! --- ok", "", "It's 3 1/2 in."});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], "the box -lrb- big -rrb- is -lcb- red -rcb-");  // lower-cased brackets are not in the list
  EXPECT_EQ(out[1], "wait what ?! ok");                              // "---" is spelled "--", which goes
  EXPECT_EQ(out[2], "");
  EXPECT_EQ(out[3], "it 's 3\u00a01/2 in");                          // a fraction keeps its no-break space
  EXPECT_EQ(split_whitespace(out[3]), (std::vector<std::string>{"it", "'s", "3", "1/2", "in"}));
}

TEST(PtbTokenizer, NextCaptionDecidesAnAbbreviationAtTheEnd) {
  // "etc." before a capitalised word (the next caption's) ends a sentence: "etc." and ".", which goes.
  EXPECT_EQ(ptb_tokenize_captions({"tools etc.", "The end"})[0], "tools etc.");
  EXPECT_EQ(ptb_tokenize_captions({"made in the U.S.", "The end"})[0], "made in the u.s.");
  EXPECT_EQ(ptb_tokenize_captions({"plan A.", "The end"})[0], "plan a");  // "A" then "." before "The"
  EXPECT_EQ(ptb_tokenize_captions({"plan A.", "the end"})[0], "plan a.");
}
