"""Oracle: ProAssist's matching and metrics in C++ (proassist_match_tool) against a Python
transcription of the rules (docs/evaluation.md, include/prospect/eval/proassist_match.h) on scipy's
min_weight_full_bipartite_matching, with the zero-cost fix (one constant added to every finite entry,
so no edge is dropped).

1. >= 200 random clips: the optimal total cost is equal (1e-9) on every clip; on every clip whose
   optimum is unique (each matched edge, removed, makes the optimum worse), the matching, the per-clip
   counts and scores are equal, and so are the summed numbers over those clips.
2. The tie rule: small clips full of ties, the C++ matching equal to a brute-force search for the
   lexicographic optimum (cost in units of 2^-40, then the largest sum of rank * slot index).
"""
import argparse
import itertools
import json
import math
import random
import subprocess
import sys

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

FACTOR, POWER, THRESHOLD = 0.3, 1.5, 0.5


def pair_cost(text_cost, offset, left, right):
    reach = max(-left, right)
    dist = 0.0 if reach == 0 else FACTOR * (abs(offset) / reach) ** POWER
    return text_cost + dist


def edges_of(clip):
    """Every pair inside the window: (gen index, slot frame, ref index or -1, text cost, cost)."""
    ref_at = {f: j for j, (f, _) in enumerate(clip["ref"])}
    m = len(clip["ref"])
    out = []
    for i, (g, _) in enumerate(clip["gen"]):
        for s in range(max(clip["first"], g + clip["left"]), min(clip["last"], g + clip["right"]) + 1):
            j = ref_at.get(s, -1)
            text_cost = 1.0 if j < 0 else 1.0 - abs(clip["cos"][i * m + j])
            out.append((i, s, j, text_cost, pair_cost(text_cost, s - g, clip["left"], clip["right"])))
    return out


def solve(clip, edges, skip=None):
    """scipy's full matching; every finite entry an edge (+1 so that no entry is 0). None: infeasible."""
    n, cols = len(clip["gen"]), clip["last"] - clip["first"] + 1
    kept = [e for e in edges if (e[0], e[1]) != skip]
    if n == 0:
        return 0.0, {}
    rows = [e[0] for e in kept]
    colx = [e[1] - clip["first"] for e in kept]
    data = [e[4] + 1.0 for e in kept]
    mat = csr_matrix((data, (rows, colx)), shape=(n, cols))
    try:
        r, c = min_weight_full_bipartite_matching(mat)
    except ValueError:
        return None, None
    by = {(e[0], e[1]): e for e in kept}
    chosen = {int(i): by[(int(i), int(j) + clip["first"])] for i, j in zip(r, c)}
    return sum(e[4] for e in chosen.values()), chosen


def literal_matched(clip, edges):
    """ProAssist's code as written: the sparse matrix from the dense one (exact zeros dropped, inf
    entries no edge). The number of matched turns, or None when scipy finds no full matching. For the
    printed comparison only: the defect that the fix removes."""
    n, cols = len(clip["gen"]), clip["last"] - clip["first"] + 1
    if n == 0:
        return 0
    dense = np.full((n, cols), np.inf)
    for e in edges:
        dense[e[0], e[1] - clip["first"]] = e[4]
    try:
        r, c = min_weight_full_bipartite_matching(csr_matrix(dense))
    except ValueError:
        return None
    by = {(e[0], e[1]): e for e in edges}
    return sum(1 for i, j in zip(r, c) if by[(int(i), int(j) + clip["first"])][2] >= 0
               and 1.0 - by[(int(i), int(j) + clip["first"])][3] > THRESHOLD)


def clip_numbers(clip, chosen):
    matched = mismatched = redundant = 0
    scores, diffs, pairs = [], [], []
    taken = set()
    for i in range(len(clip["gen"])):
        _, s, j, text_cost, _ = chosen[i]
        if j < 0:
            redundant += 1
            continue
        taken.add(j)
        score = 1.0 - text_cost
        scores.append(score)
        if score > THRESHOLD:
            matched += 1
            diffs.append(abs(s - clip["gen"][i][0]) / clip["fps"])
            pairs.append([clip["ref"][j][1], clip["gen"][i][1]])
        else:
            mismatched += 1
    missed = len(clip["ref"]) - len(taken)
    return dict(matched=matched, mismatched=mismatched, missed=missed, redundant=redundant,
                scores=scores, time_diffs=diffs, text_pairs=pairs)


def totals(results):
    m = sum(r["matched"] for r in results)
    mm = sum(r["mismatched"] for r in results)
    mi = sum(r["missed"] for r in results)
    rd = sum(r["redundant"] for r in results)
    div = lambda a, b: None if b == 0 else a / b
    p, r = div(m, m + mm + rd), div(m, m + mm + mi)
    f1 = None if p is None or r is None else (2 * p * r / (p + r) if p + r > 0 else 0.0)
    sc = [s for x in results for s in x["scores"] if s >= THRESHOLD]
    td = [d for x in results for d in x["time_diffs"]]
    return {"jaccard_index": div(m, m + mm + mi + rd), "missing_rate": div(mi, m + mm + mi),
            "redundant_rate": div(rd, m + mm + rd), "semantic_score": div(sum(sc), len(sc)),
            "time_diff": div(sum(td), len(td)), "precision": p, "recall": r, "F1": f1,
            "num_matched": m, "num_mismatched": mm, "num_missed": mi, "num_redundant": rd}


