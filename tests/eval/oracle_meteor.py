"""Oracle: METEOR through our MeteorScorer (meteor_tool) against pycocoevalcap's Meteor on the same
jar (pycocoevalcap ships meteor-1.5.jar): equal corpus scores on 300 generated pairs and on small
corpora; a file that is not the jar is exit 2.
Usage: oracle_meteor.py --tool T --work DIR
"""
import argparse
import json
import os
import random
import subprocess
import sys

import pycocoevalcap.meteor.meteor as coco_meteor
from pycocoevalcap.meteor.meteor import Meteor

JAR = os.path.join(os.path.dirname(coco_meteor.__file__), "meteor-1.5.jar")
WORDS = ("open the lid now unscrew four screws on back attach wheel to chassis take blue cable plug it into "
         "port great job you 're almost done do n't over tighten place small spacer left check pressure "
         "before riding well a an it 's 3.5 cm 1,000 running runs ran fast faster").split()


def sentence(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 16)))


def ours(tool, corpora):
    data = [{"refs": [r for r, _ in c], "hyps": [h for _, h in c]} for c in corpora]
    r = subprocess.run([tool, JAR], input=json.dumps(data).encode(), capture_output=True)
    if r.returncode != 0:
        sys.exit(f"meteor_tool: exit {r.returncode}: {r.stderr.decode()[-2000:]}")
    return [float(x) for x in r.stdout.split()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    rng = random.Random(18)
    corpora = []
    pairs = []
    for _ in range(300):
        ref = sentence(rng)
        hyp = ref if rng.random() < 0.2 else sentence(rng)
        if rng.random() < 0.1:
            hyp = hyp.replace(" ", "  ", 1) + " ||| x"  # what coco-caption cleans from hypotheses
        pairs.append((ref, hyp))
    corpora.append(pairs)
    corpora.append([("open the lid", "open the lid")])
    corpora.append([("a man is riding a horse", "a man rides a horse"), ("the cat", "a dog")])
    meteor = Meteor()
    failures = 0
    got_all = ours(a.tool, corpora)
    for k, c in enumerate(corpora):
        gts = {i: [r] for i, (r, _) in enumerate(c)}
        res = {i: [h] for i, (_, h) in enumerate(c)}
        want, _ = meteor.compute_score(gts, res)
        got = got_all[k]
        print(f"corpus {k} ({len(c)} pairs): pycocoevalcap {want!r}, ours {got!r}")
        failures += want != got
    os.makedirs(a.work, exist_ok=True)
    fake = os.path.join(a.work, "not_a_jar.jar")
    with open(fake, "w") as f:
        f.write("not a jar\n")
    for bad in (fake, os.path.join(a.work, "missing.jar")):
        r = subprocess.run([a.tool, bad], input=b'[{"refs": ["a"], "hyps": ["a"]}]', capture_output=True)
        print(f"{os.path.basename(bad)}: exit {r.returncode}: {r.stderr.decode().strip()[:200]}")
        failures += r.returncode != 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
