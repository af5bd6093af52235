// coco-caption's tokenisation (pycocoevalcap/tokenizer/ptbtokenizer.py), which every coco-caption
// metric (BLEU, CIDEr, METEOR) and ProAssist's scorer read: the captions joined by "\n" into one text,
// tokenised by Stanford CoreNLP 3.4.1's PTBTokenizer with -preserveLines -lowerCase (one output line
// per caption), then the tokens that are exactly one of '' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : -
// -- ... ; removed. Note what that keeps: brackets become "-lrb-" / "-rrb-" / "-lsb-" / "-rsb-" and,
// lowercased, are not in the list, so they stay; "?!", "!!" and "--" spelled with three hyphens stay
// or go as the lexer spells them.
//
// Our own scanner with the lexer's rules: at every position the longest match over all token kinds
// (a kind's trailing context counts in the length), ties to the kind listed first; then the kind's
// normalisation (quotes to `` '' ` ', dashes to --, brackets to -LRB- ..., ellipses to ..., &amp; to
// &, ½ to 1/2, ...). It covers English text: words, clitics ('s 're 've 'll 'd 'm n't, can not, gon
// na, 't is), abbreviations and acronyms (with the lexer's extra "." when a sentence seems to end after
// one), numbers, dates, fractions, phone numbers, money, hyphenated words, and/or, quotes of every
// kind, brackets, dashes, ellipses, smileys, e-mail addresses, @names, #tags, http:// URLs, file names
// and symbols. Not covered (coco's output may differ): "www."-less domains with a path, SGML entities
// other than &amp; &lt; &gt; &quot; &apos; &nbsp;, non-BMP characters (the lexer drops them), and
// letters of scripts outside Unicode's L categories. Like coco-caption's, a caption's tokens can
// depend on the next caption (a trailing "U.S." or "etc." looks at what follows the line break).
#pragma once
#include <string>
#include <vector>

namespace prospect::eval {

// The tokenised captions, one string each (tokens joined by one space), exactly as coco-caption's
// PTBTokenizer.tokenize returns them for captions given in this order. Newlines and other line
// breaks inside a caption count as spaces (coco-caption replaces "\n" only; its other breaks shift
// its lines). Error for text that is not valid UTF-8.
std::vector<std::string> ptb_tokenize_captions(const std::vector<std::string>& captions);

// The raw PTBTokenizer tokens of one text per line (before the punctuation removal), for tests.
std::vector<std::vector<std::string>> ptb_lex_lines(const std::string& text);

// Python's str.split(): split on Unicode whitespace, no empty parts (how coco-caption's BLEU and
// CIDEr read a tokenised caption; a token with a no-break space inside becomes two).
std::vector<std::string> split_whitespace(const std::string& s);

}  // namespace prospect::eval
