#!/bin/bash
# Builds and runs every benchmark (bench/<name>.cpp -> build/bench/bench_<name>), each writing its JSON
# to bench/results/, then renders docs/performance.md. Run from anywhere; uses build/ in the repository,
# and build-torch2/ (the LibTorch 2.x build, docs/cluster.md) where it exists.
# The training step (bench_train_step, bench_dst_step) is measured by tools/bench_compare.py: C++ of both
# builds against Hugging Face transformers (tools/reference/hf_step.py, eager and torch.compile, from the
# project's virtual environment, tools/torch_venv.sh), alternately, round by round, on the demo data
# (made here with prospect_data synth when data/demo is missing).
# Every bench has a time limit so that the whole run stays under twenty minutes; a bench that fails or
# runs out of time keeps its previous JSON and the run goes on.
#   bench/run_all.sh [--quick]     --quick: the benches' short modes (one round, demo shape only)
set -u
cd "$(dirname "$0")/.."
QUICK=${1:-}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
targets=$(for f in bench/*.cpp; do [ "$f" = bench/attention.cpp ] || echo "bench_$(basename "$f" .cpp)"; done)
cmake --build build --target $targets prospect_train prospect_data || exit 1
if [ -d build-torch2 ]; then
  cmake --build build-torch2 --target bench_train_step bench_dst_step || echo "build-torch2: benches not built" >&2
fi
mkdir -p bench/results
[ -f data/demo/train.h5 ] || build/prospect_data synth --out data/demo >/dev/null || exit 1
echo "{\"uptime_start\": \"$(uptime)\", \"nproc\": $(nproc)}" > bench/results/machine.json.tmp
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe --bind-to none}
status=0
for f in bench/*.cpp; do
  n=$(basename "$f" .cpp)
  cmd=("build/bench/bench_$n")
  limit=90
  case "$n" in
    train_step|dst_step)
      continue ;;  # tools/bench_compare.py below
    allreduce)
      # prospect_train at 1 and 2 ranks on the tiny synthetic data of the disttrain tests.
      data=build/fixtures/disttrain
      [ -f "$data/tokenizer.model" ] || build/prospect_data synth --out "$data" --videos 20 --dim 16 >/dev/null || exit 1
      limit=300
      out=bench/results/allreduce.json
      [ "$QUICK" = --quick ] && { out=bench/results/allreduce_quick.json; cmd+=(--steps 12 --rounds 1 --bucket-mb 1,25); }
      cmd+=("$data" "$out") ;;
    tokenizer)
      limit=240 ;;  # ours and Hugging Face tokenizers on 10 MB
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
cmp=(--rounds 3 --rounds-1b 2 --profile decoder_demo,dst_demo,decoder_1b,dst_1b)
[ "$QUICK" = --quick ] && cmp=(--rounds 1 --only decoder_demo,dst_demo --out bench/results/compare_quick.json)
# CMP_LIMIT: seconds for the whole comparison (about 10 min on a quiet 2-core machine; a loaded one
# needs more)
echo "== tools/bench_compare.py ${cmp[*]} (limit ${CMP_LIMIT:-900}s)"
start=$(date +%s)
timeout "${CMP_LIMIT:-900}" /usr/bin/python3 tools/bench_compare.py "${cmp[@]}" || { echo "bench_compare failed or ran out of time" >&2; status=1; }
echo "== bench_compare: $(( $(date +%s) - start )) s"
sed "s/}\$/, \"uptime_end\": \"$(uptime)\"}/" bench/results/machine.json.tmp > bench/results/machine.json
rm -f bench/results/machine.json.tmp
/usr/bin/python3 tools/render_performance.py
exit $status
