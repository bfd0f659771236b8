#!/usr/bin/env bash
# Installs everything clues needs to build, test and run its demo, from Debian's
# packages. Idempotent: safe to run again; apt-get skips what is installed.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  build-essential cmake pkg-config
  libtorch-dev                       # LibTorch 1.13, CPU build
  libopenblas0-openmp                # fast BLAS for LibTorch (else reference BLAS, ~5x slower)
  libopenmpi-dev openmpi-bin         # MPI
  libhdf5-openmpi-dev                # parallel HDF5
  libboost-program-options-dev       # command line + INI config
  libgtest-dev libgmock-dev          # unit tests
  libbenchmark-dev                   # Google Benchmark
  nlohmann-json3-dev                 # JSONL reader, report.json
  dict-freedict-eng-deu dict-freedict-eng-fra dict-freedict-eng-ita
  dict-freedict-eng-spa dict-freedict-eng-por dict-freedict-eng-nld  # demo data
  python3 python3-h5py python3-numpy python3-matplotlib  # helper scripts, figures
  python3-torch                      # the Python peer of the scoring benchmark (benchmarks/compare_peer.sh)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
