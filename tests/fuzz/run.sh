#!/usr/bin/env bash
# Builds the LibTorch-free code under clang's AddressSanitizer and UndefinedBehaviorSanitizer
# (tests/fuzz/CMakeLists.txt), runs test_core's unit tests there, then each libFuzzer target
# for SECONDS (default 20) on a copy of its committed corpus (tests/fuzz/corpus/<target>/). Inputs that find new coverage land in
# the copy; a crash leaves its reproducer in OUT and fails the script.
# Usage: tests/fuzz/run.sh [SECONDS] [BUILD_DIR]   (ctest sanitizers.fuzz: 8 s each)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-20}
build=${2:-$here/../../build/fuzz}
cmake -S "$here" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build.configure.log" 2>&1 \
  || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j"${JOBS:-2}" > "$build.build.log" 2>&1 || { tail -40 "$build.build.log"; exit 1; }
fail=0
# The unit tests first, under both sanitizers (leaks too).
if (cd "$build" && ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ./test_core_sanitized --gtest_brief=1 > "$build/test_core_sanitized.log" 2>&1); then
  echo "test_core_sanitized: $(grep -o '[0-9]* tests* from' "$build/test_core_sanitized.log" | head -1 | cut -d' ' -f1) tests passed under ASan and UBSan"
else
  echo "test_core_sanitized: FAILED"
  tail -40 "$build/test_core_sanitized.log"
  fail=1
fi
for t in jsonl labels config safetensors hf_config; do
  work=$(mktemp -d)
  cp "$here/corpus/$t/"* "$work/"
  if (cd "$build" && UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
      "./fuzz_$t" -max_total_time="$secs" -timeout=60 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
      -artifact_prefix="$build/crash_${t}_" "$work" > "$build/fuzz_$t.log" 2>&1); then
    echo "fuzz_$t: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$build/fuzz_$t.log" | grep -o '[0-9]*$') runs in ${secs}s, no crash"
  else
    echo "fuzz_$t: FAILED (reproducer: $(ls "$build"/crash_"${t}"_* 2>/dev/null | head -1))"
    tail -30 "$build/fuzz_$t.log"
    fail=1
  fi
  rm -rf "$work"
done
exit "$fail"
