// The Stanford PTB lexer's named patterns as our own matchers (declared in ptb_scan.h): what each
// matches is written next to it in the lexer's notation.
#include "ptb_scan.h"

namespace prospect::eval::ptb {

// ---- the lexer's named patterns (lengths at i, 0 = no match) ----

size_t word(const Text& t, size_t i) {  // LETTER (LETTER|DIGIT)* ([.!?] LETTER (LETTER|DIGIT)*)*
  if (!letter(t.at(i))) return 0;
  size_t j = i + 1;
  auto body = [&] {
    while (letter(t.at(j)) || digit(t.at(j))) ++j;
  };
  body();
  while (in(t.at(j), U".!?") && letter(t.at(j + 1))) {
    j += 2;
    body();
  }
  return j - i;
}

size_t redaux(const Text& t, size_t i) {  // APOS ([msdMSD] | re | ve | ll)
  size_t a = t.apos(i);
  if (!a) return 0;
  if (in(t.at(i + a), U"msdMSD")) return a + 1;
  if (t.lit(i + a, "re") || t.lit(i + a, "ve") || t.lit(i + a, "ll")) return a + 2;
  return 0;
}

size_t sredaux(const Text& t, size_t i) {  // n APOSETC t
  if (!t.lit(i, "n")) return 0;
  size_t a = t.apos_etc(i + 1);
  if (!a || !t.lit(i + 1 + a, "t")) return 0;
  return a + 2;
}

// SGML: <([!?][A-Za-z-][^>\r\n]* | NAME( +(NAME|NAME *= *('[^']*'|"[^"]*")))* *\/? | \/NAME) *>,
// NAME = [A-Za-z][A-Za-z0-9_:.-]*
size_t sgml(const Text& t, size_t i) {
  if (t.at(i) != '<') return 0;
  auto namec = [](char32_t c) { return ascii_alnum(c) || in(c, U"_:.-"); };
  auto is_space = [](char32_t c) { return c == ' '; };
  auto name = [&](const Ends& from) { return then_chars(t, then_chars(t, from, 1, 1, ascii_alpha), 0, SIZE_MAX, namec); };
  const Ends start = {i + 1};
  Ends a = then_chars(t, start, 1, 1, [](char32_t c) { return c == '!' || c == '?'; });
  a = then_chars(t, then_chars(t, a, 1, 1, [](char32_t c) { return ascii_alpha(c) || c == '-'; }), 0, SIZE_MAX,
                 [](char32_t c) { return c != kEnd && c != '>' && c != '\r' && c != '\n'; });
  Ends b = name(start), cur = b;
  while (!cur.empty()) {
    Ends attr = name(then_chars(t, cur, 1, SIZE_MAX, is_space));
    Ends eq = then_chars(t, then_str(t, then_chars(t, attr, 0, SIZE_MAX, is_space), "="), 0, SIZE_MAX, is_space);
    Ends val;
    for (char32_t q : {U'\'', U'"'}) {
      Ends open = then_chars(t, eq, 1, 1, [q](char32_t c) { return c == q; });
      val = join(val, then_chars(t, then_chars(t, open, 0, SIZE_MAX, [q](char32_t c) { return c != kEnd && c != q; }), 1, 1,
                                 [q](char32_t c) { return c == q; }));
    }
    cur = join(attr, val);
    b = join(b, cur);
  }
  b = then_opt(t, then_chars(t, b, 0, SIZE_MAX, is_space), [](char32_t c) { return c == '/'; });
  Ends c = name(then_str(t, start, "/"));
  Ends all = then_str(t, then_chars(t, join(join(a, b), c), 0, SIZE_MAX, is_space), ">");
  return longest(all, i);
}

// ACRO: [A-Za-z](\.[A-Za-z])* | (Canada|Sino|Korean|EU|Japan|non)-U\.S | U\.S\.-(U\.K|U\.S\.S\.R): every
// length it can have (min_dots 1: ACRO2, at least one ".X"), since what follows may need a shorter one.
Ends acro(const Text& t, size_t i, int min_dots) {
  Ends e;
  if (ascii_alpha(t.at(i))) {
    size_t j = i + 1;
    int dots = 0;
    if (dots >= min_dots) e.push_back(j);
    while (t.at(j) == '.' && ascii_alpha(t.at(j + 1))) {
      j += 2, ++dots;
      if (dots >= min_dots) e.push_back(j);
    }
  }
  for (const char* p : {"canada", "sino", "korean", "eu", "japan", "non"})
    if (size_t n = t.lit(i, p))
      if (size_t m = t.lit(i + n, "-u.s")) e.push_back(i + n + m);
  if (size_t n = t.lit(i, "u.s.-"))
    for (const char* p : {"u.k", "u.s.s.r"})
      if (size_t m = t.lit(i + n, p)) e.push_back(i + n + m);
  return uniq(e);
}

// A word list of the abbreviations: "^Az" = the first letter in this case only. Longest match.
size_t word_list(const Text& t, size_t i, std::initializer_list<const char*> words) {
  size_t best = 0;
  for (const char* w : words) {
    size_t n = w[0] == '^' ? t.lit_cap(i, w + 1) : t.lit(i, w);
    best = std::max(best, n);
  }
  return best;
}

// ABBREV1 without its period: months, days, states, companies, ... (normally followed by lower case).
size_t abbrev1_word(const Text& t, size_t i) {
  size_t best = word_list(
      t, i, {"jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",  // months
             "mon", "tue", "tues", "wed", "thu", "thurs", "fri",                                    // days
             "ala", "ariz", "^Az", "^Ark", "calif", "colo", "conn", "ct", "dak", "^Del", "fla", "ga", "^Ill", "ind",
             "kan", "kans", "ky", "^La", "^Mass", "md", "mich", "minn", "^Miss", "mo", "mont", "neb", "nev", "okla",
             "^Ore", "^Pa", "penn", "tenn", "^Tex", "va", "vt", "^Wash", "wis", "wisc", "wyo",  // states
             "inc", "co", "cos", "corp", "ltd", "plc", "rt", "bancorp", "bhd", "assn", "univ", "intl", "sys",
             "tel", "est", "ext", "sq", "jr", "sr", "bros", "blvd", "rd", "esq", "etc", "al", "seq", "bldg"});
  // Pp?t[ye]s? (Pty, Pte, Ptys, Ppty ...: [ye] lower case only) and (Ed|Ph)\.D
  for (size_t p = t.lit(i, "p"), pp = p ? p + t.lit(i + p, "p") : 0; p; p = 0) {
    for (size_t start : {p, pp}) {
      if (!t.lit(i + start, "t") || !in(t.at(i + start + 1), U"ye")) continue;
      size_t n = start + 2;
      best = std::max(best, n + t.lit(i + n, "s"));
    }
  }
  for (const char* w : {"ed.d", "ph.d"}) best = std::max(best, t.lit(i, w));
  return best;
}

// ABBREV4: titles and other abbreviations normally followed by a capitalised word (and ACRO): the
// ends it can have.
Ends abbrev4(const Text& t, size_t i) {
  size_t best = word_list(
      t, i, {"mr", "mrs", "ms", "^Miss", "dr", "drs", "prof", "profs", "sen", "sens", "rep", "reps", "atty", "attys",
             "lt", "col", "gen", "messrs", "gov", "govs", "adm", "rev", "maj", "sgt", "cpl", "pvt", "capt", "st",
             "ste", "ave", "pres", "lieut", "hon", "brig", "cmdr", "comdr", "pfc", "spc", "supt", "supts", "det",
             "mt", "ft", "adj", "adv", "asst", "assoc", "ens", "insp", "mlle", "mme", "msgr", "sfc",  // titles
             "vs", "alex", "wm", "jos", "cie", "a.k.a", "cf", "treas", "ph",                          //
             "invt", "elec", "natl", "dept"});
  if (t.lit(i, "m") && in(t.at(i + 1), U"ft") && t.lit(i + 2, "g")) best = std::max<size_t>(best, 3);  // M[ft]g
  Ends e = acro(t, i);
  if (best) e.push_back(i + best);  // (a shorter word of the list is a prefix of a longer: never followed by '.' or space)
  return uniq(e);
}

size_t abbrev3(const Text& t, size_t i) {  // (ca|figs?|prop|nos?|art|bldg|pp|op)\.
  size_t w = word_list(t, i, {"ca", "fig", "figs", "prop", "no", "nos", "art", "bldg", "pp", "op"});
  return w && t.at(i + w) == '.' ? w + 1 : 0;
}

size_t sentend(const Text& t, size_t i) {  // SPACENL (SPACENL | uppercase | SGML)
  if (!spacenl(t.at(i))) return 0;
  if (spacenl(t.at(i + 1)) || upper(t.at(i + 1))) return 2;
  size_t g = sgml(t, i + 1);
  return g ? 1 + g : 0;
}

// THING: ([dDoOlL] APOSETC (letter|digit))? (letter|digit)+ (HYPHEN the same)*: longest of all ways.
size_t thing(const Text& t, size_t i) {
  auto alnum = [](char32_t c) { return jletter(c) || digit(c); };
  auto part = [&](size_t p) {  // end positions of one part
    Ends e;
    size_t r = 0;
    while (alnum(t.at(p + r))) ++r;
    if (r) e.push_back(p + r);
    if (in(t.at(p), U"dDoOlL"))
      if (size_t a = t.apos_etc(p + 1)) {
        // the prefix's own (letter|digit), then (letter|digit)+: at least two after the apostrophe
        size_t q = p + 1 + a, r2 = 0;
        while (alnum(t.at(q + r2))) ++r2;
        if (r2 >= 2) e.push_back(q + r2);
      }
    return e;
  };
  Ends cur = part(i), all = cur;
  while (!cur.empty()) {
    Ends next;
    for (size_t p : cur)
      if (in(t.at(p), U"-_\u058A\u2010\u2011")) next = join(next, part(p + 1));
    all = join(all, next);
    cur = next;
  }
  return longest(all, i);
}

// HTHING: [A-Za-z0-9][A-Za-z0-9.,\u00AD]* (-([A-Za-z0-9\u00AD]+ | ACRO2\.))+
size_t hthing(const Text& t, size_t i) {
  if (!ascii_alnum(t.at(i))) return 0;
  size_t j = i + 1;
  while (ascii_alnum(t.at(j)) || in(t.at(j), U".,\u00AD")) ++j;
  Ends cur = {j}, all;
  while (!cur.empty()) {
    Ends next;
    for (size_t p : cur) {
      if (t.at(p) != '-') continue;
      size_t r = 0;
      while (ascii_alnum(t.at(p + 1 + r)) || t.at(p + 1 + r) == 0xAD) ++r;
      if (r) next.push_back(p + 1 + r);
      for (size_t e : acro(t, p + 1, 1))
        if (t.at(e) == '.') next.push_back(e + 1);
    }
    next = uniq(next);
    all = join(all, next);
    cur = next;
  }
  return longest(all, i);
}

// THINGA: [A-Z]+(([+&]|&amp;)[A-Z]+)+
size_t thinga(const Text& t, size_t i) {
  auto up = [](char32_t c) { return c >= 'A' && c <= 'Z'; };
  size_t j = i;
  while (up(t.at(j))) ++j;
  if (j == i) return 0;
  size_t best = 0;
  for (;;) {
    size_t s = in(t.at(j), U"+&") ? 1 : t.lit(j, "&amp;");
    if (!s || !up(t.at(j + s))) break;
    j += s;
    while (up(t.at(j))) ++j;
    best = j - i;
  }
  return best;
}

// THING3: [A-Za-z0-9]+(-[A-Za-z]+){0,2}(\\?\/[A-Za-z0-9]+(-[A-Za-z]+){0,2}){1,2}
size_t thing3(const Text& t, size_t i) {
  auto seg = [&](const Ends& from) {  // [A-Za-z0-9]+(-[A-Za-z]+){0,2}
    Ends e = then_chars(t, from, 1, SIZE_MAX, ascii_alnum);
    Ends all = e;
    for (int k = 0; k < 2; ++k) {
      e = then_chars(t, then_str(t, e, "-"), 1, SIZE_MAX, ascii_alpha);
      all = join(all, e);
    }
    return all;
  };
  auto slash = [&](const Ends& from) { return join(then_str(t, from, "/"), then_str(t, from, "\\/")); };
  Ends first = seg({i});
  Ends one = seg(slash(first));
  Ends two = seg(slash(one));
  return longest(join(one, two), i);
}

size_t number(const Text& t, size_t i) {  // [\-+]? (DIGIT+ | DIGIT* ([.:,\u00AD\u066B\u066C] DIGIT+)+)
  size_t j = i + (in(t.at(i), U"-+") ? 1 : 0);
  size_t start = j;
  while (digit(t.at(j))) ++j;
  size_t best = j > start ? j - i : 0;
  while (in(t.at(j), U".:,\u00AD\u066B\u066C") && digit(t.at(j + 1))) {
    j += 1;
    while (digit(t.at(j))) ++j;
    best = j - i;
  }
  return best;
}

size_t date(const Text& t, size_t i) {  // DIGIT{1,2}[-/]DIGIT{1,2}[-/]DIGIT{2,4}
  auto sep = [](char32_t c) { return c == '-' || c == '/'; };
  Ends e = then_chars(t, {i}, 1, 2, digit);
  e = then_chars(t, e, 1, 1, sep);
  e = then_chars(t, e, 1, 2, digit);
  e = then_chars(t, e, 1, 1, sep);
  e = then_chars(t, e, 2, 4, digit);
  return longest(e, i);
}

size_t frac(const Text& t, size_t i) {  // (DIGIT{1,4}[- \u00A0])? DIGIT{1,4} (\\?\/|\u2044) DIGIT{1,4}
  Ends pre = then_chars(t, then_chars(t, {i}, 1, 4, digit), 1, 1, [](char32_t c) { return in(c, U"- \u00A0"); });
  Ends e = then_chars(t, join({i}, pre), 1, 4, digit);
  e = join(join(then_str(t, e, "/"), then_str(t, e, "\\/")), then_chars(t, e, 1, 1, [](char32_t c) { return c == 0x2044; }));
  e = then_chars(t, e, 1, 4, digit);
  return longest(e, i);
}

size_t phone(const Text& t, size_t i) {
  auto sep = [](char32_t c) { return in(c, U"- \u00A0"); };
  auto sp = [](char32_t c) { return c == ' ' || c == 0xA0; };
  auto plus = [&](const Ends& from) { return join(from, join(then_str(t, from, "+"), then_str(t, from, "++"))); };
  // (\([0-9]{2,3}\)[ \u00A0]? | (\+\+?)?([0-9]{2,4}[\- \u00A0])?[0-9]{2,4}[\- \u00A0]) [0-9]{3,4} [\- \u00A0]? [0-9]{3,5}
  Ends a = then_opt(t, then_str(t, then_chars(t, then_str(t, {i}, "("), 2, 3, ascii_digit), ")"), sp);
  Ends p = plus({i});
  Ends grp = then_chars(t, then_chars(t, p, 2, 4, ascii_digit), 1, 1, sep);
  Ends b = then_chars(t, then_chars(t, join(p, grp), 2, 4, ascii_digit), 1, 1, sep);
  Ends e = then_chars(t, then_opt(t, then_chars(t, join(a, b), 3, 4, ascii_digit), sep), 3, 5, ascii_digit);
  // ((\+\+?)?[0-9]{2,4}\.)?[0-9]{2,4}\.[0-9]{3,4}\.[0-9]{3,5}
  Ends q = then_str(t, then_chars(t, p, 2, 4, ascii_digit), ".");
  Ends d = then_chars(t, join({i}, q), 2, 4, ascii_digit);
  d = then_chars(t, then_str(t, d, "."), 3, 4, ascii_digit);
  d = then_chars(t, then_str(t, d, "."), 3, 5, ascii_digit);
  return longest(join(e, d), i);
}

size_t full_url(const Text& t, size_t i) {  // https?://[^ \t\n\f\r"<>|(){}]+[^ \t\n\f\r"<>|.!?(){},-]
  size_t n = t.lit(i, "http");
  if (!n) return 0;
  if (t.lit(i + n, "s")) ++n;
  if (!t.lit(i + n, "://")) return 0;
  n += 3;
  auto body = [](char32_t c) { return c != kEnd && !in(c, U" \t\n\f\r\"<>|(){}"); };
  size_t r = 0;
  while (body(t.at(i + n + r))) ++r;
  for (size_t k = r; k >= 2; --k)
    if (!in(t.at(i + n + k - 1), U".!?,-")) return n + k;
  return 0;
}

// LIKELYURL: www.(seg.)+[a-zA-Z]{2,4} | (seg.)+(com|net|org|edu), then optionally /path. The second
// form's segments exclude ',' to '_' (0x2C-0x5F: digits, upper case and most ASCII punctuation) and '$'.
size_t likely_url(const Text& t, size_t i) {
  auto www_seg = [](char32_t c) { return c != kEnd && !in(c, U" \t\n\f\r\"<>|.!?(){},"); };
  auto seg = [](char32_t c) { return c != kEnd && !in(c, U" \t\n\f\r\"`'<>|.!?(){}$") && !(c >= 0x2C && c <= 0x5F); };
  auto segments = [&](const Ends& from, auto ok) {  // (ok+ \.)+
    Ends cur = from, all;
    for (;;) {
      cur = then_str(t, then_chars(t, cur, 1, SIZE_MAX, ok), ".");
      if (cur.empty()) break;
      all = join(all, cur);
    }
    return all;
  };
  Ends ends = then_chars(t, segments(then_str(t, {i}, "www."), www_seg), 2, 4, ascii_alpha);
  Ends dom = segments({i}, seg);
  for (const char* tld : {"com", "net", "org", "edu"}) ends = join(ends, then_str(t, dom, tld));
  Ends with_path;
  auto path_char = [](char32_t c) { return c != kEnd && !in(c, U" \t\n\f\r\"<>|()"); };
  for (size_t e : ends) {
    if (t.at(e) != '/') continue;
    size_t r = 0;
    while (path_char(t.at(e + 1 + r))) ++r;
    for (size_t k = r; k >= 2; --k)
      if (!in(t.at(e + k), U".!?(){},-")) {
        with_path.push_back(e + 1 + k);
        break;
      }
  }
  return longest(join(ends, with_path), i);
}

size_t email(const Text& t, size_t i) {
  auto local = [](char32_t c) { return c != kEnd && !in(c, U" \t\n\f\r\"<>|()\u00A0{}"); };
  auto dom = [&](char32_t c) { return local(c) && c != '.'; };
  size_t j = i;
  if (t.at(j) == '<') ++j;
  else if (size_t n = t.lit(j, "&lt;")) j += n;
  if (!ascii_alnum(t.at(j))) return 0;
  size_t r = 1;
  while (local(t.at(j + r))) ++r;
  size_t best = 0;
  for (size_t at = j + 1; at < j + r; ++at) {
    if (t.at(at) != '@') continue;
    size_t k = at + 1, end = 0;
    for (;;) {  // segments separated by single dots, the last one not followed by a dot
      size_t s = 0;
      while (dom(t.at(k + s))) ++s;
      if (!s) break;
      end = k + s;
      if (t.at(end) != '.') break;
      k = end + 1;
    }
    if (!end) continue;
    size_t total = end - i;
    if (t.at(end) == '>') total += 1;
    else if (size_t g = t.lit(end, "&gt;")) total += g;
    best = std::max(best, total);
  }
  return best;
}

size_t twitter(const Text& t, size_t i) {  // @[a-zA-Z_][a-zA-Z_0-9]* | #LETTER+
  if (t.at(i) == '@' && (ascii_alpha(t.at(i + 1)) || t.at(i + 1) == '_')) {
    size_t j = i + 2;
    while (ascii_alnum(t.at(j)) || t.at(j) == '_') ++j;
    return j - i;
  }
  if (t.at(i) == '#' && letter(t.at(i + 1))) {
    size_t j = i + 2;
    while (letter(t.at(j))) ++j;
    return j - i;
  }
  return 0;
}

size_t filename(const Text& t, size_t i) {  // segments . ext, then (SPACENL | [.?!,])
  auto alnum = [](char32_t c) { return letter(c) || digit(c); };
  size_t j = i;
  while (alnum(t.at(j))) ++j;
  if (j == i) return 0;
  size_t best = 0;
  while (t.at(j) == '.' && alnum(t.at(j + 1))) {
    size_t s = j + 1, e = s;
    while (alnum(t.at(e))) ++e;
    std::string ext;
    for (size_t k = s; k < e; ++k) ext += static_cast<char>(t.at(k) < 128 ? fold(t.at(k)) : '?');
    static const char* kExt[] = {"bat", "bmp", "c", "class", "cgi", "cpp", "dll", "doc", "docx", "exe", "gif",
                                 "gz", "h", "htm", "html", "jar", "java", "jpeg", "jpg", "mov", "mp3", "pdf",
                                 "php", "pl", "png", "ppt", "ps", "py", "sql", "tar", "txt", "wav", "x", "xml", "zip"};
    bool is_ext = std::any_of(std::begin(kExt), std::end(kExt), [&](const char* x) { return ext == x; });
    if (is_ext && (spacenl(t.at(e)) || in(t.at(e), U".?!,"))) best = e + 1 - i;
    j = e;
  }
  return best;
}

size_t smiley(const Text& t, size_t i) {  // [<>]?[:;=][\-o\*']?[()DPdpO\\{@|\[\]]
  size_t j = i;
  size_t best = 0;
  for (size_t a = 0; a <= (in(t.at(i), U"<>") ? 1u : 0u); ++a) {
    j = i + a;
    if (!in(t.at(j), U":;=")) continue;
    for (size_t b = 0; b <= (in(t.at(j + 1), U"-o*'") ? 1u : 0u); ++b)
      if (in(t.at(j + 1 + b), U"()DPdpO\\{@|[]")) best = std::max(best, a + b + 2);
  }
  return best;
}

size_t ldots(const Text& t, size_t i) {  // \.{3,5} | (\.[ \u00A0]){2,4}\. | [\u0085\u2026]
  if (t.at(i) == 0x85 || t.at(i) == 0x2026) return 1;
  size_t best = 0;
  size_t d = 0;
  while (d < 5 && t.at(i + d) == '.') ++d;
  if (d >= 3) best = d;
  size_t k = 0, j = i;
  while (k < 4 && t.at(j) == '.' && (t.at(j + 1) == ' ' || t.at(j + 1) == 0xA0)) j += 2, ++k;
  for (; k >= 2; --k) {
    if (t.at(i + 2 * k) == '.') {
      best = std::max(best, 2 * k + 1);
      break;
    }
  }
  return best;
}

size_t quotes(const Text& t, size_t i) {  // APOS | '' | [`‘’‚‛“”„‟‹›«»...]{1,2}
  static const char32_t kQ[] = U"`\u2018\u2019\u201A\u201B\u201C\u201D\u0091\u0092\u0093\u0094\u201E\u201F\u2039\u203A\u00AB\u00BB";
  size_t best = t.apos(i);
  if (t.at(i) == '\'' && t.at(i + 1) == '\'') best = std::max<size_t>(best, 2);
  if (in(t.at(i), kQ)) best = std::max<size_t>(best, in(t.at(i + 1), kQ) ? 2 : 1);
  return best;
}

bool misc_symbol(char32_t c) {
  static const char32_t kSet[] = U"+%&~^|\\\u00A6\u00A7\u00A8\u00A9\u00AC\u00AE\u00AF\u00D7\u00F7\u0387\u05BE\u05C0"
                                 U"\u05C3\u05C6\u05F3\u05F4\u060C\u0614\u061B\u061E\u066A\u066D\u07F6\u07F7\u07F8"
                                 U"\u0964\u0965\u0E4F\u1FBD\u2016\u2017\u203B\u2044\u3012\u30FB";
  if (in(c, kSet)) return true;
  auto r = [&](char32_t a, char32_t b) { return c >= a && c <= b; };
  return r(0xB0, 0xBA) || r(0x600, 0x603) || r(0x606, 0x60A) || r(0x703, 0x70D) || r(0x2020, 0x2023) ||
         r(0x2030, 0x2038) || r(0x203E, 0x2042) || r(0x207A, 0x207F) || r(0x208A, 0x208E) || r(0x2100, 0x214F) ||
         r(0x2190, 0x21FF) || r(0x2200, 0x2BFF) || r(0xFF01, 0xFF0F) || r(0xFF1A, 0xFF20) || r(0xFF3B, 0xFF40) ||
         r(0xFF5B, 0xFF65);
}

}  // namespace prospect::eval::ptb
