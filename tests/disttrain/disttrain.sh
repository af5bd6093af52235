#!/usr/bin/env bash
# Distributed training acceptance (SPEC §2.3, §6, §7) on a tiny model and the tiny synthetic data.
# usage: disttrain.sh MODE BIN_DIR DATA_DIR WORK_DIR MPIRUN [ARGS...]
#   equiv   mpirun -n 2 and mpirun -n 1 --data.virtual_ranks=2: same losses for 20 steps and the same
#           final weights (relative difference <= 1e-5, SPEC §9)
#   uneven  -n 3 on a data set that does not split evenly: every rank runs every step, exit 0, and
#           the same losses and weights (<= 1e-5) as -n 1 --data.virtual_ranks=3
#   kill    kill -9 of rank 1 mid-run: the job ends within timeout_s + 10 s, non-zero, naming rank 1;
#           the latest checkpoint loads and a resume from it finishes
#   stop    kill -STOP of rank 1: the same, exit 4 from the watchdog naming rank 1
#   usr1    SIGUSR1 to every rank: checkpoint, exit 3; --resume auto then ends with the same weights,
#           bit for bit, as the same run never stopped
set -u
mode=$1 bin=$2 data=$3 work=$4
shift 4
mpirun=("$@")
train=$bin/prospect_train
compare=${PROSPECT_COMPARE:-$bin/tests/disttrain/compare_checkpoints}
timeout_s=10
work=$work/$mode
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1

common=(--data.train="$data/train.h5" --data.val="$data/val.h5" --data.test="$data/test.h5"
        --data.tokenizer="$data/tokenizer.model" --data.max_seq_len=256 --model.hidden_size=32
        --model.intermediate_size=64 --model.num_hidden_layers=2 --model.num_attention_heads=2
        --model.num_key_value_heads=1 --train.micro_batch_size=2 --train.threads=1 --train.val_every=0
        --train.log_every=1 --optim.warmup_steps=3 --dist.timeout_s=$timeout_s)

# losses of metrics.jsonl (training steps only), one per line
losses() { grep -v '"split"' "$1/metrics.jsonl" | sed -n 's/.*"loss":\([^,}]*\).*/\1/p'; }
step_of() { basename "$(readlink -f "$1/checkpoints/latest")" | sed 's/step-0*//'; }

# The pids of the ranks of mpirun $1 (children with OMPI_COMM_WORLD_RANK), as "rank pid" lines.
rank_pids() {
  local p
  for p in $(pgrep -P "$1"); do
    local r
    r=$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')
    [ -n "$r" ] && echo "$r $p"
  done
}

