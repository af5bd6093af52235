"""PyTorch eager reference of the model and loss (SPEC §4, §5), written from Hugging Face's equations:
LlamaForCausalLM (RMSNorm, rotate-half rotary embedding with optional llama3 scaling, grouped-query
attention through repeat_kv, SwiGLU MLP, tied or untied lm_head) plus the DST parts (mm_projector
Linear-GELU-Linear whose output replaces the <image> rows, speaking_decision_head, dst_update_head).

Parameters are a plain dict {HF name: tensor}, so a safetensors file maps onto them one to one.
Used by check_step.py (gradients against the C++ side) and bench_step.py (speed of the same step).
"""
import json
import math
import struct

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    """{name: tensor} of a .safetensors file (our own reader: u64 header length, JSON header, bytes)."""
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
        dt = DTYPES[e["dtype"]]
        if end == b:
            out[name] = torch.zeros(e["shape"], dtype=dt)
            continue
        t = torch.frombuffer(bytearray(data[base + b:base + end]), dtype=dt)
        out[name] = t.reshape(e["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    """tensors: {name: tensor}, written in insertion order."""
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


def head_size(cfg):
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def rope_inv_freq(cfg):
    d = head_size(cfg)
    inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    rs = cfg.get("rope_scaling")
    if rs and (rs.get("rope_type") or rs.get("type")) == "llama3":
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / lo, old / hi
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
        inv = torch.where(medium, smoothed, scaled)
    return inv


def rms_norm(x, w, eps):
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return w * h.to(x.dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def repeat_kv(x, rep):
    if rep == 1:
        return x
    B, nkv, T, d = x.shape
    return x[:, :, None].expand(B, nkv, rep, T, d).reshape(B, nkv * rep, T, d)


def llama_hidden(cfg, W, x, attention_mask):
    """Final hidden states [B, T, H] of inputs_embeds x [B, T, H]; attention_mask [B, T] of 0/1."""
    B, T, _ = x.shape
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = head_size(cfg)
    eps = cfg.get("rms_norm_eps", 1e-6)
    keep = attention_mask != 0
    pos = (keep.long().cumsum(1) - 1).clamp_min(0)
    freqs = pos.float()[..., None] * rope_inv_freq(cfg)
    emb = torch.cat((freqs, freqs), -1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    allowed = causal[None, None] & keep[:, None, None, :]
    # HF's 4-D additive mask, built once: 0 where a query may attend, the lowest float elsewhere.
    bias = torch.zeros(allowed.shape, dtype=x.dtype).masked_fill(~allowed, torch.finfo(x.dtype).min)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = F.linear(h, W[p + "self_attn.q_proj.weight"]).view(B, T, nh, hd).transpose(1, 2)
        k = F.linear(h, W[p + "self_attn.k_proj.weight"]).view(B, T, nkv, hd).transpose(1, 2)
        v = F.linear(h, W[p + "self_attn.v_proj.weight"]).view(B, T, nkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k, v = repeat_kv(k, nh // nkv), repeat_kv(v, nh // nkv)
        s = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(hd) + bias
        a = torch.softmax(s, dim=-1, dtype=torch.float32).to(q.dtype)
        o = torch.matmul(a, v).transpose(1, 2).reshape(B, T, nh * hd)
        x = x + F.linear(o, W[p + "self_attn.o_proj.weight"])
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        m = F.silu(F.linear(h, W[p + "mlp.gate_proj.weight"])) * F.linear(h, W[p + "mlp.up_proj.weight"])
        x = x + F.linear(m, W[p + "mlp.down_proj.weight"])
    return rms_norm(x, W["model.norm.weight"], eps)


def lm_head_weight(cfg, W):
    return W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else W["lm_head.weight"]


def inputs_embeds(cfg, W, ids, frames, image_token_id):
    """Token embeddings with the <image> rows replaced by the projected frames (in order, row-major)."""
    x = F.embedding(ids, W["model.embed_tokens.weight"])
    if frames is None or "mm_projector.0.weight" not in W:
        return x
    f = F.linear(frames, W["mm_projector.0.weight"], W["mm_projector.0.bias"])
    f = F.linear(F.gelu(f), W["mm_projector.2.weight"], W["mm_projector.2.bias"])
    is_img = (ids == image_token_id).reshape(-1)
    flat = x.reshape(-1, x.shape[-1])
    idx = is_img.nonzero().squeeze(1)
    flat = flat.index_put((idx,), f)
    return flat.reshape(x.shape)


def decision_loss(x, y, kind, alpha=0.25, gamma=2.0):
    """Element-wise BCE-with-logits or focal loss (alpha weighs the positives)."""
    bce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    if kind == "bce":
        return bce
    p = torch.sigmoid(x)
    pt = p * y + (1 - p) * (1 - y)
    a = alpha * y + (1 - alpha) * (1 - y)
    return a * (1 - pt).pow(gamma) * bce


def dst_loss(cfg, W, batch, counts, kind="bce", weights=(1.0, 1.0, 1.0, 1.0), image_token_id=None):
    """SPEC §5: sum over labelled positions / global count per term. Returns (loss, [4 term values])."""
    ids, mask = batch["input_ids"], batch["attention_mask"]
    if image_token_id is None:
        image_token_id = cfg["vocab_size"] - 1
    x = inputs_embeds(cfg, W, ids, batch.get("frames"), image_token_id)
    hid = llama_hidden(cfg, W, x, mask).reshape(-1, x.shape[-1])
    terms = []
    head = lm_head_weight(cfg, W)
    for lab_name, cnt in (("speaking_gen_labels", counts[0]), ("speaking_labels", counts[1]),
                          ("dst_gen_labels", counts[2]), ("dst_update_labels", counts[3])):
        if lab_name not in batch:  # the plain LM check has only some label sets
            terms.append(hid.sum() * 0.0)
            continue
        lab = batch[lab_name].reshape(-1)
        sel = (lab != -100).nonzero().squeeze(1)
        h = hid.index_select(0, sel)
        if lab_name.endswith("gen_labels"):
            logits = F.linear(h, head)
            s = F.cross_entropy(logits, lab.index_select(0, sel), reduction="sum")
        else:
            hw = "speaking_decision_head" if lab_name == "speaking_labels" else "dst_update_head"
            z = F.linear(h, W[hw + ".weight"], W[hw + ".bias"]).squeeze(-1)
            s = decision_loss(z, lab.index_select(0, sel).float(), kind).sum()
        terms.append(s / cnt if cnt > 0 else s * 0.0)
    loss = sum(w * t for w, t in zip(weights, terms))
    return loss, [float(t) for t in terms]


def init_params(cfg, seed=0, feature_dim=0):
    """HF initialisation: normal(0, 0.02) for matrices, norms at 1 (plus projector and heads)."""
    g = torch.Generator().manual_seed(seed)
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = head_size(cfg)
    shapes = {"model.embed_tokens.weight": (V, H)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes.update({p + "self_attn.q_proj.weight": (nh * hd, H), p + "self_attn.k_proj.weight": (nkv * hd, H),
                       p + "self_attn.v_proj.weight": (nkv * hd, H), p + "self_attn.o_proj.weight": (H, nh * hd),
                       p + "mlp.gate_proj.weight": (I, H), p + "mlp.up_proj.weight": (I, H),
                       p + "mlp.down_proj.weight": (H, I), p + "input_layernorm.weight": (H,),
                       p + "post_attention_layernorm.weight": (H,)})
    shapes["model.norm.weight"] = (H,)
    if not cfg.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = (V, H)
    if feature_dim:
        shapes.update({"mm_projector.0.weight": (H, feature_dim), "mm_projector.0.bias": (H,),
                       "mm_projector.2.weight": (H, H), "mm_projector.2.bias": (H,),
                       "speaking_decision_head.weight": (1, H), "speaking_decision_head.bias": (1,),
                       "dst_update_head.weight": (1, H), "dst_update_head.bias": (1,)})
    W = {}
    for n, s in shapes.items():
        W[n] = torch.ones(s) if n.endswith("norm.weight") else torch.randn(s, generator=g) * 0.02
    return W
