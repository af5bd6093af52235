"""LoRA against Hugging Face PEFT (model/lora.h), three ways on one tiny random transformers Llama
(GQA, untied lm_head):
  1. an adapter our trainer made (prospect_train, model.lora_rank, a few steps) loads in PEFT onto the
     transformers base and gives `prospect_lm logits --model BASE --adapter CKPT` (<= 1e-4);
  2. an adapter PEFT trained for one step (save_pretrained) gives in ours PEFT's logits (<= 1e-4);
  3. `prospect_lm merge` of our adapter loads in transformers with PEFT's logits (<= 1e-4).
usage: oracle_lora.py PROSPECT_LM PROSPECT_TRAIN PROSPECT_DATA"""
import json
import os
import shutil
import subprocess
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file
from transformers import LlamaConfig, LlamaForCausalLM

LM, TRAIN, DATA = sys.argv[1:4]
WORK = os.path.join(os.environ.get("PROSPECT_BINARY_DIR", "."), "test_tmp", "oracle_lora")
TOL = 1e-4
IDS = [1, 17, 250, 3, 99, 4000, 42, 7, 1234, 5]
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
failures = []


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAILED ({r.returncode}): {' '.join(cmd)}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return r.stdout


def ours(base, adapter=None):
    cmd = [LM, "logits", "--model", base, "--ids", ",".join(map(str, IDS)), "--threads", "1"]
    if adapter:
        cmd += ["--adapter", adapter]
    return torch.tensor(json.loads(run(cmd))["logits"], dtype=torch.float64)


def theirs(model):
    model.eval()
    with torch.no_grad():
        return model(torch.tensor([IDS])).logits[0].double()


def check(name, a, b):
    d = (a - b).abs().max().item()
    print(f"{name}: max |ours - hf| = {d:.3g} (tolerance {TOL})")
    if not d <= TOL:
        failures.append(name)


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
torch.manual_seed(0)
base_dir = os.path.join(WORK, "base")
config = LlamaConfig(vocab_size=4096, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
                     rope_theta=10000.0, max_position_embeddings=2048)
LlamaForCausalLM(config).save_pretrained(base_dir)


def base():
    return LlamaForCausalLM.from_pretrained(base_dir, torch_dtype=torch.float32)


# 1. our trainer's adapter in PEFT
data = os.path.join(WORK, "data")
run([DATA, "synth", "--out", data, "--videos", "8", "--dim", "16"])
run_dir = os.path.join(WORK, "run")
run([TRAIN, "--run-dir", run_dir, f"--data.train={data}/train.h5", f"--data.val={data}/val.h5",
     f"--data.tokenizer={data}/tokenizer.model", "--data.max_seq_len=256", f"--model.init={base_dir}",
     "--model.lora_rank=4", "--model.lora_alpha=8", "--model.lora_dropout=0.1", "--model.device=cpu",
     "--model.dtype=fp32", "--optim.lr=0.01", "--optim.warmup_steps=0", "--train.max_steps=3",
     "--train.threads=1", "--train.val_every=0"])
ckpt = os.path.realpath(os.path.join(run_dir, "checkpoints", "latest"))
weights = load_file(os.path.join(ckpt, "adapter_model.safetensors"))
moved = max(t.abs().max().item() for k, t in weights.items() if "lora_B" in k)
print(f"our adapter: {len(weights)} tensors, max |B| = {moved:.3g}")
if not moved > 0:
    failures.append("our adapter was not trained (B is zero)")
if os.path.exists(os.path.join(ckpt, "model.safetensors")):
    failures.append("a LoRA checkpoint holds the base model")
peft_ours = PeftModel.from_pretrained(base(), ckpt)
want = theirs(peft_ours)
check("our adapter in peft", ours(base_dir, ckpt), want)

# 3. merged by us, loaded by transformers
merged = os.path.join(WORK, "merged")
run([LM, "merge", "--model", base_dir, "--adapter", ckpt, "--out", merged])
check("merged by prospect_lm, in transformers", theirs(LlamaForCausalLM.from_pretrained(merged)).double(), want)

# 2. a PEFT-trained adapter in ours
torch.manual_seed(1)
model = get_peft_model(base(), LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=TARGETS,
                                          task_type="CAUSAL_LM"))
model.train()
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.01)
ids = torch.randint(0, 4096, (2, 12))
model(input_ids=ids, labels=ids).loss.backward()
opt.step()
peft_dir = os.path.join(WORK, "peft_adapter")
model.save_pretrained(peft_dir)
check("peft's adapter in ours", ours(base_dir, peft_dir), theirs(model))

if failures:
    sys.exit("FAILED: " + "; ".join(failures))
print("ok")
