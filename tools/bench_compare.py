#!/usr/bin/python3
"""Runs the C++ training step (the default LibTorch 1.13 build and build-torch2) and the Hugging Face
reference (tools/reference/hf_step.py, eager and torch.compile) alternately, round by round, each side in
its own process, and writes bench/results/compare.json for tools/render_performance.py.

Questions (each a row of the ratio tables):
  decoder_demo, decoder_1b  the decoder step of bench_train_step (random ids, LM head on every position)
                            at the demo shape and the Llama-3.2-1B-shaped layers
  dst_demo, dst_1b          the whole DST step of bench_dst_step on the trainer's collated demo batches
                            (written once by the first C++ run, read by the reference)
  dst_demo_packed           the same step as train.pack = true plans it (C++ only: the reference reads
                            unpacked batches), for the padding share and tokens/s after packing
Each round runs every side once, in an order rotated from round to round, so that every side meets the
machine's other load alike; a side's figure in a round is its best timed step, and the ratios are taken
within a round. The load average is recorded before every run.

  bench_compare.py [--rounds 2] [--rounds-1b 1] [--steps 1] [--threads 2] [--only decoder_demo,dst_demo,...]
                   [--sides cpp_1.13,cpp_2.x,hf_eager,hf_compiled] [--profile decoder_demo,...]
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PY = os.path.expanduser("~/.cache/prospect-dst/venv-torch-2.12.1-cu130/bin/python")
SHAPES = {
    "demo": dict(hidden=256, inter=768, layers=4, heads=4, kv=2, vocab=2048, tied=1, batch=1, seq=1024,
                 rope_theta=10000.0),
    "llama1b_layers": dict(hidden=2048, inter=8192, layers=2, heads=32, kv=8, vocab=32000, tied=0, batch=1, seq=512,
                           rope_theta=500000.0),
}
QUESTIONS = {"decoder_demo": ("decoder", "demo"), "decoder_1b": ("decoder", "llama1b_layers"),
             "dst_demo": ("dst", "demo"), "dst_1b": ("dst", "llama1b_layers"),
             "dst_demo_packed": ("dst", "demo")}
PACKED = {"dst_demo_packed"}  # questions timed with train.pack = true, on the C++ sides only


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def run(cmd, out_file=None, timeout=480):
    """Runs one side; its JSON (from out_file, or stdout) or {"error": ...}."""
    t0 = time.time()
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s: {' '.join(cmd)}"}
    if p.returncode != 0:
        return {"error": f"exit status {p.returncode}: {' '.join(cmd)}: {p.stderr[-600:]}"}
    try:
        r = json.load(open(out_file)) if out_file else json.loads(p.stdout.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError) as e:
        return {"error": f"no JSON from {' '.join(cmd)}: {e}"}
    r["process_s"] = time.time() - t0
    return r


def hf_args(shape, steps, threads):
    s = SHAPES[shape]
    args = []
    for k in ("hidden", "inter", "layers", "heads", "kv", "vocab", "tied", "batch", "seq"):
        args += [f"--{k}", str(s[k])]
    return args + ["--rope-theta", str(s["rope_theta"]), "--steps", str(steps), "--warmup", "1",
                   "--threads", str(threads)]


def side_cmd(side, kind, shape, a, batches, tmp, packed=False):
    build = {"cpp_1.13": "build", "cpp_2.x": "build-torch2"}.get(side)
    if build:
        if kind == "decoder":
            return [f"{build}/bench/bench_train_step", "--no-python", "--only", shape, "--rounds", "1", "--steps",
                    str(a.steps), "--threads", str(a.threads), "--out", tmp] + (["--profile"] if a.profile else []), tmp
        cmd = [f"{build}/bench/bench_dst_step", "--shape", shape, "--steps", str(a.steps), "--threads",
               str(a.threads), "--out", tmp] + (["--profile"] if a.profile else [])
        if shape == "llama1b_layers":
            cmd += ["--max-micro-batches", "1"]
        if packed:
            return cmd + ["--pack"], tmp
        if not os.path.exists(batches):
            cmd += ["--write-batches", batches]
        return cmd, tmp
    cmd = [a.python, "tools/reference/hf_step.py", "--mode", kind] + hf_args(shape, a.steps, a.threads)
    if kind == "dst":
        cmd += ["--batches", batches]
    if side == "hf_compiled":
        cmd.append("--compile")
    if a.profile:
        cmd.append("--profile")
    return cmd, None


def summary(kind, r):
    """The figures of one run of one side: tokens per second of its best step and the rest."""
    if "error" in r:
        return r
    if kind == "decoder" and "step_s" not in r:  # bench_train_step's layout
        shape = next(v for v in r.values() if isinstance(v, dict) and "cpp" in v)
        c = shape["cpp"]
        tokens = shape["batch"] * shape["seq_len"]
        out = {"step_s": c["step_s"], "cpu_s": c["cpu_s"], "tokens": tokens, "rss_peak_mib": c.get("rss_peak_mib"),
               "gflop_per_step": shape["gflop_per_step"], "matmul_peak_gflop_per_s": r["matmul_peak"]["gflop_per_s"],
               "matmul_peak_gflop_per_cpu_s": r["matmul_peak"]["gflop_per_cpu_s"],
               "torch": r.get("torch")}
        if c.get("profile"):
            out["profile"] = c["profile"]
    else:
        tokens = r.get("tokens_real", r.get("tokens_per_step"))
        out = {k: r.get(k) for k in ("step_s", "cpu_s", "rss_peak_mib", "torch", "profile", "compile_s",
                                     "tokens_real", "tokens_padded", "padding_share", "padding_share_unpacked",
                                     "padding_share_packed", "packed", "gflop_per_step", "micro_batches", "rows",
                                     "vocab_size", "transformers")}
        out["tokens"] = tokens
        if r.get("tokens_padded") and out.get("padding_share") is None:
            out["padding_share"] = 1.0 - r["tokens_real"] / r["tokens_padded"]
    out = {k: v for k, v in out.items() if v is not None}
    out["best_s"] = min(out["step_s"])
    out["tokens_per_s"] = out["tokens"] / out["best_s"]
    out["tokens_per_cpu_s"] = out["tokens"] / min(out["cpu_s"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--rounds-1b", dest="rounds_1b", type=int, default=1,
                    help="rounds of the 1B-shaped questions (minutes per step on 2 cores)")
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=",".join(QUESTIONS))
    ap.add_argument("--sides", default="cpp_1.13,cpp_2.x,hf_eager,hf_compiled")
    ap.add_argument("--python", default=VENV_PY)
    ap.add_argument("--out", default="bench/results/compare.json")
    ap.add_argument("--profile", default="", help="questions (comma-separated) that get one more run per side "
                    "under the profiler (not the torch.compile side: its kernels are fused)")
    a = ap.parse_args()
    sides = [s for s in a.sides.split(",") if s]
    if "cpp_2.x" in sides and not os.path.exists(os.path.join(ROOT, "build-torch2/bench/bench_dst_step")):
        print("bench_compare: no build-torch2 benches; the LibTorch 2.x side is left out", file=sys.stderr)
        sides.remove("cpp_2.x")
    if any(s.startswith("hf") for s in sides) and not os.path.exists(a.python):
        print(f"bench_compare: no {a.python} (tools/torch_venv.sh); the reference is left out", file=sys.stderr)
        sides = [s for s in sides if not s.startswith("hf")]
    os.makedirs(os.path.join(ROOT, "bench/results"), exist_ok=True)
    result = {"benchmark": "compare", "threads": a.threads, "rounds": a.rounds, "steps_per_run": a.steps,
              "sides": sides, "load_average_start": loadavg(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              "questions": {}}
    profile = a.profile
    a.profile = False
    for q in a.only.split(","):
        kind, shape = QUESTIONS[q]
        packed = q in PACKED
        q_sides = [s for s in sides if not (packed and s.startswith("hf"))]
        batches = os.path.join(ROOT, f"bench/results/dst_batches_{shape}.tmp")
        if kind == "dst" and os.path.exists(batches):
            os.remove(batches)
        rounds = []
        for r in range(a.rounds_1b if shape == "llama1b_layers" else a.rounds):
            order = q_sides[r % len(q_sides):] + q_sides[:r % len(q_sides)]
            rnd = {}
            for side in order:
                # the C++ run that writes the batches goes first in the first round
                if kind == "dst" and not os.path.exists(batches) and side.startswith("hf"):
                    continue
                cmd, tmp = side_cmd(side, kind, shape, a, batches, os.path.join(ROOT, "bench/results/side.tmp"), packed)
                la = loadavg()
                print(f"== {q} round {r}: {side} (load {la})", file=sys.stderr, flush=True)
                rnd[side] = summary(kind, run(cmd, tmp))
                rnd[side]["load_average_before"] = la
                print(f"   {json.dumps({k: v for k, v in rnd[side].items() if k != 'profile'})[:300]}",
                      file=sys.stderr, flush=True)
            for side in order:  # a reference skipped before the batches existed runs now
                if side not in rnd:
                    cmd, tmp = side_cmd(side, kind, shape, a, batches, None)
                    la = loadavg()
                    rnd[side] = summary(kind, run(cmd, tmp))
                    rnd[side]["load_average_before"] = la
            rounds.append(rnd)
        entry = {"kind": kind, "shape": shape, "model": SHAPES[shape], "rounds": rounds}
        if q in profile.split(","):
            a.profile = True
            entry["profiles"] = {}
            for side in (s for s in q_sides if s != "hf_compiled"):
                cmd, tmp = side_cmd(side, kind, shape, a, batches, os.path.join(ROOT, "bench/results/side.tmp"), packed)
                s = summary(kind, run(cmd, tmp))
                entry["profiles"][side] = s.get("profile", {"error": s.get("error", "no profile")})
            a.profile = False
        result["questions"][q] = entry
        with open(os.path.join(ROOT, a.out), "w") as f:  # written after every question
            json.dump(result, f, indent=1)
    for tmp in ("bench/results/side.tmp",):
        if os.path.exists(os.path.join(ROOT, tmp)):
            os.remove(os.path.join(ROOT, tmp))
    result["load_average_end"] = loadavg()
    with open(os.path.join(ROOT, a.out), "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
