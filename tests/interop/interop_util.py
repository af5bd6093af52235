"""What the interop scripts share: running our programs (output shown on failure), the logits of
`prospect_lm logits`, and a check that says what it compared."""
import json
import os
import subprocess
import sys
import tempfile


def run(cmd, what):
    """Runs cmd (a list); exits the test with its output when it fails."""
    print("+ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        print(r.stdout)
        fail(f"{what}: exit {r.returncode}")
    return r.stdout


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def check(ok, msg):
    print(("ok: " if ok else "FAIL: ") + msg, flush=True)
    if not ok:
        sys.exit(1)


def prospect_logits(lm, model_dir, ids):
    """`prospect_lm logits --model DIR --ids ...` as a list of rows (positions) of floats."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "logits.json")
        run([lm, "logits", "--model", model_dir, "--ids", ",".join(map(str, ids)), "--out", out], "prospect_lm logits")
        with open(out) as f:
            return json.load(f)["logits"]
