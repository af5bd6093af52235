#!/bin/bash
# Builds and runs every benchmark (bench/*.cpp -> build/bench/bench_<name>), each writing its JSON to
# bench/results/, then renders docs/performance.md. Run from anywhere; uses build/ in the repository.
# Each bench gets a time limit so the whole run stays under ten minutes.
#   bench/run_all.sh [--quick]     --quick: the train step on the demo shape only
set -u
cd "$(dirname "$0")/.."
QUICK=${1:-}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
targets=$(for f in bench/*.cpp; do n=$(basename "$f" .cpp); echo "bench_$n"; done)
cmake --build build --target $targets || exit 1
mkdir -p bench/results
status=0
for f in bench/*.cpp; do
  n=$(basename "$f" .cpp)
  args=()
  limit=120
  if [ "$n" = train_step ]; then
    limit=420
    [ "$QUICK" = --quick ] && args+=(--quick)
  fi
  echo "== bench_$n (limit ${limit}s)"
  if ! timeout "$limit" "build/bench/bench_$n" "${args[@]}"; then
    echo "bench_$n failed or ran out of time" >&2
    status=1
  fi
done
/usr/bin/python3 tools/render_performance.py
exit $status
