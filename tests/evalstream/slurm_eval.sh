#!/usr/bin/env bash
# jobs/eval_dst.slurm under a private Slurm (tools/slurm_local.sh): a tiny model trained here for a
# few steps, evaluated by a 2-task job with the script's defaults (--split test, out
# runs/slurm-ID/eval) and by one with --out, --split and a --key=value override; each eval.json must
# equal, byte for byte, that of the same evaluation run with mpirun (SPEC §8: identical for any number
# of ranks), and show turns and DST updates (equal empty outputs would prove nothing). A call without
# its two arguments, or with a checkpoint that is not there, is a usage error (exit 2).
# usage: slurm_eval.sh SOURCE_DIR BIN_DIR   (BIN_DIR holds prospect_data, prospect_train, prospect_eval)
# Exit 0 pass, 1 fail, 77 skip (Slurm cannot start here).
set -u
src=$(cd "${1:?usage: slurm_eval.sh SOURCE_DIR BIN_DIR}" && pwd)
bin=$(cd "${2:?usage: slurm_eval.sh SOURCE_DIR BIN_DIR}" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root to run slurmd"
command -v slurmctld >/dev/null || skip "slurm-wlm is not installed"

work=$(mktemp -d /tmp/prospect-slurm-eval.XXXXXX)
chmod 755 "$work"
sdir=$work/slurm
cleanup() {
  [ -n "${jobs_started:-}" ] && SLURM_CONF=$sdir/slurm.conf scancel --full $jobs_started 2>/dev/null
  bash "$src/tools/slurm_local.sh" stop "$sdir" >/dev/null 2>&1
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.log "$work"/slurm-*.out; do [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }; done; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$work"

# ---- a tiny model: synthetic data, a few training steps ----
"$bin/prospect_data" synth --out data --videos 16 --dim 16 >synth.log 2>&1 || fail "prospect_data synth failed"
cat >tiny.ini <<EOF2
[data]
train = data/train.h5
val = data/val.h5
test = data/test.h5
tokenizer = data/tokenizer.model
max_seq_len = 256
[model]
hidden_size = 32
intermediate_size = 64
num_hidden_layers = 2
num_attention_heads = 2
num_key_value_heads = 1
[eval]
max_new_tokens = 6
[train]
max_steps = 3
micro_batch_size = 2
threads = 1
val_every = 0
EOF2
"$bin/prospect_train" --config tiny.ini --run-dir run >train.log 2>&1 || fail "prospect_train failed"
ckpt=run/checkpoints/latest
# low thresholds: the barely trained model then speaks and updates the state
thresholds=(--eval.speak_threshold=0.2 --eval.dst_threshold=0.45)

# ---- the references: the same evaluations under mpirun ----
mpirun --allow-run-as-root --oversubscribe --bind-to none -n 2 "$bin/prospect_eval" --config tiny.ini \
  --checkpoint "$ckpt" --split test --out ref_test --train.threads=1 "${thresholds[@]}" >ref_test.log 2>&1 ||
  fail "reference evaluation (test) failed"
mpirun --allow-run-as-root --oversubscribe --bind-to none -n 2 "$bin/prospect_eval" --config tiny.ini \
  --checkpoint "$ckpt" --split val --out ref_val --train.threads=1 "${thresholds[@]}" >ref_val.log 2>&1 ||
  fail "reference evaluation (val) failed"
for f in ref_test ref_val; do
  python3 - "$f/predictions.jsonl" <<'PY' || fail "$f: the predictions have no assistant turn or no DST update"
import json, sys
roles = set()
for line in open(sys.argv[1]):
    for e in json.loads(line)["predicted"]:
        roles.add(e["role"])
sys.exit(0 if {"assistant", "DST_UPDATE"} <= roles else 1)
PY
done

# ---- usage errors: exit 2 before anything runs ----
bash "$src/jobs/eval_dst.slurm" >usage.log 2>&1
[ $? = 2 ] || fail "eval_dst.slurm without arguments: expected exit 2"
PROSPECT_BIN=$bin bash "$src/jobs/eval_dst.slurm" tiny.ini run/checkpoints/no-such-step >usage.log 2>&1
[ $? = 2 ] || fail "eval_dst.slurm with a missing checkpoint: expected exit 2"
grep -q "no-such-step" usage.log || fail "the missing checkpoint is not named"

# ---- under Slurm ----
out=$(bash "$src/tools/slurm_local.sh" start "$sdir" 2>&1) || skip "Slurm did not start: $out"
export SLURM_CONF=$sdir/slurm.conf
unset SLURM_JOB_ID SLURM_JOBID SLURM_NTASKS SLURM_CPUS_PER_TASK
state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
wait_job() {
  for _ in $(seq 1500); do
    case $(state "$1") in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
    sleep 0.2
  done
  [ "$(state "$1")" = COMPLETED ] || fail "job $1 ended '$(state "$1")'"
}
# defaults: --split test, --out runs/slurm-ID/eval, threads from --cpus-per-task
jid=$(PROSPECT_BIN=$bin sbatch --parsable -n 2 --cpus-per-task=1 "$src/jobs/eval_dst.slurm" tiny.ini "$ckpt" \
  "${thresholds[@]}") || fail "sbatch of eval_dst.slurm failed"
jobs_started=$jid
wait_job "$jid"
grep -q "on 2 ranks" "slurm-prospect-eval-$jid.out" || fail "job $jid did not run on 2 ranks"
cmp -s "runs/slurm-$jid/eval/eval.json" ref_test/eval.json || fail "job $jid: eval.json differs from mpirun's"
cmp -s "runs/slurm-$jid/eval/predictions.jsonl" ref_test/predictions.jsonl || fail "job $jid: predictions differ"
echo "ok: eval_dst.slurm with its defaults (job $jid) wrote runs/slurm-$jid/eval, equal to mpirun's"
# given: --out DIR, --split val
jid=$(PROSPECT_BIN=$bin sbatch --parsable -n 2 --cpus-per-task=1 "$src/jobs/eval_dst.slurm" tiny.ini "$ckpt" \
  --out given "${thresholds[@]}" --split val) || fail "sbatch of eval_dst.slurm failed"
jobs_started="$jobs_started $jid"
wait_job "$jid"
cmp -s given/eval.json ref_val/eval.json || fail "job $jid: eval.json (--split val --out given) differs from mpirun's"
[ ! -e "runs/slurm-$jid" ] || fail "job $jid wrote runs/slurm-$jid although --out was given"
echo "ok: eval_dst.slurm with --out and --split (job $jid), equal to mpirun's"
echo PASS
