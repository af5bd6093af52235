"""The Hugging Face side of bench/tokenizer.cpp: encodes the same chunks with the Rust `tokenizers`
library (PyPI, the project's virtual environment) from the same tokenizer.json, one chunk at a time on
one thread (as the C++ side), and checks that every id equals the C++ side's.

  bench_tokenizer_hf.py CHUNKS.jsonl TOKENIZER_DIR CPP_IDS.bin
CHUNKS.jsonl: one JSON string per line; CPP_IDS.bin: per chunk, its id count then its ids (int32 LE).
Prints {"seconds", "cpu_seconds", "tokens", "same_ids", "first_difference", "tokenizers"} as JSON on stdout.
"""
import json
import os
import struct
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import tokenizers  # noqa: E402


def main():
    chunks_path, tok_dir, ids_path = sys.argv[1:4]
    chunks = [json.loads(line) for line in open(chunks_path, encoding="utf-8") if line.strip()]
    tok = tokenizers.Tokenizer.from_file(os.path.join(tok_dir, "tokenizer.json"))
    t0, c0 = time.perf_counter(), time.process_time()
    all_ids = [tok.encode(c, add_special_tokens=False).ids for c in chunks]
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    data = open(ids_path, "rb").read()
    pos, diff = 0, None
    for i, ids in enumerate(all_ids):
        (n,) = struct.unpack_from("<i", data, pos)
        pos += 4
        cpp = list(struct.unpack_from(f"<{n}i", data, pos))
        pos += 4 * n
        if cpp != ids and diff is None:
            k = next((j for j in range(min(len(cpp), len(ids))) if cpp[j] != ids[j]), min(len(cpp), len(ids)))
            diff = {"chunk": i, "position": k, "cpp": cpp[k:k + 5], "hf": ids[k:k + 5]}
    same = diff is None and pos == len(data)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "tokens": sum(len(x) for x in all_ids), "same_ids": same,
                      "first_difference": diff, "tokenizers": tokenizers.__version__}))


if __name__ == "__main__":
    main()
