#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the demo need. Idempotent: safe to re-run.
#   --torch pip   also the virtual environment of the LibTorch 2.x build and of the Python test oracles
#                 (tools/torch_venv.sh: pinned torch wheel, outside the clone); prints its path last.
set -euo pipefail
torch=""
while [ $# -gt 0 ]; do
  case "$1" in
    --torch) [ $# -ge 2 ] || { echo "install_deps: --torch needs a value (pip)" >&2; exit 2; }
             torch=$2; shift 2 ;;
    --torch=*) torch=${1#--torch=}; shift ;;
    *) echo "install_deps: unknown option '$1' (expected --torch pip)" >&2; exit 2 ;;
  esac
done
case "$torch" in ""|pip) ;; *) echo "install_deps: --torch: expected pip, found '$torch'" >&2; exit 2 ;; esac
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-openmp
  libopenmpi-dev openmpi-bin
  libhdf5-dev
  libspdlog-dev libfmt-dev
  libboost-program-options-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev
  libsentencepiece-dev sentencepiece
  libonig-dev libutf8proc-dev
  default-jre-headless
  python3-torch python3-h5py python3-numpy python3-matplotlib python3-venv
  slurm-wlm munge
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q >&2
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
# Debian's LibTorch calls libblas.so.3 and liblapack.so.3, which the alternatives system points at a
# BLAS. It must be OpenBLAS built with OpenMP, whose threads follow train.threads: the pthreads build
# (libopenblas0-pthread, priority 100 over OpenMP's 95, pulled in by other packages) fixes its thread
# count when it loads, so results would depend on OMP_NUM_THREADS and bitwise resume breaks; the
# reference BLAS is about ten times slower. Set explicitly (manual mode: later installs leave it);
# the programs check what they got at start (src/core/blas.cpp).
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  target="/usr/lib/$multiarch/openblas-openmp/$lib"
  if [ ! -e "$target" ]; then
    [ "$lib" = libopenblas.so.0 ] && continue
    echo "deps: $target is missing (libopenblas0-openmp)" >&2
    exit 1
  fi
  alt="$lib-$multiarch"
  if ! update-alternatives --query "$alt" 2>/dev/null | grep -qx "Status: manual" ||
     [ "$(readlink "/etc/alternatives/$alt")" != "$target" ]; then
    $SUDO update-alternatives --set "$alt" "$target" >&2
  fi
done
echo "deps: ok (${#missing[@]} installed now)" >&2
if [ "$torch" = pip ]; then
  bash "$(dirname "$0")/torch_venv.sh"
fi
