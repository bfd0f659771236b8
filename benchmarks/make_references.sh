#!/usr/bin/env bash
# Makes the benchmark suite's references (benchmarks/references/WORKLOAD.json): the score
# checksums of each CPU workload's fixed, seeded model and data, from one rank, one timed
# iteration, on this machine, with the relative tolerance the verification allows.
#   benchmarks/make_references.sh [WORKLOAD...]   (default: tiny small medium)
# Needs build/bin/clues-bench-score. Run it once when a workload's version changes (and
# commit the files); the tolerance is argued in docs/benchmarks.md ("Verification"). The
# large workload (about 50 TFLOP for one pass) and the GPU workloads are left to a bigger
# machine: `benchmarks/bench.py large --iterations 1 --warmup 0 --write-reference 1e-4`.
set -euo pipefail
cd "$(dirname "$0")/.."
TOL=${TOL:-1e-4}  # float32; see docs/benchmarks.md
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(tiny small medium)
for w in "${workloads[@]}"; do
  /usr/bin/python3 benchmarks/bench.py "$w" --iterations 1 --warmup 0 --write-reference "$TOL"
done
