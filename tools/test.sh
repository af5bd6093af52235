#!/usr/bin/env bash
# The test command: installs what it needs, builds, runs every test (unit, mpi, slurm, slow), then the
# sanitizer job (tools/sanitize.sh; PROSPECT_SANITIZE=0 leaves it out).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
export CCACHE_BASEDIR="$PWD"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
cd build
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
ctest --output-on-failure -j"$(nproc)" "$@"
cd ..
# The sanitizer job: the parsers' unit tests under ASan + UBSan (docs/testing.md).
[ "${PROSPECT_SANITIZE:-1}" = 0 ] || bash tools/sanitize.sh
