# Sourced by scripts/setup.sh, build.sh, test.sh and the benchmarks: the one place the
# LibTorch version is pinned. LibTorch comes from PyPI's torch wheel (with CUDA), in a
# virtual environment outside the checkout that set-up reuses while this version matches.
CLUES_TORCH_VERSION=2.15.0
CLUES_VENV=${CLUES_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/clues/venv-torch-$CLUES_TORCH_VERSION}
CLUES_PYTHON=$CLUES_VENV/bin/python
# The Python oracles of the model-folder tests (tests/hf_oracle.py), in the same environment.
CLUES_ORACLES="transformers==5.24.0 peft==0.21.2 sentencepiece==0.2.3"
# CMake prefixes of that torch: its cmake configs, and its own folder first for its libraries.
clues_torch_prefix() {
  "$CLUES_PYTHON" -c 'import os, torch; print(torch.utils.cmake_prefix_path + ";" + os.path.dirname(torch.__file__))'
}
# The Debian packages the device check builds against (scripts/device_debs.sh), kept here
# so that set-up fetches them once and the ctest device.build_half finds them.
CLUES_DEVICE_DEBS=${CLUES_DEVICE_DEBS:-${XDG_CACHE_HOME:-$HOME/.cache}/clues/device-debs}
