#!/usr/bin/env bash
# Configures and builds clues into build/ (Release, -j2 by default: LibTorch headers are heavy).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
cmake -S . -B build -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release}
cmake --build build -j"$JOBS"