# Waits for a first complete checkpoint in run dir $1 while mpirun $2 runs.
wait_checkpoint() {
  for _ in $(seq 1200); do
    [ -e "$1/checkpoints/latest" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Waits for pid $1 to end, at most $2 seconds; sets elapsed.
wait_end() {
  local start now
  start=$(date +%s.%N)
  while kill -0 "$1" 2>/dev/null; do
    now=$(date +%s.%N)
    elapsed=$(awk -v a="$now" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
    awk -v e="$elapsed" -v l="$2" 'BEGIN { exit !(e > l) }' && return 1
    sleep 0.1
  done
  elapsed=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
  return 0
}

case $mode in
equiv)
  # grad_accum 1: the 2 ranks' gradients sum in the same order as the accumulation on one rank (bitwise
  # in practice); grad_accum 2: the order differs ((a+b)+(c+d) against ((a+b)+c)+d), within 1e-5
  steps=20
  for accum in 1 2; do
    "${mpirun[@]}" -n 2 "$train" "${common[@]}" --run-dir "$work/np2_$accum" --train.max_steps=$steps \
      --train.grad_accum=$accum >"$work/np2_$accum.log" 2>&1 || fail "-n 2 run failed (grad_accum $accum)"
    "${mpirun[@]}" -n 1 "$train" "${common[@]}" --run-dir "$work/np1_$accum" --train.max_steps=$steps \
      --train.grad_accum=$accum --data.virtual_ranks=2 >"$work/np1_$accum.log" 2>&1 ||
      fail "-n 1 --data.virtual_ranks=2 run failed (grad_accum $accum)"
    paste <(losses "$work/np2_$accum") <(losses "$work/np1_$accum") >"$work/losses_$accum"
    [ "$(wc -l <"$work/losses_$accum")" = $steps ] || fail "expected $steps losses, found $(wc -l <"$work/losses_$accum")"
    echo "grad_accum $accum: losses (-n 2, -n 1) of steps 1 and $steps:" $(sed -n "1p;${steps}p" "$work/losses_$accum")
    awk '{ d = $1 - $2; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2; if (s < 1e-8) s = 1e-8; if (d / s > w) w = d / s }
         END { printf "worst relative loss difference %.3g\n", w; exit !(w <= 1e-5) }' "$work/losses_$accum" ||
      fail "losses differ (grad_accum $accum)"
    "$compare" "$work/np2_$accum/checkpoints/latest" "$work/np1_$accum/checkpoints/latest" 1e-5 ||
      fail "final weights differ (grad_accum $accum)"
  done
  ;;
uneven)
  steps=8
  "${mpirun[@]}" -n 3 "$train" "${common[@]}" --run-dir "$work/np3" --train.max_steps=$steps >"$work/np3.log" 2>&1 ||
    fail "-n 3 run failed"
  grep -q "padded with repeats" "$work/np3.log" || fail "the shards were even (no padding logged): not the case under test"
  [ "$(losses "$work/np3" | wc -l)" = $steps ] || fail "expected $steps steps in metrics.jsonl"
  [ "$(step_of "$work/np3")" = $steps ] || fail "the last checkpoint is not step $steps"
  grep "padded with repeats" "$work/np3.log" | head -n 2
  # and the padded data order is the one of 3 virtual ranks on one process
  "${mpirun[@]}" -n 1 "$train" "${common[@]}" --run-dir "$work/np1" --train.max_steps=$steps --data.virtual_ranks=3 \
    >"$work/np1.log" 2>&1 || fail "-n 1 --data.virtual_ranks=3 run failed"
  paste <(losses "$work/np3") <(losses "$work/np1") |
    awk '{ d = $1 - $2; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2; if (s < 1e-8) s = 1e-8; if (d / s > w) w = d / s }
         END { printf "worst relative loss difference against -n 1: %.3g\n", w; exit !(w <= 1e-5) }' ||
    fail "losses differ from -n 1 --data.virtual_ranks=3"
  "$compare" "$work/np3/checkpoints/latest" "$work/np1/checkpoints/latest" 1e-5 ||
    fail "final weights differ from -n 1 --data.virtual_ranks=3"
  ;;
kill | stop)
  sig=KILL && [ "$mode" = stop ] && sig=STOP
  run=$work/run
  "${mpirun[@]}" -n 2 "$train" "${common[@]}" --run-dir "$run" --train.max_steps=100000 --train.save_every=2 \
    --train.keep_last=2 >"$work/victim.log" 2>&1 &
  mpid=$!
  trap 'kill -9 $mpid 2>/dev/null; [ -n "${vpid:-}" ] && { kill -CONT $vpid; kill -9 $vpid; } 2>/dev/null' EXIT
  wait_checkpoint "$run" "$mpid" || fail "no checkpoint appeared"
  sleep 1
  vpid=$(rank_pids "$mpid" | awk '$1 == 1 { print $2 }')
  [ -n "$vpid" ] || fail "rank 1 not found among the children of mpirun"
  echo "SIG$sig to rank 1 (pid $vpid)"
  kill -$sig "$vpid"
  wait_end "$mpid" $((timeout_s + 10)) || fail "the job still runs ${elapsed} s after SIG$sig of rank 1"
  wait "$mpid"
  rc=$?
  echo "job ended ${elapsed} s after SIG$sig of rank 1 with exit code $rc"
  [ "$rc" != 0 ] || fail "exit code 0"
  [ "$mode" = kill ] || [ "$rc" = 4 ] || fail "expected exit code 4 from the watchdog, found $rc"
  grep -Eq "suspected peer rank\(s\):.*\b1\b|process rank 1\b" "$work/victim.log" ||
    fail "the output does not name rank 1"
  grep -E "suspected peer|process rank 1" "$work/victim.log" | head -n 3
  last=$(step_of "$run")
  echo "latest: step $last"
  "$compare" "$run/checkpoints/latest" "$run/checkpoints/latest" 0 || fail "the latest checkpoint does not load"
  "${mpirun[@]}" -n 2 "$train" "${common[@]}" --run-dir "$run" --resume auto --train.max_steps=$((last + 2)) \
    --train.save_every=2 --train.keep_last=2 >"$work/resume.log" 2>&1 || fail "resume from step $last failed"
  grep -q "resuming from .*step-0*$last" "$work/resume.log" || fail "the resume did not start from step $last"
  [ "$(step_of "$run")" = $((last + 2)) ] || fail "the resumed run did not end at step $((last + 2))"
  ;;
usr1)
  steps=30
  args=("${common[@]}" --train.max_steps=$steps --train.save_every=3 --train.keep_last=2)
  "${mpirun[@]}" -n 2 "$train" "${args[@]}" --run-dir "$work/ref" >"$work/ref.log" 2>&1 || fail "reference run failed"
  run=$work/run
  "${mpirun[@]}" -n 2 "$train" "${args[@]}" --run-dir "$run" >"$work/stopped.log" 2>&1 &
  mpid=$!
  trap 'kill -9 $mpid 2>/dev/null' EXIT
  wait_checkpoint "$run" "$mpid" || fail "no checkpoint appeared"
  pids=$(rank_pids "$mpid" | awk '{ print $2 }')
  [ "$(echo $pids | wc -w)" = 2 ] || fail "the 2 ranks not found among the children of mpirun"
  echo "SIGUSR1 to the ranks (pids" $pids")"
  kill -USR1 $pids
  wait_end "$mpid" 60 || fail "the job still runs 60 s after SIGUSR1"
  wait "$mpid"
  rc=$?
  echo "stopped with exit code $rc after step $(step_of "$run")"
  [ "$rc" = 3 ] || fail "expected exit code 3 after SIGUSR1, found $rc"
  [ "$(step_of "$run")" -lt $steps ] || fail "the signal came after the last step: nothing to resume"
  "${mpirun[@]}" -n 2 "$train" "${args[@]}" --run-dir "$run" --resume auto >"$work/resume.log" 2>&1 ||
    fail "resume failed"
  [ "$(step_of "$run")" = $steps ] || fail "the resumed run did not end at step $steps"
  "$compare" "$run/checkpoints/latest" "$work/ref/checkpoints/latest" 0 || fail "final weights differ"
  for f in model.safetensors prospect.safetensors optimizer.safetensors; do
    cmp -s "$run/checkpoints/latest/$f" "$work/ref/checkpoints/latest/$f" || fail "$f is not bitwise equal"
  done
  ;;
*) echo "unknown mode $mode"; exit 2 ;;
esac
echo PASS
