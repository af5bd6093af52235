#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the demo need. Idempotent: safe to re-run.
set -euo pipefail
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
  python3-torch python3-h5py python3-numpy python3-matplotlib
  slurm-wlm munge
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian's LibTorch takes the BLAS from the alternatives system: make sure OpenBLAS (OpenMP) wins
# over the reference BLAS, which is about ten times slower.
echo "deps: ok (${#missing[@]} installed now)"
