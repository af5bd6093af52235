// coco-caption's PTB tokenisation (ptb_tokenizer.h). The scanner: every token kind is a function that
// returns how long a match at position i is (`total`, its trailing context included, which is what
// competes), how much of it the token takes (`take`, less when the lexer pushes characters back) and
// the token's text after the kind's normalisation. The longest total wins; ties go to the kind listed
// first in kKinds. Patterns with choices are matched by sets of end positions (Ends), so that the
// longest of all ways is found, as a DFA would.
#include "prospect/eval/ptb_tokenizer.h"

#include <algorithm>
#include <cstring>

#include "prospect/core/error.h"
#include "prospect/text/wordpiece.h"  // utf8_to_u32, u32_to_utf8
#include "ptb_scan.h"

namespace prospect::eval {

namespace {

using namespace ptb;

// ---- normalisations ----

U latex_quotes(const U& tok, bool probably_left) {
  U out;
  for (size_t k = 0; k < tok.size(); ++k) {
    char32_t c = tok[k];
    if (c == '&' && (tok.compare(k, 6, U"&apos;") == 0)) {
      out += probably_left ? U"`" : U"'";
      k += 5;
    } else if (c == '&' && tok.compare(k, 6, U"&quot;") == 0) {
      out += probably_left ? U"``" : U"''";
      k += 5;
    } else if (c == '\'') {
      out += probably_left ? U"`" : U"'";
    } else if (c == '"') {
      out += probably_left ? U"``" : U"''";
    } else if (in(c, U"\u0091\u2018\u201B\u2039")) {
      out += U"`";
    } else if (in(c, U"\u0092\u2019\u203A")) {
      out += U"'";
    } else if (in(c, U"\u0093\u201C\u00AB")) {
      out += U"``";
    } else if (in(c, U"\u0094\u201D\u00BB")) {
      out += U"''";
    } else {
      out += c;
    }
  }
  return out;
}

U no_soft_hyphens(const U& s) {
  U out;
  for (char32_t c : s)
    if (c != 0xAD) out += c;
  return out.empty() ? U"-" : out;
}

U normalize_amp(const U& s) {
  U out;
  for (size_t k = 0; k < s.size(); ++k) {
    if (s[k] == '&' && k + 5 <= s.size() && fold(s[k + 1]) == 'a' && fold(s[k + 2]) == 'm' && fold(s[k + 3]) == 'p' &&
        s[k + 4] == ';') {
      out += '&';
      k += 4;
    } else {
      out += s[k];
    }
  }
  return out;
}

U spaces_to_nbsp(U s) {
  for (auto& c : s)
    if (c == ' ') c = 0xA0;
  return s;
}

U brackets(U s) {  // ( ) -> -LRB- -RRB-
  U out;
  for (char32_t c : s) out += c == '(' ? U"-LRB-" : c == ')' ? U"-RRB-" : U(1, c);
  return out;
}

// ---- the token kinds, in the lexer's order ----

struct Match {
  size_t total = 0;  // what competes: the match with its trailing context
  size_t take = 0;   // what the token consumes (total minus context and pushed-back characters)
  U text;            // the token; empty with skip
  bool skip = false, line_break = false;
};

using Kind = Match (*)(const Text&, size_t);

Match tok(const Text& t, size_t i, size_t n) { return {n, n, t.s.substr(i, n)}; }
Match tok_as(size_t total, size_t take, U text) { return {total, take, std::move(text)}; }

Match k_cannot(const Text& t, size_t i) { return t.lit(i, "cannot") ? tok_as(6, 3, t.s.substr(i, 3)) : Match{}; }
Match k_twas(const Text& t, size_t i) { return t.lit(i, "'twas") ? tok_as(5, 2, t.s.substr(i, 2)) : Match{}; }
Match k_tis(const Text& t, size_t i) { return t.lit(i, "'tis") ? tok_as(4, 2, t.s.substr(i, 2)) : Match{}; }
Match k_gonna(const Text& t, size_t i) {
  for (const char* w : {"gonna", "gotta", "lemme", "gimme", "wanna"})
    if (t.lit(i, w)) return tok_as(5, 3, t.s.substr(i, 3));
  return {};
}
Match k_cplus(const Text& t, size_t i) {
  if (t.lit(i, "c++")) return tok(t, i, 3);
  if ((t.lit(i, "c") || t.lit(i, "f")) && t.at(i + 1) == '#') return tok(t, i, 2);
  return {};
}
Match k_sgml(const Text& t, size_t i) {
  size_t n = sgml(t, i);
  return n ? tok_as(n, n, spaces_to_nbsp(t.s.substr(i, n))) : Match{};
}
Match k_mdash(const Text& t, size_t i) {
  if (in(t.at(i), U"\u0096\u0097\u2013\u2014\u2015")) return tok_as(1, 1, U"--");
  for (const char* w : {"&md;", "&mdash;", "&ndash;"})
    if (size_t n = t.lit(i, w)) return tok_as(n, n, U"--");
  return {};
}
Match k_amp(const Text& t, size_t i) { return t.lit(i, "&amp;") ? tok_as(5, 5, U"&") : Match{}; }
Match k_word_redaux(const Text& t, size_t i) {
  size_t w = word(t, i);
  size_t r = w ? redaux(t, i + w) : 0;
  return r ? tok_as(w + r, w, no_soft_hyphens(t.s.substr(i, w))) : Match{};
}
Match k_sword_sredaux(const Text& t, size_t i) {  // [A-Za-z\u00AD]*[A-MO-Za-mo-z](\u00AD)* / n't
  size_t j = i;
  while (ascii_alpha(t.at(j)) || t.at(j) == 0xAD) ++j;
  // the sword ends just before an "n" that starts n't; it must end in a letter other than n (soft hyphens may follow)
  for (size_t e = j; e > i; --e) {
    size_t r = sredaux(t, e);
    if (!r) continue;
    size_t k = e;
    while (k > i && t.at(k - 1) == 0xAD) --k;
    if (k > i && ascii_alpha(t.at(k - 1)) && fold(t.at(k - 1)) != 'n') return tok_as(e - i + r, e - i, no_soft_hyphens(t.s.substr(i, e - i)));
  }
  return {};
}
Match k_word(const Text& t, size_t i) {
  size_t w = word(t, i);
  return w ? tok_as(w, w, no_soft_hyphens(t.s.substr(i, w))) : Match{};
}
Match k_apoword(const Text& t, size_t i) {
  size_t best = 0;
  // APOS n APOS?
  if (size_t a = t.apos(i); a && t.lit(i + a, "n")) best = std::max(best, a + 1 + t.apos(i + a + 1));
  if (in(t.at(i), U"lLdDjJ"))
    if (size_t a = t.apos(i + 1)) best = std::max(best, 1 + a);
  for (const char* w : {"dunkin", "somethin", "ol"})
    if (size_t n = t.lit(i, w))
      if (size_t a = t.apos(i + n)) best = std::max(best, n + a);
  if (size_t a = t.apos(i)) {
    if (t.lit(i + a, "em")) best = std::max(best, a + 2);
    if (in(t.at(i + a), U"23456789") && t.at(i + a + 1) == '0' && t.lit(i + a + 2, "s")) best = std::max(best, a + 3);
    if (size_t n = t.lit(i + a, "till")) best = std::max(best, a + n);
    else if (size_t n2 = t.lit(i + a, "til")) best = std::max(best, a + n2);
    if (size_t n = t.lit(i + a, "cause")) best = std::max(best, a + n);
  }
  // [A-HJ-XZn] APOSETC letter{2} letter*
  {
    char32_t c = t.at(i);
    bool first = (c >= 'A' && c <= 'H') || (c >= 'J' && c <= 'X') || c == 'Z' || c == 'n';
    if (first)
      if (size_t a = t.apos_etc(i + 1)) {
        size_t r = 0;
        while (jletter(t.at(i + 1 + a + r))) ++r;
        if (r >= 2) best = std::max(best, 1 + a + r);
      }
  }
  // letter letter* [aeiouyAEIOUY] APOSETC [aeiouA-Z] letter*
  {
    size_t r = 0;
    while (jletter(t.at(i + r))) ++r;
    for (size_t v = r; v >= 2; --v) {  // the vowel is the last letter before the apostrophe
      if (!in(t.at(i + v - 1), U"aeiouyAEIOUY")) continue;
      size_t a = t.apos_etc(i + v);
      if (!a) continue;
      char32_t n = t.at(i + v + a);
      if (!(in(n, U"aeiou") || (n >= 'A' && n <= 'Z'))) continue;
      size_t r2 = 1;
      while (jletter(t.at(i + v + a + r2))) ++r2;
      best = std::max(best, v + a + r2);
    }
  }
  size_t contd = t.lit(i, "cont'd");
  if (contd) best = std::max(best, contd + (t.at(i + contd) == '.' ? 1 : 0));
  for (const char* w : {"'twas", "nor'easter", "c'mon", "e'er", "s'mores", "ev'ry", "li'l", "nat'l"})
    best = std::max(best, t.lit(i, w));
  if (t.lit(i, "o"))
    if (size_t a = t.apos_etc(i + 1); a && t.lit(i + 1 + a, "o")) best = std::max(best, a + 2);
  return best ? tok(t, i, best) : Match{};
}
Match k_apoword2(const Text& t, size_t i) {  // y APOS / letter
  if (!t.lit(i, "y")) return {};
  size_t a = t.apos(i + 1);
  return a && jletter(t.at(i + 1 + a)) ? tok_as(2 + a, 1 + a, t.s.substr(i, 1 + a)) : Match{};
}
using Scan = size_t (*)(const Text&, size_t);
// A kind whose whole scan is one token as written (URLs, e-mail addresses, Twitter names).
template <Scan scan>
Match k_whole(const Text& t, size_t i) {
  size_t n = scan(t, i);
  return n ? tok(t, i, n) : Match{};
}
// A contraction part ('s, n't ...) as its own token when a character other than an ASCII letter follows:
// that character is matched (the context) but not taken.
template <Scan scan>
Match k_aux_ctx(const Text& t, size_t i) {
  size_t r = scan(t, i);
  return r && t.at(i + r) != kEnd && !ascii_alpha(t.at(i + r)) ? tok_as(r + 1, r, latex_quotes(t.s.substr(i, r), false))
                                                                : Match{};
}
Match k_date(const Text& t, size_t i) {
  size_t n = date(t, i);
  return n ? tok(t, i, n) : Match{};
}
Match k_number(const Text& t, size_t i) {
  size_t n = number(t, i);
  return n ? tok_as(n, n, no_soft_hyphens(t.s.substr(i, n))) : Match{};
}
Match k_subsup(const Text& t, size_t i) {
  size_t j = i + (in(t.at(i), U"\u207A\u207B\u208A\u208B") ? 1 : 0);
  auto sup = [](char32_t c) { return c == 0x2070 || c == 0xB9 || c == 0xB2 || c == 0xB3 || (c >= 0x2074 && c <= 0x2079); };
  auto sub = [](char32_t c) { return c >= 0x2080 && c <= 0x2089; };
  size_t r = 0;
  if (sup(t.at(j))) while (sup(t.at(j + r))) ++r;
  else while (sub(t.at(j + r))) ++r;
  return r ? tok(t, i, j - i + r) : Match{};
}
Match k_frac(const Text& t, size_t i) {
  size_t n = frac(t, i);
  return n ? tok_as(n, n, spaces_to_nbsp(t.s.substr(i, n))) : Match{};
}
Match k_frac2(const Text& t, size_t i) {
  char32_t c = t.at(i);
  if (!(c == 0xBC || c == 0xBD || c == 0xBE || (c >= 0x2153 && c <= 0x215E))) return {};
  U out = c == 0xBC ? U"1/4" : c == 0xBD ? U"1/2" : c == 0xBE ? U"3/4" : c == 0x2153 ? U"1/3" : c == 0x2154 ? U"2/3" : U(1, c);
  return tok_as(1, 1, out);
}
Match k_tbspec(const Text& t, size_t i) {
  size_t best = 0;
  if (t.at(i) == '-')
    for (const char* w : {"rrb", "lrb", "rcb", "lcb", "rsb", "lsb"})
      if (t.lit(i + 1, w) && t.at(i + 4) == '-') best = 5;
  for (const char* w : {"c.d.s", "pro-", "anti-", "s&p-500", "s&amp;p-500", "s&ls", "s&amp;ls"}) best = std::max(best, t.lit(i, w));
  for (const char* w : {"cap", "c"}) {
    size_t n = t.lit(i, w);
    if (!n) continue;
    size_t a = t.apos(i + n);
    if (a && t.lit(i + n + a, w[1] ? "n" : "est")) best = std::max(best, n + a + (w[1] ? 1 : 3));
  }
  return best ? tok_as(best, best, normalize_amp(t.s.substr(i, best))) : Match{};
}
Match k_thing3(const Text& t, size_t i) {
  size_t n = thing3(t, i);
  return n ? tok(t, i, n) : Match{};
}
Match k_dolsign(const Text& t, size_t i) {
  size_t j = i;
  while (t.at(j) >= 'A' && t.at(j) <= 'Z') ++j;
  if (t.at(j) == '$') return tok(t, i, j + 1 - i);
  return t.at(i) == '#' ? tok(t, i, 1) : Match{};
}
Match k_dolsign2(const Text& t, size_t i) {
  char32_t c = t.at(i);
  if (!in(c, U"\u00A2\u00A3\u00A4\u00A5\u0080\u20A0\u20AC\u060B\u0E3F\u20A4\uFFE0\uFFE1\uFFE5\uFFE6")) return {};
  U out = c == 0xA2 ? U"cents" : c == 0xA3 ? U"#" : in(c, U"\u0080\u00A4\u20A0\u20AC") ? U"$" : U(1, c);
  return tok_as(1, 1, out);
}
Match k_acronym_ctx(const Text& t, size_t i) {
  Match best;
  for (size_t e : acro(t, i)) {
    if (t.at(e) != '.') continue;
    size_t r1 = e + 1 - i, j = e + 1;
    size_t sp = 0;
    while (spacenl(t.at(j + sp))) ++sp;
    if (!sp) continue;
    size_t w = 0;
    for (const char* x : {"About", "According", "Additionally", "After", "An", "A", "As", "At", "But", "Earlier",
                          "He", "Her", "Here", "However", "If", "In", "It", "Last", "Many", "More", "Mr.", "Ms.",
                          "Now", "Once", "One", "Other", "Our", "She", "Since", "So", "Some", "Such", "That", "The",
                          "Their", "Then", "There", "These", "They", "This", "We", "When", "While", "What", "Yet",
                          "You"}) {
      size_t n = t.lit_cap(j + sp, x);
      if (n && spacenl(t.at(j + sp + n))) w = std::max(w, n);
    }
    size_t g = sgml(t, j + sp);
    if (g && spacenl(t.at(j + sp + g))) w = std::max(w, g);
    if (!w) continue;
    size_t total = r1 + sp + w + 1;
    if (total <= best.total) continue;
    if (r1 == 2)
      best = tok_as(total, 1, t.s.substr(i, 1));  // "I." before "The": "I", then "."
    else
      best = tok_as(total, r1 - 1, t.s.substr(i, r1));  // "U.S." and then "." again
  }
  return best;
}
Match k_abbrev3_ctx(const Text& t, size_t i) {
  size_t a = abbrev3(t, i);
  if (!a) return {};
  size_t c = spacenl(t.at(i + a)) ? 1 : 0;
  return digit(t.at(i + a + c)) ? tok_as(a + c + 1, a, t.s.substr(i, a)) : Match{};
}
Match k_pty_ltd(const Text& t, size_t i) {
  size_t n = 0;
  if (t.lit(i, "pt") && in(t.at(i + 2), U"eyEY")) n = 3;
  else if (t.lit(i, "co")) n = 2;
  if (!n || t.at(i + n) != '.' || !space(t.at(i + n + 1))) return {};
  if (!t.lit(i + n + 2, "ltd") && !t.lit(i + n + 2, "lim")) return {};
  return tok_as(n + 5, n + 1, t.s.substr(i, n + 1));
}
size_t abbrev1(const Text& t, size_t i) {
  size_t w = abbrev1_word(t, i);
  return w && t.at(i + w) == '.' ? w + 1 : 0;
}
Match k_abbrev1_sentend(const Text& t, size_t i) {
  size_t a = abbrev1(t, i);
  size_t s = a ? sentend(t, i + a) : 0;
  return s ? tok_as(a + s, a - 1, t.s.substr(i, a)) : Match{};  // "etc." then "." again
}
Match k_abbrev1_any2(const Text& t, size_t i) {
  size_t a = abbrev1(t, i);
  return a && i + a + 2 <= t.s.size() ? tok_as(a + 2, a, t.s.substr(i, a)) : Match{};
}
Match k_abbrev1(const Text& t, size_t i) {
  size_t a = abbrev1(t, i);
  return a ? tok_as(a, a - 1, t.s.substr(i, a)) : Match{};
}
Match k_abbrev2(const Text& t, size_t i) {
  size_t best = 0;
  for (size_t e : abbrev4(t, i))
    if (t.at(e) == '.') best = e + 1 - i;
  return best ? tok(t, i, best) : Match{};
}
Match k_abbrev4_space(const Text& t, size_t i) {
  size_t best = 0;
  for (size_t e : abbrev4(t, i))
    if (space(t.at(e))) best = e - i;
  return best ? tok_as(best + 1, best, t.s.substr(i, best)) : Match{};
}
Match k_acro_spacenl(const Text& t, size_t i) {
  size_t best = 0;
  for (size_t e : acro(t, i))
    if (spacenl(t.at(e))) best = e - i;
  return best ? tok_as(best + 1, best, t.s.substr(i, best)) : Match{};
}
Match k_tbspec2(const Text& t, size_t i) {
  size_t a = t.apos(i);
  if (!a || !ascii_digit(t.at(i + a)) || !ascii_digit(t.at(i + a + 1)) || !spacenl(t.at(i + a + 2))) return {};
  return tok_as(a + 3, a + 2, t.s.substr(i, a + 2));
}
Match k_filename(const Text& t, size_t i) {
  size_t n = filename(t, i);
  return n ? tok_as(n, n - 1, t.s.substr(i, n - 1)) : Match{};
}
Match k_word_dot_insentp(const Text& t, size_t i) {
  size_t w = word(t, i);
  if (!w || t.at(i + w) != '.' || !in(t.at(i + w + 1), U",;:\u3001")) return {};
  return tok_as(w + 2, w + 1, no_soft_hyphens(t.s.substr(i, w + 1)));
}
Match k_phone(const Text& t, size_t i) {
  size_t n = phone(t, i);
  return n ? tok_as(n, n, brackets(spaces_to_nbsp(t.s.substr(i, n)))) : Match{};
}
size_t dblquot(const Text& t, size_t i) { return t.at(i) == '"' ? 1 : t.lit(i, "&quot;"); }
Match k_dblquot_open(const Text& t, size_t i) {
  size_t q = dblquot(t, i);
  char32_t c = t.at(i + q);
  return q && (ascii_alnum(c) || c == '$') ? tok_as(q + 1, q, latex_quotes(t.s.substr(i, q), true)) : Match{};
}
Match k_dblquot(const Text& t, size_t i) {
  size_t q = dblquot(t, i);
  return q ? tok_as(q, q, latex_quotes(t.s.substr(i, q), false)) : Match{};
}
Match k_del(const Text& t, size_t i) { return t.at(i) == 0x7F ? Match{1, 1, U(), true} : Match{}; }
Match k_lt(const Text& t, size_t i) {
  size_t n = t.at(i) == '<' ? 1 : t.lit(i, "&lt;");
  return n ? tok_as(n, n, U"<") : Match{};
}
Match k_gt(const Text& t, size_t i) {
  size_t n = t.at(i) == '>' ? 1 : t.lit(i, "&gt;");
  return n ? tok_as(n, n, U">") : Match{};
}
Match k_smiley(const Text& t, size_t i) {
  size_t n = smiley(t, i);
  char32_t c = t.at(i + n);
  return n && c != kEnd && !ascii_alnum(c) ? tok_as(n + 1, n, brackets(t.s.substr(i, n))) : Match{};
}
Match k_bracket(const Text& t, size_t i) {
  switch (t.at(i)) {
    case '{': return tok_as(1, 1, U"-LCB-");
    case '}': return tok_as(1, 1, U"-RCB-");
    case '[': return tok_as(1, 1, U"-LSB-");
    case ']': return tok_as(1, 1, U"-RSB-");
    case '(': return tok_as(1, 1, U"-LRB-");
    case ')': return tok_as(1, 1, U"-RRB-");
    default: return {};
  }
}
Match k_hyphens(const Text& t, size_t i) {
  size_t n = 0;
  while (t.at(i + n) == '-') ++n;
  if (!n) return {};
  return n >= 3 && n <= 4 ? tok_as(n, n, U"--") : tok(t, i, n);
}
Match k_ldots(const Text& t, size_t i) {
  size_t n = ldots(t, i);
  return n ? tok_as(n, n, U"...") : Match{};
}
Match k_fnmarks(const Text& t, size_t i) {
  char32_t c = t.at(i);
  if (c != '@' && c != '#' && c != '_') return {};
  size_t n = 0;
  while (t.at(i + n) == c) ++n;
  return tok(t, i, n);
}
Match k_asts(const Text& t, size_t i) {
  size_t n = 0;
  while (t.at(i + n) == '*') ++n;
  size_t m = 0;
  while (m < 6 && t.at(i + m) == '\\' && t.at(i + m + 1) == '*') m += 2;
  n = std::max(n, m);
  return n ? tok(t, i, n) : Match{};
}
Match k_insentp(const Text& t, size_t i) { return in(t.at(i), U",;:\u3001") ? tok(t, i, 1) : Match{}; }
Match k_qe(const Text& t, size_t i) {
  size_t n = 0;
  while (in(t.at(i + n), U"?!")) ++n;
  return n ? tok(t, i, n) : Match{};
}
Match k_period(const Text& t, size_t i) {
  char32_t c = t.at(i);
  bool p = in(c, U".\u00A1\u00BF\u037E\u0589\u061F\u06D4\u07FA\u3002") || (c >= 0x700 && c <= 0x702);
  return p ? tok(t, i, 1) : Match{};
}
Match k_eq_slash(const Text& t, size_t i) { return t.at(i) == '=' || t.at(i) == '/' ? tok(t, i, 1) : Match{}; }
Match k_hthing_dot(const Text& t, size_t i) {
  size_t n = hthing(t, i);
  if (!n || t.at(i + n) != '.' || !in(t.at(i + n + 1), U",;:\u3001")) return {};
  return tok_as(n + 2, n + 1, no_soft_hyphens(t.s.substr(i, n + 1)));
}
Match k_hthing(const Text& t, size_t i) {
  size_t n = hthing(t, i);
  return n ? tok_as(n, n, no_soft_hyphens(t.s.substr(i, n))) : Match{};
}
Match k_thing_dot(const Text& t, size_t i) {
  size_t n = thing(t, i);
  if (!n || t.at(i + n) != '.' || !in(t.at(i + n + 1), U",;:\u3001")) return {};
  return tok_as(n + 2, n + 1, t.s.substr(i, n + 1));
}
Match k_thing(const Text& t, size_t i) {
  size_t n = thing(t, i);
  return n ? tok(t, i, n) : Match{};
}
Match k_thinga_dot(const Text& t, size_t i) {
  size_t n = thinga(t, i);
  if (!n || t.at(i + n) != '.' || !in(t.at(i + n + 1), U",;:\u3001")) return {};
  return tok_as(n + 2, n + 1, normalize_amp(t.s.substr(i, n + 1)));
}
Match k_thinga(const Text& t, size_t i) {
  size_t n = thinga(t, i);
  return n ? tok_as(n, n, normalize_amp(t.s.substr(i, n))) : Match{};
}
Match k_open_quote(const Text& t, size_t i) {  // ' / [A-Za-z][^ \t\n\r\u00A0]
  if (t.at(i) != '\'' || !ascii_alpha(t.at(i + 1))) return {};
  char32_t c = t.at(i + 2);
  if (c == kEnd || in(c, U" \t\n\r\u00A0")) return {};
  return tok_as(3, 1, U"`");
}
Match k_redaux(const Text& t, size_t i) {
  size_t r = redaux(t, i);
  return r ? tok_as(r, r, latex_quotes(t.s.substr(i, r), false)) : Match{};
}
Match k_sredaux(const Text& t, size_t i) {
  size_t r = sredaux(t, i);
  return r ? tok_as(r, r, latex_quotes(t.s.substr(i, r), false)) : Match{};
}
Match k_quotes(const Text& t, size_t i) {
  size_t n = quotes(t, i);
  return n ? tok_as(n, n, latex_quotes(t.s.substr(i, n), false)) : Match{};
}
Match k_duckfeet(const Text& t, size_t i) {
  return (t.at(i) == '<' && t.at(i + 1) == '<') || (t.at(i) == '>' && t.at(i + 1) == '>') ? tok(t, i, 2) : Match{};
}
Match k_misc(const Text& t, size_t i) { return misc_symbol(t.at(i)) ? tok(t, i, 1) : Match{}; }
Match k_space(const Text& t, size_t i) {
  size_t n = 0;
  while (space(t.at(i + n))) ++n;
  if (!n && (t.at(i) == 0 || in(t.at(i), U"\u200B\u200E\u200F\uFEFF"))) n = 1;
  return n ? Match{n, n, U(), true} : Match{};
}
Match k_newline(const Text& t, size_t i) {
  size_t n = t.at(i) == '\r' && t.at(i + 1) == '\n' ? 2 : newline(t.at(i)) ? 1 : 0;
  return n ? Match{n, n, U(), true, true} : Match{};
}
Match k_nbsp(const Text& t, size_t i) { return t.lit(i, "&nbsp;") ? Match{6, 6, U(), true} : Match{}; }

const Kind kKinds[] = {
    k_cannot, k_twas, k_tis, k_gonna, k_cplus, k_sgml, k_mdash, k_amp, k_word_redaux, k_sword_sredaux, k_word,
    k_apoword, k_apoword2, k_whole<full_url>, k_whole<likely_url>, k_whole<email>, k_whole<twitter>,
    k_aux_ctx<redaux>, k_aux_ctx<sredaux>, k_date, k_number, k_subsup,
    k_frac, k_frac2, k_tbspec, k_thing3, k_dolsign, k_dolsign2, k_acronym_ctx, k_abbrev3_ctx, k_pty_ltd,
    k_abbrev1_sentend, k_abbrev1_any2, k_abbrev1, k_abbrev2, k_abbrev4_space, k_acro_spacenl, k_tbspec2,
    k_filename, k_word_dot_insentp, k_phone, k_dblquot_open, k_dblquot, k_del, k_lt, k_gt, k_smiley, k_bracket,
    k_hyphens, k_ldots, k_fnmarks, k_asts, k_insentp, k_qe, k_period, k_eq_slash, k_hthing_dot, k_hthing,
    k_thing_dot, k_thing, k_thinga_dot, k_thinga, k_open_quote, k_redaux, k_sredaux, k_quotes, k_duckfeet, k_misc,
    k_space, k_newline, k_nbsp,
};

// Java's String.toLowerCase(Locale.ENGLISH): İ -> i + U+0307, a word-final Σ -> ς.
U java_lower(const U& s) {
  U out;
  for (size_t k = 0; k < s.size(); ++k) {
    char32_t c = s[k];
    if (c == 0x130) {
      out += U"i\u0307";
    } else if (c == 0x3A3) {
      bool after_letter = k > 0 && jletter(s[k - 1]);
      bool before_letter = k + 1 < s.size() && jletter(s[k + 1]);
      out += after_letter && !before_letter ? char32_t(0x3C2) : char32_t(0x3C3);
    } else {
      out += static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
    }
  }
  return out;
}

bool python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

}  // namespace

std::vector<std::vector<std::string>> ptb_lex_lines(const std::string& text) {
  U all = utf8_to_u32(text, "PTB tokenizer input");
  U s;  // the lexer reads UTF-16: a character outside the BMP is two halves no rule takes (deleted)
  for (char32_t c : all)
    if (c <= 0xFFFF) s += c;
  Text t{s};
  std::vector<std::vector<std::string>> lines(1);
  size_t i = 0;
  while (i < s.size()) {
    Match best;
    for (Kind k : kKinds) {
      Match m = k(t, i);
      if (m.total > best.total) best = std::move(m);
    }
    if (best.total == 0 || best.take == 0) {  // untokenizable: deleted, as the lexer does by default
      ++i;
      continue;
    }
    if (best.line_break) {
      lines.emplace_back();
    } else if (!best.skip) {
      lines.back().push_back(u32_to_utf8(java_lower(best.text)));
    }
    i += best.take;
  }
  return lines;
}

std::vector<std::string> ptb_tokenize_captions(const std::vector<std::string>& captions) {
  static const char* kPunct[] = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?",
                                 "!",  ",", ":",  "-", "--",    "...",   ";"};
  std::string joined;
  for (size_t k = 0; k < captions.size(); ++k) {
    if (k) joined += '\n';
    U c = utf8_to_u32(captions[k], "caption");
    for (auto& ch : c)
      if (newline(ch)) ch = ' ';
    joined += u32_to_utf8(c);
  }
  auto lines = ptb_lex_lines(joined);
  std::vector<std::string> out;
  for (size_t k = 0; k < captions.size(); ++k) {
    std::string line;
    if (k < lines.size())
      for (const auto& tok : lines[k]) {
        if (std::any_of(std::begin(kPunct), std::end(kPunct), [&](const char* p) { return tok == p; })) continue;
        if (!line.empty()) line += ' ';
        line += tok;
      }
    out.push_back(line);
  }
  return out;
}

std::vector<std::string> split_whitespace(const std::string& s) {
  U u = utf8_to_u32(s, "text");
  std::vector<std::string> out;
  U cur;
  for (char32_t c : u) {
    if (python_space(c)) {
      if (!cur.empty()) out.push_back(u32_to_utf8(cur)), cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(u32_to_utf8(cur));
  return out;
}

}  // namespace prospect::eval
