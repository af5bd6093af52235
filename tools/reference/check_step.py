#!/usr/bin/python3
"""Checks one training step of the C++ side against the PyTorch eager reference (torch_model.py).

DIR holds what the C++ side dumped:
  config.json, model.safetensors    the LM (HF names; vocab includes the <image> row for the DST model)
  prospect.safetensors              (optional) mm_projector.* and the heads: DST mode
  batch.safetensors                 the collated batch: input_ids, attention_mask [B, T] I64; frames [N, D]
                                    F32 (DST mode); speaking_gen_labels, speaking_labels, dst_gen_labels,
                                    dst_update_labels [B, T] I64 (any may be absent: that term is 0);
                                    label_counts I64 [4] = global counts (sg, sb, dg, db)
  cpp.safetensors                   loss F64 [1]; grad.<parameter name> F32 for every parameter
The reference recomputes the SPEC §5 loss and every gradient (float64 by default) and compares them
with SPEC §9's relative difference: max|a - b| / max(max|b|, 1e-8) per tensor, worst tensor counting.
Prints a JSON report; exit status 1 when the loss or a gradient differs by more than --tol.

  check_step.py DIR [--tol 1e-5] [--dtype float64|float32] [--decision bce|focal] [--weights 1,1,1,1]
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_model as tm  # noqa: E402


def rel(a, b):
    return float((a - b).abs().max() / max(float(b.abs().max()), 1e-8)) if b.numel() else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--decision", default="bce", choices=["bce", "focal"])
    ap.add_argument("--weights", default="1,1,1,1")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dt = getattr(torch, a.dtype)
    cfg = json.load(open(os.path.join(a.dir, "config.json")))
    W = tm.read_safetensors(os.path.join(a.dir, "model.safetensors"))
    extra = os.path.join(a.dir, "prospect.safetensors")
    if os.path.exists(extra):
        W.update(tm.read_safetensors(extra))
    W = {k: v.to(dt).requires_grad_(True) for k, v in W.items()}
    batch = tm.read_safetensors(os.path.join(a.dir, "batch.safetensors"))
    if "frames" in batch:
        batch["frames"] = batch["frames"].to(dt)
    counts = [int(c) for c in batch["label_counts"]]
    cpp = tm.read_safetensors(os.path.join(a.dir, "cpp.safetensors"))
    loss, terms = tm.dst_loss(cfg, W, batch, counts, kind=a.decision,
                              weights=[float(w) for w in a.weights.split(",")],
                              image_token_id=cfg.get("image_token_id"))
    loss.backward()
    ref_loss = float(loss)
    got_loss = float(cpp["loss"].reshape(-1)[0])
    report = {"loss": got_loss, "ref_loss": ref_loss, "terms": terms,
              "loss_rel": abs(got_loss - ref_loss) / max(abs(ref_loss), 1e-8), "grads": {}, "missing": []}
    for name, w in W.items():
        g = cpp.get("grad." + name)
        if g is None:
            report["missing"].append(name)
            continue
        ref = w.grad if w.grad is not None else torch.zeros_like(w)
        report["grads"][name] = rel(g.to(torch.float64), ref.detach().to(torch.float64))
    worst = max(report["grads"].items(), key=lambda kv: kv[1]) if report["grads"] else ("", 0.0)
    report["worst_grad"], report["worst_grad_rel"] = worst
    ok = report["loss_rel"] <= a.tol and worst[1] <= a.tol and not report["missing"]
    report["ok"] = ok
    print(json.dumps(report, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
