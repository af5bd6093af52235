"""Makes the interop fixture: tiny random LlamaForCausalLM folders saved by transformers'
save_pretrained with the Llama 3 tokenizer (tests/text/data/llama3), and a small synthetic store
(prospect_data synth) to train them on. Hidden 64, 2 layers, 4 query heads over 2 key/value heads
(GQA), Llama 3's vocabulary (128,256 ids); weights drawn with a fixed seed and a wider spread than
transformers' default, so that every part moves the logits.
  untied_gqa             separate lm_head, plain rotary embedding (theta 10,000)
  tied_gqa_llama3_rope   lm_head tied to the embeddings, llama3 rope scaling (theta 500,000, the
                         original context 64 positions, so that the scaling acts on short sequences)
Usage: make_hf_llamas.py --out DIR --prospect-data BIN --tokenizer-dir DIR
"""
import argparse
import os
import shutil
import subprocess

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

MODELS = {
    "untied_gqa": dict(tie_word_embeddings=False, rope_theta=10000.0),
    "tied_gqa_llama3_rope": dict(
        tie_word_embeddings=True,
        rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 64, "rope_theta": 500000.0}),
}
FEATURE_DIM = 32  # the store's embedding dimension


def make_model(out, tok, seed, **kw):
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192, rms_norm_eps=1e-5,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, **kw)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.08 * torch.randn_like(p))
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--prospect-data", required=True)
    ap.add_argument("--tokenizer-dir", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)  # a fixture starts clean
    os.makedirs(a.out)
    tok = PreTrainedTokenizerFast.from_pretrained(a.tokenizer_dir)
    for seed, (name, kw) in enumerate(MODELS.items()):
        make_model(os.path.join(a.out, name), tok, seed + 1, **kw)
        print(f"{name}: {os.path.join(a.out, name)}")
    subprocess.run([a.prospect_data, "synth", "--out", os.path.join(a.out, "data"), "--videos", "16",
                    "--dim", str(FEATURE_DIM), "--no-tokenizer", "--seed", "3"], check=True)


if __name__ == "__main__":
    main()
