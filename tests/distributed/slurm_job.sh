#!/usr/bin/env bash
# The Slurm path on a private single-node Slurm (tools/slurm_local.sh):
#  1. a 2-task job runs collective_loop under `srun --mpi=pmix` (MPI over PMIx works);
#  2. jobs/train_dst.slurm with a stand-in prospect_train (collective_loop behind a wrapper that
#     records its arguments): SIGUSR1 to the job's steps -> every rank exits 3 -> the script requeues
#     -> the same job id runs again in the same run directory (runs/slurm-ID) and completes.
# Exit 77 (a skip for CTest) when Slurm cannot start here, with the reason.
# usage: slurm_job.sh SOURCE_DIR COLLECTIVE_LOOP
set -u
src=$(cd "$1" && pwd)
loop=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root to run slurmd"
command -v slurmctld >/dev/null || skip "slurm-wlm is not installed"

work=$(mktemp -d /tmp/prospect-slurm-test.XXXXXX)
chmod 755 "$work"
sdir=$work/slurm
cleanup() {
  [ -n "${jobs_started:-}" ] && SLURM_CONF=$sdir/slurm.conf scancel --full $jobs_started 2>/dev/null
  bash "$src/tools/slurm_local.sh" stop "$sdir" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
if ! out=$(bash "$src/tools/slurm_local.sh" start "$sdir" 2>&1); then
  skip "Slurm did not start: $out"
fi
export SLURM_CONF=$sdir/slurm.conf
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset SLURM_JOB_ID SLURM_JOBID SLURM_NTASKS SLURM_CPUS_PER_TASK
fail() { echo "FAIL: $*"; for f in "$work"/*.out "$work"/run/slurm-*.out; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done; exit 1; }

job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
restarts() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p'; }

# ---- 1. MPI hello through srun --mpi=pmix ----
cat >"$work/hello.sbatch" <<EOF2
#!/bin/bash
srun --mpi=pmix "$loop" --iters 200 --timeout 30
EOF2
jid=$(sbatch --parsable -n 2 --chdir="$work" --output="$work/hello-%j.out" "$work/hello.sbatch") || fail "sbatch failed"
jobs_started="$jid"
for _ in $(seq 300); do
  case $(job_state "$jid") in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
  sleep 0.2
done
st=$(job_state "$jid")
[ "$st" = COMPLETED ] || fail "hello job $jid ended in state '$st'"
grep -q "collective_loop ok: 2 ranks" "$work/hello-$jid.out" || fail "hello job output lacks 'collective_loop ok: 2 ranks'"
echo "ok: 2-task MPI job through srun --mpi=pmix"

# ---- 2. jobs/train_dst.slurm: signal, exit 3, requeue, same run directory, completion ----
mkdir -p "$work/bin" "$work/run"
cat >"$work/bin/prospect_train" <<EOF2
#!/bin/bash
# Stand-in for the trainer: records its arguments, then loops collectives. The first run stops on
# SIGUSR1 with exit 3; the requeued run (SLURM_RESTART_COUNT 1) finishes by itself.
run_dir=""
prev=""
for a in "\$@"; do [ "\$prev" = --run-dir ] && run_dir=\$a; prev=\$a; done
mkdir -p "\$run_dir"
echo "restart \${SLURM_RESTART_COUNT:-0} rank \${SLURM_PROCID}: \$*" >>"\$run_dir/args.txt"
if [ "\${SLURM_RESTART_COUNT:-0}" = 0 ]; then
  exec "$loop" --stop-on-signal --timeout 60 --pids "\$run_dir/pids"
else
  exec "$loop" --iters 100 --timeout 60
fi
EOF2
chmod +x "$work/bin/prospect_train"
echo "[train]" >"$work/run/demo.ini"
jid=$(cd "$work/run" && PROSPECT_BIN=$work/bin sbatch --parsable -n 2 --cpus-per-task=1 \
  "$src/jobs/train_dst.slurm" demo.ini --optim.lr=0.5) || fail "sbatch of train_dst.slurm failed"
jobs_started="$jid"
rdir=$work/run/runs/slurm-$jid
for _ in $(seq 300); do
  [ -f "$rdir/pids" ] && [ "$(wc -l <"$rdir/pids")" -ge 2 ] && break
  sleep 0.2
done
[ -f "$rdir/pids" ] && [ "$(wc -l <"$rdir/pids")" -ge 2 ] || fail "the job's 2 ranks did not start in $rdir (state $(job_state "$jid"))"
sleep 1
scancel --signal=USR1 "$jid" || fail "scancel --signal=USR1 failed"
for _ in $(seq 900); do
  [ "$(restarts "$jid")" -ge 1 ] 2>/dev/null && [ "$(job_state "$jid")" = COMPLETED ] && break
  sleep 0.2
done
st=$(job_state "$jid")
[ "$st" = COMPLETED ] || fail "job $jid is '$st' with $(restarts "$jid") restarts, expected COMPLETED after 1 requeue"
log=$work/run/slurm-prospect-train-$jid.out
[ -f "$log" ] || fail "no job output $log"
grep -q "requeueing job $jid" "$log" || fail "the first run did not requeue"
[ "$(grep -c 'stop requested' "$log")" -ge 2 ] || fail "not every rank logged the agreed stop"
grep -q "collective_loop ok: 2 ranks" "$log" || fail "the requeued run did not complete"
grep -q "restart 0 rank 0: --config demo.ini --run-dir runs/slurm-$jid --resume auto --optim.lr=0.5 --train.threads=1" \
  "$rdir/args.txt" || fail "unexpected trainer arguments: $(cat "$rdir/args.txt")"
grep -q "restart 1 rank 1: --config demo.ini --run-dir runs/slurm-$jid --resume auto" "$rdir/args.txt" ||
  fail "the requeued run did not use the same run directory: $(cat "$rdir/args.txt")"
echo "ok: train_dst.slurm stopped on SIGUSR1 (exit 3), requeued itself and completed in runs/slurm-$jid"

# ---- 3. a lost rank under srun: kill -9 and SIGSTOP end the step, naming the rank ----
for mode in kill stop; do
  bash "$src/tests/distributed/peer_failure.sh" "$loop" "$mode" 3 5 srun --mpi=pmix --overcommit >"$work/peer-$mode.txt" 2>&1 ||
    { cat "$work/peer-$mode.txt"; fail "srun peer failure ($mode)"; }
  echo "ok: under srun, $(grep 'job ended' "$work/peer-$mode.txt")"
done
echo PASS
