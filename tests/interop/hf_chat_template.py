"""Our llama3 chat template against Hugging Face's: the ids of chat_template_tool (BOS and each turn
as training lays it out) equal tokenizer.apply_chat_template's for the same turns, with the tokenizer
and chat template a transformers save_pretrained wrote (the fixture's folders). The conversations:
tests/text/golden/chat_conversation.json (every role we use: system, user, dst, assistant, state) and
a few edge cases (numbers, emoji, several paragraphs, a single turn).
Usage: hf_chat_template.py --fixture DIR --tool BIN --conversation FILE
"""
import argparse
import json
import os
import subprocess

from transformers import AutoTokenizer

from interop_util import check


def main():
    ap = argparse.ArgumentParser()
    for k in ("--fixture", "--tool", "--conversation"):
        ap.add_argument(k, required=True)
    a = ap.parse_args()
    folder = os.path.join(a.fixture, "untied_gqa")
    tok = AutoTokenizer.from_pretrained(folder)
    conversations = [
        json.load(open(a.conversation))["turns"],
        [{"role": "user", "content": "Hi"}],
        [{"role": "system", "content": "Steps: S1 add 250 ml of water (2x), S2 wait 30 s."},
         {"role": "user", "content": "Is it 10:45 already? \U0001F375"},
         {"role": "assistant", "content": "Yes.\n\nNext: stir it, then wait."}],
    ]
    for i, turns in enumerate(conversations):
        theirs = list(tok.apply_chat_template(turns, tokenize=True, return_dict=False))
        r = subprocess.run([a.tool, os.path.join(folder, "tokenizer.json"), "llama3"], input=json.dumps(turns),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        check(r.returncode == 0, f"chat_template_tool ran: {r.stderr.strip()}")
        ours = json.loads(r.stdout)
        first = next((k for k, (x, y) in enumerate(zip(ours, theirs)) if x != y), min(len(ours), len(theirs)))
        check(ours == theirs, f"conversation {i} ({len(turns)} turns, {len(theirs)} ids): ours equal "
                              f"apply_chat_template's" + ("" if ours == theirs else
                                                          f"; first difference at {first}: {ours[first:first + 5]} "
                                                          f"vs {theirs[first:first + 5]}"))


if __name__ == "__main__":
    main()
