#!/usr/bin/env bash
# The sanitizer job: the unit tests of everything that parses a file a user hands us (the HDF5 store
# and validate, .npy, safetensors, tokenizer.json / BPE, the config INI, clip JSON), built with
# AddressSanitizer and UndefinedBehaviorSanitizer (-DPROSPECT_SANITIZE=ON) in build-asan/, stopping at
# the first report. Builds only the test programs these tests need.
# Left out: the SentencePiece tests (SentencePiece.*): the SentencePiece module is opened with
# RTLD_DEEPBIND, which AddressSanitizer refuses (docs/testing.md says how that module is covered).
# usage: tools/sanitize.sh [ctest options]     (tools/test.sh runs it after the main suite)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
export CCACHE_BASEDIR="$PWD"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release -DPROSPECT_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$(nproc)" --target test_core test_data test_text test_safetensors
built=$(date +%s)

# halt_on_error: the first report fails the test. Leaks are reported too, except those libhdf5
# keeps when it fails to decode a damaged file (tools/lsan.supp).
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$PWD/tools/lsan.supp:print_suppressions=0"
suites='^(Config|Half|Npy|Store|Validate|Clip|Convert|Inspect|Bpe|ChatTemplate|Safetensors)\.'
cd build-asan
ctest --output-on-failure -j"$(nproc)" -L unit -R "$suites" "$@"
end=$(date +%s)
echo "sanitize: built in $((built - start)) s, tests in $((end - built)) s, $((end - start)) s in all"
