#!/usr/bin/env bash
# Builds the unit tests with AddressSanitizer and UndefinedBehaviorSanitizer
# (-DCLUES_SANITIZE=ON, into build-asan/) and runs them: the parsers, configuration, file
# formats and selection (test_core) and the engines and model (test_engines). LibTorch
# itself is not instrumented. Leak checking is off: LibTorch keeps its allocations until
# exit. Usage: scripts/sanitize.sh (after scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/torch_env.sh
JOBS=${JOBS:-2}
mkdir -p build-asan
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_FLAGS="-O1 -g1" -DCLUES_SANITIZE=ON -DCMAKE_PREFIX_PATH="$(clues_torch_prefix)" \
  -DCLUES_TORCH_VERSION="$CLUES_TORCH_VERSION" > build-asan/configure.log 2>&1 || { cat build-asan/configure.log; exit 1; }
cmake --build build-asan -j"$JOBS" --target test_core test_engines
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 OMP_NUM_THREADS=1
build-asan/bin/test_core --gtest_brief=1
build-asan/bin/test_engines --gtest_brief=1
echo "sanitize: test_core and test_engines passed under AddressSanitizer and UndefinedBehaviorSanitizer"
