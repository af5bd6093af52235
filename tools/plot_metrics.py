#!/usr/bin/python3
"""Plots of a run and of an evaluation.

  tools/plot_metrics.py curves RUN_DIR/metrics.jsonl --out curves.png
      training curves: the loss and its four components, lr, grad norm, tokens/s per step, and the
      validation numbers (lines with "split": "val") against the step.
  tools/plot_metrics.py timeline EVAL_DIR/predictions.jsonl --out DIR [--clip ID ...] [--max-clips N]
      one PNG per clip: reference and predicted assistant and DST events along the frames, and the
      state of every step (reference vs predicted) frame by frame.

Needs matplotlib (/usr/bin/python3 on Debian has it). Reads the files as SPEC §6 and §8 define them.
"""
import argparse
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STATES = ["not_started", "in_progress", "completed"]


def read_jsonl(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: not JSON: {e}")
    return rows


def finite(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def series(rows, key):
    xs, ys = [], []
    for r in rows:
        if finite(r.get(key)) and finite(r.get("step")):
            xs.append(r["step"])
            ys.append(r[key])
    return xs, ys


def plot_curves(path, out):
    rows = read_jsonl(path)
    train = [r for r in rows if r.get("split", "train") == "train"]
    val = [r for r in rows if r.get("split") == "val"]
    if not train and not val:
        sys.exit(f"{path}: no lines with a step")
    panels = [
        ("loss", ["loss", "loss_speaking_gen", "loss_speaking", "loss_dst_gen", "loss_dst_update"], train, True),
        ("learning rate", ["lr"], train, False),
        ("gradient norm", ["grad_norm"], train, True),
        ("tokens / s", ["tokens_per_s"], train, False),
        ("validation F1", ["speaking_f1", "dst_update_f1"], val, False),
        ("validation perplexity", ["ppl_assistant", "ppl_dst"], val, True),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for ax, (title, keys, src, logy) in zip(axes.flat, panels):
        drawn = False
        for k in keys:
            xs, ys = series(src, k)
            if xs:
                ax.plot(xs, ys, label=k, marker="o" if src is val else None, markersize=3)
                drawn = True
        ax.set_title(title)
        ax.set_xlabel("step")
        if drawn:
            if logy and all(y > 0 for k in keys for y in series(src, k)[1]):
                ax.set_yscale("log")
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(os.path.abspath(path))
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"wrote {out}")


def apply(state, ev):
    """Legal transitions only (SPEC §2.1): not_started -> in_progress -> completed; complete may skip start."""
    sid, tr = ev.get("id"), ev.get("transition")
    if sid is None or sid not in state:
        return
    cur = STATES.index(state[sid])
    to = 1 if tr == "start" else 2 if tr == "complete" else None
    if to is not None and to > cur:
        state[sid] = STATES[to]


def states_by_frame(rec, events):
    """{step: [state index per frame]} from the initial state with the DST events at frames <= f applied."""
    state = dict(rec["initial_state"])
    for e in events:
        if e.get("role") == "DST_UPDATE" and e.get("id") is not None and e["id"] not in state:
            state[e["id"]] = "not_started"
    upd = sorted((e for e in events if e.get("role") == "DST_UPDATE"), key=lambda e: e["frame"])
    out = {s: [] for s in state}
    i = 0
    for f in range(rec["first_frame"], rec["last_frame"] + 1):
        while i < len(upd) and upd[i]["frame"] <= f:
            apply(state, upd[i])
            i += 1
        for s in out:
            out[s].append(STATES.index(state.get(s, "not_started")))
    return out


def plot_clip(rec, out):
    first, last = rec["first_frame"], rec["last_frame"]
    frames = list(range(first, last + 1))
    ref_states = states_by_frame(rec, rec["reference"])
    pred_states = states_by_frame(rec, rec["predicted"])
    steps = sorted(set(ref_states) | set(pred_states))
    fig, (ax_ev, ax_st) = plt.subplots(2, 1, figsize=(14, 3 + 0.45 * max(len(steps), 1)), sharex=True,
                                       gridspec_kw={"height_ratios": [1, max(len(steps), 1) * 0.4 + 0.6]})
    lanes = [("reference", "assistant", rec["reference"]), ("predicted", "assistant", rec["predicted"]),
             ("reference", "DST_UPDATE", rec["reference"]), ("predicted", "DST_UPDATE", rec["predicted"])]
    for y, (who, role, evs) in enumerate(lanes):
        xs = [e["frame"] for e in evs if e.get("role") == role]
        bad = [e["frame"] for e in evs if e.get("role") == role and role == "DST_UPDATE" and e.get("id") is None]
        ax_ev.scatter(xs, [y] * len(xs), marker="|" if who == "reference" else "v", s=120,
                      color="tab:blue" if role == "assistant" else "tab:green")
        if bad:
            ax_ev.scatter(bad, [y] * len(bad), marker="x", s=60, color="tab:red", label="malformed")
    ax_ev.set_yticks(range(len(lanes)))
    ax_ev.set_yticklabels([f"{w} {r}" for w, r, _ in lanes], fontsize=8)
    ax_ev.set_ylim(-0.7, len(lanes) - 0.3)
    ax_ev.set_title(f"{rec['clip_id']}  (fps {rec['fps']}, frames {first}..{last})")
    colors = ["#dddddd", "#f4b942", "#4caf50"]
    for k, s in enumerate(steps):
        for row, (src, dy) in enumerate(((ref_states, 0.2), (pred_states, -0.2))):
            vals = src.get(s, [0] * len(frames))
            # one bar per run of equal states
            start = 0
            for i in range(1, len(vals) + 1):
                if i == len(vals) or vals[i] != vals[start]:
                    ax_st.barh(k + dy, i - start, left=frames[start] - 0.5, height=0.35, color=colors[vals[start]],
                               edgecolor="none")
                    start = i
    ax_st.set_yticks(range(len(steps)))
    ax_st.set_yticklabels([f"{s} (ref above, pred below)" for s in steps], fontsize=7)
    ax_st.set_xlabel("frame")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors]
    ax_st.legend(handles, STATES, fontsize=7, loc="upper left", ncol=3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_timelines(path, out_dir, clips, max_clips):
    recs = read_jsonl(path)
    for n, r in enumerate(recs, 1):
        for k in ("clip_id", "fps", "first_frame", "last_frame", "initial_state", "reference", "predicted"):
            if k not in r:
                sys.exit(f"{path}:{n}: field '{k}' missing")
    if clips:
        missing = set(clips) - {r["clip_id"] for r in recs}
        if missing:
            sys.exit(f"{path}: no clip {sorted(missing)}")
        recs = [r for r in recs if r["clip_id"] in clips]
    recs = recs[:max_clips] if max_clips > 0 else recs
    os.makedirs(out_dir, exist_ok=True)
    for r in recs:
        out = os.path.join(out_dir, r["clip_id"].replace(":", "_").replace("/", "_") + ".png")
        plot_clip(r, out)
        print(f"wrote {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("curves", help="training curves from metrics.jsonl")
    c.add_argument("metrics")
    c.add_argument("--out", default="curves.png")
    t = sub.add_parser("timeline", help="per-clip timelines from predictions.jsonl")
    t.add_argument("predictions")
    t.add_argument("--out", default="timelines")
    t.add_argument("--clip", action="append", default=[], help="clip id (repeatable); default: every clip")
    t.add_argument("--max-clips", type=int, default=20, help="at most this many clips (0: all)")
    a = ap.parse_args()
    for p in [getattr(a, "metrics", None), getattr(a, "predictions", None)]:
        if p and not os.path.exists(p):
            sys.exit(f"file not found: {p}")
    if a.cmd == "curves":
        plot_curves(a.metrics, a.out)
    else:
        plot_timelines(a.predictions, a.out, a.clip, a.max_clips)


if __name__ == "__main__":
    main()
