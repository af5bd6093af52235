"""The shipped Llama-3.2-1B configuration's pipeline on a small stand-in: a copy of
configs/llama3_2_1b_siglip.ini with only its paths (data.train/val/test, data.tokenizer, model.init:
a tiny Llama folder transformers saved) and model.feature_dim (the stand-in store's) changed, trained
with --model.device=cpu --model.dtype=fp32 --train.max_steps=5 and evaluated with the same copy and
the same two device keys (and eval.max_new_tokens=8: an untrained model speaks at most frames, and
64 tokens a turn over Llama 3's vocabulary would take minutes of CI). It must end with eval.json. The configuration sets no model sizes: the
model's shape is the folder's, and the evaluation takes it from the checkpoint.
Usage: llama1b_config_pipeline.py --fixture DIR --work DIR --config INI --train BIN --eval BIN
"""
import argparse
import configparser
import json
import os
import shutil

from interop_util import check, run

FEATURE_DIM = 32  # make_hf_llamas.py's store


def main():
    ap = argparse.ArgumentParser()
    for k in ("--fixture", "--work", "--config", "--train", "--eval"):
        ap.add_argument(k, required=True)
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)  # starts clean
    os.makedirs(a.work)
    hf = os.path.join(a.fixture, "tied_gqa_llama3_rope")
    data = os.path.join(a.fixture, "data")
    changed = {("data", "train"): f"{data}/train.h5", ("data", "val"): f"{data}/val.h5",
               ("data", "test"): f"{data}/test.h5", ("data", "tokenizer"): f"{hf}/tokenizer.json",
               ("model", "init"): hf, ("model", "feature_dim"): str(FEATURE_DIM)}
    # line by line, so that everything else (comments too) stays the shipped file's
    lines, section, seen = [], None, set()
    for line in open(a.config):
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            section = s[1:-1]
        elif "=" in s and not s.startswith("#"):
            key = s.split("=", 1)[0].strip()
            if (section, key) in changed:
                line = f"{key} = {changed[(section, key)]}\n"
                seen.add((section, key))
        lines.append(line)
    check(seen == set(changed), f"the copy changes {sorted(seen)}")
    ini = os.path.join(a.work, "llama3_2_1b_siglip.ini")
    open(ini, "w").writelines(lines)
    p = configparser.ConfigParser()
    p.read(ini)
    check(not any(k in p["model"] for k in ("hidden_size", "num_hidden_layers")), "the configuration sets no model sizes")

    device = ["--model.device=cpu", "--model.dtype=fp32"]
    run_dir = os.path.join(a.work, "run")
    run([a.train, "--config", ini, "--run-dir", run_dir, *device, "--train.max_steps=5"], "prospect_train")
    out = os.path.join(a.work, "eval")
    run([a.eval, "--config", ini, "--checkpoint", os.path.join(run_dir, "checkpoints", "latest"), "--split", "test",
         "--out", out, *device, "--eval.max_new_tokens=8"], "prospect_eval")
    ev = json.load(open(os.path.join(out, "eval.json")))
    check(ev["counts"]["clips"] > 0, f"eval.json of {ev['counts']['clips']} clips, step {ev['config']['checkpoint_step']}")
    check(ev["config"]["checkpoint_step"] == 5, "evaluated the checkpoint of step 5")


if __name__ == "__main__":
    main()
