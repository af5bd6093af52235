#!/bin/bash
# Builds and runs every benchmark (bench/<name>.cpp -> build/bench/bench_<name>), each writing its JSON
# to bench/results/, then renders docs/performance.md. Run from anywhere; uses build/ in the repository.
# Every bench has a time limit so that the whole run stays under ten minutes on a quiet machine; a bench
# that fails or runs out of time keeps its previous JSON and the run goes on.
#   bench/run_all.sh [--quick]     --quick: the benches' short modes (train step: demo shape only)
set -u
cd "$(dirname "$0")/.."
QUICK=${1:-}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
targets=$(for f in bench/*.cpp; do [ "$f" = bench/attention.cpp ] || echo "bench_$(basename "$f" .cpp)"; done)
cmake --build build --target $targets prospect_train prospect_data || exit 1
mkdir -p bench/results
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe --bind-to none}
status=0
for f in bench/*.cpp; do
  n=$(basename "$f" .cpp)
  cmd=("build/bench/bench_$n")
  limit=90
  case "$n" in
    train_step)
      limit=300
      cmd+=(--steps 2)
      [ "$QUICK" = --quick ] && cmd+=(--quick --out bench/results/train_step_quick.json) ;;
    allreduce)
      # prospect_train at 1 and 2 ranks on the tiny synthetic data of the disttrain tests.
      data=build/fixtures/disttrain
      [ -f "$data/tokenizer.model" ] || build/prospect_data synth --out "$data" --videos 20 --dim 16 >/dev/null || exit 1
      limit=300
      out=bench/results/allreduce.json
      [ "$QUICK" = --quick ] && { out=bench/results/allreduce_quick.json; cmd+=(--steps 12 --rounds 1 --bucket-mb 1,25); }
      cmd+=("$data" "$out") ;;
    dist)
      cmd=($MPIRUN -n 2 "build/bench/bench_$n")
      [ "$QUICK" = --quick ] && cmd+=(--quick) ;;
    model)
      [ "$QUICK" = --quick ] && cmd+=(--quick) ;;
    attention)
      # Fused vs materialised attention needs the LibTorch 2.x build (docs/cluster.md).
      if [ ! -d build-torch2 ]; then
        echo "== bench_attention: skipped (no build-torch2; it compares LibTorch 2.x's fused attention)"
        continue
      fi
      cmake --build build-torch2 --target bench_attention || { status=1; continue; }
      cmd=(build-torch2/bench/bench_attention)
      limit=300
      [ "$QUICK" = --quick ] && cmd+=(--seq 1024 --rounds 1 --out bench/results/attention_quick.json) ;;
  esac
  echo "== ${cmd[*]} (limit ${limit}s)"
  start=$(date +%s)
  if ! timeout "$limit" "${cmd[@]}"; then
    echo "bench_$n failed or ran out of time" >&2
    status=1
  fi
  echo "== bench_$n: $(( $(date +%s) - start )) s"
done
/usr/bin/python3 tools/render_performance.py
exit $status
