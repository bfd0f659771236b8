#!/usr/bin/env bash
# Configures and builds clues into build/ (Release, -j2 by default: LibTorch headers are
# heavy) against the LibTorch of the torch wheel that scripts/setup.sh installed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/torch_env.sh
if [ ! -x "$CLUES_PYTHON" ]; then
  echo "build: no torch environment at $CLUES_VENV; run scripts/setup.sh first" >&2
  exit 2
fi
JOBS=${JOBS:-2}
# A build folder configured against another LibTorch starts its configuration afresh.
if [ -f build/CMakeCache.txt ] && ! grep -q "^Torch_DIR:PATH=$CLUES_VENV/" build/CMakeCache.txt; then
  echo "build: build/ was configured against another LibTorch; configuring afresh"
  rm -rf build/CMakeCache.txt build/CMakeFiles
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} -DCMAKE_PREFIX_PATH="$(clues_torch_prefix)" \
  -DCLUES_TORCH_VERSION="$CLUES_TORCH_VERSION" -DCLUES_PYTHON="$CLUES_PYTHON"
cmake --build build -j"$JOBS"
