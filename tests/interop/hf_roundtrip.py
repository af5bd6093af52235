"""A Hugging Face Llama through our stack and back: prospect_train trains 20 steps from a folder
transformers saved (model.init), prospect_eval evaluates the checkpoint with no configuration but
the split (the checkpoint alone defines the model and the sequence layout) and writes eval.json, and
transformers loads the checkpoint (config.json + model.safetensors) with the logits of
`prospect_lm logits` on the same ids (max |difference| <= 1e-4). The trained logits differ from the
initial folder's, so the comparison is of the trained weights.
Usage: hf_roundtrip.py --fixture DIR --model NAME --work DIR --train BIN --eval BIN --lm BIN
"""
import argparse
import json
import os
import shutil

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from interop_util import check, prospect_logits, run

TOLERANCE = 1e-4


def main():
    ap = argparse.ArgumentParser()
    for k in ("--fixture", "--model", "--work", "--train", "--eval", "--lm"):
        ap.add_argument(k, required=True)
    a = ap.parse_args()
    hf = os.path.join(a.fixture, a.model)
    data = os.path.join(a.fixture, "data")
    shutil.rmtree(a.work, ignore_errors=True)  # starts clean
    os.makedirs(a.work)
    run_dir = os.path.join(a.work, "run")
    run([a.train, "--run-dir", run_dir, f"--model.init={hf}", f"--data.tokenizer={hf}/tokenizer.json",
         "--data.template=llama3", f"--data.train={data}/train.h5", f"--data.val={data}/val.h5",
         f"--data.test={data}/test.h5", "--data.max_seq_len=1024", "--model.device=cpu", "--model.dtype=fp32",
         "--train.max_steps=20", "--train.micro_batch_size=1", "--train.save_every=0", "--train.val_every=0",
         "--train.log_every=5", "--train.threads=2", "--optim.lr=1e-3", "--optim.warmup_steps=2"], "prospect_train")
    ckpt = os.path.realpath(os.path.join(run_dir, "checkpoints", "latest"))
    trainer = json.load(open(os.path.join(ckpt, "trainer.json")))
    check(trainer["step"] == 20, f"checkpoint {ckpt} is of step {trainer['step']} (20 expected)")

    # the checkpoint alone: no --config, only where the split is and what to write
    out = os.path.join(a.work, "eval")
    run([a.eval, "--checkpoint", ckpt, "--split", "test", "--out", out, f"--data.test={data}/test.h5",
         "--model.device=cpu", "--eval.max_new_tokens=8"], "prospect_eval")
    ev = json.load(open(os.path.join(out, "eval.json")))
    check(ev["counts"]["clips"] > 0 and ev["config"]["template"] == "llama3",
          f"eval.json: {ev['counts']['clips']} clips, template {ev['config']['template']}")

    # transformers loads the checkpoint; its logits are ours
    tok = AutoTokenizer.from_pretrained(hf)
    turns = [{"role": "system", "content": "You help with a task: boil water, then steep the tea."},
             {"role": "user", "content": "What now?"},
             {"role": "assistant", "content": "Steep the tea for 3 minutes."}]
    ids = list(tok.apply_chat_template(turns, tokenize=True, return_dict=False))
    model = LlamaForCausalLM.from_pretrained(ckpt, dtype=torch.float32).eval()
    check(model.config.tie_word_embeddings == json.load(open(os.path.join(hf, "config.json")))["tie_word_embeddings"],
          f"tie_word_embeddings kept ({model.config.tie_word_embeddings})")
    with torch.no_grad():
        theirs = model(torch.tensor([ids])).logits[0].double()
        initial = LlamaForCausalLM.from_pretrained(hf, dtype=torch.float32).eval()(torch.tensor([ids])).logits[0].double()
    ours = torch.tensor(prospect_logits(a.lm, ckpt, ids), dtype=torch.float64)
    check(ours.shape == theirs.shape, f"logits shape {tuple(ours.shape)} (transformers {tuple(theirs.shape)})")
    diff = (ours - theirs).abs().max().item()
    check(diff <= TOLERANCE, f"{len(ids)} ids: max |prospect_lm - transformers| = {diff:.3g} (<= {TOLERANCE})")
    moved = (theirs[:, : initial.shape[1]] - initial).abs().max().item()
    check(moved > 100 * TOLERANCE, f"training moved the logits (max change {moved:.3g} from {hf})")


if __name__ == "__main__":
    main()
