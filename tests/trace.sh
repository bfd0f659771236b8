#!/usr/bin/env bash
# ctest mpi.trace: CLUES_TRACE=PREFIX makes each rank write PREFIX<rank>.json, a Chrome
# trace of its phases (lane 0) and its MPI calls (lane 1, with their bytes); without it no
# timeline is written. Usage: trace.sh PATH/TO/clues [MPIEXEC]
set -uo pipefail
source "$(dirname "$0")/lib.sh"
test_setup "$1" "${2:-mpirun}"
small_demo
CLUES_TRACE=$dir/trace_ "$mpiexec" --oversubscribe -np 2 -x CLUES_TRACE "$clues" run "${args[@]}" --compare.rows none \
  --out "$dir/run" >"$dir/run.log" 2>&1
check "the traced run finishes" test -s "$dir/run/report.json"
for r in 0 1; do
  check "rank $r: its timeline has the phases and MPI calls with bytes, inside the run's time" /usr/bin/python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))
spans = [e for e in t["traceEvents"] if e.get("ph") == "X"]
phases = {e["name"]: e for e in spans if e["tid"] == 0}
comm = [e for e in spans if e["tid"] == 1]
ok = {"warmup", "scoring", "selection"} <= set(phases)
ok = ok and phases["warmup"]["ts"] + phases["warmup"]["dur"] <= phases["scoring"]["ts"] + 1e3
ok = ok and any(e["name"].startswith("MPI_") and e.get("args", {}).get("bytes", 0) > 0 for e in comm)
end = max(e["ts"] + e["dur"] for e in spans)
ok = ok and all(e["dur"] >= 0 and 0 <= e["ts"] <= end for e in spans) and t["otherData"]["rank"] == int(sys.argv[2])
sys.exit(0 if ok else 1)' "$dir/trace_$r.json" "$r"
done
"$mpiexec" --oversubscribe -np 2 "$clues" run "${args[@]}" --compare.rows none --out "$dir/plain" >"$dir/plain.log" 2>&1
check "the traced run says where the timelines are" grep -q "timeline of each rank" "$dir/run.log"
check "a run without CLUES_TRACE writes no timeline" bash -c "test -s '$dir/plain/report.json' && ! grep -q timeline '$dir/plain.log'"
exit "$fail"
