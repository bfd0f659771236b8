#!/usr/bin/env bash
# The verification's tolerance, measured: runs a workload (default tiny) against its stored
# reference under settings that change only rounding (threads, LibTorch's and MKL's vector
# code paths as on an older CPU, another engine or attention kernel of the same scores) and
# under settings that change the scores (another seed, no Adam preconditioning, bfloat16),
# and prints each one's largest relative error over the checks and its verdict.
#   benchmarks/tolerance_study.sh [WORKLOAD]
# docs/benchmarks.md ("Verification") quotes its output.
set -uo pipefail
cd "$(dirname "$0")/.."
W=${1:-tiny}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# variant LABEL EXPECT ENV... -- BENCH_FLAGS...
variant() {
  local label=$1 expect=$2 envs=() flags=()
  shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  flags=("$@")
  env "${envs[@]}" /usr/bin/python3 benchmarks/bench.py "$W" --iterations 1 --warmup 0 --out "$tmp/$label.jsonl" \
    "${flags[@]}" >"$tmp/$label.log" 2>&1
  local rc=$?
  /usr/bin/python3 - "$tmp/$label.jsonl" "$label" "$expect" "$rc" <<'PY'
import json, sys
path, label, expect, rc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
try:
    s = [json.loads(l) for l in open(path)][-1]
except (OSError, IndexError):
    print(f"{label:34s} no record (exit {rc})"); sys.exit()
v = s["verification"]
err = max((c.get("rel_error", 0) for c in v["checks"]), default=0)
verdict = v["status"]
flag = "" if verdict == expect else "   <-- expected " + expect
print(f"{label:34s} max rel. error {err:9.2e}  tolerance {v['tolerance']:g}  {verdict:5s} #wrong {v['wrong']}{flag}")
PY
}
echo "tolerance study: workload $W on $(lscpu | sed -n 's/^Model name: *//p')"
variant same                     ok    X=1 --
variant threads=2                ok    X=1 -- --set run.threads=2
variant aten-default-mkl-sse4    ok    ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 MKL_CBWR=COMPATIBLE --
variant engine=loop              ok    X=1 -- --set score.engine=loop
variant attention=manual         ok    X=1 -- --set model.attention=manual
variant seed=1                   wrong X=1 -- --set data.seed=1
variant adam=false               wrong X=1 -- --set score.adam=false
variant dtype=bfloat16           wrong X=1 -- --set run.dtype=bfloat16
variant lora_alpha=17            wrong X=1 -- --set model.lora_alpha=17
