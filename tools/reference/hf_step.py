"""Times one training step of Hugging Face transformers' LlamaForCausalLM (attn_implementation "sdpa")
on PyTorch 2.x, eager or under torch.compile: the reference users run today, against which
bench/train_step.cpp and bench/dst_step.cpp measure the C++ step. Run with the project's virtual
environment (tools/torch_venv.sh); prints one JSON object on stdout.

Two steps:
  --mode decoder  random ids [B, T], LM head on every position, mean next-token cross-entropy (the step
                  of bench/train_step.cpp and tools/reference/bench_step.py).
  --mode dst      the whole DST training step (SPEC §4, §5) on collated batches that bench/dst_step.cpp
                  wrote (--batches FILE, safetensors: the same tokens, padding, frames and labels):
                  LlamaForCausalLM with the `<image>` row, mm_projector Linear-GELU-Linear whose output
                  replaces the `<image>` embeddings, speaking / DST-update heads Linear(H, 1) at the decision
                  positions, the LM head only at the LM positions, the four loss terms of
                  src/train/losses.cpp (sums over the global label counts).
Step = forward + loss + backward + AdamW (lr 1e-4, weight decay 0.01 on matrices), gradients set to
None between steps. --compile: the forward under torch.compile (decoder mode: model and loss; dst mode: the
decoder, the gathers of the heads and losses around it staying eager); the first steps (compilation) are reported apart as compile_s, never in step_s.
--profile: one more step under torch.profiler; the ops' self CPU time grouped by kind
(matmul, attention, elementwise, norm, optimizer, loss, other) goes into "profile".
Memory: peak resident size during the steps above the size before the model was made (VmHWM reset
through /proc/self/clear_refs where the kernel allows it; "rss_peak_mib" is then null otherwise).

  hf_step.py --mode decoder --hidden 256 --inter 768 --layers 4 --heads 4 --kv 2 --vocab 2048 --tied 1
             --batch 1 --seq 1024 --steps 3 --warmup 1 --threads 2 [--compile] [--profile]
  hf_step.py --mode dst --batches FILE --hidden 256 ... [--compile] [--profile]
"""
import argparse
import json
import os
import time

import torch
import torch.nn.functional as F


def rss_mib(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# What each ATen op counts as, for the profile's shares (self CPU time).
# (the same table as bench/profile_kinds.h)
KINDS = [
    ("optimizer", ("optimizer.step",)),
    ("loss", ("cross_entropy", "nll_loss", "nllloss", "log_softmax", "logsoftmax", "binary_cross_entropy", "binarycrossentropy")),
    ("attention", ("scaled_dot_product", "scaleddotproduct", "attention", "softmax", "bmm")),
    ("matmul", ("mm", "matmul", "linear", "dot")),
    ("norm", ("rsqrt", "pow", "mean", "rms_norm")),
    ("elementwise", ("mul", "add", "silu", "neg", "cat", "sub", "div", "where", "masked_fill", "gelu", "sigmoid",
                     "cos", "sin", "copy", "fill", "clone", "aten::to", "triu", "tril", "ge", "le", "eq", "ne", "exp",
                     "index", "narrow", "slice", "expand", "view", "reshape", "transpose", "embedding")),
]


def kind_of(name):
    n = name.lower().replace("autograd::engine::evaluate_function: ", "")  # a backward node: its op's name
    for kind, keys in KINDS:
        if any(k in n for k in keys):
            return kind
    return "other"


def profile_one(step_fn):
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step_fn()
    # outermost events of each thread (as bench/profile_kinds.h), so nested calls count once
    shares, total, by_op = {}, 0.0, {}
    for e in prof.events():
        if e.cpu_parent is not None:
            continue
        us = e.cpu_time_total
        total += us
        shares[kind_of(e.name)] = shares.get(kind_of(e.name), 0.0) + us
        by_op[e.name] = by_op.get(e.name, 0.0) + us
    top = sorted(((us, k) for k, us in by_op.items()), reverse=True)
    return {"traced_ms": total / 1e3,
            "kinds": {k: {"ms": v / 1e3, "pct": 100.0 * v / total} for k, v in sorted(shares.items())},
            "top_ops": [{"op": k, "ms": us / 1e3, "pct": 100.0 * us / total} for us, k in top[:15]]}


def make_llama(a, vocab):
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=a.hidden, intermediate_size=a.inter,
                      num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv,
                      max_position_embeddings=max(4096, a.seq), rms_norm_eps=1e-5, rope_theta=a.rope_theta,
                      tie_word_embeddings=bool(a.tied), attn_implementation="sdpa", use_cache=False)
    torch.manual_seed(a.seed)
    return LlamaForCausalLM(cfg)


def adamw(params_named):
    decay = [p for n, p in params_named if p.dim() >= 2]
    no_decay = [p for n, p in params_named if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=1e-4, betas=(0.9, 0.999), eps=1e-8)


