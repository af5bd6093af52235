#!/usr/bin/env bash
# The demo: install, build, make the synthetic dataset, inspect and validate it, train on 2 ranks,
# evaluate on the test split, print the metrics. Everything lands under data/demo and runs/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
start=$(date +%s)
build/prospect_data synth --out data/demo
build/prospect_data inspect data/demo/train.h5
for s in train val test; do build/prospect_data validate data/demo/$s.h5; done
echo "demo: data made and validated in $(( $(date +%s) - start )) s"