def random_clip(rng, small=False):
    frames = rng.randint(1, 12) if small else rng.randint(1, 70)
    first = rng.randint(0, 500)
    left, right = (-rng.randint(0, 3), rng.randint(0, 3)) if small else (-rng.randint(0, 6), rng.randint(0, 10))
    dens_g, dens_r = rng.uniform(0.05, 0.6), rng.uniform(0.05, 0.6)
    gen = [f for f in range(first, first + frames) if rng.random() < dens_g]
    if small:
        gen = gen[:5]
    ref = [f for f in range(first, first + frames) if rng.random() < dens_r]
    levels = [1.0, -1.0, 0.8, 0.5, 0.25, 0.0, 0.6]
    cos = []
    for _ in range(len(gen) * len(ref)):
        u = rng.random()
        cos.append(rng.choice(levels) if (small or u < 0.35) else rng.uniform(-1, 1))
    return {"first": first, "last": first + frames - 1, "fps": rng.choice([1.0, 2.0, 5.0, 29.97]),
            "left": left, "right": right, "gen": [[f, f"gen {f}"] for f in gen],
            "ref": [[f, f"ref {f}"] for f in ref], "cos": cos}


def run_tool(tool, clips):
    out = subprocess.run([tool], input=json.dumps({"clips": clips}).encode(), capture_output=True, check=False)
    if out.returncode != 0:
        sys.exit(f"tool failed ({out.returncode}): {out.stderr.decode()[-2000:]}")
    return json.loads(out.stdout)


def close(a, b, tol=1e-12):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def brute_force(clip, edges):
    """Lexicographic optimum: (sum of costs in 2^-40 units, -sum(rank * slot index)); exact ints."""
    unit = 2.0 ** 40
    by_row = {}
    for e in edges:
        by_row.setdefault(e[0], []).append(e)
    rows = range(len(clip["gen"]))
    best = None
    for choice in itertools.product(*[by_row[i] for i in rows]):
        slots = [e[1] for e in choice]
        if len(set(slots)) != len(slots):
            continue
        q = sum(int(math.floor(e[4] * unit + 0.5)) for e in choice)
        sec = -sum((e[0] + 1) * (e[1] - clip["first"] + 1) for e in choice)
        key = (q, sec)
        if best is None or key < best[0]:
            best = (key, slots)
    return best[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--clips", type=int, default=300)
    ap.add_argument("--seed", type=int, default=18)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    failures = []

    # 1. random clips
    clips = [random_clip(rng) for _ in range(a.clips)]
    got = run_tool(a.tool, clips)["clips"]
    unique = []
    literal_differs = 0
    for k, (clip, g) in enumerate(zip(clips, got)):
        edges = edges_of(clip)
        cost, chosen = solve(clip, edges)
        if cost is not None and literal_matched(clip, edges) != clip_numbers(clip, chosen)["matched"]:
            literal_differs += 1
        if cost is None:
            failures.append(f"clip {k}: scipy finds no full matching")
            continue
        if abs(cost - g["total_cost"]) > 1e-9:
            failures.append(f"clip {k}: optimal cost {cost!r} (scipy) != {g['total_cost']!r} (C++)")
            continue
        is_unique = True
        for i, e in chosen.items():
            c2, _ = solve(clip, edges, skip=(i, e[1]))
            if c2 is not None and c2 - cost <= 1e-9:
                is_unique = False
                break
        if not is_unique:
            continue
        unique.append(k)
        want = clip_numbers(clip, chosen)
        slots = [chosen[i][1] for i in range(len(clip["gen"]))]
        if slots != g["slots"]:
            failures.append(f"clip {k}: slots {slots} (scipy) != {g['slots']} (C++)")
        r = g["result"]
        for key in ("matched", "mismatched", "missed", "redundant"):
            if want[key] != r[key]:
                failures.append(f"clip {k}: {key} {want[key]} != {r[key]}")
        for key in ("scores", "time_diffs"):
            if len(want[key]) != len(r[key]) or any(not close(x, y) for x, y in zip(want[key], r[key])):
                failures.append(f"clip {k}: {key} {want[key]} != {r[key]}")
        if want["text_pairs"] != r["text_pairs"]:
            failures.append(f"clip {k}: text pairs differ")
    if len(unique) < 200:
        failures.append(f"only {len(unique)} of {len(clips)} clips have a unique optimum (need >= 200)")
    sub = [clips[k] for k in unique]
    got_tot = run_tool(a.tool, sub)["totals"]
    want_tot = totals([clip_numbers(c, solve(c, edges_of(c))[1]) for c in sub])
    for key, v in want_tot.items():
        if not close(v, got_tot[key]):
            failures.append(f"totals over unique clips: {key} {v} (Python) != {got_tot[key]} (C++)")

    # 2. the tie rule on small clips full of ties
    ties = [random_clip(rng, small=True) for _ in range(300)]
    got_t = run_tool(a.tool, ties)["clips"]
    for k, (clip, g) in enumerate(zip(ties, got_t)):
        edges = edges_of(clip)
        want = brute_force(clip, edges)
        if want != g["slots"]:
            failures.append(f"tie clip {k}: slots {want} (brute force) != {g['slots']} (C++): {json.dumps(clip)}")
        cost, _ = solve(clip, edges)
        if abs(cost - g["total_cost"]) > 1e-9:
            failures.append(f"tie clip {k}: optimal cost {cost} (scipy) != {g['total_cost']} (C++)")

    print(f"{len(clips)} random clips ({len(unique)} with a unique optimum), {len(ties)} tie clips")
    print(f"ProAssist's code as written (zero-cost entries dropped) matches a different number of turns, "
          f"or finds no full matching, on {literal_differs} of the {len(clips)} random clips")
    for f in failures[:30]:
        print("FAIL", f)
    print("ok" if not failures else f"{len(failures)} differences")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
