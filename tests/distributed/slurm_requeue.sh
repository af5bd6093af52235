#!/usr/bin/env bash
# End to end under a private Slurm (tools/slurm_local.sh): a 2-rank training job gets SIGUSR1 after
# its first checkpoint, stops (exit 3), requeues itself, resumes from its own latest checkpoint and
# finishes; its final weights must equal, byte for byte, those of the same run never stopped (SPEC §6:
# bitwise on CPU for the same world size).
# usage: slurm_requeue.sh BIN_DIR [CONFIG]   (BIN_DIR holds prospect_data and prospect_train;
#        CONFIG defaults to configs/demo.ini of this source tree; the demo data is synthesised)
# Exit 0 pass, 1 fail, 77 skip (Slurm cannot start here, or the binaries are missing).
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "${1:?usage: slurm_requeue.sh BIN_DIR [CONFIG]}" && pwd)
config=$(cd "$(dirname "${2:-$src/configs/demo.ini}")" && pwd)/$(basename "${2:-$src/configs/demo.ini}")
skip() { echo "SKIP: $*"; exit 77; }
[ -x "$bin/prospect_train" ] && [ -x "$bin/prospect_data" ] || skip "prospect_train/prospect_data not in $bin"
[ -f "$config" ] || skip "no config $config"
[ "$(id -u)" = 0 ] || skip "needs root to run slurmd"
command -v slurmctld >/dev/null || skip "slurm-wlm is not installed"

# Small and quick, checkpoints often; the same overrides for both runs.
steps=${PROSPECT_REQUEUE_STEPS:-40}
overrides=(--train.max_steps="$steps" --train.save_every=5 --train.keep_last=2 --train.val_every=0
           --train.log_every=1 --dist.timeout_s=60)

work=$(mktemp -d /tmp/prospect-requeue-test.XXXXXX)
chmod 755 "$work"
sdir=$work/slurm
cleanup() {
  [ -n "${jid:-}" ] && SLURM_CONF=$sdir/slurm.conf scancel --full "$jid" 2>/dev/null
  bash "$src/tools/slurm_local.sh" stop "$sdir" >/dev/null 2>&1
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/slurm-*.out; do [ -f "$f" ] && { echo "--- $f"; tail -n 60 "$f"; }; done; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

cd "$work"
"$bin/prospect_data" synth --out data/demo >synth.log 2>&1 || { cat synth.log; fail "prospect_data synth failed"; }

# ---- the reference: the same job never stopped ----
mpirun --allow-run-as-root --oversubscribe --bind-to none -n 2 \
  "$bin/prospect_train" --config "$config" --run-dir ref --train.threads=1 "${overrides[@]}" >ref.log 2>&1 ||
  { tail -n 40 ref.log; fail "reference run failed"; }

# ---- under Slurm: signal after the first checkpoint, requeue, resume ----
out=$(bash "$src/tools/slurm_local.sh" start "$sdir" 2>&1) || skip "Slurm did not start: $out"
export SLURM_CONF=$sdir/slurm.conf
unset SLURM_JOB_ID SLURM_JOBID SLURM_NTASKS SLURM_CPUS_PER_TASK
jid=$(PROSPECT_BIN=$bin sbatch --parsable -n 2 --cpus-per-task=1 "$src/jobs/train_dst.slurm" "$config" "${overrides[@]}") ||
  fail "sbatch failed"
rdir=$work/runs/slurm-$jid
for _ in $(seq 1500); do
  ls -d "$rdir"/checkpoints/step-* >/dev/null 2>&1 && break
  sleep 0.2
done
ls -d "$rdir"/checkpoints/step-* >/dev/null 2>&1 || fail "no checkpoint appeared in $rdir"
scancel --signal=USR1 "$jid" || fail "scancel --signal=USR1 failed"
state() { scontrol show job "$jid" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
restarts() { scontrol show job "$jid" 2>/dev/null | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p'; }
for _ in $(seq 3000); do
  case $(state) in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
  sleep 0.2
done
log=$work/slurm-prospect-train-$jid.out
[ "$(state)" = COMPLETED ] || fail "job $jid ended '$(state)'"
[ "$(restarts)" -ge 1 ] || fail "the job was not requeued (did the signal arrive after the last step?)"
grep -q "exited with code 3" "$log" || fail "the first run did not exit 3"
grep -q "requeueing job $jid" "$log" || fail "the job script did not requeue"

# ---- same final weights ----
final=$(readlink -f "$rdir/checkpoints/latest")
want=$(readlink -f "$work/ref/checkpoints/latest")
[ "$(basename "$final")" = "$(basename "$want")" ] || fail "final checkpoints differ: $(basename "$final") vs $(basename "$want")"
for f in model.safetensors prospect.safetensors optimizer.safetensors; do
  cmp -s "$final/$f" "$want/$f" || fail "$f differs between the requeued run and the uninterrupted one"
done
echo "ok: stopped, requeued (restarts $(restarts)), resumed, and ended with the same weights as never stopping ($(basename "$final"))"
echo PASS
