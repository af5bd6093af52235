#!/usr/bin/env bash
# The virtual environment of the LibTorch 2.x build and of the tests' Python oracles (docs/cluster.md):
# the pinned CUDA torch wheel (a LibTorch 2.x with headers, libraries and CMake files) and the oracles
# of tools/python-requirements.txt, outside the clone and keyed by the pin, so every clone, CI run and
# later run on the machine reuses it:
#
#   ${PROSPECT_CACHE:-$HOME/.cache/prospect-dst}/venv-torch-<version>-cu<cuda>
#
# Made from Debian's python3 (python3-venv; tools/install_deps.sh --torch pip installs it). Idempotent:
# a venv whose stamp matches the pin files is reused as it is; a changed pin file is installed over it.
# Torch's CMake config wants a CUDA toolkit (nvcc and headers). Where none is installed (no nvcc in
# CUDA_HOME, /usr/local/cuda or PATH) the compiler pieces of the very CUDA release torch depends on come
# from pinned wheels (tools/python-cuda-toolkit.txt) into the venv, and CMake takes them from there
# (cmake/ProspectTorch.cmake). The libraries (libcudart, NCCL, cuBLAS ...) are always the wheel's.
#
# Fails, saying why, if torch's CUDA major and the toolkit's nvcc disagree, or torch is not the pin.
# Writes <venv>/prospect.cmake, the CMake initial cache of the 2.x build:
#   cmake -C <venv>/prospect.cmake -S . -B build-torch2 -G Ninja
# Prints the venv's path as its only line on stdout (progress goes to stderr).
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD

torch_cuda=13.0          # torch.version.cuda of the pinned wheel (PyPI's default torch build)
requirements=tools/python-requirements.txt
toolkit_requirements=tools/python-cuda-toolkit.txt
torch_version=$(sed -n 's/^torch==\([^ ;#]*\).*/\1/p' "$requirements")
[ -n "$torch_version" ] || { echo "torch_venv: no torch==<version> line in $requirements" >&2; exit 1; }
cache=${PROSPECT_CACHE:-$HOME/.cache/prospect-dst}
venv=$cache/venv-torch-$torch_version-cu${torch_cuda//./}
base_python=${PROSPECT_BASE_PYTHON:-/usr/bin/python3}

log() { echo "torch_venv: $*" >&2; }
die() { echo "torch_venv: error: $*" >&2; exit 1; }

# nvcc's CUDA release ("13.0") from `nvcc --version`.
nvcc_release() { "$1" --version | sed -n 's/.*release \([0-9]*\.[0-9]*\).*/\1/p'; }

# The system's CUDA toolkit, if any: CUDA_HOME, then /usr/local/cuda, then nvcc on PATH.
system_nvcc=""
for c in "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" /usr/local/cuda/bin/nvcc "$(command -v nvcc || true)"; do
  if [ -n "$c" ] && [ -x "$c" ] && "$c" --version >/dev/null 2>&1; then system_nvcc=$c; break; fi
done
if [ -n "$system_nvcc" ]; then
  rel=$(nvcc_release "$system_nvcc")
  [ "${rel%%.*}" = "${torch_cuda%%.*}" ] || die "the CUDA toolkit's $system_nvcc is CUDA $rel, but the" \
    "pinned torch $torch_version is a CUDA $torch_cuda build: their majors must agree (one CUDA runtime" \
    "per process, docs/cluster.md). Use a torch pin built for CUDA ${rel%%.*}, or a matching toolkit" \
    "(CUDA_HOME=...)."
  toolkit="system"
else
  toolkit="wheels"
fi

stamp_want=$( (cat "$requirements"; [ "$toolkit" = wheels ] && cat "$toolkit_requirements"; echo "toolkit=$toolkit") \
  | sha256sum | cut -c1-16)

mkdir -p "$cache"
exec 9>"$cache/.venv.lock"
flock 9    # two runs on one machine make the venv once

if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.prospect-stamp" 2>/dev/null)" = "$stamp_want" ]; then
  log "reusing $venv"
