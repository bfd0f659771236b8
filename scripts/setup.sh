#!/usr/bin/env bash
# Installs everything clues needs to build, test and run its demo: Debian's packages, and
# LibTorch 2.x with CUDA from PyPI's torch wheel in a virtual environment outside the
# checkout (scripts/torch_env.sh pins the version; about 5.5 GB and 2-4 minutes the first
# time, reused after). Idempotent: safe to run again; what is installed is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/torch_env.sh

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  build-essential cmake pkg-config
  python3-venv python3-pip           # the virtual environment of the torch wheel (LibTorch)
  libopenmpi-dev openmpi-bin         # MPI
  libhdf5-openmpi-dev                # parallel HDF5
  libboost-program-options-dev       # command line + INI config
  libgtest-dev libgmock-dev          # unit tests
  clang libclang-rt-14-dev           # libFuzzer, AddressSanitizer, UndefinedBehaviorSanitizer (tests/fuzz)
  libbenchmark-dev                   # Google Benchmark
  nlohmann-json3-dev                 # JSONL reader, report.json, safetensors headers
  libsentencepiece-dev               # tokenizer.model of LLaMA-family model folders
  libpcre2-dev                       # pre-tokenizer patterns of byte-level BPE tokenizer.json
  libxxhash-dev                      # content hashes of a run's inputs (--resume by content)
  dict-freedict-eng-deu dict-freedict-eng-fra dict-freedict-eng-ita
  dict-freedict-eng-spa dict-freedict-eng-por dict-freedict-eng-nld  # demo data
  python3 python3-h5py python3-numpy python3-matplotlib  # helper scripts, figures
  python3-scipy                      # clues study's t-intervals
  iproute2 util-linux                # ip netns, unshare: ctest mpi.two_hosts (two hosts as network namespaces)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} Debian packages already installed"
else
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# LibTorch: the torch wheel (CUDA build; it also runs on machines without a GPU). The
# environment sees Debian's python3 packages too (h5py, numpy for the helper scripts).
if "$CLUES_PYTHON" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$CLUES_TORCH_VERSION')" 2>/dev/null; then
  echo "setup: torch $CLUES_TORCH_VERSION already in $CLUES_VENV"
else
  echo "setup: installing torch==$CLUES_TORCH_VERSION from PyPI into $CLUES_VENV (about 5.5 GB)"
  rm -rf "$CLUES_VENV"
  mkdir -p "$(dirname "$CLUES_VENV")"
  /usr/bin/python3 -m venv --system-site-packages "$CLUES_VENV.tmp"
  "$CLUES_VENV.tmp/bin/pip" install --quiet --disable-pip-version-check "torch==$CLUES_TORCH_VERSION"
  mv "$CLUES_VENV.tmp" "$CLUES_VENV"  # complete or not there: a killed install is redone
fi
# The oracles of the model-folder tests: transformers, PEFT and sentencepiece from PyPI.
have=$("$CLUES_PYTHON" -m pip freeze --disable-pip-version-check 2>/dev/null | grep -cxF -f <(tr ' ' '\n' <<< "$CLUES_ORACLES") || true)
if [ "$have" -eq "$(wc -w <<< "$CLUES_ORACLES")" ]; then
  echo "setup: test oracles ($CLUES_ORACLES) already installed"
else
  echo "setup: installing the test oracles $CLUES_ORACLES"
  # shellcheck disable=SC2086
  "$CLUES_PYTHON" -m pip install --quiet --disable-pip-version-check $CLUES_ORACLES
fi
# The packages the device check (scripts/gpu_check.sh) builds against, for its CPU half.
scripts/device_debs.sh "$CLUES_DEVICE_DEBS"
echo "setup: done"
