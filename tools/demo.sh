#!/usr/bin/env bash
# The demo: install, build, make the synthetic dataset, inspect and validate it, train on 2 ranks,
# evaluate on the test split (streaming, as deployed), print the metrics.
# Everything lands under data/demo, runs/demo and runs/demo/eval-test. Re-running resumes/reuses.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
export CCACHE_BASEDIR="$PWD"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target prospect_data prospect_train prospect_eval prospect_spm_train prospect_spm
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
start=$(date +%s)
build/prospect_data synth --out data/demo
build/prospect_data inspect data/demo/train.h5
for s in train val test; do build/prospect_data validate data/demo/$s.h5; done
echo "demo: data made and validated in $(( $(date +%s) - start )) s"

t0=$(date +%s)
mpirun -n 2 --bind-to none build/prospect_train --config configs/demo.ini --run-dir runs/demo --resume auto \
  --train.threads=1
echo "demo: trained in $(( $(date +%s) - t0 )) s"
t0=$(date +%s)
mpirun -n 2 --bind-to none build/prospect_eval --config configs/demo.ini \
  --checkpoint runs/demo/checkpoints/latest --split test --out runs/demo/eval-test --train.threads=1
echo "demo: evaluated in $(( $(date +%s) - t0 )) s; metrics in runs/demo/eval-test/eval.json"
echo "demo: last validation (teacher-forced): $(tail -n 1 runs/demo/metrics.jsonl)"
echo "demo: total $(( $(date +%s) - start )) s after the build"