def decoder_step(a):
    model = make_llama(a, a.vocab)
    model.train()
    opt = adamw(list(model.named_parameters()))
    g = torch.Generator().manual_seed(a.seed + 1)
    ids = torch.randint(0, a.vocab, (a.batch, a.seq + 1), generator=g)
    inp, tgt = ids[:, :-1].contiguous(), ids[:, 1:].reshape(-1).contiguous()

    def fwd(inp, tgt):
        logits = model(input_ids=inp).logits
        return F.cross_entropy(logits.reshape(-1, a.vocab), tgt)

    f = torch.compile(fwd) if a.compile else fwd

    def step():
        loss = f(inp, tgt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.profiler.record_function("optimizer.step"):
            opt.step()
        return float(loss.detach())

    return step, a.batch * a.seq, {}


class DSTHeads(torch.nn.Module):
    """mm_projector and the two decision heads, with the reference code's names."""

    def __init__(self, feature_dim, hidden):
        super().__init__()
        self.mm_projector = torch.nn.Sequential(torch.nn.Linear(feature_dim, hidden), torch.nn.GELU(),
                                                torch.nn.Linear(hidden, hidden))
        self.speaking_decision_head = torch.nn.Linear(hidden, 1)
        self.dst_update_head = torch.nn.Linear(hidden, 1)


def dst_step(a):
    from safetensors.torch import load_file
    data = load_file(a.batches)
    meta = {k: int(v) for k, v in json.loads(data.pop("meta").numpy().tobytes().decode()).items()}
    vocab = meta["vocab_size"]  # with the <image> row
    image_id = vocab - 1
    batches = []
    for i in range(meta["batches"]):
        b = {k.split("/", 1)[1]: v for k, v in data.items() if k.startswith(f"{i}/")}
        batches.append(b)
    model = make_llama(a, vocab)
    heads = DSTHeads(meta["feature_dim"], a.hidden)
    model.train()
    heads.train()
    opt = adamw(list(model.named_parameters()) + list(heads.named_parameters()))
    counts = {k: max(1, meta[k]) for k in ("speaking", "dst_update", "speaking_gen", "dst_gen")}

    # Under --compile the decoder (model.model, where the FLOPs are) is compiled as users compile a model;
    # the gathers around it (data-dependent shapes) stay eager.
    decoder = torch.compile(model.model, dynamic=True) if a.compile else model.model

    def fwd(ids, mask, frames, decision_index, lm_index, sp, du, sg, dg):
        is_image = ids == image_id
        emb = model.model.embed_tokens(ids.masked_fill(is_image, 0))
        B, T, H = emb.shape
        flat = emb.reshape(B * T, H)
        where = is_image.reshape(-1).nonzero().squeeze(1)
        emb = flat.index_put((where,), heads.mm_projector(frames)).view(B, T, H)
        h = decoder(inputs_embeds=emb, attention_mask=mask).last_hidden_state.reshape(B * T, H)
        hd = h.index_select(0, decision_index)
        sl = heads.speaking_decision_head(hd).squeeze(-1)
        dl = heads.dst_update_head(hd).squeeze(-1)
        lm = model.lm_head(h.index_select(0, lm_index))

        def decision(x, labels, n):
            y = labels.reshape(-1).index_select(0, decision_index)
            m = y != -100
            return F.binary_cross_entropy_with_logits(x.masked_select(m), y.masked_select(m).float(),
                                                      reduction="sum") / n

        def lm_term(labels, n):
            y = labels.reshape(-1).index_select(0, lm_index)
            rows = (y != -100).nonzero().reshape(-1)
            return F.cross_entropy(lm.index_select(0, rows), y.index_select(0, rows), reduction="sum") / n

        keep = (sl.sum() + dl.sum() + lm.sum()) * 0.0
        return (lm_term(sg, counts["speaking_gen"]) + decision(sl, sp, counts["speaking"]) +
                lm_term(dg, counts["dst_gen"]) + decision(dl, du, counts["dst_update"]) + keep)

    f = fwd
    keys = ("input_ids", "attention_mask", "frames", "decision_index", "lm_index", "speaking_labels",
            "dst_update_labels", "speaking_gen_labels", "dst_gen_labels")

    def step():
        total = 0.0
        opt.zero_grad(set_to_none=True)
        for b in batches:  # the micro-batches of one optimizer step (gradients accumulate)
            loss = f(*(b[k] for k in keys))
            loss.backward()
            total += float(loss.detach())
        with torch.profiler.record_function("optimizer.step"):
            torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(heads.parameters()), 1.0)
            opt.step()
        return total

    return step, meta["tokens_padded"], {"tokens_real": meta["tokens_real"], "tokens_padded": meta["tokens_padded"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("decoder", "dst"), default="decoder")
    for k, d in (("hidden", 256), ("inter", 768), ("layers", 4), ("heads", 4), ("kv", 2), ("vocab", 2048),
                 ("tied", 1), ("batch", 1), ("seq", 1024), ("steps", 3), ("warmup", 1), ("threads", 2),
                 ("seed", 0)):
        ap.add_argument("--" + k, type=int, default=d)
    ap.add_argument("--rope-theta", dest="rope_theta", type=float, default=10000.0)
    ap.add_argument("--batches", default="")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    peak_ok = reset_peak()
    rss0 = rss_mib("VmRSS")
    step, tokens, extra = (dst_step if a.mode == "dst" else decoder_step)(a)
    out = {"mode": a.mode, "compiled": a.compile, "torch": torch.__version__, "threads": torch.get_num_threads()}
    import transformers
    out["transformers"] = transformers.__version__
    # compile_s: the warmup steps under torch.compile (tracing, code generation, the first run)
    t0 = time.perf_counter()
    first = None
    for _ in range(max(1, a.warmup)):
        loss = step()
        if first is None:
            first = loss
    out["compile_s" if a.compile else "warmup_s"] = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    hwm = rss_mib("VmHWM")
    out.update({"step_s": times, "cpu_s": cpu, "loss": first, "tokens_per_step": tokens,
                "rss_peak_mib": (hwm - rss0) if (peak_ok and hwm is not None and rss0 is not None) else None})
    out.update(extra)
    if a.profile:
        out["profile"] = profile_one(step)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
