"""Oracle: ProAssist's text scores of matched pairs (proassist_text_tool) against a transcription of
ProAssist's NLGEval on pycocoevalcap: PTBTokenizer on the references and on the hypotheses, pairs
with an empty tokenised reference left out, Bleu(4) with option "closest", Cider, Meteor (the jar).
Scores equal to 1e-12 (METEOR: equal).
Usage: oracle_proassist_text.py --tool T
"""
import argparse
import json
import os
import random
import subprocess
import sys

import pycocoevalcap.meteor.meteor as coco_meteor
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

JAR = os.path.join(os.path.dirname(coco_meteor.__file__), "meteor-1.5.jar")
WORDS = ("Open the lid now. Unscrew the four screws on the back! Attach the wheel to the chassis; take the blue "
         "cable (the long one) and plug it into port 3. Great job, you're almost done... Don't over-tighten it? "
         "Check the pressure: 32 psi, e.g. before riding.").split()


def nlgeval(refs, hyps, meteor):
    tok = PTBTokenizer()
    r = tok.tokenize({i: [{"caption": x}] for i, x in enumerate(refs)})
    h = tok.tokenize({i: [{"caption": x}] for i, x in enumerate(hyps)})
    keep = [i for i in range(len(refs)) if len(r[i][0]) > 0]
    if not keep:
        return None
    gts = {i: r[i] for i in keep}
    res = {i: h[i] for i in keep}
    b, _ = Bleu(4).compute_score(gts, res, verbose=0)
    c, _ = Cider().compute_score(gts, res)
    m, _ = meteor.compute_score(gts, res)
    return {"Bleu_1": b[0], "Bleu_2": b[1], "Bleu_3": b[2], "Bleu_4": b[3], "CIDEr": c, "METEOR": m}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    a = ap.parse_args()
    rng = random.Random(18)
    corpora = []
    for size in (300, 40, 2):
        refs, hyps = [], []
        for _ in range(size):
            ref = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 14)))
            hyp = ref if rng.random() < 0.3 else " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 14)))
            if rng.random() < 0.05:
                ref = rng.choice(["...", "(!)", "-- ;"])  # nothing left after the punctuation removal
            refs.append(ref)
            hyps.append(hyp)
        corpora.append((refs, hyps))
    meteor = Meteor()
    failures = 0
    data = [{"refs": refs, "hyps": hyps} for refs, hyps in corpora]
    r = subprocess.run([a.tool, JAR], input=json.dumps(data).encode(), capture_output=True)
    if r.returncode != 0:
        sys.exit(f"proassist_text_tool: exit {r.returncode}: {r.stderr.decode()[-2000:]}")
    got_all = json.loads(r.stdout)
    for k, (refs, hyps) in enumerate(corpora):
        want = nlgeval(refs, hyps, meteor)
        got = got_all[k]
        for key, v in want.items():
            ok = got[key] == v if key == "METEOR" else abs(got[key] - v) <= 1e-12 * max(1.0, abs(v))
            print(f"corpus {k} ({len(refs)} pairs) {key}: NLGEval {v!r}, ours {got[key]!r}{'' if ok else '  DIFFERENT'}")
            failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
