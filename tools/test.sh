#!/usr/bin/env bash
# The test command. Installs what it needs, then:
#   1. the default build (Debian's LibTorch 1.13, CPU) in build/: every test (unit, mpi, slurm, slow);
#      options given to this script pass to its ctest;
#   2. the sanitizer job (tools/sanitize.sh: the parsers' unit tests under ASan + UBSan, build-asan/;
#      PROSPECT_SANITIZE=0 skips it);
#   3. the LibTorch 2.x build (the pinned CUDA torch wheel of tools/torch_venv.sh, run on the CPU) in
#      build-torch2/: the unit and mpi tests (not the slow ones, which train the demo model).
# PROSPECT_TORCH2=0 skips the third. Both builds get PROSPECT_PYTHON, the venv's Python with the test
# oracles. Ends with the wall time of each phase.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
jobs=$(nproc)
torch2=${PROSPECT_TORCH2:-1}

times=()
failed=()
report() {
  echo "== tools/test.sh: wall time per phase"
  for t in "${times[@]}"; do echo "   $t"; done
  [ ${#failed[@]} -eq 0 ] || echo "   failed: ${failed[*]}"
}
trap report EXIT
# phase NAME COMMAND...: runs and times one phase; a failed phase is recorded and the run goes on
# with the phases that do not depend on it (the caller checks).
# CPU seconds (user + system) of the finished child processes so far, from bash's `times` (run in
# this shell: a command substitution would ask a subshell that has no children).
times_file=$(mktemp)
cpu_seconds() {
  times > "$times_file"
  tail -n1 "$times_file" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } printf "%d", t }'
}
phase() {
  local name=$1; shift
  local start=$SECONDS rc=0 cpu0 cpu1
  cpu_seconds > "$times_file.0"; cpu0=$(cat "$times_file.0")
  echo "== $name"
  "$@" || rc=$?
  cpu_seconds > "$times_file.0"; cpu1=$(cat "$times_file.0")
  times+=("$(printf '%-14s %5d s wall %6d s cpu%s' "$name" $((SECONDS - start)) $((cpu1 - cpu0)) \
    "$([ $rc -eq 0 ] || echo "  (exit $rc)")")")
  [ $rc -eq 0 ] || failed+=("$name")
  return $rc
}

phase apt bash tools/install_deps.sh
venv_out=$(mktemp)
phase venv bash -c "bash tools/torch_venv.sh > $venv_out"
venv=$(tail -n1 "$venv_out"); rm -f "$venv_out"

default_build() {
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPROSPECT_PYTHON="$venv/bin/python"
  cmake --build build -j"$jobs"
}
default_tests() { (cd build && ctest --output-on-failure -j"$jobs" "$@"); }

# The 2.x build: only what the unit and mpi tests need (no benchmarks). Every program must load
# the libcudart and NCCL of torch's wheels, not a system toolkit's (docs/cluster.md).
torch2_build() {
  cmake -C "$venv/prospect.cmake" -S . -B build-torch2 -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON
  cmake --build build-torch2 -j"$jobs"
  local lib path
  for lib in libcudart.so libnccl.so libtorch_cpu.so; do
    path=$(ldd build-torch2/prospect_train | awk -v l="$lib" 'index($1, l) == 1 { print $3 }')
    case "$(realpath -m "$path")" in
      "$(realpath "$venv")"/*) echo "prospect_train loads $path" ;;
      *) echo "prospect_train loads $lib from '$path', not from $venv" >&2; return 1 ;;
    esac
  done
}
torch2_tests() { (cd build-torch2 && ctest --output-on-failure -j"$jobs" -L 'unit|mpi' -LE slow); }

status=0
phase "default build" default_build || exit 1
phase "default tests" default_tests "$@" || status=1
if [ "${PROSPECT_SANITIZE:-1}" != 0 ]; then
  phase sanitize bash tools/sanitize.sh || status=1
fi
if [ "$torch2" != 0 ]; then
  phase "2.x build" torch2_build || exit 1
  phase "2.x tests" torch2_tests || status=1
fi
exit $status
