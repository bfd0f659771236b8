#!/usr/bin/env bash
# Checks that two builds of clues give the same results, bit for bit, on the small demo:
# for a refactoring, run it with the build before and the build after. Both runs use the
# same data, settings and rank layout (2 ranks), in both collaboration modes with every
# comparison row; scores.h5 must agree exactly (tests/compare_scores.py at tolerance 0) and
# report.json in every number but the timings. Not part of ctest: it needs two builds.
# IGNORE_KEYS (comma list) leaves report.json keys out of the comparison: those a change
# adds on purpose (say, IGNORE_KEYS=selection for a build before that key existed).
# Usage: [IGNORE_KEYS=a,b] tests/same_results.sh OLD/clues NEW/clues [MPIEXEC]
set -uo pipefail
source "$(dirname "$0")/lib.sh"
old=$(realpath "$1")
test_setup "$2" "${3:-mpirun}"
small_demo
for mode in fedavg merge; do
  for side in old new; do
    bin=$clues
    [ "$side" = old ] && bin=$old
    "$mpiexec" -n 2 --oversubscribe "$bin" run "${args[@]}" "${tests[@]}" --collab "$mode" --out "$dir/$side-$mode" \
      >"$dir/$side-$mode.log" 2>&1 || { echo "FAILED: $side build, collab=$mode (log: $dir/$side-$mode.log)"; fail=1; }
  done
  check "collab=$mode: scores.h5 the same bits" /usr/bin/python3 "$src/tests/compare_scores.py" \
    "$dir/old-$mode/scores.h5" "$dir/new-$mode/scores.h5" 0
  check "collab=$mode: report.json the same numbers" /usr/bin/python3 - "$dir/old-$mode/report.json" \
    "$dir/new-$mode/report.json" <<'PY'
import json, os, sys
skip = {"timings_s", "communication_s", "communication_bytes", "peak_rss_mib", "seconds"} | set(filter(None, os.environ.get("IGNORE_KEYS", "").split(",")))
def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k not in skip}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
a, b = (strip(json.load(open(p))) for p in sys.argv[1:3])
def diff(x, y, path=""):
    if type(x) != type(y):
        return [path + ": " + repr(x)[:80] + " vs " + repr(y)[:80]]
    if isinstance(x, dict):
        out = [path + "/" + k + ": only in one" for k in set(x) ^ set(y)]
        return out + [d for k in set(x) & set(y) for d in diff(x[k], y[k], path + "/" + k)]
    if isinstance(x, list):
        if len(x) != len(y):
            return [path + ": lengths differ"]
        return [d for i, (u, v) in enumerate(zip(x, y)) for d in diff(u, v, path + "[%d]" % i)]
    return [] if x == y else [path + ": " + repr(x) + " vs " + repr(y)]
d = diff(a, b)
print("\n".join(d[:20]))
sys.exit(1 if d else 0)
PY
done
[ "$fail" -eq 0 ] && echo "same results" || echo "FAILED: the builds' results differ"
exit "$fail"
