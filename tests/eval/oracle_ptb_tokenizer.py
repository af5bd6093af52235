"""Oracle: our coco-caption tokenisation (ptb_tool) against pycocoevalcap's PTBTokenizer (the
Stanford CoreNLP 3.4.1 jar it ships, run through Java) on 4000 generated sentences with clitics,
numbers, money, dates, quotes of every kind, brackets, dashes, ellipses, abbreviations and acronyms
(also at the end of a caption, where the next caption decides), e-mails and URLs. Every caption equal.
Usage: oracle_ptb_tokenizer.py --tool T
"""
import argparse
import json
import random
import subprocess
import sys

from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

WORDS = ("open the lid now unscrew four screws on back attach wheel to chassis take blue cable plug it into port "
         "great job you almost done place small spacer left check pressure before riding well first then next "
         "carefully gently remove cover screwdriver bolt nut washer bracket panel switch light red green box").split()
CLITICS = ["it's", "don't", "can't", "won't", "I'm", "you're", "we've", "they'll", "she'd", "let's", "John's",
           "o'clock", "y'all", "ma'am", "'em", "rock 'n' roll", "cannot", "gonna", "wanna", "gotta", "isn't",
           "shouldn't", "couldn't", "it’s", "don’t", "we’re", "IT'S", "DON'T", "Let's", "'tis", "'twas", "who'd",
           "O'Brien", "D'Angelo", "rock'n'roll", "'90s", "the 90's", "students'", "James'", "ain't", "y'know"]
NUMBERS = ["3", "3.5", "1,000", "-2", "+5", "3:00", "10%", "$5", "$5.50", "1/2", "2-3", "12/25/2020", "3rd", "2nd",
           "555-1234", "(555) 123-4567", "1.5cm", "10x", "2.5-inch", "24/7", "US$10", "#3", "0.25", "100", "7",
           "3 1/2", "1999", "5-10", "20 100 300", "4.5/5", "½", "€20", "£5", "¢50", "x²", "3-4-5", "v2.0"]
QUOTES = ['"quoted"', "'single'", "“curly”", "‘curly’", "``latex''", "`back`", '" spaced "', "'s", "''", "'",
          '"', "“", "”", "‘", "’", "«guillemets»", "„low“", "‹one›"]
PUNCT = [".", ",", ";", ":", "!", "?", "?!", "!!", "...", "....", "--", "-", "—", "–", "(", ")", "[", "]", "{",
         "}", "/", "&", "*", "#", "@", "%", "…", ". . .", "---", "=", "+", "<", ">", "~", "^", "|", "\\", "_", "**"]
ABBREV = ["e.g.", "i.e.", "etc.", "Mr.", "Dr.", "U.S.", "a.m.", "p.m.", "Inc.", "vs.", "approx.", "Jan.", "No.",
          "fig.", "St.", "Corp.", "A.", "I.", "Prof.", "Jr.", "U.K.", "N.Y.", "Co.", "Ltd.", "Mass.", "Calif.",
          "ca.", "Ph.D.", "a.k.a.", "cf.", "Fig. 3", "No. 5", "pp. 12", "Pty. Ltd.", "etc", "Mr", "Sept.", "Mon."]
OTHER = ["AT&T", "S&P-500", "and/or", "x*y", "a@b.com", "john.doe@example.org", "@home", "#tag",
         "http://example.com/a?b=1", "https://x.org.", "file.txt", "setup.exe,", "C++", "F#", "well-known",
         "co-op", "e-mail", "T-shirt", "3D", "MP3", "x-ray", "pro- and anti-", ":)", ";-)", ":D", "<b>", "</i>",
         "&amp;", "&lt;", "Café", "naïve", "résumé", "über", "東京", "ΣΟΦΙΑ", "İstanbul", "a\u00a0b", "tab\there",
         "-LRB-", "C.D.s", "U.S.-made", "non-U.S.", "Cap'n", "l'eau", "d'être", "hello.World", "end.Next",
         "what?Yes", "A.B.C", "x.y.z.", "...and", "--and--", "(sic)", "[1]", "{x}", "<<", ">>", "2 + 2 = 4"]
STARTERS = ["The", "It", "You", "We", "This", "A", "An", "In", "At", "But", "However", "Then", "So", "Mr.",
            "Ms.", "Some", "Such", "Here", "There", "When", "While", "What", "Yet", "Now", "Once", "One", "Our",
            "open", "Open", "OPEN", "If", "Many", "More", "Since", "She", "He", "They", "These", "That", "Last"]


def sentence(rng):
    parts = []
    if rng.random() < 0.5:
        parts.append(rng.choice(STARTERS))
    for _ in range(rng.randint(1, 12)):
        r = rng.random()
        pool = (WORDS if r < 0.45 else CLITICS if r < 0.58 else NUMBERS if r < 0.68 else QUOTES if r < 0.76
                else PUNCT if r < 0.86 else ABBREV if r < 0.94 else OTHER)
        tok = rng.choice(pool)
        if r < 0.45 and rng.random() < 0.15:
            tok = tok.capitalize() if rng.random() < 0.7 else tok.upper()
        glue = "" if (parts and rng.random() < 0.25) else " "
        parts.append(glue + tok)
    s = "".join(parts).strip()
    if rng.random() < 0.7:
        s += rng.choice([".", "!", "?", "...", "", " .", "!!", "?!", ".)", ".\"", ". ", "  "])
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--sentences", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=18)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    captions = [sentence(rng) for _ in range(a.sentences)]
    want_d = PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in enumerate(captions)})
    want = [want_d[i][0] for i in range(len(captions))]
    r = subprocess.run([a.tool], input=json.dumps(captions).encode(), capture_output=True)
    if r.returncode != 0:
        sys.exit(f"ptb_tool: exit {r.returncode}: {r.stderr.decode()[-2000:]}")
    got = json.loads(r.stdout)
    bad = [k for k in range(len(captions)) if want[k] != got[k]]
    print(f"{len(captions) - len(bad)}/{len(captions)} captions tokenised as pycocoevalcap does")
    for k in bad[:25]:
        nxt = captions[k + 1] if k + 1 < len(captions) else None
        print(f"  caption {captions[k]!r} (next {nxt!r})\n    coco {want[k]!r}\n    ours {got[k]!r}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
