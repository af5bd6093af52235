#!/usr/bin/python3
"""Times one training step (forward + backward + AdamW) of the PyTorch eager reference model
(torch_model.py), the same step bench/train_step.cpp times in C++: random token ids [B, T], LM head on
every position, mean cross-entropy over the next token. Prints one JSON object on stdout:
{"step_s": [...], "threads": n, "loss": first loss}.

  bench_step.py --hidden 256 --inter 768 --layers 4 --heads 4 --kv 2 --vocab 2048 --tied 1 --batch 2 --seq 1024
                --steps 3 --warmup 1 --threads 2
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_model as tm  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    for k, d in (("hidden", 256), ("inter", 768), ("layers", 4), ("heads", 4), ("kv", 2), ("vocab", 2048),
                 ("tied", 1), ("batch", 2), ("seq", 1024), ("steps", 3), ("warmup", 1), ("threads", 2),
                 ("seed", 0)):
        ap.add_argument("--" + k, type=int, default=d)
    ap.add_argument("--matmul", type=int, default=0, help="also time an N x N torch.mm (0: no)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = {"hidden_size": a.hidden, "intermediate_size": a.inter, "num_hidden_layers": a.layers,
           "num_attention_heads": a.heads, "num_key_value_heads": a.kv, "vocab_size": a.vocab,
           "tie_word_embeddings": bool(a.tied), "rms_norm_eps": 1e-5, "rope_theta": 10000.0}
    W = tm.init_params(cfg, a.seed)
    for t in W.values():
        t.requires_grad_(True)
    decay = [t for n, t in W.items() if t.dim() >= 2]
    no_decay = [t for n, t in W.items() if t.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4)
    g = torch.Generator().manual_seed(a.seed + 1)
    ids = torch.randint(0, a.vocab, (a.batch, a.seq + 1), generator=g)
    inp, tgt = ids[:, :-1], ids[:, 1:]
    mask = torch.ones(a.batch, a.seq, dtype=torch.long)
    times, cpu, first = [], [], None
    for i in range(a.warmup + a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        x = F.embedding(inp, W["model.embed_tokens.weight"])
        h = tm.llama_hidden(cfg, W, x, mask)
        logits = F.linear(h, tm.lm_head_weight(cfg, W))
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), tgt.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if first is None:
            first = loss.item()
        if i >= a.warmup:
            times.append(dt)
            cpu.append(dc)
    out = {"step_s": times, "cpu_s": cpu, "threads": torch.get_num_threads(), "loss": first}
    if a.matmul:
        n = a.matmul
        A, B = torch.randn(n, n), torch.randn(n, n)
        torch.mm(A, B)
        mt = []
        for _ in range(3):
            t0 = time.perf_counter()
            torch.mm(A, B)
            mt.append(time.perf_counter() - t0)
        out["matmul_s"] = mt
        out["matmul_n"] = n
    print(json.dumps(out))


if __name__ == "__main__":
    main()
