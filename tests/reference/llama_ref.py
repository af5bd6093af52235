#!/usr/bin/python3
"""Float64 numpy reference of Hugging Face's LlamaForCausalLM, written from the model's equations
(RMSNorm, rotate-half rotary embedding with optional llama3 scaling, grouped-query attention, SwiGLU MLP,
tied or untied lm_head). It also writes tiny random checkpoints in HF layout (config.json +
model.safetensors, written here without any safetensors library) so the C++ reader is checked against
an independent writer.

  llama_ref.py make DIR --ids 1,2,3 [--seed S --vocab V --hidden H --inter I --layers L --heads N
                        --kv K --theta T --tied 0|1 --llama3 0|1 --dtype F32|F16|BF16]
      writes DIR/config.json, DIR/model.safetensors and DIR/expected.json {"ids", "logits"}
  llama_ref.py logits DIR --ids 1,2,3      prints {"logits": ...} for an existing folder
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype name, shape, raw bytes)."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, _, raw in tensors:
            f.write(raw)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = data[base + b:base + end]
        if e["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif e["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif e["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        elif e["dtype"] == "F64":
            a = np.frombuffer(raw, dtype="<f8").copy()
        else:
            raise ValueError(f"{path}: dtype {e['dtype']} not handled by the reference")
        out[name] = a.reshape(e["shape"])
    return out


def load_weights(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        files = sorted(set(json.load(open(idx))["weight_map"].values()))
        w = {}
        for f in files:
            w.update(read_safetensors(os.path.join(d, f)))
        return w
    return read_safetensors(os.path.join(d, "model.safetensors"))


def inv_freq(cfg):
    hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    rs = cfg.get("rope_scaling")
    if rs and (rs.get("rope_type") or rs.get("type")) == "llama3":
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / lo, old / hi
        wavelen = 2 * np.pi / inv
        scaled = np.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
        inv = np.where(medium, smoothed, scaled)
    return inv, hd


def rmsnorm(x, w, eps):
    return w * (x / np.sqrt((x * x).mean(-1, keepdims=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], -1)


def forward(cfg, W, ids):
    nh, nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    eps = cfg.get("rms_norm_eps", 1e-6)
    inv, hd = inv_freq(cfg)
    T = len(ids)
    x = W["model.embed_tokens.weight"][np.array(ids)]
    freqs = np.arange(T, dtype=np.float64)[:, None] * inv[None, :]
    emb = np.concatenate([freqs, freqs], -1)
    cos, sin = np.cos(emb)[None], np.sin(emb)[None]  # [1, T, hd]
    causal = np.tril(np.ones((T, T), dtype=bool))
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rmsnorm(x, W[p + "input_layernorm.weight"], eps)
        q = (h @ W[p + "self_attn.q_proj.weight"].T).reshape(T, nh, hd).transpose(1, 0, 2)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).reshape(T, nkv, hd).transpose(1, 0, 2)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).reshape(T, nkv, hd).transpose(1, 0, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = np.repeat(k, nh // nkv, axis=0)  # kv head j serves query heads j*rep .. j*rep+rep-1
        v = np.repeat(v, nh // nkv, axis=0)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
        s = np.where(causal[None], s, -np.inf)
        s = np.exp(s - s.max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True)
        o = (s @ v).transpose(1, 0, 2).reshape(T, nh * hd)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rmsnorm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else W["lm_head.weight"]
    return x @ head.T


def encode(a32, dt):
    a32 = np.ascontiguousarray(a32, dtype=np.float32)
    if dt == "F32":
        return a32.astype("<f4").tobytes()
    if dt == "F16":
        return a32.astype("<f2").tobytes()
    if dt == "BF16":  # round to nearest even on the upper 16 bits
        u = a32.view(np.uint32).astype(np.uint64)
        u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")
        return u.tobytes()
    raise ValueError(dt)


def make(args):
    rng = np.random.default_rng(args.seed)
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
        "vocab_size": args.vocab, "hidden_size": args.hidden, "intermediate_size": args.inter,
        "num_hidden_layers": args.layers, "num_attention_heads": args.heads, "num_key_value_heads": args.kv,
        "rms_norm_eps": 1e-5, "rope_theta": args.theta, "tie_word_embeddings": bool(args.tied),
        "max_position_embeddings": 256, "bos_token_id": 1, "eos_token_id": 2,
        "rope_scaling": None,
    }
    if args.llama3:
        cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    H, I, V, hd = args.hidden, args.inter, args.vocab, args.hidden // args.heads
    shapes = [("model.embed_tokens.weight", (V, H))]
    for i in range(args.layers):
        p = f"model.layers.{i}."
        shapes += [(p + "self_attn.q_proj.weight", (args.heads * hd, H)),
                   (p + "self_attn.k_proj.weight", (args.kv * hd, H)),
                   (p + "self_attn.v_proj.weight", (args.kv * hd, H)),
                   (p + "self_attn.o_proj.weight", (H, args.heads * hd)),
                   (p + "mlp.gate_proj.weight", (I, H)), (p + "mlp.up_proj.weight", (I, H)),
                   (p + "mlp.down_proj.weight", (H, I)),
                   (p + "input_layernorm.weight", (H,)), (p + "post_attention_layernorm.weight", (H,))]
    shapes.append(("model.norm.weight", (H,)))
    if not args.tied:
        shapes.append(("lm_head.weight", (V, H)))
    tensors = []
    for name, shape in shapes:
        if name.endswith("norm.weight"):
            a = 1.0 + 0.3 * rng.standard_normal(shape)  # non-trivial norm weights
        else:
            a = 0.2 * rng.standard_normal(shape)
        tensors.append((name, args.dtype, shape, encode(a, args.dtype)))
    os.makedirs(args.dir, exist_ok=True)
    json.dump(cfg, open(os.path.join(args.dir, "config.json"), "w"), indent=2)
    write_safetensors(os.path.join(args.dir, "model.safetensors"), tensors)
    ids = [int(t) for t in args.ids.split(",")]
    logits = forward(cfg, load_weights(args.dir), ids)
    json.dump({"ids": ids, "logits": logits.tolist()}, open(os.path.join(args.dir, "expected.json"), "w"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["make", "logits"])
    ap.add_argument("dir")
    ap.add_argument("--ids", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vocab", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--inter", type=int, default=48)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv", type=int, default=2)
    ap.add_argument("--theta", type=float, default=10000.0)
    ap.add_argument("--tied", type=int, default=0)
    ap.add_argument("--llama3", type=int, default=0)
    ap.add_argument("--dtype", default="F32", choices=["F32", "F16", "BF16"])
    args = ap.parse_args()
    if args.cmd == "make":
        make(args)
    else:
        cfg = json.load(open(os.path.join(args.dir, "config.json")))
        ids = [int(t) for t in args.ids.split(",")]
        json.dump({"logits": forward(cfg, load_weights(args.dir), ids).tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
