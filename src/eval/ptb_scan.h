// The scanner's pieces for coco-caption's PTB tokenisation (ptb_tokenizer.cpp): character classes
// (Java's Character tests and the Stanford lexer's own sets), the text with caseless literals, sets of
// end positions for patterns with choices, and the lexer's named patterns (ptb_patterns.cpp), each
// returning the length of its longest match at i (0: none) or every end it can have (Ends).
// Private to src/eval.
#pragma once
#include <utf8proc.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

namespace prospect::eval::ptb {

using U = std::u32string;
constexpr char32_t kEnd = 0xFFFFFFFF;  // beyond the text: in no class

// ---- character classes (Java's Character tests and the lexer's own sets) ----

inline int cat(char32_t c) { return c > 0x10FFFF ? 0 : utf8proc_category(static_cast<utf8proc_int32_t>(c)); }
inline bool jletter(char32_t c) { int k = cat(c); return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO; }
inline bool digit(char32_t c) { return cat(c) == UTF8PROC_CATEGORY_ND; }
inline bool upper(char32_t c) { return cat(c) == UTF8PROC_CATEGORY_LU; }
inline bool ascii_alpha(char32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }
inline bool ascii_alnum(char32_t c) { return ascii_alpha(c) || ascii_digit(c); }
// The lexer's LETTER: Java letters plus the soft hyphen, combining marks and a few modifier ranges.
inline bool letter(char32_t c) {
  return jletter(c) || c == 0xAD || (c >= 0x237 && c <= 0x24F) || (c >= 0x2C2 && c <= 0x2C5) ||
         (c >= 0x2D2 && c <= 0x2DF) || (c >= 0x2E5 && c <= 0x2FF) || (c >= 0x300 && c <= 0x37D) || c == 0x384 ||
         c == 0x385 || c == 0x3CF || c == 0x3F6 || (c >= 0x3FC && c <= 0x3FF);
}
inline bool space(char32_t c) { return c == ' ' || c == '\t' || c == 0xA0 || (c >= 0x2000 && c <= 0x200A) || c == 0x3000; }
inline bool newline(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x0B || c == 0x0C || c == 0x85;
}
inline bool spacenl(char32_t c) { return space(c) || newline(c); }
inline bool in(char32_t c, const char32_t* set) {
  for (; *set; ++set)
    if (c == *set) return true;
  return false;
}
inline char32_t fold(char32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

struct Text {
  const U& s;
  char32_t at(size_t i) const { return i < s.size() ? s[i] : kEnd; }
  // A caseless literal (the lexer's %caseless: strings match in any case); its length or 0.
  size_t lit(size_t i, const char* w) const {
    size_t n = std::strlen(w);
    for (size_t k = 0; k < n; ++k)
      if (fold(at(i + k)) != fold(static_cast<unsigned char>(w[k]))) return 0;
    return n;
  }
  // Like lit, but the first letter in the case written (the lexer's "[A]bout").
  size_t lit_cap(size_t i, const char* w) const {
    return at(i) == static_cast<unsigned char>(w[0]) ? (lit(i, w) ? std::strlen(w) : 0) : 0;
  }
  size_t apos(size_t i) const {  // ' ’ U+0092 &apos;
    char32_t c = at(i);
    if (c == '\'' || c == 0x2019 || c == 0x92) return 1;
    return lit(i, "&apos;");
  }
  size_t apos_etc(size_t i) const {  // also ` ‘ ‛ U+0091, found inside words
    char32_t c = at(i);
    return (c == '`' || c == 0x2018 || c == 0x201B || c == 0x91) ? 1 : apos(i);
  }
};

// A set of end positions: the ways a pattern can end so far.
using Ends = std::vector<size_t>;
inline Ends uniq(Ends e) {
  std::sort(e.begin(), e.end());
  e.erase(std::unique(e.begin(), e.end()), e.end());
  return e;
}
template <class F>
inline Ends then_chars(const Text& t, const Ends& from, size_t lo, size_t hi, F ok) {  // ok{lo,hi}
  Ends out;
  for (size_t p : from)
    for (size_t k = 0; k <= hi; ++k) {
      if (k >= lo) out.push_back(p + k);
      if (!ok(t.at(p + k))) break;
    }
  return uniq(out);
}
template <class F>
inline Ends then_opt(const Text& t, const Ends& from, F ok) { return then_chars(t, from, 0, 1, ok); }
inline Ends then_str(const Text& t, const Ends& from, const char* w) {
  Ends out;
  for (size_t p : from)
    if (size_t n = t.lit(p, w)) out.push_back(p + n);
  return out;
}
inline Ends join(Ends a, const Ends& b) {
  a.insert(a.end(), b.begin(), b.end());
  return uniq(a);
}
inline size_t longest(const Ends& e, size_t i) { return e.empty() ? 0 : e.back() - i; }

// ---- the lexer's named patterns (ptb_patterns.cpp) ----

size_t word(const Text& t, size_t i);  // LETTER (LETTER|DIGIT)* ([.!?] LETTER (LETTER|DIGIT)*)*
size_t redaux(const Text& t, size_t i);  // APOS ([msdMSD] | re | ve | ll)
size_t sredaux(const Text& t, size_t i);  // n APOSETC t
size_t sgml(const Text& t, size_t i);
Ends acro(const Text& t, size_t i, int min_dots = 0);
size_t word_list(const Text& t, size_t i, std::initializer_list<const char*> words);
size_t abbrev1_word(const Text& t, size_t i);
Ends abbrev4(const Text& t, size_t i);
size_t abbrev3(const Text& t, size_t i);  // (ca|figs?|prop|nos?|art|bldg|pp|op)\.
size_t sentend(const Text& t, size_t i);  // SPACENL (SPACENL | uppercase | SGML)
size_t thing(const Text& t, size_t i);
size_t hthing(const Text& t, size_t i);
size_t thinga(const Text& t, size_t i);
size_t thing3(const Text& t, size_t i);
size_t number(const Text& t, size_t i);  // [\-+]? (DIGIT+ | DIGIT* ([.:,\u00AD\u066B\u066C] DIGIT+)+)
size_t date(const Text& t, size_t i);  // DIGIT{1,2}[-/]DIGIT{1,2}[-/]DIGIT{2,4}
size_t frac(const Text& t, size_t i);  // (DIGIT{1,4}[- \u00A0])? DIGIT{1,4} (\\?\/|\u2044) DIGIT{1,4}
size_t phone(const Text& t, size_t i);
size_t full_url(const Text& t, size_t i);  // https?://[^ \t\n\f\r"<>|(){}]+[^ \t\n\f\r"<>|.!?(){},-]
size_t likely_url(const Text& t, size_t i);
size_t email(const Text& t, size_t i);
size_t twitter(const Text& t, size_t i);  // @[a-zA-Z_][a-zA-Z_0-9]* | #LETTER+
size_t filename(const Text& t, size_t i);  // segments . ext, then (SPACENL | [.?!,])
size_t smiley(const Text& t, size_t i);  // [<>]?[:;=][\-o\*']?[()DPdpO\\{@|\[\]]
size_t ldots(const Text& t, size_t i);  // \.{3,5} | (\.[ \u00A0]){2,4}\. | [\u0085\u2026]
size_t quotes(const Text& t, size_t i);  // APOS | '' | [`‘’‚‛“”„‟‹›«»...]{1,2}
bool misc_symbol(char32_t c);

}  // namespace prospect::eval::ptb