else
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    [ -x "$base_python" ] || die "no $base_python (Debian's python3; or set PROSPECT_BASE_PYTHON)"
    log "creating $venv with $base_python ($("$base_python" --version 2>&1))"
    rm -rf "$venv"
    "$base_python" -m venv "$venv" || die "$base_python -m venv failed: install python3-venv" \
      "(bash tools/install_deps.sh --torch pip)"
  fi
  rm -f "$venv/.prospect-stamp"
  log "installing $requirements (torch $torch_version and the oracles: a few GB)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2 \
    || die "pip install -r $requirements failed (see above)"
  if [ "$toolkit" = wheels ]; then
    log "no CUDA toolkit here: installing the compiler pieces of $toolkit_requirements"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
      -r "$toolkit_requirements" >&2 || die "pip install -r $toolkit_requirements failed (see above)"
  fi
  echo "$stamp_want" > "$venv/.prospect-stamp.new"
fi

# Read what is installed (not what was asked for): torch's version, CUDA, C++ ABI, its folder.
info=$("$venv/bin/python" - <<'EOF' 2>/dev/null
import os, torch
print(torch.__version__, torch.version.cuda, int(torch._C._GLIBCXX_USE_CXX11_ABI), os.path.dirname(torch.__file__))
EOF
) || die "$venv/bin/python cannot import torch: remove $venv and run again"
read -r got_version got_cuda got_abi torch_dir <<<"$info"
[ "${got_version%%+*}" = "$torch_version" ] || die "$venv has torch $got_version, the pin is $torch_version"
[ "$got_cuda" = "$torch_cuda" ] || die "torch $got_version is a CUDA '$got_cuda' build; expected CUDA" \
  "$torch_cuda (torch_cuda in $0)"
[ "$got_abi" = 1 ] || die "torch $got_version uses the old C++ ABI: it cannot link with Debian's libraries" \
  "(docs/cluster.md)"
nvidia=$(dirname "$torch_dir")/nvidia

# Development links, as a toolkit has them: libX.so next to each libX.so.N of the wheels (FindCUDA
# and find_library look for libX.so), and lib64 (nvcc's profile links from there).
for f in "$nvidia"/*/lib/lib*.so.[0-9]*; do
  dev=${f%%.so.*}.so
  [ -e "$dev" ] || ln -s "$(basename "$f")" "$dev"
done
for d in "$nvidia"/cu[0-9]*; do
  [ -e "$d/lib64" ] || ln -s lib "$d/lib64"
done

if [ "$toolkit" = wheels ]; then
  nvcc=$(ls "$nvidia"/cu[0-9]*/bin/nvcc 2>/dev/null | head -n1)
  [ -n "$nvcc" ] || die "no nvcc in $nvidia/cu*/bin after installing $toolkit_requirements"
else
  nvcc=$system_nvcc
fi
rel=$(nvcc_release "$nvcc")
[ "${rel%%.*}" = "${got_cuda%%.*}" ] || die "nvcc $nvcc is CUDA $rel, torch $got_version is CUDA $got_cuda:" \
  "their majors must agree"

cat > "$venv/prospect.cmake" <<EOF
# CMake initial cache of the LibTorch $torch_version build (written by tools/torch_venv.sh):
#   cmake -C $venv/prospect.cmake -S . -B build-torch2 -G Ninja
set(CMAKE_PREFIX_PATH "$torch_dir" CACHE PATH "LibTorch $torch_version (torch wheel)")
set(PROSPECT_PYTHON "$venv/bin/python" CACHE FILEPATH "Python with the test oracles")
EOF
[ -f "$venv/.prospect-stamp.new" ] && mv "$venv/.prospect-stamp.new" "$venv/.prospect-stamp"
log "torch $got_version (CUDA $got_cuda, C++11 ABI), nvcc $rel from the $toolkit toolkit ($nvcc)"
echo "$venv"
